"""Figures of the three-driver view: steering as grouped bars, tier rates against α per layer,
and the outcome mix (complied / partial / refused) per tier.

They draw a :class:`~afdecomp.SteeringAnalysis` (data points with query-bootstrap intervals)
or the tidy table, and compute nothing but counts.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ._style import PALETTE, _figsize


def _layers(sa) -> list:
    lay = sa.data["steer_layer"].dropna().unique()
    return sorted(int(x) for x in lay)


def _pick(d: pd.DataFrame, **eq) -> pd.DataFrame:
    m = np.ones(len(d), dtype=bool)
    for k, v in eq.items():
        col = d[k]
        m &= (col.astype("Float64") == v).fillna(False).to_numpy(dtype=bool) if k == "steer_layer" else (col == v).to_numpy()
    return d[m]


def steering_bars(sa, *, quantity: str = "gap", layer: int | None = None, models=None, vectors=None, axes=None):
    """Per model, grouped bars: the quantity at baseline (α = 0) and at each steering coefficient
    of each driver vector, each next to the random-direction control at the same α and layer.

    Parameters
    ----------
    sa : SteeringAnalysis
        Output of :func:`afdecomp.steering_analysis` (its ``data``: query-bootstrap intervals).
    quantity : {"gap", "rate_training", "rate_deployment"}
    layer : int, optional
        The steered layer to show (default: the only one; with several, the lowest, and the
        title says which).
    models, vectors : list of str, optional
        Which models (panels) and driver vectors (groups, in this order; default: every
        non-control vector, ``values`` first, then ``sycophancy``, then the rest).
    axes : array of Axes, optional
        One per model (default: a new figure, up to three panels per row).

    Returns
    -------
    numpy.ndarray of Axes
    """
    d = sa.data[sa.data["quantity"] == quantity]
    if d.empty:
        raise ValueError(f"no {quantity!r} rows in the steering analysis")
    layers = _layers(sa)
    if layer is None and layers:
        layer = layers[0]
    elif layer is not None and layer not in layers:
        raise ValueError(f"layer {layer} was not steered; layers: {layers}")
    models = models or sorted(d["model"].astype(str).unique())
    drivers = d.drop_duplicates("steer_vector").set_index("steer_vector")["driver"].to_dict()
    controls = sorted(v for v, dr in drivers.items() if dr == "control")
    if vectors is None:
        rank = {"values": 0, "sycophancy": 1}
        vectors = sorted((v for v, dr in drivers.items() if dr != "control"), key=lambda v: (rank.get(drivers[v], 2), v))
    if axes is None:
        ncol = min(3, len(models))
        nrow = int(np.ceil(len(models) / ncol))
        fig, axes = plt.subplots(nrow, ncol, sharey=True, squeeze=False, layout="constrained",
                                 figsize=_figsize((3.4 * ncol, 2.3 * nrow + 0.7)))
        for ax in axes.ravel()[len(models):]:
            ax.set_visible(False)
    axes = np.asarray(axes).ravel()
    if len(axes) < len(models):
        raise ValueError(f"axes: need {len(models)}, got {len(axes)}")
    fig = axes[0].figure
    w = 0.38
    for ax, m in zip(axes, models, strict=False):
        dm = d[d["model"].astype(str) == m]
        base = dm[dm["steer_coef"] == 0].iloc[:1]
        x, ticks, labels = 0.0, [], []
        if len(base):
            r = base.iloc[0]
            ax.bar(x, r["estimate"], width=w * 1.2, color="0.35", label="baseline (α = 0)" if m == models[0] else None)
            ax.errorbar(x, r["estimate"], yerr=[[r["estimate"] - r["lo"]], [r["hi"] - r["estimate"]]], fmt="none",
                        ecolor="0.1", lw=0.8, capsize=1.5)
            ticks.append(x)
            labels.append("base")
            x += 1.2
        for j, v in enumerate(vectors):
            dv = _pick(dm, steer_vector=v, steer_layer=layer) if layer is not None else dm[dm["steer_vector"] == v]
            dv = dv[dv["steer_coef"] != 0].sort_values("steer_coef")
            col = PALETTE(j)
            for r in dv.itertuples():
                ax.bar(x - w / 2, r.estimate, width=w, color=col,
                       label=f"{v} vector" if m == models[0] and r.Index == dv.index[0] else None)
                ax.errorbar(x - w / 2, r.estimate, yerr=[[r.estimate - r.lo], [r.hi - r.estimate]], fmt="none",
                            ecolor="0.1", lw=0.8, capsize=1.5)
                c = pd.concat([_pick(dm, steer_vector=cv, steer_layer=layer) for cv in controls]) if controls else dm[:0]
                c = c[c["steer_coef"] == r.steer_coef]
                if len(c):
                    e, lo, hi = c["estimate"].mean(), c["lo"].mean(), c["hi"].mean()
                    ax.bar(x + w / 2, e, width=w, color="white", edgecolor="0.45", hatch="////", lw=0.6,
                           label="random direction, same α" if m == models[0] and j == 0 and r.Index == dv.index[0]
                           else None)
                    ax.errorbar(x + w / 2, e, yerr=[[e - lo], [hi - e]], fmt="none", ecolor="0.45", lw=0.8, capsize=1.5)
                ticks.append(x)
                labels.append(f"{r.steer_coef:+g}")
                x += 1.0
            x += 0.4
        ax.axhline(0, color="0.4", lw=0.6)
        ax.set_xticks(ticks, labels, fontsize="x-small")
        ax.set_title(m)
        ax.grid(axis="y", alpha=0.3)
    from .steering import QUANTITY_STYLE
    for ax in axes[: len(models)]:
        if ax.get_subplotspec() is None or ax.get_subplotspec().is_first_col():
            ax.set_ylabel(QUANTITY_STYLE[quantity][1])
    lay = f", layer {layer}" if layer is not None else ""
    more = f" (of layers {layers})" if len(layers) > 1 else ""
    n_rows = int(np.ceil(len(models) / max(1, _ncols(axes[: len(models)]))))
    for i, ax in enumerate(axes[: len(models)]):
        if i >= len(models) - _ncols(axes[: len(models)]) or n_rows == 1:
            ax.set_xlabel(f"α: {' | '.join(vectors)}{lay}{more}", fontsize="small")
    pct = int(round(sa.hdi_prob * 100))
    handles, labels = axes[0].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("random"))
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside lower center", ncol=4,
               title=f"bars: data; whiskers: {pct}% query-bootstrap interval")
    return axes[: len(models)]


def _ncols(axes) -> int:
    spec = axes[0].get_subplotspec()
    return spec.get_gridspec().ncols if spec is not None else len(axes)


def steering_layers(sa, vector: str, *, models=None, axes=None):
    """Compliance in training (left) and deployment (right) against α, one line per steered
    layer, one row per model; grey: the random-direction control (all layers pooled per α).

    Parameters
    ----------
    sa : SteeringAnalysis
        Output of :func:`afdecomp.steering_analysis` (its ``data``: query-bootstrap intervals).
    vector : str
        The steering vector to show.
    models : list of str, optional
        The models (rows), in this order (default: all, sorted).
    axes : 2-D array of Axes, optional
        Shape (models, 2).

    Returns
    -------
    numpy.ndarray of Axes, shape (models, 2)
    """
    d = sa.data
    if vector not in set(d["steer_vector"]):
        raise ValueError(f"vector {vector!r} not in the analysis; vectors: {sorted(set(d['steer_vector']))}")
    models = models or sorted(d["model"].astype(str).unique())
    if axes is None:
        fig, axes = plt.subplots(len(models), 2, sharex=True, sharey=True, squeeze=False, layout="constrained",
                                 figsize=_figsize((6.4, 1.6 * len(models) + 0.9)))
    axes = np.atleast_2d(np.asarray(axes))
    if axes.shape != (len(models), 2):
        raise ValueError(f"axes must have shape {(len(models), 2)}, not {axes.shape}")
    fig = axes[0, 0].figure
    layers = _layers(sa)
    controls = sorted(set(d.loc[d["driver"] == "control", "steer_vector"]))
    for i, m in enumerate(models):
        for j, q in enumerate(("rate_training", "rate_deployment")):
            ax = axes[i, j]
            dq = d[(d["model"].astype(str) == m) & (d["quantity"] == q)]
            for k, layer in enumerate(layers or [None]):
                s = (_pick(dq, steer_vector=vector, steer_layer=layer) if layer is not None
                     else dq[dq["steer_vector"] == vector]).sort_values("steer_coef")
                ax.errorbar(s["steer_coef"], s["estimate"], yerr=[s["estimate"] - s["lo"], s["hi"] - s["estimate"]],
                            fmt="o-", ms=3, lw=1.1, capsize=1.5, color=PALETTE(k),
                            label=f"layer {layer}" if i == 0 and j == 0 and layer is not None else None)
            if controls:
                c = dq[dq["steer_vector"].isin(controls)].groupby("steer_coef")[["estimate", "lo", "hi"]].mean()
                base = dq[dq["steer_coef"] == 0][["steer_coef", "estimate", "lo", "hi"]].drop_duplicates("steer_coef")
                c = pd.concat([c, base.set_index("steer_coef")]).groupby(level=0).first().sort_index()
                ax.errorbar(c.index.to_numpy(dtype=float) + 0.06, c["estimate"], yerr=[c["estimate"] - c["lo"], c["hi"] - c["estimate"]],
                            fmt="s--", ms=3, lw=0.9, capsize=1.5, color="0.5", mfc="white",
                            label="random direction (control; drawn 0.06 right of its α)" if i == 0 and j == 0 else None)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title("training (monitored)" if j == 0 else "deployment (unmonitored)")
            if j == 0:
                ax.set_ylabel(f"{m}\nP(comply)")
            if i == len(models) - 1:
                ax.set_xlabel(f"steering coefficient α ({vector} vector)")
    pct = int(round(sa.hdi_prob * 100))
    fig.legend(loc="outside lower center", ncol=4, title=f"points: data, {pct}% query-bootstrap interval")
    return axes


OUTCOME_COLORS = {"complied": 0, "partial": 1, "refused": None}


def outcomes(df: pd.DataFrame, *, variant: str = "default", by: str = "model", ax=None):
    """Stacked bars per model and tier: the share of generations that complied fully, partially
    (``partial`` True) or refused (``complied`` False), unsteered, one prompt variant.

    Generations without a compliance label are left out (their number is in the x label). When
    ``partial`` is not labelled at all, compliance is not split and the legend says so.

    Parameters
    ----------
    df : DataFrame
        The tidy table (``complied``, optionally ``partial``).
    variant : str, default "default"
        The prompt variant (one the table does not hold is an error naming those it does).
    by : str, default "model"
        The column of the bar groups.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    Axes
    """
    t = df[df["variant"].astype(str) == variant]
    if t.empty:
        raise ValueError(f"variant {variant!r} is not in the table; known: {sorted(df['variant'].astype(str).unique())}")
    if "steer_vector" in t.columns:
        t = t[t["steer_vector"].astype(str) == "none"]
    has_partial = "partial" in t.columns and t["partial"].notna().any()
    lab = t[t["complied"].notna()]
    n_na = len(t) - len(lab)
    comp = lab["complied"].astype(bool)
    part = lab["partial"].fillna(False).astype(bool) if has_partial else pd.Series(False, index=lab.index)
    kind = np.where(~comp, "refused", np.where(part, "partial", "complied"))
    tab = pd.crosstab([lab[by].astype(str), lab["condition"].astype(str)], kind, normalize="index")
    tab = tab.reindex(columns=["complied", "partial", "refused"], fill_value=0.0)
    groups = sorted(lab[by].astype(str).unique())
    ax = ax if ax is not None else plt.subplots(figsize=_figsize((6.4, 3.0)), layout="constrained")[1]
    w = 0.38
    for i, tier in enumerate(("training", "deployment")):
        x = np.arange(len(groups)) + (i - 0.5) * (w + 0.02)
        rows = tab.reindex([(g, tier) for g in groups]).fillna(0.0)
        bottom = np.zeros(len(groups))
        for kind_, ci in OUTCOME_COLORS.items():
            if kind_ == "partial" and not has_partial:
                continue
            v = rows[kind_].to_numpy()
            col = PALETTE(ci) if ci is not None else "0.8"
            label = None
            if i == 0:
                label = kind_ if has_partial or kind_ != "complied" else "complied (partial not labelled)"
            ax.bar(x, v, width=w, bottom=bottom, color=col, edgecolor="white", lw=0.4, label=label,
                   hatch="" if tier == "training" else "...")
            bottom += v
        for xi in x:
            ax.text(xi, 1.01, "T" if tier == "training" else "D", ha="center", va="bottom", fontsize="x-small")
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("share of generations")
    ax.set_xlabel(f"{by}; T = training (monitored), D = deployment (dotted)"
                  + (f"; {n_na} unlabelled left out" if n_na else ""))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"Outcomes per tier, variant '{variant}' (unsteered)")
    return ax
