"""Rational-agent fits shared by the decomposition and steering tests (fits are the slow part).

Cached per process, so pytest fits each design once for both test files.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd

import afdecomp as afd
from afdecomp.results import ConvergenceWarning

STEER = [{"vector": "values", "layer": 3, "coefs": [-2.0, 2.0]},
         {"vector": "sycophancy", "layer": 3, "coefs": [-2.0, 2.0]},
         {"vector": "random-0", "layer": 3, "coefs": [-2.0, 2.0]}]
N_QUERIES = 12


def fit(df: pd.DataFrame, seed: int, draws: int = 300):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short chains: ESS warnings expected
        return afd.RationalAgent(draws=draws, tune=draws, chains=2, random_seed=seed).fit(df)


@cache
def null_fit(seed: int = 1):
    """Published ablations + steering; S = 0 for every model and the values vector has λ = 0.

    So sycophancy never changes the utilities under the prompt cues (its true share is 0), and
    the values vector acts exactly like the random control (no specific effect), while the
    sycophancy vector has one (λ_S ~ 0.4 per unit α, positive).
    """
    params = pd.DataFrame({"S": np.zeros(4), "lambda_values": np.zeros(4)})
    df, truth = afd.simulate(n_models=4, n_queries=N_QUERIES, n_samples=4, variants="published",
                             steering=STEER, params=params, seed=seed)
    return df, truth, fit(df, seed)


@cache
def plain_fit(seed: int = 2, n_models: int = 4, draws: int = 300):
    """Published ablations + steering with parameters drawn from the population."""
    df, truth = afd.simulate(n_models=n_models, n_queries=N_QUERIES, n_samples=4, variants="published",
                             steering=STEER, seed=seed)
    return df, truth, fit(df, seed, draws)
