"""Benchmark: the fast (Laplace) gap fit against NUTS on planning studies, in one run.

The same replicate studies (``afd.plan`` seeds them by (seed, design, replicate), whatever the
method) are fitted three ways: ``method="fast"`` (:func:`afdecomp.laplace_gap`), ``"nuts"``
(:class:`afdecomp.ComplianceGap` at its defaults) and ``"glm"`` (:func:`afdecomp.glm_gap`). The
truth has three models, gaps 0, 0.05 and 0.15 at deployment rates 0.3, 0.2 and 0.4, and a query
spread of 0.8 on the logit scale; the designs have 20, 50 and 100 queries × 5 samples.

It prints, per method and design, the coverage of the 94% intervals (the share that hold the
study's own true gap, averaged over its queries), the bias and RMSE of the estimate, the mean
interval width and the power, each model pooled; then the time per fit of each method measured
serially in this one process on the same studies (after one warm-up fit each, so the NUTS
compile caches are warm), next to the NUTS fits' max R-hat, min bulk/tail ESS and divergences;
and the ratio. The machine's load average is printed next to the timings (it is shared).

    PYTHONPATH=. python benchmarks/bench_plan.py [--replicates 60] [--timed 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

import afdecomp as afd
from afdecomp.models.gap import ComplianceGap
from afdecomp.models.laplace import laplace_gap
from afdecomp.planning.worlds import ReducedWorld, design_settings, truth_table

TRUTH = {"no-gap": {"gap": 0.0, "deployment_rate": 0.3, "query_sd": 0.8},
         "gap-0.05": {"gap": 0.05, "deployment_rate": 0.2, "query_sd": 0.8},
         "gap-0.15": {"gap": 0.15, "deployment_rate": 0.4, "query_sd": 0.8}}
DESIGNS = [{"n_queries": q, "n_samples": 5} for q in (20, 50, 100)]


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def calibration(replicates: int, seed: int) -> pd.DataFrame:
    rows = []
    for method in ("fast", "nuts", "glm"):
        t0 = time.perf_counter()
        res = afd.plan(DESIGNS, TRUTH, replicates=replicates, method=method, seed=seed, progress=True)
        wall = time.perf_counter() - t0
        r = res.replicates
        r = r.assign(err=r["estimate"] - r["estimand"],
                     covered=((r["lo"] <= r["estimand"]) & (r["estimand"] <= r["hi"])).astype(float))
        s = res.summary()
        for d, g in r.groupby("design"):
            sd = s[s["design"] == d]
            rows.append({"method": method, "queries": DESIGNS[d]["n_queries"], "fits": len(g),
                         "coverage": g["covered"].mean(), "coverage_se": np.sqrt(g["covered"].var(ddof=0) / len(g)),
                         "bias": g["err"].mean(), "rmse": np.sqrt((g["err"] ** 2).mean()),
                         "width": (g["hi"] - g["lo"]).mean(),
                         "size (no gap)": float(sd.loc[sd["model"] == "no-gap", "power"].iloc[0]),
                         "power 0.05": float(sd.loc[sd["model"] == "gap-0.05", "power"].iloc[0]),
                         "power 0.15": float(sd.loc[sd["model"] == "gap-0.15", "power"].iloc[0]),
                         "sweep wall s": wall})
        print(f"  {method}: {len(DESIGNS) * replicates} studies ({len(r)} model fits) in {wall:.0f} s ({load()})", flush=True)
    return pd.DataFrame(rows)


def timing(n: int, seed: int) -> pd.DataFrame:
    """Per-fit time of each method on the same n studies (100 queries), serially, warm."""
    world = ReducedWorld(truth_table(TRUTH))
    design = design_settings(DESIGNS[-1])
    studies = [world.draw(design, seed + i).cells for i in range(n + 1)]
    laplace_gap(studies[0], seed=0)                       # warm-up: imports
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ComplianceGap(random_seed=0, progress=False).fit(studies[0])   # warm-up: compile caches
    rows = []
    for i, cells in enumerate(studies[1:]):
        t0 = time.perf_counter()
        laplace_gap(cells, seed=i)
        t_fast = time.perf_counter() - t0
        t0 = time.perf_counter()
        afd.glm_gap(cells)
        t_glm = time.perf_counter() - t0
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ComplianceGap(random_seed=i, progress=False).fit(cells)
        t_nuts = time.perf_counter() - t0
        diag = fit.diagnostics()
        rows.append({"study": i, "fast s": t_fast, "glm s": t_glm, "nuts s": t_nuts, "ratio nuts/fast": t_nuts / t_fast,
                     "nuts R-hat": diag["r_hat"].max(), "nuts ESS bulk": diag["ess_bulk"].min(),
                     "nuts ESS tail": diag["ess_tail"].min(), "nuts divergences": fit.divergences,
                     "chains": fit.idata["posterior"].sizes["chain"]})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=60, help="replicate studies per design (default 60)")
    ap.add_argument("--timed", type=int, default=8, help="studies timed serially per method (default 8)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    print(f"bench_plan: {len(DESIGNS)} designs × {a.replicates} replicates × {len(TRUTH)} models, seed {a.seed}; "
          f"{load()}", flush=True)
    cal = calibration(a.replicates, a.seed)
    print("\nCalibration (94% intervals; coverage of each study's own true gap, the three models pooled):")
    print(cal.round(3).to_string(index=False))
    t0 = time.strftime("%H:%M:%S")
    tim = timing(a.timed, 1000 + a.seed)
    print(f"\nTime per fit, {a.timed} studies of 3 models × 100 queries × 5 samples, serial, warm caches "
          f"(started {t0} UTC, {load()}):")
    print(tim.round(3).to_string(index=False))
    print(f"\nmedian fast {tim['fast s'].median():.3f} s, glm {tim['glm s'].median():.3f} s, "
          f"nuts {tim['nuts s'].median():.2f} s; median ratio nuts/fast {tim['ratio nuts/fast'].median():.0f}× "
          f"(min {tim['ratio nuts/fast'].min():.0f}×); NUTS max R-hat {tim['nuts R-hat'].max():.4f}, "
          f"min ESS bulk {tim['nuts ESS bulk'].min():.0f}, tail {tim['nuts ESS tail'].min():.0f}, "
          f"divergences {int(tim['nuts divergences'].sum())}")


if __name__ == "__main__":
    main()
