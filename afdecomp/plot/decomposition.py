"""Figures of the decomposition: Shapley shares per model and the gap per prompt variant."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ._style import DRIVER_COLORS, DRIVER_LABELS, PALETTE, _axes, _figsize, ci_prob_of


# ----------------------------------------------------------------------------- decomposition
def decomposition(dec, *, ax=None, ci_prob: float | None = None, hdi_prob: float | None = None):
    """Stacked bars of each model's gap split into values, goal guarding, sycophancy, remainder.

    Bars are the posterior-mean Shapley shares, stacked (positive shares to the right of 0,
    negative ones to the left); each share's ``hdi_prob`` HDI is a whisker drawn at the end of
    its segment (slightly offset vertically per driver); the black diamond is the model's
    total predicted gap with its HDI.

    Parameters
    ----------
    dec : Decomposition
        The Shapley decomposition of a fit (:func:`afdecomp.decompose`).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    ci_prob : float, optional
        Probability of the HDIs (default 0.94).
    hdi_prob : float, optional
        The older name of ``ci_prob``; passing both with different values is an error.

    Returns
    -------
    matplotlib Axes
    """
    hdi_prob = ci_prob_of(ci_prob, hdi_prob)
    from ..models.decomposition import PARTS

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
                 fontsize="medium")
    ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", alpha=0.3)
    return ax


def ablation_forest(contrasts: pd.DataFrame, af_rates: pd.DataFrame | None = None, *, axes=None,
                    reference: str = "default", ci_prob: float | None = None, hdi_prob: float | None = None):
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
    reference : str, default "default"
        The variant drawn first (top row); the others follow in alphabetical order.
    ci_prob : float, optional
        The level the contrasts' intervals were computed at (labels only; default 0.94).
    hdi_prob : float, optional
        The older name of ``ci_prob``; passing both with different values is an error.

    Returns
    -------
    numpy.ndarray of two Axes
    """
    hdi_prob = ci_prob_of(ci_prob, hdi_prob)
    variants = [reference] + sorted(set(contrasts["variant"]) - {reference})
    models = sorted(contrasts["model"].astype(str).unique())
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=_figsize((11, 1.4 + 0.55 * len(variants))), sharey=True,
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
    ax.set_title("Gap per prompt variant", fontsize="medium")
    ax.grid(axis="x", alpha=0.3)
    if af_rates is None or len(af_rates) == 0:
        ax2.text(0.5, 0.5, "No AF-reasoning labels in these data\n(the af_reasoning column is empty;\n"
                 "label reasoning with a judge to fill it)", ha="center", va="center", transform=ax2.transAxes,
                 fontsize="small", color="0.3")
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
    ax2.set_xlabel("AF-reasoning rate, training tier\n(95% Wilson interval)")
    ax2.set_title("Alignment-faking reasoning", fontsize="medium")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color=PALETTE(i % 10), marker="o", ls="", label=m) for i, m in enumerate(models)]
    handles += [Line2D([], [], color="0.3", marker=markers[s], ls="", mfc="0.3" if s == "data" else "white",
                       label={"data": "data (query bootstrap)", "model": "fitted model (HDI)"}[s]) for s in sources]
    ax.figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5), fontsize="small",
                     frameon=False)
    return axes
