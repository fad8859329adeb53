"""Frequentist baseline: a statsmodels Binomial GLM per condition, cluster-robust by query.

For each condition (model × scenario × variant × steering) the GLM
``logit p_c = β + t·γ`` is fitted to the binomial cells (successes and failures per query and
tier) with standard errors clustered by query, so that queries — not generations — are the
replicate. The probability-scale gap σ(β+γ) − σ(β) gets a delta-method interval. With no query
effects in the linear predictor these rates are the pooled rates k/n of each tier.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from ..aggregate import check_tiers
from .baseline import CONDITION_KEYS

COLUMNS = CONDITION_KEYS + ["rate_training", "rate_deployment", "gap", "gap_lo", "gap_hi", "n", "gap_se"]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _fit_one(g: pd.DataFrame, z: float) -> dict:
    t = g["oversight"].to_numpy(dtype=float)
    n = g["n"].to_numpy(dtype=float)
    k = g["k"].to_numpy(dtype=float)
    out = {"n": int(n.sum()), "separated": False}
    tr = t > 0
    if not tr.any() or tr.all():
        return {**out, "rate_training": np.nan, "rate_deployment": np.nan, "gap": np.nan,
                "gap_lo": np.nan, "gap_hi": np.nan, "gap_se": np.nan}
    k1, n1, k0, n0 = k[tr].sum(), n[tr].sum(), k[~tr].sum(), n[~tr].sum()
    if k1 in (0, n1) or k0 in (0, n0):
        # a tier at 0% or 100%: the logit MLE is infinite; report the rates without an interval
        out["separated"] = True
        p1, p0 = k1 / n1, k0 / n0
        return {**out, "rate_training": p1, "rate_deployment": p0, "gap": p1 - p0,
                "gap_lo": np.nan, "gap_hi": np.nan, "gap_se": np.nan}
    X = np.column_stack([np.ones_like(t), t])
    groups = pd.factorize(g["query_key"])[0]
    model = sm.GLM(np.column_stack([k, n - k]), X, family=sm.families.Binomial())
    fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    b, c = fit.params
    cov = np.asarray(fit.cov_params())
    p1, p0 = _sigmoid(b + c), _sigmoid(b)
    grad = np.array([p1 * (1 - p1) - p0 * (1 - p0), p1 * (1 - p1)])
    se = float(np.sqrt(grad @ cov @ grad))
    gap = p1 - p0
    return {**out, "rate_training": p1, "rate_deployment": p0, "gap": gap,
            "gap_lo": gap - z * se, "gap_hi": gap + z * se, "gap_se": se}


def glm_gap(data: pd.DataFrame, label: str = "complied", *, ci_prob: float = 0.94) -> pd.DataFrame:
    """Compliance gap per condition from a Binomial GLM with query-clustered standard errors.

    Parameters
    ----------
    data : DataFrame
        The tidy table or its binomial cells (``afdecomp.aggregate``).
    label : str
        The boolean column whose rate is compared.
    ci_prob : float, default 0.94
        Coverage of the (delta-method, normal) interval, matching the Bayesian 94% HDI.

    Returns
    -------
    DataFrame
        model, scenario, variant, steer_vector, steer_layer, steer_coef, rate_training,
        rate_deployment, gap, gap_lo, gap_hi, n, and ``gap_se``. A condition where a tier is at
        0% or 100% has no finite logit estimate: its interval is NaN and a warning names it.
        A condition without labelled generations in both tiers raises, naming it.
    """
    from .gap import as_cells
    cells = as_cells(data, label)
    check_tiers(cells, who="glm_gap")
    cells = cells[cells["n"] > 0].copy()
    cells["query_key"] = cells["scenario"].astype(str) + "/" + cells["query_id"].astype(str)
    z = stats.norm.ppf(0.5 + ci_prob / 2)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for key, g in cells.groupby(CONDITION_KEYS, observed=True, dropna=False, sort=True):
            rows.append({**dict(zip(CONDITION_KEYS, key, strict=True)), **_fit_one(g, z)})
    out = pd.DataFrame(rows)
    sep = out.pop("separated")
    if sep.any():
        names = [f"{r.model}/{r.variant}/{r.steer_vector}:{r.steer_coef:g}" for r in out[sep].itertuples()]
        warnings.warn(f"glm_gap: {int(sep.sum())} condition(s) have a tier at 0% or 100% compliance "
                      f"(no finite logit estimate; interval left NaN): {', '.join(names[:5])}"
                      + (" ..." if len(names) > 5 else ""), stacklevel=2)
    out["steer_layer"] = pd.array(out["steer_layer"], dtype="Int64")
    return out[COLUMNS]
