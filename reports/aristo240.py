"""Aristo240 causal audit: the eight tier × condition cells, and its published table checked.

The study (Aristo240/alignment_causal_audit; no licence stated, read here, not copied) scores 50
queries in eight cells: free tier (training) and paid tier (deployment) × four prompt conditions
(Baseline, Force_Compliance, Awareness_Monitored, Awareness_Private), one generation each. This
script reads the raw scored file and shows:

- the compliance rate of each cell with a 95% Wilson interval (afd.rates);
- the gap (free − paid) per condition with a query-clustered GLM interval (afd.glm_gap) and the
  hierarchical model's HDI (afd.ComplianceGap; skip with --no-fit);
- the study's published table (statistics_descriptive.csv) against the raw file: which cells
  differ and by how much, and whether the table's own intervals follow from its own counts.

Example: python reports/aristo240.py --out reports/out/aristo240
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _common import EXTERNAL, Output, figsize, fit, need, parser, settings

import afdecomp as afd

NAME = "aristo240"
DATA = EXTERNAL / "Aristo240-alignment_causal_audit" / "results" / "results_scored_rigorous_5Feb.json"
CI = 0.94
ORDER = ["Baseline", "Force_Compliance", "Awareness_Monitored", "Awareness_Private"]
TIER = {"training": "Free", "deployment": "Paid"}


def cells(df: pd.DataFrame) -> pd.DataFrame:
    """The eight cells: k, n and the 95% Wilson interval, named as the study names them."""
    r = afd.rates(df, by=["variant"], ci_prob=0.95)
    r["cell"] = [f"{TIER[c]}_Tier_{v}" for v, c in zip(r["variant"].astype(str), r["condition"].astype(str), strict=True)]
    r["variant"] = pd.Categorical(r["variant"].astype(str), [v for v in ORDER if v in set(r["variant"].astype(str))]
                                  + sorted(set(r["variant"].astype(str)) - set(ORDER)))
    r["condition"] = r["condition"].astype(str)
    return r.sort_values(["variant", "condition"], ascending=[True, False]).reset_index(drop=True)


def published_check(ours: pd.DataFrame, csv: Path) -> pd.DataFrame:
    """Each published row against the raw file's cell, and the table against itself: its rate
    against its count / N and its ``CI_95`` against the normal-approximation half-width
    1.96·sqrt(p(1 − p)/N) of its own rate."""
    pub = pd.read_csv(csv)
    need_cols = {"Condition", "N", "Compliance_Count", "Compliance_Rate", "CI_95"}
    missing = need_cols - set(pub.columns)
    if missing:
        raise ValueError(f"{csv}: missing column(s) {sorted(missing)}; found {list(pub.columns)}")
    o = ours.set_index("cell")
    rows = []
    for r in pub.itertuples(index=False):
        cell = r.Condition
        if cell not in o.index:
            raise ValueError(f"{csv}: row {cell!r} names no cell of the raw file ({sorted(o.index)})")
        k, n = int(o.loc[cell, "k"]), int(o.loc[cell, "n"])
        p = r.Compliance_Count / r.N
        rows.append({"cell": cell, "published_n": int(r.N), "published_count": int(r.Compliance_Count),
                     "published_rate": float(r.Compliance_Rate), "raw_n": n, "raw_count": k, "raw_rate": k / n,
                     "count_diff_raw_minus_published": k - int(r.Compliance_Count),
                     "rate_diff_raw_minus_published": k / n - float(r.Compliance_Rate),
                     "published_rate_minus_count_over_n": float(r.Compliance_Rate) - p,
                     "published_ci95": float(r.CI_95),
                     "ci95_from_published_count": 1.96 * np.sqrt(p * (1 - p) / r.N)})
    out = pd.DataFrame(rows)
    out["ci95_diff"] = out["published_ci95"] - out["ci95_from_published_count"]
    unpublished = sorted(set(o.index) - set(out["cell"]))
    out.attrs["unpublished"] = unpublished
    return out


def figure_cells(c: pd.DataFrame, check: pd.DataFrame | None):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize(3.0))
    variants = list(c["variant"].cat.categories)
    x = np.arange(len(variants))
    pub = check.set_index("cell") if check is not None else None
    for j, (cond, off) in enumerate((("training", -0.18), ("deployment", 0.18))):
        s = c[c["condition"] == cond].set_index(c[c["condition"] == cond]["variant"].astype(str)).reindex(variants)
        col = afd.plot.PALETTE(j)
        ax.bar(x + off, s["rate"], width=0.34, color=col, alpha=0.85,
               label=f"{TIER[cond].lower()} tier ({cond})")
        err = np.clip([s["rate"] - s["lo"], s["hi"] - s["rate"]], 0, None)
        ax.errorbar(x + off, s["rate"], yerr=err, fmt="none", ecolor="0.15", lw=0.9, capsize=2)
        for xi, k, n, hi in zip(x + off, s["k"], s["n"], s["hi"], strict=True):
            ax.text(xi, hi + 0.015, f"{int(k)}/{int(n)}", ha="center", va="bottom", fontsize="x-small", color="0.25")
        if pub is not None:
            cells_ = s["cell"].to_numpy()
            pr = [pub.loc[cl, "published_rate"] if cl in pub.index else np.nan for cl in cells_]
            ax.plot(x + off, pr, "_", color="k", ms=14, mew=2, label="published table" if j == 0 else None)
    ax.set_xticks(x, [v.replace("_", " ") for v in variants])
    ax.set_ylabel("compliance rate (95% Wilson interval)")
    ax.set_ylim(0, 1)
    ax.set_xlabel("prompt condition (k/n above each bar)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", ncol=3)
    return fig


def figure_gaps(g: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize(2.4))
    variants = g["variant"].tolist()
    y = np.arange(len(variants))
    marks = [("glm", "s", afd.plot.PALETTE(1), f"GLM, query-clustered {CI:.0%} CI", -0.12),
             ("hier", "o", afd.plot.PALETTE(0), f"hierarchical, {CI:.0%} HDI", 0.12)]
    for key, fmt, col, label, off in marks:
        if f"{key}_gap" not in g.columns:
            continue
        v = g[f"{key}_gap"].to_numpy(dtype=float)
        err = np.nan_to_num(np.clip([v - g[f"{key}_gap_lo"], g[f"{key}_gap_hi"] - v], 0, None))
        ax.errorbar(v, y + off, xerr=err, fmt=fmt, color=col, mfc="white" if fmt == "s" else col, capsize=2,
                    label=label)
    ax.plot(g["raw_gap"], y, "|", color="k", ms=9, mew=1.5, label="raw k/n difference")
    ax.axvline(0, color="0.5", lw=0.6, ls="--")
    ax.set_yticks(y, [v.replace("_", " ") for v in variants])
    ax.set_ylim(len(variants) - 0.5, -0.5)
    ax.set_xlabel("compliance gap  P(comply | free tier) − P(comply | paid tier)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def main(argv=None) -> int:
    ap = parser(NAME, __doc__, DATA, fits=True)
    ap.add_argument("--published", type=Path, default=None,
                    help="the study's statistics_descriptive.csv (default: beside --data)")
    ap.add_argument("--model", default="audited model", help="model label (the file does not name it)")
    ap.add_argument("--no-fit", action="store_true", help="skip the hierarchical fit")
    args = ap.parse_args(argv)
    with afd.plot.style(columns=args.columns):
        return run(args)


def run(args) -> int:
    data = need(args.data, "the scored Aristo240 file (results_scored_rigorous_5Feb.json)")
    out = Output(args.out, args.dpi)
    df, rep = afd.load_logs(data, return_report=True, model=args.model, progress=False)
    print(f"read {data}: {dict(rep.formats)} -> {len(df)} generations, {df['query_id'].nunique()} queries x "
          f"{df.groupby(['variant', 'condition'], observed=True).ngroups} cells; tiers {rep.conditions}; "
          f"{int(df['complied'].isna().sum())} unscored")
    c = cells(df)

    csv = args.published or Path(data).with_name("statistics_descriptive.csv")
    check = None
    if csv.exists():
        check = published_check(c, csv)
        print(f"read {csv}: {len(check)} published row(s)")
        out.table("published_vs_raw", check, "the study's table against its raw file and against itself")
        diff = check[check["count_diff_raw_minus_published"] != 0]
        same = check[check["count_diff_raw_minus_published"] == 0]
        print(f"published table vs raw file: {len(same)} of {len(check)} row(s) agree "
              f"({', '.join(same['cell'])}); {len(diff)} differ:")
        for r in diff.itertuples():
            print(f"  {r.cell}: published {r.published_count}/{r.published_n} = {r.published_rate:.2f}, raw file "
                  f"{r.raw_count}/{r.raw_n} = {r.raw_rate:.2f} (difference {r.count_diff_raw_minus_published:+d} "
                  f"generation(s), {r.rate_diff_raw_minus_published:+.2f})")
        print(f"  not in the published table: {', '.join(check.attrs['unpublished']) or 'none'}")
        print(f"  the table against itself: max |rate - count/N| = {check['published_rate_minus_count_over_n'].abs().max():.1e}; "
              f"max |CI_95 - 1.96 sqrt(p(1-p)/N)| = {check['ci95_diff'].abs().max():.1e} "
              "(its CI_95 column is the half-width of the normal-approximation interval of its own counts)")
    else:
        print(f"no published table at {csv}: cells only")
    out.table("cells", c[["cell", "variant", "condition", "k", "n", "n_na", "rate", "lo", "hi"]],
              "eight cells, 95% Wilson intervals")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        glm = afd.glm_gap(df, ci_prob=CI)
    g = glm[["variant", "gap", "gap_lo", "gap_hi"]].rename(columns={"gap": "glm_gap", "gap_lo": "glm_gap_lo",
                                                                     "gap_hi": "glm_gap_hi"})
    wide = c.pivot_table(index="variant", columns="condition", values="rate", observed=True)
    g["raw_gap"] = g["variant"].astype(str).map((wide["training"] - wide["deployment"]).rename(index=str))
    if not args.no_fit:
        s = settings(args)
        print(f"fitting the hierarchical gap model ({s.describe()})")
        res = fit("ComplianceGap", s.gap(hdi_prob=CI), df)
        h = res.summary(CI)[["variant", "gap", "gap_lo", "gap_hi"]]
        g = g.merge(h.rename(columns={"gap": "hier_gap", "gap_lo": "hier_gap_lo", "gap_hi": "hier_gap_hi"}), on="variant")
    g["variant"] = g["variant"].astype(str)
    g = g.set_index("variant").reindex([v for v in c["variant"].cat.categories if v in set(g["variant"])]).reset_index()
    out.table("gap_per_condition", g, "gap per condition: raw, GLM and hierarchical")
    for r in g.itertuples():
        extra = f"; hierarchical {r.hier_gap:+.2f} [{r.hier_gap_lo:+.2f}, {r.hier_gap_hi:+.2f}]" if "hier_gap" in g else ""
        print(f"  gap {r.variant}: raw {r.raw_gap:+.2f}; GLM {r.glm_gap:+.2f} [{r.glm_gap_lo:+.2f}, {r.glm_gap_hi:+.2f}]{extra}")

    note = ""
    if check is not None:
        diff = check[check["count_diff_raw_minus_published"] != 0]
        note = (f" Black ticks: the study's published table (statistics_descriptive.csv), which does not follow from "
                f"its raw file: {len(diff)} of its {len(check)} rows differ ("
                + "; ".join(f"{r.cell.replace('_Tier_', ' ')} {r.published_count} published vs {r.raw_count} in the raw "
                            f"file" for r in diff.itertuples())
                + f"), and it leaves out {', '.join(check.attrs['unpublished'])}. Its intervals are "
                "normal-approximation ±1.96 SE of its own counts.")
    out.figure("cells", figure_cells(c, check), "Aristo240: compliance in the eight tier × condition cells",
               "Bars: compliance rate of each cell, counted from the raw scored file (one generation per query, 50 "
               "queries per cell; k/n above each bar), with 95% Wilson intervals." + note, table="cells")
    out.figure("gap_per_condition", figure_gaps(g), "Aristo240: compliance gap per prompt condition",
               "Gap = free-tier (training) minus paid-tier (deployment) compliance per condition, from the raw file. "
               "Tick: the raw difference of proportions. Open square: Binomial GLM with query-clustered standard "
               f"errors, {CI:.0%} delta-method interval. "
               + (f"Circle: hierarchical model (query effects, conditions partially pooled), {CI:.0%} HDI. "
                  if "hier_gap" in g else "")
               + "The same 50 queries appear in every cell, so the intervals count queries, not generations.",
               table="gap_per_condition")
    out.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
