"""Dose-response figures of steering: the gap and tier rates against the coefficient α."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ._style import PALETTE, _figsize


# ----------------------------------------------------------------------------- steering
class _QuantityStyle(Mapping):
    """quantity -> (colour, label); colours from the active colour cycle (``PALETTE``), so the
    paper style's palette applies: training the first colour, deployment the second, the gap
    the fourth."""

    _STYLE = {"gap": (3, "compliance gap"), "rate_training": (0, "P(comply), training"),
              "rate_deployment": (1, "P(comply), deployment")}

    def __getitem__(self, key):
        i, label = self._STYLE[key]
        return PALETTE(i), label

    def __iter__(self):
        return iter(self._STYLE)

    def __len__(self):
        return len(self._STYLE)


QUANTITY_STYLE = _QuantityStyle()


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


def steering(sa, *, quantity="gap", models=None, vectors=None, axes=None, fig=None):
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
    quantity : str or tuple of str, default "gap"
        What to draw against α: ``"gap"``, ``"rate_training"``, ``"rate_deployment"``, or a
        tuple of them drawn in the same panels (one colour each).
    models : list of str, optional
        The models (rows), in this order (default: every model with a driver vector).
    vectors : list of str, optional
        Keep only the panels of these driver vectors (default: all); panels are in vector and
        layer order.
    axes : 2-D array of Axes, optional
        Where to draw, shape (models, vector × layer panels); by default a new figure.
    fig : Figure, optional
        Deprecated: draw into this empty figure (use ``axes``).

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
    if axes is not None:
        axes = np.atleast_2d(np.asarray(axes))
        if axes.shape != (len(models), len(cols)):
            raise ValueError(f"axes must have shape {(len(models), len(cols))} (models, panels), not {axes.shape}")
        fig = axes[0, 0].figure
    else:
        if fig is not None:
            import warnings
            warnings.warn("plot.steering(fig=...) is deprecated: pass axes=", DeprecationWarning, stacklevel=2)
        fig = fig or plt.figure(figsize=_figsize((max(5.0, 3.6 * len(cols) + 0.6), 2.3 * len(models) + 0.8)),
                               layout="constrained")
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
            ax.set_title(f"{m} · {v}{lay}", fontsize="small")
            ax.grid(alpha=0.3)
            if r == len(models) - 1:
                ax.set_xlabel("steering coefficient α")
            if c == 0:
                ax.set_ylabel(QUANTITY_STYLE[qs[0]][1] if len(qs) == 1 else "P(comply)", fontsize="small")
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
    fig.legend(handles=handles[:-1], loc="outside lower center", ncol=min(len(cols), 3, len(handles) - 1), fontsize="small",
               frameon=False)
    return axes
