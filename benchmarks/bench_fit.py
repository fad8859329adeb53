"""Benchmark: the hierarchical gap model on a paper-sized synthetic study, three ways in one run.

A study of 20 models × 8 prompt variants × 100 queries × 2 conditions × 5 samples (160,000
generations, ``afdecomp.simulate``) is fitted

1. by ``afdecomp.ComplianceGap`` (binomial cells, zero-sum non-centred query effects, nutpie),
2. by the same model written naively: Bernoulli likelihood on the raw rows, centred
   (β, γ) ~ MvNormal and plain Normal query effects, ``pm.sample()`` defaults (1000 + 1000
   draws, 2 chains, the default NUTS backend). If it is predicted to take more than 10 minutes,
   it is fitted to a subset of the models (the script says so), and it is stopped after
   10 minutes in any case,
3. by the statsmodels baseline ``afdecomp.glm_gap`` (no sampling).

It prints wall time, min bulk ESS, min bulk ESS per second and max R-hat of each, the ratio of
ESS per second ours/naive, and the load average (``uptime``) next to the timings: the machine
is shared. ``--backends`` also times ComplianceGap with each NUTS backend (nutpie, pymc,
numpyro) on the same data.

    PYTHONPATH=. python benchmarks/bench_fit.py [--backends nutpie,pymc,numpyro] [--quick]
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
from afdecomp.simulate import PUBLISHED_VARIANTS

BUDGET = 600.0  # seconds allowed for the naive fit


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def study(n_models: int, n_variants: int, n_queries: int, n_samples: int, seed: int = 0):
    """A simulated study with the first ``n_variants`` published prompt variants."""
    variants = list(PUBLISHED_VARIANTS[:n_variants])
    return afd.simulate(n_models=n_models, n_queries=n_queries, n_samples=n_samples,
                        variants=variants, seed=seed)


#: Studies of the convergence table (docs/gap.md): models, queries, prompt variants, samples per cell.
SIZES = [(3, 20, 1, 4), (6, 40, 1, 5), (6, 80, 1, 3), (20, 20, 1, 3), (3, 100, 10, 2), (10, 50, 3, 3),
         (12, 60, 5, 2)]


def fit_ours(df, sampler: str, draws: int | None = None, tune: int | None = None, seed: int = 1) -> dict:
    """ComplianceGap at its default settings (draws and tune too, unless given)."""
    kw = {k: v for k, v in (("draws", draws), ("tune", tune)) if v is not None}
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = ComplianceGap(random_seed=seed, sampler=sampler, progress=False, **kw).fit(df)
    wall = time.perf_counter() - t0
    d = res.diagnostics()
    return {"how": f"ComplianceGap, cells, {res.idata.attrs['sampler']}, {res.idata.attrs['chains']} chains",
            "wall_s": wall, "sampling_s": float(res.idata.attrs["sampling_seconds"]),
            "min_ess_bulk": d["ess_bulk"].min(), "min_ess_tail": d["ess_tail"].min(),
            "max_rhat": d["r_hat"].max(), "divergences": res.divergences,
            "worst": d.loc[d["ess_bulk"].idxmin(), "parameter"],
            "warnings": sum(1 for w in caught if "ComplianceGap" in str(w.message)), "res": res}


def sizes_table(sizes=SIZES, seed: int = 0) -> pd.DataFrame:
    """Fit ComplianceGap() at its defaults to one simulated study per size; one row per study."""
    rows = []
    for m, q, v, s in sizes:
        df, _ = study(m, v, q, s, seed=seed)
        r = fit_ours(df, "auto", seed=seed + 1)
        levels = r["res"].idata.attrs.get("levels", "")
        row = {"models": m, "queries": q, "variants": v, "samples": s, "generations": len(df),
               "levels": levels, "wall_s": r["wall_s"], "max_rhat": r["max_rhat"],
               "min_ess_bulk": r["min_ess_bulk"], "min_ess_tail": r["min_ess_tail"],
               "divergences": r["divergences"], "chains": r["res"].idata.attrs["chains"],
               "slowest": r["worst"]}
        rows.append(row)
        print(f"[{time.strftime('%H:%M:%S')}] {row}; {load()}", flush=True)
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """The convergence table as docs/gap.md prints it."""
    lines = ["| models × queries × variants × samples | generations | levels | wall | max R-hat | "
             "min bulk / tail ESS | divergences | chains |", "|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.models} × {r.queries} × {r.variants} × {r.samples} | {r.generations:,} | {r.levels} | "
                     f"{r.wall_s:.0f} s | {r.max_rhat:.3f} | {r.min_ess_bulk:.0f} / {r.min_ess_tail:.0f} | "
                     f"{r.divergences} | {r.chains} |")
    return "\n".join(lines)


def naive_model(df: pd.DataFrame):
    """The same model written the obvious way: rows, centred, unconstrained query effects."""
    import pymc as pm
    keys = df[["model", "variant"]].astype(str)
    pair = keys.groupby(["model", "variant"], sort=True).ngroup().to_numpy()
    pairs = keys.drop_duplicates().sort_values(["model", "variant"])
    setting, _ = pd.factorize(pairs["variant"], sort=True)
    q, qs = pd.factorize(df["query_id"].astype(str), sort=True)
    t = df["oversight"].to_numpy(dtype=float)
    y = df["complied"].astype(bool).to_numpy().astype(int)
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, sigma=np.array([1.5, 1.0]), shape=(setting.max() + 1, 2))
        chol, _, _ = pm.LKJCholeskyCov("chol", n=2, eta=2.0, sd_dist=pm.HalfNormal.dist(1.0, shape=2),
                                       compute_corr=True)
        theta = pm.MvNormal("theta", mu=mu[setting], chol=chol, shape=(len(pairs), 2))
        sigma_u = pm.HalfNormal("sigma_u", 1.0)
        sigma_w = pm.HalfNormal("sigma_w", 0.5)
        u = pm.Normal("u", 0.0, sigma_u, shape=len(qs))
        w = pm.Normal("w", 0.0, sigma_w, shape=len(qs))
        pm.Bernoulli("y", logit_p=theta[pair, 0] + u[q] + t * (theta[pair, 1] + w[q]), observed=y)
    return m


def _grad_seconds(model, n: int = 50) -> float:
    """Seconds per logp+gradient evaluation of a PyMC model (numba, as nutpie runs it)."""
    fn = model.logp_dlogp_function(ravel_inputs=True, mode="NUMBA")
    fn.set_extra_values({})
    x = np.concatenate([np.ravel(v) for v in model.initial_point().values()])
    fn(x)
    t0 = time.perf_counter()
    for _ in range(n):
        fn(x)
    return (time.perf_counter() - t0) / n


def fit_naive(df, ours: dict, budget: float) -> dict:
    import nutpie
    steps = float(_arviz_steps(ours["res"].idata))
    note = ""
    models = sorted(df["model"].astype(str).unique())
    sub = df
    # lower bound: the naive run needs at least as many gradient evaluations as ours did
    per_grad = _grad_seconds(naive_model(df))
    predicted = steps * per_grad
    if predicted > budget / 3:
        keep = max(2, int(len(models) * (budget / 3) / predicted))
        sub = df[df["model"].astype(str).isin(models[:keep])]
        note = (f"naive fit cut to {keep} of {len(models)} models ({len(sub):,} of {len(df):,} rows): "
                f"predicted >= {predicted / 60:.0f} min on the full data")
        print(note)
    t0 = time.perf_counter()
    model = naive_model(sub)
    compiled = nutpie.compile_pymc_model(model)
    bg = nutpie.sample(compiled, draws=1000, tune=1000, chains=2, seed=1, blocking=False, progress_bar=False)
    left = budget - (time.perf_counter() - t0)
    idata = bg.wait(timeout=max(left, 1.0))
    finished = bg.is_finished
    if not finished:
        idata = bg.abort()
        note += ("; " if note else "") + f"naive fit stopped after {budget:.0f} s (partial trace)"
        print(f"naive fit stopped after {budget:.0f} s")
    wall = time.perf_counter() - t0
    from afdecomp import _arviz
    post = _arviz.group(idata, "posterior")
    names = [v for v in ("mu", "chol_stds", "theta", "sigma_u", "sigma_w", "u", "w") if v in post]
    if post.sizes.get("draw", 0) >= 4:
        d = _arviz.diagnostics(idata, names)
        ess, tail, rhat = d["ess_bulk"].min(), d["ess_tail"].min(), d["r_hat"].max()
    else:
        ess, tail, rhat = 0.0, 0.0, np.nan
    return {"how": "naive: rows, centred, pm.sample defaults (nutpie)", "wall_s": wall,
            "sampling_s": np.nan, "min_ess_bulk": ess, "min_ess_tail": tail, "max_rhat": rhat,
            "divergences": _arviz.divergences(idata), "rows": len(sub), "note": note}


def _arviz_steps(idata) -> float:
    """Total leapfrog steps of a fit, tuning included approximately (x2 the kept draws)."""
    from afdecomp import _arviz
    st = _arviz.group(idata, "sample_stats")
    key = "n_steps" if "n_steps" in st else "tree_size"
    return 2.0 * float(st[key].values.sum())


def fit_glm(df) -> dict:
    t0 = time.perf_counter()
    afd.glm_gap(df)
    return {"how": "statsmodels GLM, cluster-robust (glm_gap)", "wall_s": time.perf_counter() - t0,
            "sampling_s": np.nan, "min_ess_bulk": np.nan, "max_rhat": np.nan, "divergences": 0}


def _show(r: dict) -> None:
    print(f"  {r['how']}: wall {r['wall_s']:.1f} s, min bulk ESS {r['min_ess_bulk']:.0f}, "
          f"min tail ESS {r.get('min_ess_tail', np.nan):.0f}, "
          f"ESS/s {r['min_ess_bulk'] / r['wall_s']:.2f}, max R-hat {r['max_rhat']:.3f}, "
          f"divergences {r['divergences']}", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--variants", type=int, default=8)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--draws", type=int, default=None, help="default: ComplianceGap's")
    ap.add_argument("--tune", type=int, default=None, help="default: ComplianceGap's")
    ap.add_argument("--backends", default="", help="also time these samplers, e.g. nutpie,pymc,numpyro")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--naive-budget", type=float, default=BUDGET, help="seconds allowed for the naive fit")
    ap.add_argument("--quick", action="store_true", help="a small study (smoke test)")
    ap.add_argument("--sizes", action="store_true",
                    help="instead: the convergence table over study sizes (SIZES) at default settings")
    a = ap.parse_args(argv)
    if a.sizes:
        print(f"[{time.strftime('%H:%M:%S')}] convergence over study sizes, ComplianceGap() defaults; {load()}")
        table = sizes_table()
        print(markdown(table))
        ok = (table["max_rhat"] <= 1.01) & (table[["min_ess_bulk", "min_ess_tail"]].min(axis=1) >= 400) \
            & (table["divergences"] == 0)
        print(f"every study converged (R-hat <= 1.01, bulk and tail ESS >= 400, no divergences): {bool(ok.all())}")
        return
    if a.quick:
        a.models, a.variants, a.queries, a.samples = 4, 2, 20, 3
    df, _ = study(a.models, a.variants, a.queries, a.samples)
    cells = afd.aggregate(df)
    print(f"study: {a.models} models x {a.variants} variants x {a.queries} queries x 2 conditions x "
          f"{a.samples} samples = {len(df):,} generations -> {len(cells):,} cells; cores {os.cpu_count()}")
    print(f"[{time.strftime('%H:%M:%S')}] {load()}")
    rows = []
    ours = fit_ours(df, "auto", a.draws, a.tune)
    rows.append(ours)
    _show(ours)
    print(f"[{time.strftime('%H:%M:%S')}] ours done ({ours['wall_s']:.0f} s); {load()}")
    for b in [b for b in a.backends.split(",") if b]:
        try:
            r = fit_ours(df, b, a.draws, a.tune)
        except Exception as e:  # a missing optional backend is reported, not fatal
            print(f"backend {b}: {type(e).__name__}: {e}")
            continue
        rows.append(r)
        _show(r)
        print(f"[{time.strftime('%H:%M:%S')}] backend {b} done ({r['wall_s']:.0f} s); {load()}")
    if not a.skip_naive:
        naive = fit_naive(df, ours, a.naive_budget)
        rows.append(naive)
        _show(naive)
        print(f"[{time.strftime('%H:%M:%S')}] naive done ({naive['wall_s']:.0f} s); {load()}")
    rows.append(fit_glm(df))
    table = pd.DataFrame([{k: v for k, v in r.items() if k not in ("res", "note", "worst")} for r in rows])
    table["ess_per_s"] = table["min_ess_bulk"] / table["wall_s"]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    if not a.skip_naive and rows[-2].get("min_ess_bulk", 0) > 0:
        print(f"ESS/s ratio ours/naive: {ours['min_ess_bulk'] / ours['wall_s'] / (rows[-2]['min_ess_bulk'] / rows[-2]['wall_s']):.1f}x"
              + (f"  ({rows[-2]['note']})" if rows[-2].get("note") else ""))
    elif not a.skip_naive:
        print("ESS/s ratio ours/naive: naive produced no usable draws (ratio unbounded)")
    ok = (ours["max_rhat"] <= 1.01 and min(ours["min_ess_bulk"], ours["min_ess_tail"]) >= 400
          and ours["divergences"] == 0 and ours["wall_s"] < 60)
    print(f"aim (R-hat <= 1.01, bulk and tail ESS >= 400, no divergences, < 60 s): "
          f"{'met' if ok else 'NOT met'}; {load()}")


if __name__ == "__main__":
    main()
