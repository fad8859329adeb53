"""Figures of a rational-agent fit: its parameters, the gap against values, the gap across models."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._style import PALETTE, _axes, ci_kind_of, ci_prob_of


def gap_vs_values(res, *, ax=None, variant: str = "default", v_max: float | None = None,
                  ci_prob: float | None = None, ci_kind: str = "hdi", hdi_prob: float | None = None):
    """Theory check: each model's predicted gap as a function of its values V.

    For each model the curve is the rational-agent gap (averaged over the model's observed
    queries) with b, S and g at their posterior medians while V varies; the marker is the
    model's posterior median V with its ``ci_prob`` interval (``ci_kind`` HDI or
    equal-tailed; 94% HDI by default). With g < 1 the gap rises and
    then falls as both tiers' compliance goes to zero; with g > 1 it keeps growing.

    Parameters
    ----------
    res : RationalResults
        A fitted :class:`afdecomp.RationalAgent`.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    variant : str or dict, default "default"
        The prompt whose cues the curves use: a variant of the fit's catalog or a partial cue
        dict (omitted cues: 1).
    v_max : float, optional
        Right end of the V axis (default: the larger of 4 and 1.5 × the 97% quantile of the
        posterior V draws).
    ci_prob : float, optional
        Probability of the interval of each model's V (default 0.94).
    ci_kind : {"hdi", "eti"}, default "hdi"
        Highest-density or equal-tailed interval.
    hdi_prob : float, optional
        The older name of ``ci_prob``; passing both with different values is an error.

    Returns
    -------
    matplotlib Axes
    """
    from ..theory import gap as theory_gap

    prob, kind = ci_prob_of(ci_prob, hdi_prob), ci_kind_of(ci_kind)
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
        lo, hi = _interval(V, prob, kind)
        y = float(theory_gap(b, vm, S, g, **kw))
        ax.errorbar([vm], [y], xerr=[[vm - lo], [hi - vm]], fmt="o", color=color, ms=5, capsize=2)
    ax.axhline(0, color="0.4", lw=0.8, ls="--")
    ax.set_xlabel("values V (disutility of acting against them)")
    ax.set_ylabel("predicted compliance gap")
    ax.set_title(f"Gap against values, variant '{variant}' (marker: posterior V, {prob:.0%} {kind.upper()})",
                 fontsize="small")
    ax.legend(fontsize="x-small", frameon=False, loc="best")
    ax.grid(alpha=0.3)
    return ax


def rational_params(res, *, ax=None, parameters=("V", "S", "g"), ci_prob: float | None = None,
                    hdi_prob: float | None = None):
    """Forest plot of the rational-agent parameters per model (posterior mean and ``ci_prob`` HDI).

    Parameters
    ----------
    res : RationalResults
        A fitted :class:`afdecomp.RationalAgent`.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    parameters : sequence of str, default ("V", "S", "g")
        Which per-model parameters to show (rows of ``res.summary()``: ``b``, ``V``, ``S``,
        ``g``, ``rho``, ``eta``, ``lambda_<vector>``), one marker colour each.
    ci_prob : float, optional
        Probability of the HDIs (default 0.94).
    hdi_prob : float, optional
        The older name of ``ci_prob``; passing both with different values is an error.

    Returns
    -------
    matplotlib Axes
    """
    prob = ci_prob_of(ci_prob, hdi_prob)
    s = res.summary(hdi_prob=prob)
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
    ax.set_xlabel(f"posterior mean and {prob:.0%} HDI (logit-utility units)")
    ax.set_title("Rational-agent parameters per model")
    ax.legend(frameon=False, fontsize="small", title="parameter", title_fontsize="small", loc="center left",
              bbox_to_anchor=(1.01, 0.5))
    ax.grid(axis="x", alpha=0.3)
    return ax



def gap_vs_covariate(res, df: pd.DataFrame, covariate: str, *, ax=None, variant: str = "default",
                     ci_prob: float | None = None, hdi_prob: float | None = None, random_seed=0):
    """Each model's gap against a model-level covariate, with the fitted relation.

    Points: the rational-agent model's predicted gap per model (posterior mean, HDI) and the
    observed pooled gap (open circles). Line and band: when the fit used ``covariate``
    (``RationalAgent(covariates=...)``), the structural relation — the predicted gap of a
    typical model (random effects at 0) as the covariate varies, through θ; otherwise a
    descriptive least-squares line of the models' gaps on the covariate, refitted for every
    posterior draw on a bootstrap resample of the models (so the band carries both the
    uncertainty of each gap and the scatter between models). The points' intervals are
    ``ci_prob`` HDIs; the band is equal-tailed at ``ci_prob`` (the bootstrap lines pivot, and a
    per-point HDI of them jumps between modes).

    Parameters
    ----------
    res : RationalResults
        A fitted :class:`afdecomp.RationalAgent` (with or without ``covariates=``).
    df : DataFrame
        The tidy table: the covariate column (one value per model) and the ``complied``
        labels of the observed gaps.
    covariate : str
        The column of ``df`` holding the model-level covariate (e.g. ``"x_size"``).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    variant : str, default "default"
        The prompt variant whose gaps are shown (unsteered rows of ``df``).
    ci_prob : float, optional
        Probability of the points' HDIs and of the band (default 0.94).
    hdi_prob : float, optional
        The older name of ``ci_prob``; passing both with different values is an error.
    random_seed : int or numpy Generator seed, default 0
        Seed of the bootstrap of models behind the descriptive line (unused when the fit has
        the covariate).

    Returns
    -------
    matplotlib Axes
    """
    hdi_prob = ci_prob_of(ci_prob, hdi_prob)
    from .. import theory

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
    ax.set_title("Gap across models against a model covariate", fontsize="medium")
    ax.legend(fontsize="x-small", frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    ax.grid(alpha=0.3)
    return ax


def _arviz_hdi(samples, prob):
    from .. import _arviz
    return _arviz.hdi(samples, prob=prob)


def _interval(x: np.ndarray, prob: float, kind: str) -> tuple[float, float]:
    """The ``prob`` interval of a sample: ArviZ's HDI or the equal-tailed quantiles."""
    if kind == "hdi":
        lo, hi = _arviz_hdi(np.asarray(x, dtype=float)[None, :], prob)
        return float(np.ravel(lo)[0]), float(np.ravel(hi)[0])
    lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2])
    return float(lo), float(hi)
