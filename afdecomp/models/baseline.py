"""The published estimators: per-condition rates with Wilson intervals, and the seed-SEM gap.

``seed_sem_gap`` is what the alignment-faking papers' tables report: for each seed (the
``sample`` column), the compliance rate over queries in training minus that in deployment;
then the mean over seeds, its standard error (SD with ddof=1 over sqrt(#seeds)) and a
one-sample t-test of mean = 0. It treats seeds as the only replicate and ignores that queries
are a sample — the hierarchical estimator (``ComplianceGap``) does not.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..aggregate import CONDITION_KEYS, as_tidy, check_tiers

__all__ = ["CONDITION_KEYS", "rates", "seed_sem_gap", "wilson_interval"]


def _keys(df: pd.DataFrame, by) -> list[str]:
    return [c for c in (CONDITION_KEYS if by is None else by) if c in df.columns]


def wilson_interval(k, n, ci_prob: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion; NaN where n = 0."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.ppf(0.5 + ci_prob / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def rates(df: pd.DataFrame, label: str = "complied", *, by=None, ci_prob: float = 0.95) -> pd.DataFrame:
    """Rate of ``label`` per condition and tier, with Wilson intervals.

    Parameters
    ----------
    df : DataFrame
        The tidy table (or a plain table with its required columns).
    label : str, default "complied"
        The boolean column whose rate is computed (``"af_reasoning"``, ``"partial"``, ...);
        unlabelled rows (NA) are counted in ``n_na`` and left out of ``n``.
    by : list of str, optional
        Condition keys (default: model, scenario, variant and the steering columns).
    ci_prob : float, default 0.95
        Level of the Wilson score interval.

    Returns
    -------
    DataFrame
        Condition keys, ``condition``, ``k``, ``n``, ``n_na`` (unlabelled, excluded from n),
        ``rate``, ``lo``, ``hi``.
    """
    df = as_tidy(df, label, who="rates")
    keys = _keys(df, by) + ["condition"]
    y = df[label]
    g = pd.DataFrame({c: df[c] for c in keys})
    g["k"] = y.fillna(False).astype(bool).to_numpy() & y.notna().to_numpy()
    g["n"] = y.notna().to_numpy()
    g["n_na"] = y.isna().to_numpy()
    out = g.groupby(keys, observed=True, dropna=False, sort=True)[["k", "n", "n_na"]].sum().reset_index()
    out[["k", "n", "n_na"]] = out[["k", "n", "n_na"]].astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rate"] = out["k"] / out["n"].replace(0, np.nan)
    out["lo"], out["hi"] = wilson_interval(out["k"], out["n"], ci_prob)
    return out


def seed_sem_gap(df: pd.DataFrame, label: str = "complied", *, by=None, seed_col: str = "sample") -> pd.DataFrame:
    """The papers' compliance-gap estimator: mean ± SEM over seeds, one-sample t-test.

    Parameters
    ----------
    df : DataFrame
        The tidy table.
    label : str
        The boolean column whose rate is compared (``"complied"`` or ``"af_reasoning"``).
    by : list of str, optional
        Condition keys (default: model, scenario, variant and the steering columns).
    seed_col : str
        The column naming the seed (default ``sample``).

    Returns
    -------
    DataFrame
        Condition keys and ``n_seeds``, ``rate_training``, ``rate_deployment`` (means over
        seeds), ``gap`` (mean of per-seed gaps), ``gap_sem``, ``t``, ``p_value`` and ``n``
        (labelled generations). With one seed, ``gap_sem``, ``t`` and ``p_value`` are NaN.

    Raises
    ------
    ValueError
        Naming every condition without labelled generations in both tiers (when anything is
        labelled; a table with no label at all gives an empty table).

    Warns
    -----
    UserWarning
        For conditions whose every seed gives the same gap (e.g. 0% compliance in both
        tiers): the seed SEM is then 0 and says nothing about the uncertainty.
    """
    df = as_tidy(df, label, who="seed_sem_gap")
    keys = _keys(df, by)
    per = rates(df, label, by=keys + [seed_col], ci_prob=0.95)
    if per["n"].sum() > 0:
        check_tiers(per, keys, who="seed_sem_gap")
    wide = per.pivot_table(index=keys + [seed_col], columns="condition", values="rate",
                           observed=True, dropna=False, aggfunc="first")
    n = per.groupby(keys, observed=True, dropna=False)["n"].sum()
    wide = wide.reindex(columns=["training", "deployment"])
    wide["gap"] = wide["training"] - wide["deployment"]
    wide = wide.dropna(subset=["gap"])  # a seed without both tiers has no gap
    if wide.empty:  # nothing labelled in both tiers (e.g. fresh sampler logs): an empty table
        return pd.DataFrame(columns=keys + ["n_seeds", "rate_training", "rate_deployment", "gap",
                                            "gap_sem", "t", "p_value", "n"])

    def summarise(g: pd.DataFrame) -> pd.Series:
        x = g["gap"].to_numpy()
        k = len(x)
        sem = x.std(ddof=1) / np.sqrt(k) if k > 1 else np.nan
        if k > 1 and sem > 0:
            t, p = stats.ttest_1samp(x, 0.0)
        elif k > 1:  # every seed gives the same gap: t is infinite unless the gap is 0
            t, p = (np.nan, np.nan) if x[0] == 0 else (np.sign(x[0]) * np.inf, 0.0)
        else:
            t, p = np.nan, np.nan
        return pd.Series({"n_seeds": k, "rate_training": g["training"].mean(),
                          "rate_deployment": g["deployment"].mean(), "gap": x.mean(),
                          "gap_sem": sem, "t": float(t), "p_value": float(p)})

    out = wide.groupby(level=keys, observed=True, dropna=False).apply(summarise)
    out["n"] = n.reindex(out.index).fillna(0).astype("int64")
    out["n_seeds"] = out["n_seeds"].astype("int64")
    out = out.reset_index()
    flat = out[(out["gap_sem"] == 0) | ((out["n_seeds"] == 1) & (out["gap"] == 0)
                                        & out[["rate_training", "rate_deployment"]].isin([0.0, 1.0]).all(axis=1))]
    if len(flat):
        which = "; ".join(f"{r.model}/{r.variant}: {r.rate_training:.0%} vs {r.rate_deployment:.0%}"
                          for r in flat.head(5).itertuples())
        warnings.warn(f"seed_sem_gap: {len(flat)} condition(s) give the same gap in every seed ({which}"
                      f"{' ...' if len(flat) > 5 else ''}), e.g. no compliance in either tier: the seed SEM "
                      f"is 0 and t is undefined, which is not a measured certainty. Use glm_gap or "
                      f"ComplianceGap, whose intervals count queries", stacklevel=2)
    return out
