"""Steering analysis: the gap and both tier rates against the steering coefficient α.

For each model × vector × layer, on one prompt variant:

- ``data``: the observed rates and gap at each α (α = 0 is the unsteered condition), with
  query-bootstrap percentile intervals (queries resampled within model, paired across α);
- ``curves``: the fitted rational-agent model's prediction on a grid of α (posterior mean and
  HDI), for each fitted vector and for a random-direction control (non-specific effects ρ, η
  only). The rational model has one slope λ per vector, shared by every layer;
- ``specific``: the specific effect of a vector at α — its value at α minus that of the
  random-direction control at the same |α| (the vector's effect minus the matched random
  effect; the unsteered value cancels) — from data (controls matched at the same layer and
  |α|, both signs and all control vectors pooled; another layer only if none) and from the
  model (per draw: ``predict(vector, α) − predict(random, α)``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _arviz
from ..design import Catalog, default_catalog
from ..results import interval_prob
from ._bootstrap import interval, query_bootstrap, row_text

QUANTITIES = ("rate_training", "rate_deployment", "gap")
KEYS = ["model", "steer_vector", "steer_layer", "steer_coef"]


class SteeringAnalysis:
    """Dose-response of steering, from data and from a fitted rational-agent model.

    :func:`afdecomp.steering_analysis` builds it; each parameter is kept as the attribute of the
    same name (``ci_prob`` repeats ``hdi_prob``).

    Parameters
    ----------
    data : DataFrame
        ``model``, ``steer_vector``, ``driver``, ``steer_layer``, ``steer_coef``, ``quantity``
        (rate_training / rate_deployment / gap), ``estimate``, ``lo``, ``hi``, ``n``. The
        unsteered point (α = 0) is repeated for every vector × layer.
    curves : DataFrame or None
        ``model``, ``steer_vector``, ``driver``, ``steer_coef``, ``quantity``, ``mean``, ``lo``,
        ``hi`` on a grid of α (None without a fitted model).
    specific : DataFrame
        ``model``, ``steer_vector``, ``driver``, ``steer_layer``, ``steer_coef``, ``quantity``,
        ``source`` (data / model), ``effect`` (value at α minus unsteered), ``control_effect``
        (matched random control minus unsteered), ``specific`` (= effect − control_effect),
        ``specific_lo``, ``specific_hi``, ``control`` (which control conditions were matched).
    variant : str
        The prompt variant the steering sweep was run on.
    hdi_prob : float
        The probability of the intervals (``lo``/``hi``, ``specific_lo``/``specific_hi``).
    """

    def __init__(self, data, curves, specific, variant, hdi_prob):
        self.data, self.curves, self.specific = data, curves, specific
        self.variant, self.hdi_prob = variant, hdi_prob
        self.ci_prob = hdi_prob  # ArviZ 1.x's name; hdi_prob kept for existing code

    def summary(self, quantity: str = "gap") -> pd.DataFrame:
        """The specific effects for one quantity (default the gap), data and model side by side."""
        return self.specific[self.specific["quantity"] == quantity].reset_index(drop=True)

    def panels(self) -> pd.DataFrame:
        """The (model, steer_vector, steer_layer) combinations with a non-control vector."""
        d = self.data[self.data["driver"] != "control"]
        return d[["model", "steer_vector", "steer_layer"]].drop_duplicates().reset_index(drop=True)

    def __repr__(self) -> str:
        return f"SteeringAnalysis(variant={self.variant!r}, {len(self.panels())} model × vector × layer panel(s))"


def steering_analysis(df: pd.DataFrame, results=None, *, variant: str = "default", ci_prob: float | None = None,
                      n_boot: int = 1000, n_grid: int = 41, catalog: Catalog | None = None,
                      random_seed=0, hdi_prob: float | None = None) -> SteeringAnalysis:
    """Gap and tier rates against α per model × vector × layer, and the vectors' specific effects.

    Parameters
    ----------
    df : DataFrame
        The tidy table; needs steered conditions (``steer_vector`` other than ``"none"``) on
        ``variant`` and the unsteered condition of ``variant``.
    results : RationalResults, optional
        The fitted rational-agent model (adds ``curves`` and model-based specific effects).
    variant : str
        The prompt variant the steering sweep was run on.
    ci_prob : float, default 0.94
        Interval probability (HDI for the model, percentile bootstrap for the data);
        ``hdi_prob=`` is the older name.
    n_boot : int
        Query-bootstrap replicates for the data intervals.
    n_grid : int
        Points of the α grid of the model curves (between −max|α| and max|α| of the data).
    catalog : Catalog, optional
        Says which vectors are random-direction controls (default: the results' catalog, else
        :func:`afdecomp.default_catalog`; ``random-*`` names are controls).
    random_seed : int or numpy Generator seed, default 0
        Seed of the query bootstrap (the data intervals); the model side draws nothing random.
    hdi_prob : float, optional
        The older name of ``ci_prob``; passing both with different values is an error.

    Returns
    -------
    SteeringAnalysis
    """
    hdi_prob = interval_prob(ci_prob, hdi_prob)
    if results is not None and not getattr(results, "structural", False):
        raise TypeError(f"steering curves need a structural fit (RationalResults), which predicts any α; "
                        f"got {type(results).__name__}. Pass results=None for the data alone")
    catalog = catalog or getattr(results, "catalog", None) or default_catalog()
    if "steer_vector" not in df.columns:
        raise ValueError("the table has no steer_vector column: no steering conditions to analyse")
    sub = df[df["variant"].astype(str) == variant]
    vec = sub["steer_vector"].astype(str)
    if not (vec != "none").any():
        raise ValueError(f"no steered conditions on variant {variant!r} (steer_vector is 'none' everywhere)")
    if not (vec == "none").any():
        raise ValueError(f"variant {variant!r} has no unsteered condition (α = 0) to compare steering with")
    driver = {v: catalog.vector(v).driver for v in sorted(set(vec) - {"none"})}
    if all(d == "control" for d in driver.values()):
        raise ValueError(f"variant {variant!r} is steered only by random-direction controls "
                         f"{sorted(driver)}: no driver vector to analyse")
    data, point, boot, rows = _data_points(sub, driver, n_boot, random_seed, hdi_prob)
    specific = [_data_specific(rows, point, boot, driver, hdi_prob)]
    curves = None
    if results is not None:
        amax = float(np.abs(sub["steer_coef"].astype(float)).max())
        controls = [v for v, d in driver.items() if d == "control"] or ["random"]
        curves, model_specific = _model(results, variant, data, controls[0], amax, n_grid, hdi_prob)
        specific.append(model_specific)
    spec = pd.concat(specific, ignore_index=True)
    spec = spec.sort_values(["model", "steer_vector", "quantity", "steer_coef", "source"], kind="stable")
    return SteeringAnalysis(data, curves, spec.reset_index(drop=True), variant, hdi_prob)


def _data_points(sub, driver, n_boot, random_seed, prob):
    """Bootstrap the per-condition rates; return the tidy points and the raw replicates."""
    rows, point, boot = query_bootstrap(sub, KEYS, n_boot=n_boot, random_seed=random_seed)
    rows = rows.copy()
    rows["steer_vector"] = rows["steer_vector"].astype(str)
    rows["model"] = rows["model"].astype(str)
    rows["steer_coef"] = rows["steer_coef"].astype(float)
    # per condition: indices of the training and deployment rows
    cond = pd.Series(row_text(rows.drop(columns=["condition", "k", "n"])))
    tr = (rows["condition"] == "training").to_numpy()
    it = pd.Series(np.flatnonzero(tr), index=cond[tr].to_numpy())
    idp = pd.Series(np.flatnonzero(~tr), index=cond[~tr].to_numpy())
    both = it.index.intersection(idp.index)
    ti, di = it[both].to_numpy(), idp[both].to_numpy()
    base = rows.iloc[ti][KEYS].reset_index(drop=True)
    base["n"] = rows["n"].to_numpy()[ti] + rows["n"].to_numpy()[di]
    est = {"rate_training": point[ti], "rate_deployment": point[di], "gap": point[ti] - point[di]}
    reps = {"rate_training": boot[:, ti], "rate_deployment": boot[:, di], "gap": boot[:, ti] - boot[:, di]}
    # long table of points; the unsteered point repeated for every vector × layer of the model
    frames = []
    for q in QUANTITIES:
        f = base.copy()
        f["quantity"] = q
        f["estimate"] = est[q]
        f["lo"], f["hi"] = interval(reps[q], prob)
        frames.append(f)
    long = pd.concat(frames, ignore_index=True)
    steered = long[long["steer_vector"] != "none"].copy()
    steered["driver"] = steered["steer_vector"].map(driver)
    unsteered = long[long["steer_vector"] == "none"]
    combos = steered[["model", "steer_vector", "driver", "steer_layer"]].drop_duplicates()
    zero = combos.merge(unsteered.drop(columns=["steer_vector", "steer_layer"]), on="model")
    data = pd.concat([steered, zero], ignore_index=True)
    data = data[["model", "steer_vector", "driver", "steer_layer", "steer_coef", "quantity", "estimate", "lo", "hi", "n"]]
    data = data.sort_values(["model", "steer_vector", "steer_layer", "quantity", "steer_coef"]).reset_index(drop=True)
    cond_table = base.copy()
    cond_table["driver"] = cond_table["steer_vector"].map(driver).fillna("none")
    return data, est, reps, cond_table


def _data_specific(cond, est, reps, driver, prob) -> pd.DataFrame:
    """Vector at α minus the matched random control at |α|, per bootstrap replicate."""
    out = []
    layer = cond["steer_layer"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    absa = np.abs(cond["steer_coef"].to_numpy(dtype=float))
    is_ctrl = (cond["driver"] == "control").to_numpy()
    for i, r in cond.iterrows():
        if r["driver"] in ("none", "control"):
            continue
        mod = (cond["model"] == r["model"]).to_numpy()
        unst = np.flatnonzero(mod & (cond["steer_vector"] == "none").to_numpy())
        match = mod & is_ctrl & np.isclose(absa, abs(r["steer_coef"]))
        same = match & (layer == layer[i])
        ctrl = np.flatnonzero(same if same.any() else match)
        where = ("same layer" if same.any() else "other layer") if len(ctrl) else "no matched control"
        names = ",".join(sorted({f"{cond['steer_vector'].iloc[c]}@{cond['steer_coef'].iloc[c]:g}" for c in ctrl}))
        for q in QUANTITIES:
            e = est[q][i] - (est[q][unst[0]] if len(unst) else np.nan)
            if len(ctrl):
                c_est = est[q][ctrl].mean()
                c_rep = reps[q][:, ctrl].mean(axis=1)
                spec_rep = reps[q][:, i] - c_rep
                lo, hi = interval(spec_rep[:, None], prob)
                lo, hi = float(lo[0]), float(hi[0])
            else:
                c_est, lo, hi = np.nan, np.nan, np.nan
            ce = c_est - (est[q][unst[0]] if len(unst) else np.nan)
            out.append({"model": r["model"], "steer_vector": r["steer_vector"], "driver": r["driver"],
                        "steer_layer": r["steer_layer"], "steer_coef": float(r["steer_coef"]), "quantity": q,
                        "source": "data", "effect": e, "control_effect": ce,
                        "specific": est[q][i] - c_est if len(ctrl) else np.nan,
                        "specific_lo": lo, "specific_hi": hi, "control": f"{names} ({where})" if len(ctrl) else where})
    return pd.DataFrame(out)


def _predict_all(results, variant, vector, alpha):
    """Per draw and model: training rate, deployment rate, gap at (vector, α)."""
    kw = dict(steer_vector=vector, steer_coef=float(alpha)) if alpha != 0 else {}
    t = results.predict(variant, "training", **kw).to_numpy()
    d = results.predict(variant, "deployment", **kw).to_numpy()
    return {"rate_training": t, "rate_deployment": d, "gap": t - d}


def _model(results, variant, data, control, amax, n_grid, prob):
    models = list(results.design.models)
    vectors = list(results.design.vectors)
    grid = np.unique(np.concatenate([np.linspace(-amax, amax, n_grid), [0.0]]))
    curves = []
    for v in vectors + [control]:
        drv = "control" if v == control else results.catalog.vector(v).driver
        for a in grid:
            pr = _predict_all(results, variant, v, a)
            for q in QUANTITIES:
                lo, hi = _arviz.hdi(pr[q].T, prob=prob)
                for j, m in enumerate(models):
                    curves.append((m, v, drv, float(a), q, float(pr[q][:, j].mean()), float(lo[j]), float(hi[j])))
    curves = pd.DataFrame(curves, columns=["model", "steer_vector", "driver", "steer_coef", "quantity", "mean", "lo", "hi"])
    spec = []
    steered = data[(data["driver"] != "control") & (data["steer_coef"] != 0)]
    combos = steered[["steer_vector", "steer_layer", "steer_coef"]].drop_duplicates()
    base = _predict_all(results, variant, None, 0.0)
    for _, r in combos.iterrows():
        v, a = r["steer_vector"], float(r["steer_coef"])
        if v not in vectors:
            continue
        pv = _predict_all(results, variant, v, a)
        pc = _predict_all(results, variant, control, a)
        for q in QUANTITIES:
            s = pv[q] - pc[q]
            lo, hi = _arviz.hdi(s.T, prob=prob)
            for j, m in enumerate(models):
                if not ((steered["model"] == m) & (steered["steer_vector"] == v)
                        & (steered["steer_coef"] == a)).any():
                    continue
                spec.append({"model": m, "steer_vector": v, "driver": results.catalog.vector(v).driver,
                             "steer_layer": r["steer_layer"], "steer_coef": a, "quantity": q, "source": "model",
                             "effect": float((pv[q][:, j] - base[q][:, j]).mean()),
                             "control_effect": float((pc[q][:, j] - base[q][:, j]).mean()),
                             "specific": float(s[:, j].mean()), "specific_lo": float(lo[j]),
                             "specific_hi": float(hi[j]), "control": f"{control} (model: rho, eta)"})
    return curves, pd.DataFrame(spec)
