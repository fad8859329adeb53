"""Validation: coverage of the RationalAgent's 90% intervals on simulated data with known truth.

Not a speed benchmark: it prints the calibration figures that docs/model.md (Validation)
reports, so that anyone can reproduce them. Two experiments, both on the design of
``tests/test_rational.py`` (6 models × 40 queries × 20 samples, the published ablations, a
steering sweep at α = ±2 of a values, a sycophancy and a random-direction vector; 2 chains ×
500 draws per fit):

- ``fixed``: the truth drawn from the simulator's fixed population (``afdecomp.simulate``'s
  ``POPULATION``), one fit per seed;
- ``prior``: the truth, population included, drawn from the model's own priors. A correct
  model and sampler give 90% coverage in expectation here, whatever the design.

For each, it prints coverage per parameter (V, S, g, λ_values, λ_sycophancy), the SD of the
standardised errors (truth − mean)/sd (1 when calibrated), coverage in the models whose steered
V reaches the floor at 0, and each fit's divergences, max R-hat, min bulk ESS and time.

    PYTHONPATH=. python benchmarks/validate_rational.py fixed --seeds 5-28
    PYTHONPATH=. python benchmarks/validate_rational.py prior --seeds 1-12
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import afdecomp as afd
from tests.test_rational import STEER, _coverage  # the tests' design and coverage table, not a copy

N_MODELS, ALPHA_MAX = 6, 2.0


def prior_params(seed: int) -> tuple[pd.DataFrame, float]:
    """Per-model parameters and σ_u drawn from RationalAgent's priors (its internal α scale is
    max|α| = 2, so ρ, η are divided by 4 and λ by 2 to give them per unit α)."""
    rng = np.random.default_rng(1000 + seed)

    def half(s, size=None):
        return np.abs(rng.normal(0.0, s, size))

    M = N_MODELS
    mu_b, sigma_b = rng.normal(0, 1.5), half(1.0)
    mu_logV, sigma_logV = rng.normal(0, 1), half(0.5)
    mu_S, sigma_S = rng.normal(0, 1), half(0.5)
    mu_logg, sigma_logg = rng.normal(-1, 1), half(0.5)
    sigma_u = float(half(1.0))
    p = pd.DataFrame({
        "b": rng.normal(mu_b, sigma_b, M),
        "V": np.exp(rng.normal(mu_logV, sigma_logV, M)),
        "S": rng.normal(mu_S, sigma_S, M),
        "g": np.exp(rng.normal(mu_logg, sigma_logg, M)),
        "rho": half(0.5, M) / ALPHA_MAX**2,
        "eta": half(0.5, M) / ALPHA_MAX**2,
    })
    for v in ("values", "sycophancy"):
        p[f"lambda_{v}"] = rng.normal(rng.normal(0, 1), half(0.5), M) / ALPHA_MAX
    return p, sigma_u


def one_fit(seed: int, prior: bool) -> pd.DataFrame:
    kw = {}
    if prior:
        params, sigma_u = prior_params(seed)
        kw = {"params": params, "population": {"sigma_u": sigma_u}}
    df, truth = afd.simulate(n_models=N_MODELS, n_queries=40, n_samples=20, variants="published",
                             steering=STEER, seed=seed, **kw)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = afd.RationalAgent(draws=500, tune=500, chains=2, random_seed=seed).fit(df)
    seconds = time.perf_counter() - t0
    s = _coverage(res, truth)
    s["z"] = (s["truth"] - s["mean"]) / s["sd"]
    floor = truth.params["V"] - ALPHA_MAX * truth.params["lambda_values"].abs() < 0
    s["at_floor"] = s["model"].map(floor)
    s["seed"] = seed
    diag = res.diagnostics()
    print(f"seed {seed:3d}: covered {s['covered'].mean():.3f}  divergences {res.divergences:3d}  "
          f"max R-hat {diag['r_hat'].max():.3f}  min bulk ESS {diag['ess_bulk'].min():5.0f}  {seconds:4.0f} s",
          flush=True)
    return s


def seeds_arg(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("truth", choices=["fixed", "prior"])
    ap.add_argument("--seeds", type=seeds_arg, default=seeds_arg("5-16"), help="e.g. 5-28 or 1,2,3")
    args = ap.parse_args()
    cov = pd.concat([one_fit(s, args.truth == "prior") for s in args.seeds])
    by = cov.groupby("parameter")
    print(f"\n{args.truth} truth, {len(args.seeds)} seeds: {cov['covered'].mean():.1%} of {len(cov)} "
          "90% intervals cover the truth")
    print(pd.DataFrame({"coverage": by["covered"].mean(), "z_sd": by["z"].std(), "n": by.size()}).round(3))
    print(cov.groupby("at_floor")["covered"].agg(["mean", "size"]).rename(
        index={True: "steered V reaches 0", False: "other models"}).round(3))


if __name__ == "__main__":
    main()
