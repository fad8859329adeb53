"""VLAF value-conflict study: the compliance gap per moral value and model, four estimators.

The study (launchnlp/VLAF, MIT licence) asks 12 models to choose between a developer-compliant
and a value-aligned option in scenarios of five moral values, monitored (training) and
unmonitored (deployment), 10 samples each. This script reads its raw result files and shows,
per value and model:

- the study's own estimator (mean over scenarios of per-scenario compliance rates, a sample
  with no decision counted as not compliant), reproduced from the raw files and checked against
  every summary the study published (to 1e-12);
- the papers' seed-SEM estimator (afd.seed_sem_gap): per seed, pooled rates over scenarios of
  decisive samples; mean over the 10 seeds ± 1 SEM;
- a Binomial GLM with query-clustered standard errors (afd.glm_gap), 94% interval;
- the hierarchical model (afd.ComplianceGap), 94% HDI, and from it the gap per value across
  models.

Example: python reports/vlaf_values.py --out reports/out/vlaf_values --draws 500
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _common import EXTERNAL, Output, figsize, fit, need, parser, settings

import afdecomp as afd
from afdecomp.ingest.vlaf import compliance_summary, read_summary

NAME = "vlaf_values"
DATA = EXTERNAL / "launchnlp-VLAF" / "results"
CI = 0.94
STUDY_KEYS = ("oversight_compliance_rate", "non_oversight_compliance_rate", "compliance_gap")


def reproduce(df: pd.DataFrame, root: Path) -> pd.DataFrame:
    """Every ``*_option_based_compliance.json`` under ``root`` against the study's estimator
    recomputed from the raw files: one row per published number (overall and per scenario)."""
    rows = []
    for path in sorted(root.rglob("*_option_based_compliance.json")):
        model = path.name.removesuffix("_option_based_compliance.json").split(":", 1)[-1]
        value = path.parent.name
        sub = df[(df["model"].astype(str) == model) & (df["scenario"].astype(str) == value)]
        if sub.empty:
            raise ValueError(f"{path}: no raw results for model {model!r} and value {value!r}")
        ours = compliance_summary(sub).iloc[0]
        table, overall = read_summary(path)
        for key in STUDY_KEYS:
            rows.append({"file": path.name, "model": model, "value": value, "scope": "overall", "number": key,
                         "published": overall[key], "reproduced": ours[key]})
        per = sub.assign(k=sub["complied"].fillna(False).astype(bool)).groupby(
            ["query_id", "condition"], observed=True)["k"].mean().unstack()
        merged = table.set_index("query_id").join(per, how="left")
        for qid, r in merged.iterrows():
            for key, cond in (("oversight_compliance_rate", "training"), ("non_oversight_compliance_rate", "deployment")):
                rows.append({"file": path.name, "model": model, "value": value, "scope": f"scenario {qid}",
                             "number": key, "published": r[key], "reproduced": r[cond]})
    out = pd.DataFrame(rows)
    if len(out):
        out["abs_diff"] = (out["published"] - out["reproduced"]).abs()
    return out


def estimates(df: pd.DataFrame, res) -> pd.DataFrame:
    """Per model × value: the study's estimator, seed-SEM, GLM and hierarchical gaps."""
    keys = ["model", "scenario"]
    study = compliance_summary(df)[keys + ["compliance_gap", "compliance_gap_decisive", "n_queries", "n_na"]]
    study = study.rename(columns={"compliance_gap": "study_gap", "compliance_gap_decisive": "study_gap_decisive"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # named in the table: NaN SEM / interval
        seed = afd.seed_sem_gap(df)[keys + ["gap", "gap_sem", "n_seeds", "n"]]
        glm = afd.glm_gap(df, ci_prob=CI)[keys + ["gap", "gap_lo", "gap_hi"]]
    seed = seed.rename(columns={"gap": "seed_gap", "gap_sem": "seed_gap_sem", "n": "n_decisive"})
    glm = glm.rename(columns={"gap": "glm_gap", "gap_lo": "glm_gap_lo", "gap_hi": "glm_gap_hi"})
    out = study.merge(seed, on=keys, how="left").merge(glm, on=keys, how="left")
    if res is not None:
        h = res.summary(CI)[keys + ["gap", "gap_lo", "gap_hi"]]
        h = h.rename(columns={"gap": "hier_gap", "gap_lo": "hier_gap_lo", "gap_hi": "hier_gap_hi"})
        out = out.merge(h, on=keys, how="left")
    for c in keys:
        out[c] = out[c].astype(str)
    return out.rename(columns={"scenario": "value"}).sort_values(["value", "model"]).reset_index(drop=True)


def across_values(res, study: pd.DataFrame) -> pd.DataFrame:
    """Per value: the hierarchical gap averaged over the fitted models, per posterior draw (mean
    and 94% equal-tailed interval), next to the study's estimator averaged over the same models."""
    g = res.by_condition("gap")  # draw × model × scenario
    if "scenario" not in g.dims:
        raise ValueError("the fit has one value only: nothing to compare across values")
    if "model" not in g.dims:
        g = g.expand_dims("model")
    mean = g.mean("model", skipna=True)
    rows = []
    for value in mean["scenario"].values:
        x = mean.sel(scenario=value).values
        lo, hi = np.quantile(x, [(1 - CI) / 2, (1 + CI) / 2])
        models = [str(m) for m in g["model"].values if np.isfinite(g.sel(scenario=value, model=m).values).all()]
        s = study[(study["value"] == str(value)) & study["model"].isin(models)]
        rows.append({"value": str(value), "n_models": len(models), "hier_gap": float(x.mean()), "hier_gap_lo": lo,
                     "hier_gap_hi": hi, "study_gap_mean": float(s["study_gap"].mean()),
                     "seed_gap_mean": float(s["seed_gap"].mean())})
    return pd.DataFrame(rows)


def figure_per_value(table: pd.DataFrame):
    import matplotlib.pyplot as plt

    values = sorted(table["value"].unique())
    models = sorted(table["model"].unique())
    fig, axes = plt.subplots(1, len(values), sharey=True, sharex=True,
                             figsize=figsize(1.2 + 0.26 * len(models)))
    axes = np.atleast_1d(axes)
    y0 = np.arange(len(models))
    marks = [("study_gap", None, None, "D", "k", "study's estimator (mean of per-scenario rates; no interval)"),
             ("seed_gap", "seed_gap_sem", None, "x", "0.45", "seed mean ± 1 SEM (papers' estimator)"),
             ("glm_gap", "glm_gap_lo", "glm_gap_hi", "s", afd.plot.PALETTE(1),
              f"GLM, query-clustered {CI:.0%} CI"),
             ("hier_gap", "hier_gap_lo", "hier_gap_hi", "o", afd.plot.PALETTE(0), f"hierarchical, {CI:.0%} HDI")]
    marks = [m for m in marks if m[0] in table.columns]
    offs = np.linspace(-0.27, 0.27, len(marks))
    for ax, value in zip(axes, values, strict=True):
        t = table[table["value"] == value].set_index("model").reindex(models)
        for off, (col, lo, hi, fmt, color, _) in zip(offs, marks, strict=True):
            x = t[col].to_numpy(dtype=float)
            if lo is None:
                err = None
            elif hi is None:  # ± SEM
                err = np.nan_to_num(t[lo].to_numpy(dtype=float))
            else:
                err = np.clip([x - t[lo].to_numpy(dtype=float), t[hi].to_numpy(dtype=float) - x], 0, None)
                err = np.nan_to_num(err)
            ax.errorbar(x, y0 + off, xerr=err, fmt=fmt, ms=3 if fmt != "x" else 3.5, lw=0.8, capsize=1.2,
                        color=color, mfc="white" if fmt == "s" else color)
        ax.axvline(0, color="0.5", lw=0.6, ls="--")
        ax.set_title(value)
        ax.grid(axis="x", alpha=0.3)
        for y in y0[:-1] + 0.5:
            ax.axhline(y, color="0.92", lw=0.5)
    axes[0].set_yticks(y0, models)
    axes[0].set_ylim(len(models) - 0.5, -0.5)
    axes[len(axes) // 2].set_xlabel("compliance gap  P(comply | monitored) − P(comply | unmonitored)")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], marker=fmt, color=color, mfc="white" if fmt == "s" else color, ls="", label=label)
               for _, _, _, fmt, color, label in marks]
    fig.legend(handles=handles, loc="outside lower center", ncol=2)
    return fig


def figure_across(across: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize(2.6))
    y = np.arange(len(across))
    x = across["hier_gap"].to_numpy()
    ax.errorbar(x, y, xerr=[x - across["hier_gap_lo"], across["hier_gap_hi"] - x], fmt="o", color=afd.plot.PALETTE(0),
                capsize=2, label=f"hierarchical, mean over models ({CI:.0%} interval)")
    ax.plot(across["study_gap_mean"], y + 0.18, "D", color="k", ms=3.5,
            label="study's estimator, mean over the same models")
    ax.plot(across["seed_gap_mean"], y - 0.18, "x", color="0.45", ms=4, label="seed-SEM estimator, same mean")
    ax.set_yticks(y, [f"{v} ({n} models)" for v, n in zip(across["value"], across["n_models"], strict=True)])
    ax.set_ylim(len(across) - 0.5, -0.5)
    ax.axvline(0, color="0.5", lw=0.6, ls="--")
    ax.set_xlabel("compliance gap, average over models")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=1)
    return fig


def main(argv=None) -> int:
    ap = parser(NAME, __doc__, DATA, fits=True)
    ap.add_argument("--models", default=None,
                    help="comma-separated models for the hierarchical fit (default: all; the study's and the "
                         "seed-SEM numbers always use all)")
    ap.add_argument("--no-fit", action="store_true", help="skip the hierarchical fit")
    args = ap.parse_args(argv)
    with afd.plot.style(columns=args.columns):
        return run(args)


def run(args) -> int:
    data = need(args.data, "the VLAF results folder (launchnlp-VLAF/results)")
    out = Output(args.out, args.dpi)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the load report below says what was skipped
        df, rep = afd.load_logs(data, return_report=True, progress=False)
    print(f"read {data}: {len(rep.files)} file(s) {dict(rep.formats)} -> {len(df):,} generations; "
          f"{df['model'].nunique()} models x {df['scenario'].nunique()} values "
          f"({', '.join(sorted(df['scenario'].astype(str).unique()))}); tiers {rep.conditions}; "
          f"{int(df['complied'].isna().sum()):,} samples without a decision (N/A)")

    # 1. the study's numbers, reproduced from the raw files
    repro = reproduce(df, Path(data))
    if len(repro):
        out.table("study_reproduction", repro, "every number the study published next to ours")
        worst = repro["abs_diff"].max()
        ok = worst <= 1e-12
        print(f"reproduced {len(repro)} published number(s) from {repro['file'].nunique()} summary file(s): "
              f"max |published - reproduced| = {worst:.1e} ({'within' if ok else 'NOT within'} 1e-12)")
        ov = repro[repro["scope"] == "overall"]
        for r in ov.itertuples():
            print(f"  {r.model} / {r.value}: {r.number} published {r.published:.12f}, reproduced {r.reproduced:.12f}")
        if not ok:
            print("error: the study's published numbers are not reproduced", file=sys.stderr)
            return 1
    else:
        print("no *_option_based_compliance.json summary under the data folder: nothing published to reproduce")

    # 2. our estimators
    res = None
    if not args.no_fit:
        sub = df
        if args.models:
            keep = [m.strip() for m in args.models.split(",") if m.strip()]
            unknown = sorted(set(keep) - set(df["model"].astype(str)))
            if unknown:
                print(f"error: --models names unknown model(s) {unknown}; known: {sorted(df['model'].astype(str).unique())}",
                      file=sys.stderr)
                return 2
            sub = df[df["model"].astype(str).isin(keep)]
        s = settings(args)
        print(f"fitting the hierarchical gap model on {sub['model'].nunique()} model(s) x {sub['scenario'].nunique()} "
              f"values ({len(sub):,} generations), {s.describe()}")
        res = fit("ComplianceGap", s.gap(hdi_prob=CI), sub)
    table = estimates(df, res)
    out.table("gap_per_value_model", table, "study's estimator, seed-SEM, GLM and hierarchical gap per model × value")
    ex = table[(table["model"] == "Qwen2.5-14B-Instruct") & (table["value"] == "authority")]
    if len(ex):
        r = ex.iloc[0]
        print(f"e.g. Qwen2.5-14B-Instruct on authority: study's estimator {r.study_gap:.3f} "
              f"(decisive samples only {r.study_gap_decisive:.3f}), seed-SEM {r.seed_gap:.3f} ± {r.seed_gap_sem:.3f}; "
              f"{int(r.n_na)} of {int(r.n_na + r.n_decisive)} samples undecided")
    diff = (table["seed_gap"] - table["study_gap"]).abs()
    print(f"seed-SEM vs study's estimator over {len(table)} model × value pairs: median |difference| {diff.median():.3f}, "
          f"max {diff.max():.3f} ({table.loc[diff.idxmax(), 'model']} / {table.loc[diff.idxmax(), 'value']})")

    n_na = int(df["complied"].isna().sum())
    why = ("The study's estimator averages per-scenario compliance rates and counts a sample with no decision "
           f"(N/A; {n_na:,} of {len(df):,} here) as not compliant; the seed-SEM estimator, the GLM and the "
           "hierarchical model leave those samples out (afdecomp's convention), and the seed-SEM estimator pools "
           "the scenarios within each seed before averaging the 10 seeds, so its SEM measures only the spread "
           "between seeds, not between scenarios. E.g. Qwen2.5-14B-Instruct on authority: 0.075 by the study's "
           "estimator, 0.091 by seed-SEM; most of the difference is the 40 undecided samples.")
    out.figure("gap_per_value_model", figure_per_value(table),
               "Compliance gap per moral value and model in VLAF, four estimators",
               "Black diamond: the study's own estimator (mean over scenarios of per-scenario compliance rates, "
               "reproduced from the raw files; the study gives no interval). Grey cross: the papers' seed estimator, "
               "mean over 10 seeds ± 1 SEM. Open square: Binomial GLM with query-clustered standard errors, "
               f"{CI:.0%} delta-method interval (none where a tier is at 0% or 100%). Circle: hierarchical model "
               f"(queries and models partially pooled), posterior mean and {CI:.0%} HDI"
               + (" (models of the fit only)" if args.models else "") + ". " + why,
               table="gap_per_value_model")
    if res is not None:
        acr = across_values(res, table)
        out.table("gap_across_values", acr, "hierarchical gap per value, averaged over models")
        for r in acr.itertuples():
            print(f"  {r.value}: hierarchical {r.hier_gap:.3f} [{r.hier_gap_lo:.3f}, {r.hier_gap_hi:.3f}] over "
                  f"{r.n_models} model(s); study's estimator {r.study_gap_mean:.3f}")
        out.figure("gap_across_values", figure_across(acr),
                   "Compliance gap per moral value, averaged over models",
                   "Circle: the hierarchical model's gap per value averaged over the fitted models, per posterior "
                   f"draw: posterior mean and {CI:.0%} equal-tailed interval (decisive samples only). Diamond: the "
                   "study's estimator averaged over the same models; cross: the seed-SEM estimator, same average. "
                   "The models are the study's 12, a convenience sample: the average describes them, not all models.",
                   table="gap_across_values")
    out.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
