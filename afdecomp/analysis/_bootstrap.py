"""Rates per condition and tier from the data, with a cluster bootstrap over queries.

Queries are the sample that the papers' seed-SEM estimator ignores. Here each model's queries
are resampled with replacement (the same resample for every condition of that model, so
contrasts between conditions are paired on queries), and a rate is the pooled ``Σk / Σn`` over
the resampled queries. Used by the ablation contrasts and the steering analysis.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..aggregate import aggregate


def query_bootstrap(df: pd.DataFrame, keys: list[str], *, label: str = "complied", n_boot: int = 1000,
                    random_seed=0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Pooled rates per ``keys`` × tier, the point estimate and ``n_boot`` query-bootstrap replicates.

    Parameters
    ----------
    df : DataFrame
        The tidy table (must contain ``model``, ``condition``, ``query_id`` and ``label``).
    keys : list of str
        Condition columns (``model`` must be among them).

    Returns
    -------
    rows : DataFrame
        ``keys`` + ``condition``, ``k``, ``n``: one row per condition and tier.
    point : ndarray, shape (rows,)
        Pooled rate ``Σk / Σn`` over the observed queries.
    boot : ndarray, shape (n_boot, rows)
        The same under query resampling within model (NaN where a replicate has no trial).
    """
    if "model" not in keys:
        raise ValueError("keys must include 'model' (queries are resampled within model)")
    by = list(keys) + ["condition", "query_id"]
    cells = aggregate(df, label, by=by, warn=False, check_tiers=False)
    cells["condition"] = cells["condition"].astype(str)
    rng = np.random.default_rng(random_seed)
    row_keys = list(keys) + ["condition"]
    out_rows, points, boots = [], [], []
    for _, block in cells.groupby(cells["model"].astype(str), sort=True, observed=True):
        queries = sorted(block["query_id"].astype(str).unique())
        qi = pd.Categorical(block["query_id"].astype(str), categories=queries).codes
        text = row_text(block[row_keys])
        ri, uniq = pd.factorize(text, sort=True)
        first = pd.Series(np.arange(len(ri))).groupby(ri).first().to_numpy()  # a row of each code
        K = np.zeros((len(uniq), len(queries)))
        N = np.zeros_like(K)
        np.add.at(K, (ri, qi), block["k"].to_numpy(dtype=float))
        np.add.at(N, (ri, qi), block["n"].to_numpy(dtype=float))
        W = rng.multinomial(len(queries), np.full(len(queries), 1.0 / len(queries)), size=n_boot).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            points.append(K.sum(1) / N.sum(1))
            boots.append((W @ K.T) / (W @ N.T))
        frame = block.iloc[first][row_keys].reset_index(drop=True)
        frame["k"], frame["n"] = K.sum(1).astype(np.int64), N.sum(1).astype(np.int64)
        out_rows.append(frame)
    if not out_rows:
        return pd.DataFrame(columns=row_keys + ["k", "n"]), np.zeros(0), np.zeros((n_boot, 0))
    return (pd.concat(out_rows, ignore_index=True), np.concatenate(points),
            np.concatenate(boots, axis=1))


def row_text(frame: pd.DataFrame) -> np.ndarray:
    """One string per row joining every column's ``str()`` (an NA-safe key for factorizing rows)."""
    cols = [frame[c].astype(object).to_numpy() for c in frame.columns]
    return np.array(["\x1f".join(map(str, row)) for row in zip(*cols, strict=True)], dtype=object)


def interval(boot: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval at ``prob`` along axis 0, ignoring NaN replicates."""
    a = (1 - prob) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, on purpose
        return np.nanquantile(boot, a, axis=0), np.nanquantile(boot, 1 - a, axis=0)
