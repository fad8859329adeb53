"""Figures of a study plan: power against the cost of each design."""

from __future__ import annotations

import numpy as np

from ._style import PALETTE, _axes


def power(plan, *, ax=None, target: float | None = 0.8, se_mult: float = 2.0, question: str | None = None,
          price_per_generation: float | None = None, currency: str = "USD"):
    """Power of each model's claim against what each design costs.

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
    question : str, optional
        Which question's power (default: the first in the plan).
    price_per_generation : float, optional
        Cost of one generation (tokens per generation × price per token): the x axis is then
        the study's price instead of its number of generations.
    currency : str, default "USD"
        The unit of the price, for the axis label.

    Returns
    -------
    matplotlib Axes
    """
    s = plan.summary() if hasattr(plan, "summary") else plan
    question = question or s["question"].iloc[0]
    s = s[s["question"] == question].copy()
    s["cost"] = s["generations"] * (price_per_generation or 1)
    ax = _axes(ax, (4.5, 3.2))
    several = s["target"].nunique() > 1             # name the target (e.g. the vector) only when it varies
    for i, ((model, tgt), g) in enumerate(s.sort_values("cost").groupby(["model", "target"], sort=True)):
        parts = ([tgt] if several and tgt else []) + ([f"true {g['truth'].mean():+.2f}"]
                                                       if np.isfinite(g["truth"].mean()) else [])
        label = f"{model} ({', '.join(parts)})" if parts else model
        ax.errorbar(g["cost"], g["power"], yerr=se_mult * g["power_se"], marker="o", ms=4,
                    capsize=2, color=PALETTE(i), label=label)
    if target is not None:
        ax.axhline(target, color="0.5", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"price of the study, {currency} (log scale)" if price_per_generation
                  else "generations per study (log scale)")
    ax.set_ylabel("power (share of replicates claiming it)")
    ax.set_title(f"Power of '{question}' against cost (± {se_mult:g} Monte Carlo SE)")
    ax.legend(fontsize="small")
    ticks = np.unique(s["cost"])
    ax.set_xticks(ticks, [f"{t:,g}" for t in ticks])
    ax.minorticks_off()
    return ax
