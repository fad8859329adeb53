"""Figures of a study plan: power against the cost of each design."""

from __future__ import annotations

import numpy as np

from ._style import PALETTE, _axes


def power(plan, *, ax=None, target: float | None = 0.8, se_mult: float = 2.0):
    """Power of each model's claim against the generations each design costs.

    Parameters
    ----------
    plan : PlanResults or DataFrame
        :func:`afdecomp.plan`'s result, or its ``summary()``.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    target : float or None, default 0.8
        A horizontal line at the power wanted (None: none).
    se_mult : float, default 2.0
        Half-width of each error bar in Monte Carlo standard errors.

    Returns
    -------
    matplotlib Axes
    """
    s = plan.summary() if hasattr(plan, "summary") else plan
    ax = _axes(ax, (4.5, 3.2))
    for i, (model, g) in enumerate(s.sort_values("generations").groupby("model", sort=True)):
        label = f"{model} (true gap {g['true_gap'].iloc[0]:+.2f})"
        ax.errorbar(g["generations"], g["power"], yerr=se_mult * g["power_se"], marker="o", ms=4,
                    capsize=2, color=PALETTE(i), label=label)
    if target is not None:
        ax.axhline(target, color="0.5", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("generations per study (log scale)")
    ax.set_ylabel("power (share of replicates claiming it)")
    ax.set_title(f"Power against cost (± {se_mult:g} Monte Carlo SE)")
    ax.legend(fontsize="small")
    ticks = np.unique(s["generations"])
    ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
    ax.minorticks_off()
    return ax
