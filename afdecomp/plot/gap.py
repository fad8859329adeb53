"""Figures of a hierarchical gap fit: the gap per model and the posterior predictive check."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._style import PALETTE, _axes, _figsize, ci_prob_of
from .rates import _row_per_model, _unsteered


def _variant_order(names) -> list[str]:
    return sorted(set(names), key=lambda v: (v != "default", v))


def gaps(res, *, ax=None, axes=None, variants=None, ci_prob: float | None = None, hdi_prob: float | None = None):
    """Per model: the hierarchical gap with its HDI, and both tier rates side by side.

    Parameters
    ----------
    res : GapResults
        A fitted :class:`afdecomp.ComplianceGap` (unsteered conditions are shown).
    ax : Axes, optional
        Draw the gap panel only, here.
    axes : pair of Axes, optional
        Rates on the first, gaps on the second. With neither ``ax`` nor ``axes``: a new figure
        with both panels. (A pair given as ``ax`` is read as ``axes``.)
    variants : list of str, optional
        Variants to show, in this order (default: all, ``default`` first).
    ci_prob : float, optional
        HDI probability (``hdi_prob`` is the older name); default: the fit's (0.94).
    hdi_prob : float, optional
        The older name of ``ci_prob``; passing both with different values is an error.

    Returns
    -------
    Axes
        The gap panel. The papers' seed-SEM estimate (± 1 SEM, grey) is overlaid when the
        fitted table had several seeds.
    """
    if ax is not None and axes is not None:
        raise ValueError("give ax (the gap panel alone) or axes (both panels), not both")
    if ax is not None and np.ndim(ax) == 1:
        ax, axes = None, ax
    prob = ci_prob_of(ci_prob, hdi_prob, default=res.hdi_prob)
    s = _row_per_model(_unsteered(res.summary(prob)))
    seed = res.seed_sem()
    seed = _row_per_model(_unsteered(seed)) if seed is not None else None
    models = sorted(s["model"].astype(str).unique())
    vs = variants or _variant_order(s["variant"].astype(str))
    if axes is not None:
        if len(axes) != 2:
            raise ValueError(f"axes must be a pair (rates, gaps), got {len(axes)}")
        ax_r, ax_g = axes
    elif ax is None:
        h = 0.8 + 0.45 * len(models) * max(1, len(vs)) ** 0.5
        _, (ax_r, ax_g) = plt.subplots(1, 2, figsize=_figsize((10, h)), sharey=True, layout="constrained",
                                       gridspec_kw={"width_ratios": [1, 1.3]})
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
    ax_g.set_xlabel(f"compliance gap (posterior mean, {prob:.0%} HDI)")
    ax_g.set_title("Hierarchical compliance gap")
    ax_g.grid(axis="x", alpha=0.3)
    if len(vs) > 1 or seed is not None:
        ax_g.legend(title="prompt variant" if len(vs) > 1 else None, fontsize="x-small", title_fontsize="small",
                    loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    if ax_r is not None:
        ax_r.set_xlim(-0.02, 1.02)
        ax_r.set_xlabel("compliance rate (posterior mean)")
        ax_r.set_title("training (filled) vs deployment (open)")
        ax_r.grid(axis="x", alpha=0.3)
        ax_r.set_yticks(np.arange(len(models)), models)
    return ax_g


def ppc(res, *, ax=None, ci_prob: float | None = None, hdi_prob: float | None = None):
    """Posterior-predictive check: observed pooled gap vs the replicated gap, per condition.

    Each point is a condition (model × variant × steering): x the observed gap (k/n in
    training minus deployment), y the mean replicated gap with its HDI. Points should scatter
    around the diagonal, with about ``ci_prob`` of the intervals crossing it (default: the
    fit's HDI probability, 0.94).

    Parameters
    ----------
    res : GapResults
        A fitted :class:`afdecomp.ComplianceGap` (its :meth:`~afdecomp.GapResults.ppc` table).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    ci_prob : float, optional
        HDI probability of the replicated gaps; default: the fit's (0.94).
    hdi_prob : float, optional
        The older name of ``ci_prob``; passing both with different values is an error.

    Returns
    -------
    matplotlib Axes
    """
    prob = ci_prob_of(ci_prob, hdi_prob, default=res.hdi_prob)
    t = res.ppc(prob)
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
    ax.set_xlabel("observed gap (pooled k/n, training − deployment)")
    ax.set_ylabel(f"replicated gap (posterior predictive, {prob:.0%} HDI)")
    ax.set_title(f"Posterior predictive check: {cov.mean():.0%} of {len(t)} conditions covered")
    ax.legend(frameon=False, fontsize="small")
    ax.grid(alpha=0.3)
    return ax
