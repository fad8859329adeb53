"""Figures of the data: compliance rates per tier and the papers' per-seed gap."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._style import PALETTE, _axes


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
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    variants : list of str, optional
        Variants to show, in this order (default: all, ``default`` first).
    se_mult : float, default 1.0
        Half-width of each error bar in standard errors of the mean over seeds (e.g. 1.96).

    Returns
    -------
    matplotlib Axes
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
        ax.legend(title="prompt variant", fontsize="x-small", title_fontsize="small", loc="center left",
                  bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return ax


def rates(table: pd.DataFrame, *, ax=None, variant: str = "default"):
    """Compliance rate in training and deployment, one row per model (and scenario), as given.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`afdecomp.rates` (``rate``, ``lo``, ``hi`` per condition and tier); the
        figure draws those numbers, one variant, unsteered, a row per model × scenario.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    variant : str, default "default"
        The prompt variant to show; one the table does not hold is an error naming those it does.

    Returns
    -------
    matplotlib Axes
    """
    t = _unsteered(table)
    known = sorted(t["variant"].astype(str).unique(), key=lambda v: (v != "default", v))
    if variant not in known:
        raise ValueError(f"variant {variant!r} is not in the table; known: {known}")
    t = _row_per_model(t[t["variant"].astype(str) == variant])
    rows = sorted(t["model"].unique())
    ax = _axes(ax, (6.5, 0.6 + 0.4 * len(rows)))
    for j, (cond, off) in enumerate((("training", -0.15), ("deployment", 0.15))):
        s = t[t["condition"].astype(str) == cond]
        if s.duplicated("model").any():
            raise ValueError(f"several {cond} rows per model for variant {variant!r} (pass one table row per "
                             "model, scenario and tier, e.g. afdecomp.rates(df))")
        s = s.set_index("model").reindex(rows)
        r, lo, hi = (s[c].to_numpy(dtype=float) for c in ("rate", "lo", "hi"))
        err = np.clip([np.nan_to_num(r - lo), np.nan_to_num(hi - r)], 0, None)  # rates of 0 or 1: rounding
        ax.errorbar(r, np.arange(len(rows)) + off, xerr=err, fmt="o", ms=4, capsize=2, color=PALETTE(j), label=cond)
    ax.set_yticks(np.arange(len(rows)), rows)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    level = table.attrs.get("ci_prob")
    ax.set_xlabel(f"compliance rate ({level:.0%} Wilson interval)" if level else "compliance rate (Wilson interval)")
    scen = t["scenario"].nunique() if "scenario" in t.columns else 1
    ax.set_title(f"Compliance by tier, variant '{variant}'" + (f" ({scen} scenarios)" if scen > 1 else ""))
    ax.legend(frameon=False, fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return ax
