"""Ablation contrasts, the view the published work reports: gap(full prompt) − gap(ablated variant).

For each model and prompt variant, the gap of the variant and its contrast with the reference
prompt, with intervals from two sources side by side:

- ``source="data"``: from the observed rates. ``method="bootstrap"`` (default) resamples
  queries within model (paired across variants, since variants share queries) and gives
  percentile intervals; ``method="seed"`` is the papers' estimator (mean ± SEM over seeds per
  variant; the contrast's SE is ``sqrt(SEM_full² + SEM_ablated²)``, normal interval).
- ``source="model"``: from a fitted model's per-draw gaps (``RationalResults.predict_gap`` or a
  reduced-form fit's draws), HDI.

Unsteered conditions only. Also the AF-reasoning rate per variant (training tier), when the
data carry ``af_reasoning`` labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .. import _arviz
from ..models.baseline import rates, seed_sem_gap
from ..results import as_fit, interval_prob
from ._bootstrap import interval, query_bootstrap

COLUMNS = ["model", "variant", "source", "gap", "gap_lo", "gap_hi", "contrast", "contrast_lo", "contrast_hi"]


def _unsteered(df: pd.DataFrame) -> pd.DataFrame:
    if "steer_vector" not in df.columns:
        return df
    coef = df["steer_coef"].fillna(0.0) if "steer_coef" in df.columns else 0.0
    return df[(df["steer_vector"].astype(str) == "none") & (coef == 0)]


def ablation_contrasts(df: pd.DataFrame | None = None, results=None, *, reference: str = "default",
                       ci_prob: float | None = None, method: str = "bootstrap", n_boot: int = 2000,
                       scenario: str | None = None, random_seed=0, hdi_prob: float | None = None) -> pd.DataFrame:
    """Gap per prompt variant and ``gap(reference) − gap(variant)``, from data and/or a fitted model.

    Parameters
    ----------
    df : DataFrame, optional
        The tidy table (gives the ``source="data"`` rows).
    results : Results, optional
        A fitted model, :class:`~afdecomp.RationalResults` or :class:`~afdecomp.GapResults` (or
        any object with ``pairs()`` and ``draws("gap")``): the ``source="model"`` rows for the
        variants it was fitted on, from :meth:`~afdecomp.results.Results.gap_draws`.
    reference : str
        The full prompt (default ``"default"``).
    ci_prob : float, default 0.94
        Interval probability (HDI for the model, percentile or normal interval for the data);
        ``hdi_prob=`` is the older name.
    method : {"bootstrap", "seed"}
        Data intervals: query bootstrap (default) or the papers' seed SEM.
    n_boot : int, default 2000
        Bootstrap resamples of the queries (``method="bootstrap"``).
    scenario : str, optional
        Only this scenario (data and a reduced-form fit; needed for a fit of several scenarios).
    random_seed : int, default 0
        Seed of the query bootstrap.
    hdi_prob : float, optional
        The older name of ``ci_prob``.

    Returns
    -------
    DataFrame
        ``model``, ``variant``, ``source`` ("data" / "model"), ``gap``, ``gap_lo``, ``gap_hi``,
        ``contrast``, ``contrast_lo``, ``contrast_hi`` (contrast = gap(reference) − gap(variant);
        0 with no interval for the reference itself).
    """
    hdi_prob = interval_prob(ci_prob, hdi_prob)
    if df is None and results is None:
        raise ValueError("ablation_contrasts needs the data (df), a fitted model (results), or both")
    parts = []
    if df is not None:
        sub = _unsteered(df)
        if scenario is not None:
            sub = sub[sub["scenario"].astype(str) == scenario]
        if reference not in set(sub["variant"].astype(str)):
            raise ValueError(f"reference variant {reference!r} is not in the data (unsteered)")
        if method == "bootstrap":
            parts.append(_data_bootstrap(sub, reference, hdi_prob, n_boot, random_seed))
        elif method == "seed":
            parts.append(_data_seed(sub, reference, hdi_prob))
        else:
            raise ValueError("method must be 'bootstrap' or 'seed'")
    if results is not None:
        parts.append(_model(results, reference, hdi_prob, scenario))
    out = pd.concat(parts, ignore_index=True)[COLUMNS]
    order = {v: i for i, v in enumerate([reference] + sorted(set(out["variant"]) - {reference}))}
    return out.sort_values(["model", "source", "variant"], key=lambda s: s.map(order) if s.name == "variant" else s,
                           kind="stable").reset_index(drop=True)


def _data_bootstrap(sub, reference, prob, n_boot, random_seed) -> pd.DataFrame:
    rows, point, boot = query_bootstrap(sub, ["model", "variant"], n_boot=n_boot, random_seed=random_seed)
    key = rows["model"].astype(str) + "\x1f" + rows["variant"].astype(str)
    tr = rows["condition"] == "training"
    idx_t = pd.Series(np.flatnonzero(tr), index=key[tr].to_numpy())
    idx_d = pd.Series(np.flatnonzero(~tr), index=key[~tr].to_numpy())
    both = idx_t.index.intersection(idx_d.index)
    gp = point[idx_t[both].to_numpy()] - point[idx_d[both].to_numpy()]
    gb = boot[:, idx_t[both].to_numpy()] - boot[:, idx_d[both].to_numpy()]
    out = pd.DataFrame([k.split("\x1f") for k in both], columns=["model", "variant"])
    out["source"] = "data"
    out["gap"] = gp
    out["gap_lo"], out["gap_hi"] = interval(gb, prob)
    con, clo, chi = [], [], []
    for i, m in enumerate(out["model"]):
        ref = np.flatnonzero((out["model"] == m).to_numpy() & (out["variant"] == reference).to_numpy())
        if not len(ref):
            con.append(np.nan), clo.append(np.nan), chi.append(np.nan)
            continue
        c = gb[:, ref[0]] - gb[:, i]
        lo, hi = interval(c[:, None], prob)
        same = out["variant"].iloc[i] == reference
        con.append(gp[ref[0]] - gp[i])
        clo.append(np.nan if same else float(lo[0]))
        chi.append(np.nan if same else float(hi[0]))
    out["contrast"], out["contrast_lo"], out["contrast_hi"] = con, clo, chi
    return out


def _data_seed(sub, reference, prob) -> pd.DataFrame:
    t = seed_sem_gap(sub, by=["model", "variant"])
    t["model"], t["variant"] = t["model"].astype(str), t["variant"].astype(str)
    z = stats.norm.ppf(0.5 + prob / 2)
    out = t[["model", "variant"]].copy()
    out["source"] = "data"
    out["gap"] = t["gap"]
    out["gap_lo"], out["gap_hi"] = t["gap"] - z * t["gap_sem"], t["gap"] + z * t["gap_sem"]
    ref = t[t["variant"] == reference].set_index("model")
    rg, rs = out["model"].map(ref["gap"]), out["model"].map(ref["gap_sem"])
    out["contrast"] = rg - t["gap"]
    se = np.sqrt(rs**2 + t["gap_sem"] ** 2)
    same = out["variant"] == reference
    out["contrast_lo"] = np.where(same, np.nan, out["contrast"] - z * se)
    out["contrast_hi"] = np.where(same, np.nan, out["contrast"] + z * se)
    return out


def _model_gap_draws(results, scenario) -> tuple[list[str], dict[str, np.ndarray]]:
    """Per fitted variant the (draws, models) gap of a fit; NaN where a model lacks the variant."""
    fit = as_fit(results)
    draws = {v: fit.gap_draws(v, scenario=scenario) for v in fit.fitted_variants()}
    if not draws:
        raise ValueError("the fit has no unsteered condition: no gap per prompt variant to contrast")
    first = next(iter(draws.values()))
    return [str(m) for m in first["model"].to_numpy()], {v: g.to_numpy() for v, g in draws.items()}


def _model(results, reference, prob, scenario) -> pd.DataFrame:
    models, G = _model_gap_draws(results, scenario)
    if reference not in G:
        raise ValueError(f"reference variant {reference!r} was not in the fitted data")
    rows = []
    for v, arr in G.items():
        for j, m in enumerate(models):
            x = arr[:, j]
            if np.isnan(x).all():
                continue
            c = G[reference][:, j] - x
            lo, hi = _arviz.hdi(x[None], prob=prob)
            clo, chi = _arviz.hdi(c[None], prob=prob) if v != reference else ([np.nan], [np.nan])
            rows.append((m, v, "model", float(x.mean()), float(lo[0]), float(hi[0]), float(c.mean()),
                         float(clo[0]), float(chi[0])))
    return pd.DataFrame(rows, columns=COLUMNS)


def af_reasoning_rates(df: pd.DataFrame, *, condition: str = "training", ci_prob: float = 0.95) -> pd.DataFrame | None:
    """AF-reasoning rate per model and variant in one tier (unsteered), 95% Wilson intervals.

    Returns None when the table has no ``af_reasoning`` labels (column absent or all NA).
    Columns: ``model``, ``variant``, ``k``, ``n``, ``n_na``, ``rate``, ``lo``, ``hi``.
    """
    if "af_reasoning" not in df.columns or df["af_reasoning"].notna().sum() == 0:
        return None
    r = rates(_unsteered(df), "af_reasoning", by=["model", "variant"], ci_prob=ci_prob)
    r = r[r["condition"].astype(str) == condition]
    r = r[r["n"] > 0]
    return r[["model", "variant", "k", "n", "n_na", "rate", "lo", "hi"]].reset_index(drop=True)
