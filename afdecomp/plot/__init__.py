"""Figures. One function per figure; each takes ``ax=None`` and returns the matplotlib Axes.

Plot functions read tidy tables or fitted results and never refit anything. Judge validation
figures (``roc``, ``calibration``, ``auroc_by_votes``) live in :mod:`afdecomp.plot.judge`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..models.baseline import wilson_interval
from ._style import PALETTE, _axes
from .judge import auroc_by_votes, calibration, roc  # noqa: F401  (afd.plot.roc, ...)


def _row_per_model(table: pd.DataFrame) -> pd.DataFrame:
    """A copy whose ``model`` labels the figure's rows: "model · scenario" when the table has
    several scenarios (e.g. VLAF's moral values), else the model name."""
    t = table.copy()
    t["model"] = t["model"].astype(str)
    if "scenario" in t.columns and t["scenario"].nunique() > 1:
        t["model"] = t["model"] + " · " + t["scenario"].astype(str)
    return t


def _unsteered(table: pd.DataFrame) -> pd.DataFrame:
    if "steer_vector" in table.columns:
        return table[table["steer_vector"].astype(str) == "none"]
    return table


def seed_gaps(table: pd.DataFrame, *, ax=None, variants=None, se_mult: float = 1.0):
    """Per-model compliance gap from the papers' estimator, ± ``se_mult`` × SEM over seeds.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`afdecomp.seed_sem_gap`. Steered conditions are left out (see
        ``afdecomp.plot.steering`` for those).
    variants : list of str, optional
        Variants to show, in this order (default: all, ``default`` first).
    """
    t = _row_per_model(_unsteered(table))
    models = sorted(t["model"].unique())
    vs = variants or sorted(t["variant"].astype(str).unique(), key=lambda v: (v != "default", v))
    ax = _axes(ax, (7.5, 0.5 + 0.45 * len(models) * max(1, len(vs)) ** 0.5))
    width = 0.8
    step = width / max(len(vs), 1)
    for j, v in enumerate(vs):
        sub = t[t["variant"].astype(str) == v].set_index("model")
        y = np.arange(len(models)) - width / 2 + step * (j + 0.5)
        x = sub["gap"].reindex(models).to_numpy(dtype=float)
        err = (se_mult * sub["gap_sem"]).reindex(models).to_numpy(dtype=float)
        ax.errorbar(x, y, xerr=np.nan_to_num(err), fmt="o", ms=4, capsize=2, lw=1,
                    color=PALETTE(j % 10), label=v)
    ax.axvline(0, color="0.4", lw=0.8, ls="--")
    ax.set_yticks(np.arange(len(models)), models)
    ax.invert_yaxis()
    ax.set_xlabel("compliance gap  P(comply | training) − P(comply | deployment)")
    ax.set_title("Compliance gap per model (mean over seeds ± SEM)")
    if len(vs) > 1:
        ax.legend(title="prompt variant", fontsize=7, title_fontsize=8, loc="center left",
                  bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return ax


def rates(table: pd.DataFrame, *, ax=None, variant: str = "default"):
    """Compliance rate per model in training and deployment with Wilson intervals.

    ``table`` is the output of :func:`afdecomp.rates`; one variant, unsteered.
    """
    t = _unsteered(table)
    t = t[t["variant"].astype(str) == variant]
    models = sorted(t["model"].astype(str).unique())
    ax = _axes(ax, (6.5, 0.6 + 0.4 * len(models)))
    for j, (cond, off) in enumerate((("training", -0.15), ("deployment", 0.15))):
        s = t[t["condition"].astype(str) == cond].groupby(t["model"].astype(str)).agg(
            k=("k", "sum"), n=("n", "sum"))
        s = s.reindex(models)
        lo, hi = wilson_interval(s["k"], s["n"])
        r = s["k"] / s["n"]
        y = np.arange(len(models)) + off
        err = np.clip([np.nan_to_num(r - lo), np.nan_to_num(hi - r)], 0, None)  # rates of 0 or 1: rounding
        ax.errorbar(r, y, xerr=err, fmt="o", ms=4,
                    capsize=2, color=PALETTE(j), label=cond)
    ax.set_yticks(np.arange(len(models)), models)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("compliance rate (95% Wilson interval)")
    ax.set_title(f"Compliance by tier, variant '{variant}'")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return ax


def gap_vs_values(res, *, ax=None, variant: str = "default", v_max: float | None = None,
                  hdi_prob: float = 0.9):
    """Theory check: each model's predicted gap as a function of its values V.

    For each model the curve is the rational-agent gap (averaged over the model's observed
    queries) with b, S and g at their posterior medians while V varies; the marker is the
    model's posterior median V with its ``hdi_prob`` interval. With g < 1 the gap rises and
    then falls as both tiers' compliance goes to zero; with g > 1 it keeps growing.
    """
    from .theory import gap as theory_gap

    ax = _axes(ax, (6.5, 4.2))
    d = res.design
    P = res.param_draws()
    z = res.resolve_cues(variant)
    mask = res.query_mask()
    u = np.median(P["u"], axis=0)
    vmax = v_max or max(4.0, 1.5 * float(np.quantile(P["V"], 0.97)))
    grid = np.linspace(0, vmax, 200)
    for j, m in enumerate(d.models):
        b, S, g = (float(np.median(P[k][:, j])) for k in ("b", "S", "g"))
        kw = dict(u=u[mask[j]], z_values=z["values"], z_goal_guarding=z["goal_guarding"],
                  z_sycophancy=z["sycophancy"], stakes=z["stakes"])
        curve = np.array([theory_gap(b, v, S, g, **kw) for v in grid])
        color = PALETTE(j % 10)
        ax.plot(grid, curve, color=color, lw=1.4, label=f"{m} (g={g:.2f})")
        V = P["V"][:, j]
        vm = float(np.median(V))
        lo, hi = np.quantile(V, [(1 - hdi_prob) / 2, (1 + hdi_prob) / 2])
        y = float(theory_gap(b, vm, S, g, **kw))
        ax.errorbar([vm], [y], xerr=[[vm - lo], [hi - vm]], fmt="o", color=color, ms=5, capsize=2)
    ax.axhline(0, color="0.4", lw=0.8, ls="--")
    ax.set_xlabel("values V (disutility of acting against them)")
    ax.set_ylabel("predicted compliance gap")
    ax.set_title(f"Gap against values, variant '{variant}' (marker: posterior V, {int(hdi_prob * 100)}% interval)",
                 fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="best")
    ax.grid(alpha=0.3)
    return ax


def rational_params(res, *, ax=None, parameters=("V", "S", "g"), hdi_prob: float = 0.94):
    """Forest plot of the rational-agent parameters per model (posterior mean and HDI)."""
    s = res.summary(hdi_prob=hdi_prob)
    s = s[s["parameter"].isin(parameters)]
    models = list(res.design.models)
    ax = _axes(ax, (6.5, 0.8 + 0.45 * len(models)))
    width = 0.7
    step = width / len(parameters)
    for i, p in enumerate(parameters):
        sub = s[s["parameter"] == p].set_index("model").reindex(models)
        y = np.arange(len(models)) - width / 2 + step * (i + 0.5)
        ax.errorbar(sub["mean"], y, xerr=[sub["mean"] - sub["lo"], sub["hi"] - sub["mean"]], fmt="o",
                    ms=4, capsize=2, color=PALETTE(i), label=p)
    ax.axvline(0, color="0.4", lw=0.8, ls="--")
    ax.set_yticks(np.arange(len(models)), models)
    ax.invert_yaxis()
    ax.set_xlabel(f"posterior mean and {int(hdi_prob * 100)}% HDI (logit-utility units)")
    ax.set_title("Rational-agent parameters per model")
    ax.legend(frameon=False, fontsize=8, title="parameter", title_fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return ax


# ----------------------------------------------------------------------------- decomposition
DRIVER_COLORS = {"values": "#4C72B0", "goal_guarding": "#DD8452", "sycophancy": "#55A868", "remainder": "#8C8C8C"}
DRIVER_LABELS = {"values": "values", "goal_guarding": "goal guarding", "sycophancy": "sycophancy",
                 "remainder": "remainder G(∅)"}


def decomposition(dec, *, ax=None, hdi_prob: float = 0.94):
    """Stacked bars of each model's gap split into values, goal guarding, sycophancy, remainder.

    Bars are the posterior-mean Shapley shares, stacked (positive shares to the right of 0,
    negative ones to the left); each share's ``hdi_prob`` HDI is a whisker drawn at the end of
    its segment (slightly offset vertically per driver); the black diamond is the model's
    total predicted gap with its HDI. Takes a :class:`~afdecomp.Decomposition`.
    """
    from .models.decomposition import PARTS

    s = dec.summary(hdi_prob=hdi_prob)
    models = dec.models
    ax = _axes(ax, (7.5, 1.2 + 0.62 * len(models)))
    height = 0.55
    offsets = np.linspace(-0.18, 0.18, len(PARTS))
    for j, m in enumerate(models):
        sub = s[s["model"] == m].set_index("driver")
        pos = neg = 0.0
        for i, d in enumerate(PARTS):
            share, lo, hi = sub.loc[d, ["share", "share_lo", "share_hi"]]
            start = pos if share >= 0 else neg
            ax.barh(j, share, left=start, height=height, color=DRIVER_COLORS[d], edgecolor="white", lw=0.6,
                    label=DRIVER_LABELS[d] if j == 0 else None)
            end = start + share
            ax.errorbar([end], [j + offsets[i]], xerr=[[share - lo], [hi - share]], fmt="none",
                        ecolor="0.15", elinewidth=0.9, capsize=2)
            if share >= 0:
                pos = end
            else:
                neg = end
        g, glo, ghi = sub.iloc[0][["gap", "gap_lo", "gap_hi"]]
        ax.errorbar([g], [j - height / 2 - 0.12], xerr=[[g - glo], [ghi - g]], fmt="D", color="black", ms=4,
                    capsize=2, lw=1, label="total gap" if j == 0 else None)
    ax.axvline(0, color="0.4", lw=0.8)
    ax.set_yticks(np.arange(len(models)), models)
    ax.set_ylim(len(models) - 0.5, -0.85)
    ax.set_xlabel("share of the compliance gap (probability scale)")
    ax.set_title(f"Shapley decomposition of the gap ({dec.source} fit; whiskers: {int(hdi_prob * 100)}% HDI)",
                 fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", alpha=0.3)
    return ax


def ablation_forest(contrasts: pd.DataFrame, af_rates: pd.DataFrame | None = None, *, axes=None,
                    reference: str = "default", hdi_prob: float = 0.94):
    """Forest plot per prompt variant: the gap (left) and the AF-reasoning rate (right).

    Parameters
    ----------
    contrasts : DataFrame
        Output of :func:`afdecomp.ablation_contrasts` (``source`` data and/or model).
    af_rates : DataFrame or None
        Output of :func:`afdecomp.ablation.af_reasoning_rates`; None (no labels in the data)
        leaves the right panel with a note saying so.
    axes : pair of Axes, optional
        Where to draw; by default a new figure with two panels sharing the variant axis.

    Returns
    -------
    numpy.ndarray of two Axes
    """
    variants = [reference] + sorted(set(contrasts["variant"]) - {reference})
    models = sorted(contrasts["model"].astype(str).unique())
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 1.4 + 0.55 * len(variants)), sharey=True,
                                 layout="constrained", gridspec_kw={"width_ratios": [1.6, 1]})
    axes = np.asarray(axes)
    ax, ax2 = axes
    sources = [s for s in ("data", "model") if s in set(contrasts["source"])]
    n_slots = len(models) * len(sources)
    width = 0.8
    step = width / max(n_slots, 1)
    markers = {"data": "o", "model": "s"}
    for i, m in enumerate(models):
        for k, src in enumerate(sources):
            sub = contrasts[(contrasts["model"] == m) & (contrasts["source"] == src)].set_index("variant").reindex(variants)
            y = np.arange(len(variants)) - width / 2 + step * (i * len(sources) + k + 0.5)
            ax.errorbar(sub["gap"], y, xerr=[sub["gap"] - sub["gap_lo"], sub["gap_hi"] - sub["gap"]],
                        fmt=markers[src], ms=3.5, lw=0.8, capsize=1.5, color=PALETTE(i % 10),
                        mfc=PALETTE(i % 10) if src == "data" else "white")
    ax.axvline(0, color="0.4", lw=0.8, ls="--")
    ax.set_yticks(np.arange(len(variants)), variants)
    ax.set_ylim(len(variants) - 0.5, -0.5)
    for y in np.arange(len(variants) - 1) + 0.5:
        ax.axhline(y, color="0.9", lw=0.6)
        ax2.axhline(y, color="0.9", lw=0.6)
    ax.set_xlabel(f"compliance gap ({int(hdi_prob * 100)}% interval)")
    ax.set_title("Gap per prompt variant", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    if af_rates is None or len(af_rates) == 0:
        ax2.text(0.5, 0.5, "No AF-reasoning labels in these data\n(the af_reasoning column is empty;\n"
                 "label reasoning with a judge to fill it)", ha="center", va="center", transform=ax2.transAxes,
                 fontsize=9, color="0.3")
        ax2.set_xticks([])
    else:
        step2 = width / max(len(models), 1)
        for i, m in enumerate(models):
            sub = af_rates[af_rates["model"].astype(str) == m].set_index(
                af_rates.loc[af_rates["model"].astype(str) == m, "variant"].astype(str)).reindex(variants)
            y = np.arange(len(variants)) - width / 2 + step2 * (i + 0.5)
            ax2.errorbar(sub["rate"], y, xerr=[sub["rate"] - sub["lo"], sub["hi"] - sub["rate"]], fmt="o", ms=3.5,
                         lw=0.8, capsize=1.5, color=PALETTE(i % 10))
        ax2.set_xlim(-0.02, 1.02)
        ax2.grid(axis="x", alpha=0.3)
    ax2.set_xlabel("AF-reasoning rate, training tier (95% Wilson)")
    ax2.set_title("Alignment-faking reasoning", fontsize=10)
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color=PALETTE(i % 10), marker="o", ls="", label=m) for i, m in enumerate(models)]
    handles += [Line2D([], [], color="0.3", marker=markers[s], ls="", mfc="0.3" if s == "data" else "white",
                       label={"data": "data (query bootstrap)", "model": "fitted model (HDI)"}[s]) for s in sources]
    ax.figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5), fontsize=8,
                     frameon=False)
    return axes


# ----------------------------------------------------------------------------- steering
QUANTITY_STYLE = {"gap": ("#7B3294", "compliance gap"), "rate_training": ("#1f77b4", "P(comply), training"),
                  "rate_deployment": ("#ff7f0e", "P(comply), deployment")}


def _control_band(sa, model, layer, quantity):
    """Random-control band at matching |α|: from the model curves if any, else the data points."""
    if sa.curves is not None:
        c = sa.curves[(sa.curves["model"] == model) & (sa.curves["driver"] == "control")
                      & (sa.curves["quantity"] == quantity)].sort_values("steer_coef")
        if len(c):
            return c["steer_coef"].to_numpy(), c["lo"].to_numpy(), c["hi"].to_numpy(), c["mean"].to_numpy()
    d = sa.data[(sa.data["model"] == model) & (sa.data["driver"] == "control") & (sa.data["quantity"] == quantity)]
    if not len(d):
        return None
    same = d[d["steer_layer"].astype("Float64") == layer] if pd.notna(layer) else d
    d = same if len(same) else d
    g = d.assign(a=d["steer_coef"].abs()).groupby("a")[["estimate", "lo", "hi"]].mean().sort_index()
    a = np.concatenate([-g.index.to_numpy()[::-1], g.index.to_numpy()])
    a = np.unique(a)
    pick = lambda col: np.interp(np.abs(a), g.index.to_numpy(), g[col].to_numpy())  # noqa: E731
    return a, pick("lo"), pick("hi"), pick("estimate")


def steering(sa, *, quantity="gap", models=None, vectors=None, fig=None):
    """Dose-response panels: one row per model, one column per vector × layer.

    Each panel shows ``quantity`` (``"gap"``, ``"rate_training"``, ``"rate_deployment"`` or a
    tuple of them) against the steering coefficient α: the data (points, query-bootstrap
    intervals), the fitted rational-agent model (line, HDI band) and the random-direction
    control at matching |α| (grey dashed line and band; open grey markers are the control's
    observed points).

    Parameters
    ----------
    sa : SteeringAnalysis
        Output of :func:`afdecomp.steering_analysis`.
    fig : Figure, optional
        Draw into this figure (it must be empty); by default a new one.

    Returns
    -------
    numpy.ndarray of Axes, shape (models, vector × layer panels)
    """
    qs = (quantity,) if isinstance(quantity, str) else tuple(quantity)
    panels = sa.panels()
    models = models or sorted(panels["model"].unique())
    cols = panels[["steer_vector", "steer_layer"]].drop_duplicates()
    if vectors is not None:
        cols = cols[cols["steer_vector"].isin(vectors)]
    cols = cols.sort_values(["steer_vector", "steer_layer"]).to_numpy().tolist()
    fig = fig or plt.figure(figsize=(3.6 * len(cols) + 0.6, 2.3 * len(models) + 0.8), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(models), len(cols), sharex=True, sharey=True, squeeze=False))
    prob = int(sa.hdi_prob * 100)
    for r, m in enumerate(models):
        for c, (v, layer) in enumerate(cols):
            ax = axes[r, c]
            for q in qs:
                color, _ = QUANTITY_STYLE[q]
                d = sa.data[(sa.data["model"] == m) & (sa.data["steer_vector"] == v) & (sa.data["quantity"] == q)
                            & (sa.data["steer_layer"].astype("Float64") == layer)].sort_values("steer_coef")
                band = _control_band(sa, m, layer, q)
                if band is not None:
                    a, lo, hi, mid = band
                    ax.fill_between(a, lo, hi, color="0.5", alpha=0.15, lw=0)
                    ax.plot(a, mid, color="0.45", ls="--", lw=1)
                ctrl = sa.data[(sa.data["model"] == m) & (sa.data["driver"] == "control") & (sa.data["quantity"] == q)
                               & (sa.data["steer_coef"] != 0)]
                ax.plot(ctrl["steer_coef"], ctrl["estimate"], "o", mfc="white", mec="0.45", ms=4)
                if sa.curves is not None:
                    cv = sa.curves[(sa.curves["model"] == m) & (sa.curves["steer_vector"] == v)
                                   & (sa.curves["quantity"] == q)].sort_values("steer_coef")
                    ax.fill_between(cv["steer_coef"], cv["lo"], cv["hi"], color=color, alpha=0.2, lw=0)
                    ax.plot(cv["steer_coef"], cv["mean"], color=color, lw=1.5)
                ax.errorbar(d["steer_coef"], d["estimate"], yerr=[d["estimate"] - d["lo"], d["hi"] - d["estimate"]],
                            fmt="o", color=color, ms=4, capsize=2, lw=1)
            ax.axhline(0, color="0.6", lw=0.6)
            lay = "" if pd.isna(layer) else f", layer {int(layer)}"
            ax.set_title(f"{m} · {v}{lay}", fontsize=9)
            ax.grid(alpha=0.3)
            if r == len(models) - 1:
                ax.set_xlabel("steering coefficient α")
            if c == 0:
                ax.set_ylabel(QUANTITY_STYLE[qs[0]][1] if len(qs) == 1 else "P(comply)", fontsize=9)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    handles = []
    for q in qs:
        color, label = QUANTITY_STYLE[q]
        handles.append(Line2D([], [], color=color, marker="o", ls="", label=f"{label}: data ({prob}% bootstrap)"))
        if sa.curves is not None:
            handles.append(Line2D([], [], color=color, lw=1.5, label=f"{label}: model ({prob}% HDI band)"))
    handles.append(Line2D([], [], color="0.45", ls="--", marker="o", mfc="white",
                          label="random direction at matching |α| (band)"))
    handles.append(Patch(color="0.5", alpha=0.15, label="random-control band"))
    fig.legend(handles=handles[:-1], loc="outside lower center", ncol=min(3, len(handles) - 1), fontsize=8,
               frameon=False)
    return axes


# ----------------------------------------------------------------------------- cross-model
def gap_vs_covariate(res, df: pd.DataFrame, covariate: str, *, ax=None, variant: str = "default",
                     hdi_prob: float = 0.94, random_seed=0):
    """Each model's gap against a model-level covariate, with the fitted relation.

    Points: the rational-agent model's predicted gap per model (posterior mean, HDI) and the
    observed pooled gap (open circles). Line and band: when the fit used ``covariate``
    (``RationalAgent(covariates=...)``), the structural relation — the predicted gap of a
    typical model (random effects at 0) as the covariate varies, through θ; otherwise a
    descriptive least-squares line of the models' gaps on the covariate, refitted for every
    posterior draw on a bootstrap resample of the models (so the band carries both the
    uncertainty of each gap and the scatter between models). The band is equal-tailed at
    ``hdi_prob`` (the bootstrap lines pivot, and a per-point HDI of them jumps between modes).
    """
    from . import theory

    ax = _axes(ax, (6.4, 5.0))
    d = res.design
    models = list(d.models)
    x = df.groupby(df["model"].astype(str))[covariate].first().reindex(models).to_numpy(dtype=float)
    gap = res.predict_gap(variant).to_numpy()                        # draws × models
    lo, hi = _arviz_hdi(gap.T, hdi_prob)
    sub = df[(df["variant"].astype(str) == variant)]
    if "steer_vector" in sub.columns:
        sub = sub[sub["steer_vector"].astype(str) == "none"]
    obs = sub.groupby([sub["model"].astype(str), sub["condition"].astype(str)])["complied"].mean().unstack()
    obs = (obs["training"] - obs["deployment"]).reindex(models).to_numpy(dtype=float)
    grid = np.linspace(np.nanmin(x) - 0.1 * np.ptp(x), np.nanmax(x) + 0.1 * np.ptp(x), 60)
    if covariate in d.covariates.columns:
        j = list(d.covariates.columns).index(covariate)
        mom = d.covariate_moments.loc[covariate]
        xs = (grid - mom["mean"]) / mom["sd"]
        th = {p: (res.draws(p)[:, j] if res.has(p) else np.zeros(len(gap))) for p in ("theta_V", "theta_S", "theta_g")}
        mu = {p: res.draws(p) for p in ("mu_b", "mu_logV", "mu_S")}
        mu_g = res.draws("mu_logg") if res.has("mu_logg") else np.full(len(gap), -np.inf)
        u = res.draws("u")[:, None, :]
        z = res.resolve_cues(variant)
        curve = theory.gap(mu["mu_b"][:, None, None], np.exp(mu["mu_logV"][:, None] + th["theta_V"][:, None] * xs)[:, :, None],
                           (mu["mu_S"][:, None] + th["theta_S"][:, None] * xs)[:, :, None],
                           np.exp(mu_g[:, None] + th["theta_g"][:, None] * xs)[:, :, None], u=u,
                           z_values=z["values"], z_goal_guarding=z["goal_guarding"], z_sycophancy=z["sycophancy"],
                           stakes=z["stakes"])
        label = "structural relation (typical model, via θ)"
    else:  # per draw, a least-squares line on a bootstrap resample of the models
        rng = np.random.default_rng(random_seed)
        D, M = gap.shape
        idx = rng.integers(0, M, size=(D, M))
        xb, yb = x[idx], np.take_along_axis(gap, idx, axis=1)
        xm, ym = xb.mean(1, keepdims=True), yb.mean(1, keepdims=True)
        sxx = ((xb - xm) ** 2).sum(1)
        slope = np.where(sxx > 0, ((xb - xm) * (yb - ym)).sum(1) / np.where(sxx > 0, sxx, 1.0), np.nan)
        curve = ym + slope[:, None] * (grid[None, :] - xm)
        curve = curve[~np.isnan(slope)]
        label = "least-squares line (draws × model bootstrap)"
    clo, chi = np.quantile(curve, [(1 - hdi_prob) / 2, (1 + hdi_prob) / 2], axis=0)
    ax.fill_between(grid, clo, chi, color="0.5", alpha=0.2, lw=0)
    ax.plot(grid, curve.mean(0), color="0.2", lw=1.5, label=f"{label} ({int(hdi_prob * 100)}% band)")
    for j, m in enumerate(models):
        ax.errorbar([x[j]], [gap[:, j].mean()], yerr=[[gap[:, j].mean() - lo[j]], [hi[j] - gap[:, j].mean()]],
                    fmt="o", color=PALETTE(j % 10), ms=5, capsize=2, label=m)
        ax.plot([x[j]], [obs[j]], "o", mfc="white", mec=PALETTE(j % 10), ms=5)
    ax.plot([], [], "o", mfc="white", mec="0.3", ls="", label="observed pooled gap")
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_xlabel(covariate.removeprefix("x_").replace("_", " ") + " (model covariate)")
    ax.set_ylabel(f"compliance gap, variant '{variant}'")
    ax.set_title("Gap across models against a model covariate", fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    ax.grid(alpha=0.3)
    return ax


def _arviz_hdi(samples, prob):
    from . import _arviz
    return _arviz.hdi(samples, prob=prob)


def _variant_order(names) -> list[str]:
    return sorted(set(names), key=lambda v: (v != "default", v))


def gaps(res, *, ax=None, variants=None, hdi_prob: float | None = None):
    """Per model: the hierarchical gap with its HDI, and both tier rates side by side.

    Parameters
    ----------
    res : GapResults
        A fitted :class:`afdecomp.ComplianceGap` (unsteered conditions are shown).
    ax : Axes or pair of Axes, optional
        Two Axes: rates on the first, gaps on the second. One Axes: gaps only. None: a new
        figure with both panels.
    variants : list of str, optional
        Variants to show, in this order (default: all, ``default`` first).

    Returns
    -------
    Axes
        The gap panel. The papers' seed-SEM estimate (± 1 SEM, grey) is overlaid when the
        fitted table had several seeds.
    """
    s = _row_per_model(_unsteered(res.summary(hdi_prob)))
    seed = res.seed_sem()
    seed = _row_per_model(_unsteered(seed)) if seed is not None else None
    models = sorted(s["model"].astype(str).unique())
    vs = variants or _variant_order(s["variant"].astype(str))
    if ax is None:
        h = 0.8 + 0.45 * len(models) * max(1, len(vs)) ** 0.5
        _, (ax_r, ax_g) = plt.subplots(1, 2, figsize=(10, h), sharey=True, layout="constrained",
                                       gridspec_kw={"width_ratios": [1, 1.3]})
    elif np.ndim(ax) == 1 and len(ax) == 2:
        ax_r, ax_g = ax
    else:
        ax_r, ax_g = None, ax
    width = 0.8
    step = width / max(len(vs), 1)
    for j, v in enumerate(vs):
        sub = s[s["variant"].astype(str) == v].set_index("model").reindex(models)
        y = np.arange(len(models)) - width / 2 + step * (j + 0.5)
        col = PALETTE(j % 10)
        g = sub["gap"].to_numpy(dtype=float)
        ax_g.errorbar(g, y, xerr=[g - sub["gap_lo"].to_numpy(dtype=float), sub["gap_hi"].to_numpy(dtype=float) - g],
                      fmt="o", ms=4, capsize=2, lw=1, color=col, label=v)
        if seed is not None:
            ss = seed[seed["variant"].astype(str) == v].set_index("model").reindex(models)
            ax_g.errorbar(ss["gap"], y + step * 0.35, xerr=np.nan_to_num(ss["gap_sem"].to_numpy(dtype=float)),
                          fmt="x", ms=4, capsize=1.5, lw=0.8, color="0.45",
                          label="seed mean ± SEM (papers)" if j == 0 else None)
        if ax_r is not None:
            rt, rd = sub["rate_training"].to_numpy(dtype=float), sub["rate_deployment"].to_numpy(dtype=float)
            ax_r.hlines(y, rd, rt, color=col, lw=1, alpha=0.6)
            ax_r.plot(rt, y, "o", ms=4, color=col, label="training" if j == 0 else None)
            ax_r.plot(rd, y, "o", ms=4, mfc="white", color=col, label="deployment" if j == 0 else None)
    ax_g.axvline(0, color="0.4", lw=0.8, ls="--")
    ax_g.set_yticks(np.arange(len(models)), models)
    if not ax_g.yaxis_inverted():  # shared y with the rates panel: invert once
        ax_g.invert_yaxis()
    prob = res.hdi_prob if hdi_prob is None else hdi_prob
    ax_g.set_xlabel(f"compliance gap (posterior mean, {prob:.0%} HDI)")
    ax_g.set_title("Hierarchical compliance gap")
    ax_g.grid(axis="x", alpha=0.3)
    if len(vs) > 1 or seed is not None:
        ax_g.legend(title="prompt variant" if len(vs) > 1 else None, fontsize=7, title_fontsize=8,
                    loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    if ax_r is not None:
        ax_r.set_xlim(-0.02, 1.02)
        ax_r.set_xlabel("compliance rate (posterior mean)")
        ax_r.set_title("training (filled) vs deployment (open)")
        ax_r.grid(axis="x", alpha=0.3)
        ax_r.set_yticks(np.arange(len(models)), models)
    return ax_g


def ppc(res, *, ax=None, hdi_prob: float | None = None):
    """Posterior-predictive check: observed pooled gap vs the replicated gap, per condition.

    Each point is a condition (model × variant × steering): x the observed gap (k/n in
    training minus deployment), y the mean replicated gap with its HDI. Points should scatter
    around the diagonal, with about ``hdi_prob`` of the intervals crossing it.
    """
    t = res.ppc(hdi_prob)
    ax = _axes(ax, (5, 5))
    cov = t["covered"].to_numpy(dtype=bool)
    for mask, col, lab in ((cov, PALETTE(0), "interval covers observed"),
                           (~cov, PALETTE(3), "interval misses observed")):
        if mask.any():
            ax.errorbar(t["observed"][mask], t["predicted"][mask],
                        yerr=[(t["predicted"] - t["lo"])[mask], (t["hi"] - t["predicted"])[mask]],
                        fmt="o", ms=3, lw=0.7, alpha=0.8, color=col, label=lab)
    lo = float(np.nanmin([t["observed"].min(), t["lo"].min()]))
    hi = float(np.nanmax([t["observed"].max(), t["hi"].max()]))
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.8, ls="--")
    prob = res.hdi_prob if hdi_prob is None else hdi_prob
    ax.set_xlabel("observed gap (pooled k/n, training − deployment)")
    ax.set_ylabel(f"replicated gap (posterior predictive, {prob:.0%} HDI)")
    ax.set_title(f"Posterior predictive check: {cov.mean():.0%} of {len(t)} conditions covered")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return ax
