"""Figures of a judge validation. Each takes a :class:`~afdecomp.label.validation.JudgeValidation`
and ``ax=None`` and returns the matplotlib Axes; they draw what the results hold and compute
nothing else.
"""

from __future__ import annotations

import numpy as np

from ._style import PALETTE, _axes

_BASELINE_STYLE = {"lexical": dict(color="0.35", ls="--", lw=1.1), "modif": dict(color="0.55", ls=":", lw=1.1)}
_BASELINE_NAME = {"lexical": "lexical baseline (CV)", "modif": '"modif…" word count'}


def _pct(val) -> str:
    return f"{val.info['ci_prob']:.0%}"


def _who(val) -> str:
    """Short figure title naming the judge, the task and the data set."""
    import os

    i = val.info
    judge = i.get("judge") or "judge"
    task = f" · {i['task']}" if i.get("task") else ""
    data = f" · {os.path.basename(str(i['dataset']))}" if i.get("dataset") else ""
    return f"{judge}{task}{data}"


def _note(ax, text: str):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize="small", color="0.3")
    return ax


def roc(val, ax=None):
    """ROC curve of the judge (AUROC and its interval in the legend), the lexical baselines' curves,
    the chance diagonal and the operating point at the threshold. Points of the curve are joined
    by straight lines (tied scores give a diagonal segment, as the AUROC counts ties 1/2).

    Parameters
    ----------
    val : JudgeValidation
        A judge validation (:func:`afdecomp.validate_judge`).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax, (5.2, 5.0))
    m, pct = val.metrics, _pct(val)
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="-", label="chance (AUROC 0.5)")
    if val.baseline_roc is not None:
        for name, curve in val.baseline_roc.groupby("baseline", sort=False):
            b = val.baseline.set_index("name").loc[name]
            ax.plot(curve["fpr"], curve["tpr"], **_BASELINE_STYLE.get(name, {}),
                    label=f"{_BASELINE_NAME.get(name, name)}: {b['auroc']:.2f} [{b['auroc_lo']:.2f}, {b['auroc_hi']:.2f}]")
    ax.plot(val.roc["fpr"], val.roc["tpr"], color=PALETTE(0), lw=1.8,
            label=f"judge: AUROC {m['auroc']:.2f} [{m['auroc_lo']:.2f}, {m['auroc_hi']:.2f}]")
    ax.plot([1 - m["specificity"]], [m["sensitivity"]], "o", color=PALETTE(0), ms=6, mfc="white", mew=1.5,
            label=f"threshold {val.info['threshold']:g}: sens {m['sensitivity']:.2f}, spec {m['specificity']:.2f}")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false-positive rate (1 − specificity)")
    ax.set_ylabel("true-positive rate (sensitivity)")
    ax.set_title(f"ROC, n = {m['n_scored']} ({m['tp'] + m['fn']} positive)\n{_who(val)}", fontsize="small")
    ax.legend(title=f"AUROC [{pct} bootstrap interval]", fontsize="x-small", title_fontsize="x-small", frameon=False,
              loc="lower right")
    ax.grid(alpha=0.3)
    return ax


def calibration(val, ax=None):
    """Reliability diagram: the fraction of positives per score bin (Wilson interval) against the
    bin's mean score, the diagonal of perfect calibration, and the number of items per bin (bars,
    right axis). Scores outside [0, 1] have no calibration table: the panel says so.

    Parameters
    ----------
    val : JudgeValidation
        A judge validation (:func:`afdecomp.validate_judge`).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax, (5.4, 4.6))
    t = val.calibration
    if t is None:
        ax.set_xlabel("judge score")
        ax.set_ylabel("fraction positive (human label)")
        ax.set_title(f"Calibration\n{_who(val)}", fontsize="small")
        return _note(ax, "scores leave [0, 1]: no calibration table\n(e.g. log-odds or raw counts)")
    width = t["bin_hi"] - t["bin_lo"]
    ax2 = ax.twinx()
    ax2.spines["right"].set_visible(True)  # its own axis, also under a style that hides right spines
    ax2.bar(t["bin_lo"] + width / 2, t["n"], width=width * 0.9, color="0.85", zorder=0)
    for x, n in zip(t["bin_lo"] + width / 2, t["n"], strict=True):
        if n:
            ax2.text(x, n, str(int(n)), ha="center", va="bottom", fontsize="x-small", color="0.45")
    ax2.set_ylim(0, max(1, t["n"].max()) * 3.2)  # bars fill the lower third
    ax2.set_ylabel("items per bin (grey bars)", fontsize="small", color="0.45")
    ax2.tick_params(axis="y", labelsize="x-small", colors="0.45")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--", label="perfect calibration")
    s = t[t["n"] > 0]
    f = s["frac_positive"].to_numpy(dtype=float)
    err = np.clip([f - s["frac_lo"].to_numpy(dtype=float), s["frac_hi"].to_numpy(dtype=float) - f], 0, None)
    ax.errorbar(s["mean_score"], f, yerr=err,
                fmt="o-", color=PALETTE(0), ms=4, lw=1, capsize=2,
                label=f"judge ({_pct(val)} Wilson interval)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"judge score (points at each bin's mean score; {len(t)} equal bins)")
    ax.set_ylabel("fraction positive (human label)")
    ax.set_title(f"Calibration, n = {val.metrics['n_scored']}\n{_who(val)}", fontsize="small")
    ax.legend(frameon=False, fontsize="x-small", loc="upper left")
    ax.grid(alpha=0.3)
    return ax


def auroc_by_votes(val, ax=None):
    """AUROC of the yes-fraction of k votes against k, with its bootstrap interval, next to the
    lexical baseline (line and band) and chance: how many votes are worth paying for.

    Parameters
    ----------
    val : JudgeValidation
        A judge validation (:func:`afdecomp.validate_judge`) made with ``votes=``;
        without per-vote answers the panel says so.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax, (6.0, 4.2))
    b, pct = val.by_votes, _pct(val)
    ax.axhline(0.5, color="0.7", lw=0.8, label="chance")
    ax.set_xlabel("votes per item (k)")
    ax.set_ylabel("AUROC")
    ax.set_title(f"AUROC against the number of votes\n{_who(val)}", fontsize="small")
    if b is None:
        return _note(ax, "no per-vote answers in this validation\n(pass votes= to validate_judge)")
    k = b["k"].to_numpy()
    m = val.metrics
    if np.isfinite(m.get("lexical_auroc", np.nan)):
        ax.axhspan(m["lexical_auroc_lo"], m["lexical_auroc_hi"], color="0.5", alpha=0.12, lw=0)
        ax.axhline(m["lexical_auroc"], **_BASELINE_STYLE["lexical"],
                   label=f"{_BASELINE_NAME['lexical']}: {m['lexical_auroc']:.2f} ({pct} band)")
    a = b["auroc"].to_numpy(dtype=float)
    ax.fill_between(k, b["auroc_lo"], b["auroc_hi"], color=PALETTE(0), alpha=0.18, lw=0)
    ax.plot(k, a, "o-", color=PALETTE(0), ms=4, lw=1.4,
            label=f"judge, mean over {int(b['n_subsets'].max())} random vote subsets ({pct} bootstrap band)")
    ax.set_xticks(k if len(k) <= 20 else np.unique(np.linspace(1, k.max(), 11).round().astype(int)))
    ax.set_xlim(k.min() - 0.5, k.max() + 0.5)
    lo = min(0.45, float(np.nanmin(b["auroc_lo"])) - 0.03)
    ax.set_ylim(lo, 1.0)
    ax.legend(frameon=False, fontsize="x-small", loc="lower right")
    ax.grid(alpha=0.3)
    return ax
