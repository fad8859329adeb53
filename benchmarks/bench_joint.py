"""Benchmark: the joint outcome model on the bundled example study, and its recovery on simulations.

Default: fit ``afdecomp.JointOutcome`` (defaults: 4 chains × (1000 tune + 1000 draws), nutpie)
to ``data/example`` with the judge error the example states (AF labels: se 0.85, sp 0.90), and
print wall time, max R-hat, min bulk and tail ESS and divergences against the targets (R-hat ≤
1.01, ESS ≥ 400, no divergences, < 180 s on 2 cores), with the load average (the machine is
shared: timings at a load above 2 are not the 2-core figure).

``--recovery N``: N seeded simulated studies (4 models × 3 variants × 40 queries × 10 samples,
AF reasoning from the goal-guarding link, AF labels judged with se 0.85, sp 0.90); each is
fitted naive and judge-corrected, and the script prints, per fit kind, the share of conditions
whose 94% interval covers the true gap, AF rates and AF share of the gap, and the mean absolute
error of each — the recovery table of docs/joint.md.

    PYTHONPATH=. python benchmarks/bench_joint.py [--draws 1000] [--recovery 5] [--out table.csv]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

import afdecomp as afd
from afdecomp.models.joint import JointOutcome
from afdecomp.results import ESS_MIN, RHAT_MAX, ConvergenceWarning
from afdecomp.simulate import stated_judge_error

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUANTITIES = ("gap", "af_rate_training", "af_rate_deployment", "af_share_of_gap")


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_example(draws: int) -> None:
    df = afd.load_logs(os.path.join(ROOT, "data", "example"))
    judge = stated_judge_error(df)
    print(f"example: {len(df):,} generations; judge error stated: {judge}; {load()}", flush=True)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = JointOutcome(draws=draws, random_seed=0, progress=False).fit(df, judge_error=judge)
    wall = time.perf_counter() - t0
    d = res.diagnostics()
    rmax, bulk, tail = d["r_hat"].max(), d["ess_bulk"].min(), d["ess_tail"].min()
    ok = rmax <= RHAT_MAX and bulk >= ESS_MIN and tail >= ESS_MIN and res.divergences == 0 and wall < 180
    print(f"JointOutcome on the example ({len(res.pairs())} conditions, 4 chains x {draws} draws): "
          f"wall {wall:.0f} s (sampling {res.idata.attrs['sampling_seconds']:.0f} s), max R-hat {rmax:.3f} "
          f"(worst {d.loc[d['r_hat'].idxmax(), 'parameter']}), min bulk ESS {bulk:.0f} "
          f"(worst {d.loc[d['ess_bulk'].idxmin(), 'parameter']}), min tail ESS {tail:.0f}, "
          f"{res.divergences} divergence(s); targets {'met' if ok else 'NOT met'}; {load()}")


def bench_recovery(n: int, draws: int, out: str | None) -> None:
    je = afd.JudgeError(sensitivity=0.85, specificity=0.9)
    rows = []
    for seed in range(n):
        df, truth = afd.simulate(n_models=4, n_queries=40, n_samples=10, variants=["default", "ncs", "low-stakes"],
                                 seed=100 + seed, af_reasoning="goal-guarding", judge={"af_reasoning": je})
        true = truth.gaps[["model", "variant"] + list(QUANTITIES)]
        for kind, judge in (("naive", None), ("corrected", {"af_reasoning": je})):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                warnings.simplefilter("always", ConvergenceWarning)
                res = JointOutcome(draws=draws, chains=4, random_seed=seed, progress=False).fit(df, judge_error=judge)
            s = res.summary().merge(true, on=["model", "variant"], suffixes=("", "_true"))
            for q in QUANTITIES:
                for _, r in s.iterrows():
                    if np.isnan(r[q]):
                        continue
                    rows.append({"seed": seed, "fit": kind, "quantity": q, "model": r["model"],
                                 "variant": r["variant"], "true": r[q + "_true"], "est": r[q],
                                 "covered": bool(r[q + "_lo"] <= r[q + "_true"] <= r[q + "_hi"])})
            print(f"seed {seed} {kind}: {time.perf_counter() - t0:.0f} s, {res.diagnostics_line()}", flush=True)
    tab = pd.DataFrame(rows)
    if out:
        tab.to_csv(out, index=False)
    tab["abs_err"] = (tab["est"] - tab["true"]).abs()
    summ = tab.groupby(["quantity", "fit"]).agg(n=("covered", "size"), coverage=("covered", "mean"),
                                                mae=("abs_err", "mean")).reset_index()
    print(f"recovery over {n} seeds (94% intervals; the share only where reported):")
    print(summ.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--recovery", type=int, default=0, help="number of simulated studies (0: the example fit)")
    ap.add_argument("--out", help="CSV of the recovery rows")
    args = ap.parse_args()
    if args.recovery:
        bench_recovery(args.recovery, args.draws, args.out)
    else:
        bench_example(args.draws)


if __name__ == "__main__":
    main()
