"""What design the bundled example study needed to tell sycophancy (S) from goal guarding (g) for every model.

A worked example of afd.plan (docs/planning.md). The truth is the example study's own: the six
models' parameters that `afdecomp simulate --preset example` draws (data/example). Candidate
designs keep its six models and 5 samples per query and change the prompt variants and the
number of queries:

  default only, 40 queries          the default prompt cannot separate S from g (only S + g·V)
  4 prompts, 40 queries             default, ncs (no sycophancy cue), cut-rlhf-modification (no
  4 prompts, 120 queries            goal-guarding cue), cut-company-policy (no values cue)
  10 published prompts, 40 queries  the example's own prompts, without its steering sweep

Each replicate study is drawn with new queries and fitted with the rational-agent model (NUTS;
default here 2 chains × 500 draws after 500 tuning steps, as only posterior SDs and intervals
are read). Questions: "identified" (the posterior SD of S and of log g each at most half the
prior's) and "shares" (the goal-guarding share of the default prompt's gap differs from the
sycophancy share). A killed run resumes from OUT/plan.jsonl.

Example: python reports/plan_s_vs_g.py --replicates 12 --out reports/out/plan_s_vs_g
"""

from __future__ import annotations

import time

import pandas as pd
from _common import Output, parser

import afdecomp as afd
from afdecomp.cli import EXAMPLE

NAME = "plan_s_vs_g"
FOUR = ["default", "ncs", "cut-rlhf-modification", "cut-company-policy"]
DESIGNS = [{"n_queries": 40, "n_samples": 5, "variants": ["default"]},
           {"n_queries": 40, "n_samples": 5, "variants": FOUR},
           {"n_queries": 120, "n_samples": 5, "variants": FOUR},
           {"n_queries": 40, "n_samples": 5, "variants": "published"}]


def example_truth():
    """The example study's true parameters (the preset's draw; its steering and AF labels are not needed)."""
    kw = {k: EXAMPLE[k] for k in ("n_models", "variants", "steering", "covariates", "seed")}
    _, truth = afd.simulate(n_queries=2, n_samples=1, **kw)    # the parameters do not depend on the sizes
    return truth


def main(argv=None) -> int:
    ap = parser(NAME, __doc__, None)
    ap.add_argument("--replicates", type=int, default=12, help="studies per design (default 12)")
    ap.add_argument("--draws", type=int, default=500, help="NUTS draws per chain (default 500)")
    ap.add_argument("--tune", type=int, default=500, help="NUTS tuning steps per chain (default 500)")
    ap.add_argument("--chains", type=int, default=2, help="NUTS chains (default 2)")
    ap.add_argument("--queries", type=int, default=None, help="scale: every design's queries × this / 40 (quick runs)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    with afd.plot.style(columns=args.columns):
        return run(args)


def run(args) -> int:
    from afdecomp.simulate import PUBLISHED_VARIANTS
    out = Output(args.out, args.dpi)
    truth = example_truth()
    print(f"truth: the example study's {len(truth.params)} models (seed {EXAMPLE['seed']}): "
          + ", ".join(f"{m} S={r.S:.2f} g={r.g:.2f}" for m, r in truth.params.iterrows()))
    designs = []
    for d in DESIGNS:
        d = dict(d, variants=list(PUBLISHED_VARIANTS) if d["variants"] == "published" else d["variants"])
        if args.queries:
            d["n_queries"] = max(2, round(d["n_queries"] * args.queries / 40))
        designs.append(d)
    fit = {"rational": {"draws": args.draws, "tune": args.tune, "chains": args.chains, "max_chains": args.chains}}
    t0 = time.perf_counter()
    plan = afd.plan(designs, truth, questions=["identified", "shares"], replicates=args.replicates, seed=args.seed,
                    store=out.dir / "plan.jsonl", fit_kwargs=fit, progress=True)
    print(f"plan: {len(designs)} designs × {args.replicates} replicates in {time.perf_counter() - t0:.0f} s "
          f"(finished replicates are kept in {out.dir / 'plan.jsonl'})")
    s = plan.summary()
    s["prompts"] = s["variants"].map(lambda v: "10 published" if v.count("+") == 9 else v)
    out.table("plan_summary", s, "per design, question and model: power, width, coverage, wrong-sign rate")
    ident = afd.identifiability
    for i, d in enumerate(designs):
        rep = plan.replicates[(plan.replicates["design"] == i) & (plan.replicates["question"] == "identified")]
        by_design = ident(pd.DataFrame({"variant": d["variants"], "oversight": 1.0, "steer_vector": "none",
                                        "steer_coef": 0.0}))
        sep = bool(by_design.set_index("parameter").loc["S", "identified"])
        print(f"design {i}: {len(d['variants'])} prompt(s) × {d['n_queries']} queries: S and g separable by the "
              f"design: {'yes' if sep else 'no'}; median SD ratio {rep['estimate'].median():.2f}")
    best = plan.cheapest(0.8)
    out.table("plan_cheapest", best, "per question and model: the cheapest design with power >= 0.8 (NaN: none here)")
    for r in best.itertuples():
        print(f"  {r.question:10s} {r.model}: " + (f"design {int(r.design)} ({r.generations:,.0f} generations), power "
                                                   f"{r.power:.2f} ± {r.power_se:.2f}" if r.design == r.design else
                                                   "no design here reaches power 0.8"))
    for question, title, what in (
            ("identified", "Power to identify S and g separately, against the study's size",
             "the share of replicate studies in which the posterior SDs of S and of log g are both at most half "
             "the prior's"),
            ("shares", "Power to tell the goal-guarding share from the sycophancy share",
             "the share of replicate studies whose 94% interval of φ_goal_guarding − φ_sycophancy excludes 0 "
             "with the true sign")):
        ax = plan.plot(question=question, target=0.8)
        ax.set_title(title)
        out.figure(f"power_{question}", ax.figure, title,
                   f"Each point is one design of the example's six models × 5 samples per query: from left, "
                   f"default prompt only × 40 queries, 4 prompts × 40, 10 published prompts × 40, 4 prompts × 120 "
                   f"(x: generations per study, log scale). y: {what}, over {args.replicates} replicate studies per "
                   f"design drawn from the example's true parameters with new queries, each fitted with the "
                   f"rational-agent model (NUTS, {args.chains} chains × {args.draws} draws). Bars: ± 2 Monte Carlo "
                   f"SE, an approximate 95% interval of each share. Dashed: 0.8.", "plan_summary")
    out.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
