"""The papers' signature figure from a joint fit: each tier's behaviour split into refused,
complied without alignment-faking reasoning and complied with it."""

from __future__ import annotations

import numpy as np

from ._style import PALETTE, _axes, ci_prob_of


def af_bars(res, condition: str = "default", *, ax=None, naive=None, ci_prob: float | None = None,
            hdi_prob: float | None = None):
    """Stacked bars per model × tier: refused / complied without AF reasoning / complied with it.

    Parameters
    ----------
    res : JointResults
        A fitted :class:`afdecomp.JointOutcome` (or ``JointRational``).
    condition : str, default "default"
        The condition shown (its label in ``res.summary()["condition"]``: the variant, plus
        the steering when steered).
    ax : Axes, optional
        Where to draw (default: a new figure).
    naive : JointResults, optional
        An uncorrected fit of the same data: its compliance and AF rates are marked on the bars
        (red dashed lines), to show what the judge correction changed.
    ci_prob : float, optional
        Interval probability (default the fit's, 0.94).
    hdi_prob : float, optional
        The older name of ``ci_prob``; passing both with different values is an error.

    Returns
    -------
    Axes
        One pair of bars per model (T = training, D = deployment); the hatched segment is
        P(complied & AF reasoning). Error bars: HDI of the compliance rate (top of the bar) and
        of the AF rate (top of the hatched segment).
    """
    prob = ci_prob_of(ci_prob, hdi_prob, default=res.hdi_prob)
    seg = res.segments(prob)
    seg = seg[seg["condition"] == condition]
    if seg.empty:
        raise ValueError(f"no condition {condition!r} in the fit; conditions: "
                         f"{sorted(res.segments(prob)['condition'].unique())[:10]}")
    models = sorted(seg["model"].unique())
    ax = _axes(ax, (max(4.0, 1.1 * len(models) + 1.5), 3.4))
    width = 0.38
    colors = {"refused": "0.85", "complied_no_af": PALETTE(0), "complied_af": PALETTE(1)}
    labels = {"refused": "refused", "complied_no_af": "complied, no AF reasoning",
              "complied_af": "complied with AF reasoning"}
    nav = None
    if naive is not None:
        nav = naive.segments(prob)
        nav = nav[nav["condition"] == condition]
    for i, tier in enumerate(("training", "deployment")):
        s = seg[seg["tier"] == tier].set_index("model").reindex(models)
        x = np.arange(len(models)) + (i - 0.5) * (width + 0.04)
        bottom = np.zeros(len(models))
        for part in ("complied_af", "complied_no_af", "refused"):
            h = s[part].to_numpy(dtype=float)
            ax.bar(x, h, width, bottom=bottom, color=colors[part], edgecolor="0.25", lw=0.5,
                   hatch="////" if part == "complied_af" else None, label=labels[part] if i == 0 else None)
            bottom += h
        af = s["complied_af"].to_numpy(dtype=float)
        comp = af + s["complied_no_af"].to_numpy(dtype=float)
        ax.errorbar(x, comp, yerr=[comp - s["complied_lo"], s["complied_hi"] - comp], fmt="none",
                    ecolor="k", capsize=2, lw=0.8)
        ax.errorbar(x + width * 0.2, af, yerr=[af - s["af_lo"], s["af_hi"] - af], fmt="none",
                    ecolor="k", capsize=2, lw=0.8)
        if nav is not None:
            n = nav[nav["tier"] == tier].set_index("model").reindex(models)
            ncomp = (n["complied_af"] + n["complied_no_af"]).to_numpy(dtype=float)
            kw = dict(color="#c0392b", lw=1.3, ls=(0, (2, 1)))
            ax.hlines(ncomp, x - width / 2, x + width / 2, label="naive (uncorrected)" if i == 0 else None, **kw)
            ax.hlines(n["complied_af"].to_numpy(dtype=float), x - width / 2, x + width / 2, **kw)
        for xi in x:
            ax.text(xi, -0.02, "T" if tier == "training" else "D", ha="center", va="top", fontsize="x-small")
    ax.set_xticks(np.arange(len(models)), models)
    ax.tick_params(axis="x", pad=12)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of generations")
    ax.set_title(f"{condition}: training (T) vs deployment (D), {prob:.0%} HDI\n{res.judge_note()}",
                 fontsize="small")
    handles, names = ax.get_legend_handles_labels()
    order = [names.index(n) for n in (labels["refused"], labels["complied_no_af"], labels["complied_af"],
                                      "naive (uncorrected)") if n in names]
    ax.legend([handles[i] for i in order], [names[i] for i in order], fontsize="x-small", loc="upper left",
              bbox_to_anchor=(1.0, 1.0), frameon=False)
    return ax
