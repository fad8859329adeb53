"""Benchmark: the joint outcome model on the bundled example study, and its recovery on simulations.

Default: fit ``afdecomp.JointOutcome`` (defaults: 4 chains × (1000 tune + 1000 draws), nutpie)
to ``data/example`` with the judge error the example states (AF labels: se 0.85, sp 0.90), and
print wall time, max R-hat, min bulk and tail ESS and divergences against the targets (R-hat ≤
1.01, ESS ≥ 400, no divergences, < 180 s on 2 cores), with the load average (the machine is
shared: timings at a load above 2 are not the 2-core figure).

``--recovery N``: N seeded simulated studies (4 models × 3 variants × 40 queries × 10 samples,
AF reasoning from the goal-guarding link plus a background rate ``--af-background`` (default
0.1, so that the deployment AF rate is interior: at 0 it is a boundary a logit model never
reaches), AF labels judged with se 0.85, sp 0.90); each is
fitted naive and judge-corrected, and the script prints, per fit kind, the share of conditions
whose 94% interval covers the true gap, AF rates and AF share of the gap, and the mean absolute
error of each, with the coverage's Monte Carlo standard error over seeds — the recovery table
of docs/joint.md. ``--out rows.csv`` is rewritten after every seed.

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
    ss = res.idata["sample_stats"]
    steps = float(ss["n_steps"].mean()) if "n_steps" in ss else float("nan")
    grad_ms = _grad_ms(df, judge)
    d = res.diagnostics()
    rmax, bulk, tail = d["r_hat"].max(), d["ess_bulk"].min(), d["ess_tail"].min()
    ok = rmax <= RHAT_MAX and bulk >= ESS_MIN and tail >= ESS_MIN and res.divergences == 0 and wall < 180
    print(f"JointOutcome on the example ({len(res.pairs())} conditions, {res.idata.attrs['chains']} chains "
          f"({res.idata.attrs.get('batches', 1)} batch(es)) x ({res.idata.attrs['tune']} tune + {draws} draws)): "
          f"wall {wall:.0f} s (sampling {res.idata.attrs['sampling_seconds']:.0f} s), max R-hat {rmax:.3f} "
          f"(worst {d.loc[d['r_hat'].idxmax(), 'parameter']}), min bulk ESS {bulk:.0f} "
          f"(worst {d.loc[d['ess_bulk'].idxmin(), 'parameter']}), min tail ESS {tail:.0f} "
          f"(worst {d.loc[d['ess_tail'].idxmin(), 'parameter']}), "
          f"{res.divergences} divergence(s); targets {'met' if ok else 'NOT met'}; {load()}")
    print(f"load-independent figures: {steps:.1f} leapfrog steps per draw x {grad_ms:.2f} ms per logp+grad "
          f"(numba, this load) = {steps * grad_ms:.0f} ms per draw per chain; ESS per draw "
          f"{bulk / (res.idata['posterior'].sizes['chain'] * draws):.3f}; outside sampling (build, "
          f"derived quantities, checks) {wall - res.idata.attrs['sampling_seconds']:.0f} s")


def _grad_ms(df, judge, reps: int = 200) -> float:
    """Milliseconds per logp+gradient evaluation of the fitted model (numba, as nutpie compiles it)."""
    from afdecomp.models.joint import LABELS, joint_cells
    from afdecomp.models.judge_error import resolve_judge_error
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model, _, _ = JointOutcome().build(joint_cells(df), resolve_judge_error(judge, LABELS, "bench"))
    f = model.logp_dlogp_function(ravel_inputs=True, mode="NUMBA")
    f.set_extra_values({})
    ip = model.initial_point()
    x = np.concatenate([np.ravel(ip[v.name]) for v in f._grad_vars])
    for _ in range(10):
        f(x)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            f(x)
        best = min(best, (time.perf_counter() - t0) / reps * 1e3)
    return best


def bench_recovery(n: int, draws: int, out: str | None, *, tune: int = 1000, chains: int = 4,
                   af_background: float = 0.1, first_seed: int = 0) -> None:
    je = afd.JudgeError(sensitivity=0.85, specificity=0.9)
    rows = []
    fits = []
    for seed in range(first_seed, first_seed + n):
        df, truth = afd.simulate(n_models=4, n_queries=40, n_samples=10, variants=["default", "ncs", "low-stakes"],
                                 seed=100 + seed, af_reasoning="goal-guarding", af_background=af_background,
                                 judge={"af_reasoning": je})
        true = truth.gaps[["model", "variant"] + list(QUANTITIES)]
        for kind, judge in (("naive", None), ("corrected", {"af_reasoning": je})):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                warnings.simplefilter("always", ConvergenceWarning)
                res = JointOutcome(draws=draws, tune=tune, chains=chains, random_seed=seed, max_chains=chains,
                                   progress=False).fit(df, judge_error=judge)
            s = res.summary().merge(true, on=["model", "variant"], suffixes=("", "_true"))
            for q in QUANTITIES:
                for _, r in s.iterrows():
                    if np.isnan(r[q]):
                        continue
                    rows.append({"seed": seed, "fit": kind, "quantity": q, "model": r["model"],
                                 "variant": r["variant"], "true": r[q + "_true"], "est": r[q],
                                 "covered": bool(r[q + "_lo"] <= r[q + "_true"] <= r[q + "_hi"])})
            dg = res.diagnostics()
            fits.append({"seed": seed, "fit": kind, "seconds": time.perf_counter() - t0,
                         "max_rhat": dg["r_hat"].max(), "min_ess_bulk": dg["ess_bulk"].min(),
                         "min_ess_tail": dg["ess_tail"].min(), "divergences": res.divergences})
            print(f"seed {seed} {kind}: {time.perf_counter() - t0:.0f} s, {res.diagnostics_line()}; {load()}",
                  flush=True)
        if out:  # after every seed: a run stopped early keeps what it has
            pd.DataFrame(rows).to_csv(out, index=False)
            pd.DataFrame(fits).to_csv(out.replace(".csv", "") + "_fits.csv", index=False)
    print(coverage_table(pd.DataFrame(rows), pd.DataFrame(fits)).to_string(
        index=False, float_format=lambda x: f"{x:.3f}"))


def coverage_table(tab: pd.DataFrame, fits: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per quantity and fit kind: conditions, coverage, its Monte Carlo standard error, MAE.

    The conditions of one simulated study share its draws (populations, queries, judge flips),
    so they are not independent: the standard error is that of the mean over studies of each
    study's coverage (seeds are the independent replicates), ``sd / sqrt(seeds)``, not the
    binomial ``sqrt(c(1 - c)/n)`` over conditions. ``fits`` (one row per fit): the coverage
    over the fits with max R-hat <= 1.01 and no divergences is added (short chains need not
    reach ESS 400; their intervals are still valid if they mix).
    """
    tab = tab.copy()
    tab["abs_err"] = (tab["est"] - tab["true"]).abs()
    per_seed = tab.groupby(["quantity", "fit", "seed"])["covered"].mean().reset_index()
    se = per_seed.groupby(["quantity", "fit"])["covered"].agg(
        lambda x: x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.nan).rename("mc_se")
    summ = tab.groupby(["quantity", "fit"]).agg(seeds=("seed", "nunique"), n=("covered", "size"),
                                                coverage=("covered", "mean"), mae=("abs_err", "mean"))
    summ = summ.join(se)
    if fits is not None and len(fits):
        ok = fits[(fits["max_rhat"] <= RHAT_MAX) & (fits["divergences"] == 0)][["seed", "fit"]]
        conv = tab.merge(ok, on=["seed", "fit"]).groupby(["quantity", "fit"])["covered"].agg(["mean", "size"])
        summ["coverage_converged"] = conv["mean"]
        summ["n_converged"] = conv["size"]
    order = {q: i for i, q in enumerate(QUANTITIES)}
    return summ.reset_index().sort_values(["quantity", "fit"], key=lambda c: c.map(order) if c.name == "quantity" else c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--recovery", type=int, default=0, help="number of simulated studies (0: the example fit)")
    ap.add_argument("--tune", type=int, default=1000, help="--recovery: tuning steps per chain")
    ap.add_argument("--chains", type=int, default=4, help="--recovery: chains per fit")
    ap.add_argument("--first-seed", type=int, default=0, help="--recovery: first seed (studies use 100 + seed)")
    ap.add_argument("--af-background", type=float, default=0.1,
                    help="--recovery: background AF rate of the simulated world (> 0 keeps the deployment AF "
                         "rate interior, where a logit model can cover it)")
    ap.add_argument("--out", help="CSV of the recovery rows (and <out>_fits.csv: one row per fit)")
    args = ap.parse_args()
    if args.recovery:
        bench_recovery(args.recovery, args.draws, args.out, tune=args.tune, chains=args.chains,
                       af_background=args.af_background, first_seed=args.first_seed)
    else:
        bench_example(args.draws)


if __name__ == "__main__":
    main()
