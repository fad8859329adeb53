"""The three-driver paper's figure set, drawn with afdecomp's intervals instead of seed SEMs.

On a tidy table with prompt ablations and a steering sweep (default: the bundled synthetic
example, data/example/example.parquet):

(a) steering per model: grouped bars of the gap at baseline and at each steering coefficient α
    (values vector, then sycophancy), each beside the random-direction control at the same α;
(b) prompt ablations: the gap and the AF-reasoning rate per prompt variant;
(c) per tier, stacked complied / partial / refused bars;
(d) compliance in training and deployment against α, one line per layer;

and what the paper lacks, from one rational-agent fit (afd.RationalAgent): the Shapley
decomposition of each model's gap, the gap against the models' stated values, and the
rational-agent parameters. Data intervals are query-bootstrap percentile intervals (queries
resampled within model, paired across conditions); model intervals are HDIs.

Example: python reports/three_drivers.py --out reports/out/three_drivers --draws 500
"""

from __future__ import annotations

import sys
import warnings

import pandas as pd
from _common import REPO, Output, fit, need, parser, settings

import afdecomp as afd

NAME = "three_drivers"
DATA = REPO / "data" / "example" / "example.parquet"
CI = 0.94


def main(argv=None) -> int:
    ap = parser(NAME, __doc__, DATA, fits=True)
    ap.add_argument("--models", default=None, help="comma-separated subset of models (default: all)")
    ap.add_argument("--queries", type=int, default=None, help="keep the first N queries only (a quick run)")
    ap.add_argument("--n-boot", type=int, default=1000, help="query-bootstrap replicates (default 1000)")
    ap.add_argument("--no-fit", action="store_true", help="data figures only (no rational-agent fit)")
    ap.add_argument("--covariate", action="append", default=None,
                    help="a model-level covariate column (e.g. x_stated_values) for the rational-agent fit: the gap "
                         "against it is then the fitted structural relation (repeatable; default: none, a "
                         "descriptive line)")
    args = ap.parse_args(argv)
    with afd.plot.style(columns=args.columns):
        return run(args)


def run(args) -> int:
    data = need(args.data, "a tidy table (Parquet/CSV/JSONL logs) with prompt variants and steering")
    out = Output(args.out, args.dpi)
    df = afd.load_logs(data, progress=False)
    print(f"read {data}: {len(df):,} generations; {df['model'].nunique()} models, {df['variant'].nunique()} prompt "
          f"variants, steering vectors {sorted(set(df['steer_vector'].astype(str)) - {'none'})}")
    if args.models:
        keep = [m.strip() for m in args.models.split(",")]
        df = df[df["model"].astype(str).isin(keep)]
    if args.queries:
        q = sorted(df["query_id"].astype(str).unique())[: args.queries]
        df = df[df["query_id"].astype(str).isin(q)]
    if args.models or args.queries:
        print(f"kept {len(df):,} generations: {df['model'].nunique()} models x {df['query_id'].nunique()} queries")
    for col in ("model", "variant", "steer_vector", "condition"):
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            df[col] = df[col].cat.remove_unused_categories()

    ra = None
    if not args.no_fit:
        s = settings(args)
        print(f"fitting the rational-agent model ({s.describe()})")
        ra = fit("RationalAgent", s.rational(hdi_prob=CI, covariates=args.covariate), df)
        out.table("rational_parameters", ra.summary(CI), f"posterior mean, sd, {CI:.0%} HDI")

    # (a) and (d): steering
    sa = afd.steering_analysis(df, ra, ci_prob=CI, n_boot=args.n_boot)
    out.table("steering_points", sa.data, "data points per model × vector × layer × α, query bootstrap")
    out.table("steering_specific_effects", sa.summary("gap"), "vector minus matched random control")
    layers = sorted(int(x) for x in sa.data["steer_layer"].dropna().unique())
    axes = afd.plot.steering_bars(sa, quantity="gap")
    out.figure("a_steering_bars", axes[0].figure, "(a) Compliance gap under steering, per model",
               "Bars: the observed compliance gap (training minus deployment) at baseline (α = 0, dark grey) and at "
               "each steering coefficient α of the values and the sycophancy vectors; hatched: a random-direction "
               f"vector at the same α and layer (the matched control). Whiskers: {CI:.0%} percentile intervals of a "
               f"bootstrap over queries ({args.n_boot} resamples, queries resampled within model and paired across "
               "conditions), not seed SEMs. A vector's specific effect is its bar minus the hatched bar "
               "(table steering_specific_effects).", table="steering_points")
    drivers = sa.data.drop_duplicates("steer_vector").set_index("steer_vector")["driver"]
    rank = {"values": 0, "sycophancy": 1}
    vectors = sorted((v for v in drivers.index if drivers[v] != "control"), key=lambda v: (rank.get(drivers[v], 2), v))
    note = ("" if len(layers) > 1 else f" These data steer one layer only ({layers[0] if layers else 'none'}), so each "
            "panel has one line; a sweep over layers adds one line per layer.")
    for v in vectors:
        axes = afd.plot.steering_layers(sa, v)
        out.figure(f"d_rates_vs_alpha_{v}", axes[0, 0].figure, f"(d) Compliance against steering strength ({v} vector)",
                   "Compliance rate in training (left) and deployment (right) against the steering coefficient α of "
                   f"the {v} vector, one line per steered layer, one row per model; open grey squares: the "
                   "random-direction control at the same α (α = 0 is the unsteered condition). Whiskers: "
                   f"{CI:.0%} query-bootstrap intervals." + note, table="steering_points")

    # (b) prompt ablations
    con = afd.ablation_contrasts(df, ra, ci_prob=CI, n_boot=args.n_boot)
    out.table("ablation_contrasts", con, "gap per variant and contrast with the default prompt")
    from afdecomp.analysis.ablation import af_reasoning_rates
    af = af_reasoning_rates(df)
    if af is None:
        print("note: the table has no af_reasoning labels (column absent or empty): the AF-reasoning panel of (b) "
              "says so instead of showing rates; label reasoning with afd.label(..., 'af_reasoning', ...) to fill it")
    else:
        out.table("af_reasoning_rates", af, "AF-reasoning rate per model and variant, training tier, 95% Wilson")
    axes = afd.plot.ablation_forest(con, af, ci_prob=CI)
    out.figure("b_ablations", axes[0].figure, "(b) Prompt ablations: the gap and the AF-reasoning rate",
               "Left: compliance gap per prompt variant and model; filled circles: data, "
               f"{CI:.0%} query-bootstrap percentile interval; open squares: the fitted rational-agent model, "
               f"{CI:.0%} HDI. Right: the rate of alignment-faking reasoning in the training tier, 95% Wilson interval"
               + ("" if af is not None else " (not available: these data carry no AF-reasoning labels)") + ".",
               table="ablation_contrasts")

    # (c) outcomes per tier
    ax = afd.plot.outcomes(df)
    has_partial = "partial" in df.columns and df["partial"].notna().any()
    if not has_partial:
        print("note: no generation has a 'partial' label: (c) shows complied / refused only")
    lab = df[(df["variant"].astype(str) == "default") & (df["steer_vector"].astype(str) == "none")]
    tab = afd.rates(lab, by=["model"], ci_prob=0.95)
    out.table("c_outcomes", tab, "complied per model and tier (default prompt, unsteered), 95% Wilson")
    out.figure("c_outcomes", ax.figure, "(c) Outcomes per tier",
               "Share of generations per model that complied, complied partially and refused, in training (T) and "
               "deployment (D, dotted), default prompt, unsteered; unlabelled generations left out. Shares of counts, "
               "no interval (the table gives each tier's compliance rate with a 95% Wilson interval)."
               + ("" if has_partial else " No generation has a 'partial' label here, so compliance is not split."),
               table="c_outcomes")

    if ra is not None:
        dec = afd.decompose(ra)
        out.table("decomposition", dec.summary(CI), "Shapley shares per model")
        out.figure("e_decomposition", afd.plot.decomposition(dec, ci_prob=CI).figure,
                   "Shapley decomposition of the gap into values, goal guarding and sycophancy",
                   "Each model's predicted gap under the default prompt (rational-agent fit), split by Shapley values "
                   "on the probability scale: a driver is switched off by setting its cue to 0, and its share is its "
                   "average marginal contribution over the orders of switching drivers on. Bars: posterior-mean "
                   f"shares; whiskers: {CI:.0%} HDI of each share; diamond: the total gap with its {CI:.0%} HDI.",
                   table="decomposition")
        ident = ra.identifiability
        print("identifiability (from the design alone):\n" + ident.to_string(index=False))
        covs = [c for c in df.columns if c.startswith("x_") and df.groupby("model", observed=True)[c].nunique().max() == 1]
        for c in covs:
            ax = afd.plot.gap_vs_covariate(ra, df, c, ci_prob=CI)
            t = df.groupby(df["model"].astype(str))[c].first().rename(c).reset_index()
            out.table(f"f_gap_vs_{c}", t, "the covariate per model")
            line = (f"Line and band: the fitted structural relation, the predicted gap of a typical model (random "
                    f"effects at 0) as the covariate varies through its coefficients θ ({CI:.0%} equal-tailed band)."
                    if c in (args.covariate or []) else
                    f"Line and band: a least-squares line of the models' gaps on the covariate, refitted per "
                    f"posterior draw on a bootstrap resample of the models ({CI:.0%} equal-tailed band): it carries "
                    "the uncertainty of each gap and the scatter between models. Descriptive: the fit did not use "
                    f"the covariate (--covariate {c} fits the structural relation).")
            out.figure(f"f_gap_vs_{c}", ax.figure, f"The gap against the models' {c.removeprefix('x_').replace('_', ' ')}",
                       f"Filled: each model's predicted gap (rational-agent fit, default prompt), posterior mean and "
                       f"{CI:.0%} HDI; open: the observed pooled gap. " + line, table=f"f_gap_vs_{c}")
        if not covs:
            print("note: no model-level covariate (x_* column constant per model): no gap-against-stated-values figure")
        out.figure("g_rational_parameters", afd.plot.rational_params(ra, ci_prob=CI).figure,
                   "Rational-agent parameters per model",
                   f"Values V, sycophancy S and goal guarding g per model: posterior mean and {CI:.0%} HDI, in "
                   "logit-utility units (docs/model.md). Which of them this design identifies is printed with the "
                   "script's output.", table="rational_parameters")
    out.finish()
    return 0


if __name__ == "__main__":
    with warnings.catch_warnings():
        sys.exit(main())
