"""Shapley decomposition of each model's compliance gap into values, goal guarding and sycophancy.

docs/decomposition.md. ``G(S)`` is the predicted probability-scale gap with only the cues of the
players in ``S`` switched on (a player "off" sets its cue to 0; ``stakes`` keeps the reference
prompt's value). The Shapley value of driver ``d`` is::

    φ_d = Σ_{S ⊆ D∖d} |S|!(2−|S|)!/3! · [G(S ∪ d) − G(S)]

and ``φ_values + φ_goal_guarding + φ_sycophancy = G(D) − G(∅)``; ``G(∅)`` is the unexplained
remainder, so shares plus remainder equal the gap exactly, per posterior draw.

Works on any fit through :meth:`afdecomp.results.Results.gap_draws`: a
:class:`~afdecomp.RationalResults` predicts any counterfactual cues; a reduced-form fit
(:class:`~afdecomp.GapResults`, or any object with per-draw gaps per fitted condition, see
:class:`CellGapResults`) only when the design crosses the cues: every one of the 8 cue
combinations must be a prompt variant in the data.
"""

from __future__ import annotations

from itertools import combinations
from math import factorial
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
import xarray as xr

from .. import _arviz, theory
from ..design import CUES, DRIVERS, Catalog
from ..results import as_fit, interval_prob

PARTS = DRIVERS + ("remainder",)
COALITIONS = tuple(frozenset(c) for r in range(4) for c in combinations(DRIVERS, r))


def coalition_label(s: frozenset) -> str:
    """``"∅"`` or the players joined by ``+`` in the order of :data:`DRIVERS`."""
    return "+".join(d for d in DRIVERS if d in s) or "∅"


def shapley(G) -> dict[str, np.ndarray]:
    """Shapley values of the three drivers from ``G[frozenset(players)]`` (arrays broadcast).

    Returns a dict driver -> array; their sum is ``G[all] − G[∅]`` exactly (up to rounding).
    """
    n = len(DRIVERS)
    out = {}
    for d in DRIVERS:
        others = [x for x in DRIVERS if x != d]
        phi = 0.0
        for r in range(n):
            w = factorial(r) * factorial(n - r - 1) / factorial(n)
            for s in combinations(others, r):
                s = frozenset(s)
                phi = phi + w * (np.asarray(G[s | {d}]) - np.asarray(G[s]))
        out[d] = phi
    return out


def coalition_cues(reference: dict[str, float], players: frozenset) -> dict[str, float]:
    """The cues of ``reference`` with the drivers not in ``players`` set to 0 (stakes kept)."""
    return {c: (reference[c] if (c == "stakes" or c in players) else 0.0) for c in CUES}


def theory_shares(b, V, S, g, u, cues: dict[str, float] | None = None) -> dict[str, float]:
    """True Shapley shares and remainder for known parameters (via :func:`afdecomp.theory.gap`).

    ``u`` are the query effects the gap is averaged over; ``cues`` the reference prompt's cues
    (default: all 1). Returns a dict with the three drivers, ``remainder`` and ``gap``.
    """
    ref = {c: 1.0 for c in CUES} | (cues or {})
    G = {}
    for s in COALITIONS:
        z = coalition_cues(ref, s)
        G[s] = float(theory.gap(b, V, S, g, u=np.asarray(u, dtype=float), z_values=z["values"],
                                z_goal_guarding=z["goal_guarding"], z_sycophancy=z["sycophancy"],
                                stakes=z["stakes"]))
    out = {d: float(v) for d, v in shapley(G).items()}
    out["remainder"] = G[frozenset()]
    out["gap"] = G[frozenset(DRIVERS)]
    return out


@runtime_checkable
class CellGapResults(Protocol):
    """What :func:`decompose` needs from a reduced-form fit (e.g. ``GapResults``).

    ``pairs()`` lists the fitted conditions, one row each, with at least ``model``, ``variant``
    and ``steer_vector`` (``scenario`` optional); ``draws("gap")`` returns the posterior draws
    of the probability-scale gap of each condition, shape (draws, len(pairs())).
    """

    def pairs(self) -> pd.DataFrame: ...

    def draws(self, name: str) -> np.ndarray: ...


class Decomposition:
    """Shapley shares of each model's gap, per posterior draw.

    :func:`afdecomp.decompose` builds it from a fit; the shares are computed here from the
    coalition gaps. The parameters are kept as the attributes of the same name.

    Parameters
    ----------
    coalition_gaps : xarray.DataArray
        Dims ``("draw", "model", "coalition")``: G(S) for every subset S of the drivers, the
        coalition labelled ``"∅"`` or the drivers joined by ``+`` (``"values+sycophancy"``).
    cues : dict of str to float
        The reference prompt's cues.
    source : str
        ``"rational"`` or ``"reduced-form"``: which kind of fit the gaps came from.

    Attributes
    ----------
    shares : xarray.DataArray
        Dims ``("draw", "model", "driver")``; drivers values, goal_guarding, sycophancy and
        remainder (= G(∅)).
    gap : xarray.DataArray
        Dims ``("draw", "model")``: the predicted gap under the reference cues, G(D).
    """

    def __init__(self, coalition_gaps: xr.DataArray, cues: dict[str, float], source: str):
        self.coalition_gaps = coalition_gaps
        self.cues = cues
        self.source = source
        G = {s: coalition_gaps.sel(coalition=coalition_label(s)).to_numpy() for s in COALITIONS}
        phi = shapley(G)
        arr = np.stack([phi[d] for d in DRIVERS] + [G[frozenset()]], axis=-1)
        coords = {"model": coalition_gaps["model"].to_numpy(), "driver": list(PARTS)}
        self.shares = xr.DataArray(arr, dims=("draw", "model", "driver"), coords=coords)
        self.gap = xr.DataArray(G[frozenset(DRIVERS)], dims=("draw", "model"), coords={"model": coords["model"]})

    @property
    def models(self) -> list[str]:
        return [str(m) for m in self.shares["model"].to_numpy()]

    @property
    def draws(self) -> pd.DataFrame:
        """One row per model and draw: ``model``, ``draw``, the four parts and ``gap``.

        ``values + goal_guarding + sycophancy + remainder == gap`` in every row.
        """
        frames = []
        for j, m in enumerate(self.models):
            f = pd.DataFrame(self.shares.to_numpy()[:, j, :], columns=list(PARTS))
            f.insert(0, "draw", np.arange(len(f)))
            f.insert(0, "model", m)
            f["gap"] = self.gap.to_numpy()[:, j]
            frames.append(f)
        return pd.concat(frames, ignore_index=True)

    def summary(self, ci_prob: float | None = None, *, hdi_prob: float | None = None) -> pd.DataFrame:
        """Posterior mean and HDI of each share.

        Returns
        -------
        DataFrame
            ``model``, ``driver`` (values, goal_guarding, sycophancy, remainder), ``share``,
            ``share_lo``, ``share_hi``, ``gap``, ``gap_lo``, ``gap_hi`` (the model's gap, repeated),
            ``fraction`` (posterior mean of share / gap; NaN when the gap's interval holds 0).
        """
        sh = self.shares.to_numpy()
        gp = self.gap.to_numpy()
        prob = interval_prob(ci_prob, hdi_prob)
        lo, hi = _arviz.hdi(np.moveaxis(sh, 0, -1), prob=prob)      # model × driver
        glo, ghi = _arviz.hdi(gp.T, prob=prob)
        rows = []
        for j, m in enumerate(self.models):
            clear = not (glo[j] <= 0 <= ghi[j])
            for i, d in enumerate(PARTS):
                frac = float(np.mean(sh[:, j, i] / gp[:, j])) if clear else np.nan
                rows.append((m, d, float(sh[:, j, i].mean()), float(lo[j, i]), float(hi[j, i]),
                             float(gp[:, j].mean()), float(glo[j]), float(ghi[j]), frac))
        return pd.DataFrame(rows, columns=["model", "driver", "share", "share_lo", "share_hi",
                                           "gap", "gap_lo", "gap_hi", "fraction"])

    def __repr__(self) -> str:
        return (f"Decomposition({self.source}, {len(self.models)} model(s), "
                f"{self.shares.sizes['draw']} draws, cues={self.cues})")


# ----------------------------------------------------------------------------- entry point
def decompose(results, cues="default", *, catalog: Catalog | None = None, queries: str = "observed",
              scenario: str | None = None, random_seed=0) -> Decomposition:
    """Shapley decomposition of each model's gap among values, goal guarding and sycophancy.

    Parameters
    ----------
    results : RationalResults or CellGapResults
        A fitted rational-agent model (always works), or a reduced-form fit whose design
        crosses the cues (see :class:`CellGapResults`).
    cues : str or dict, default "default"
        The reference prompt: a catalog variant name or a dict of cues (omitted cues are 1).
        A player "on" takes the reference value of its cue, "off" sets it to 0; ``stakes``
        keeps the reference value throughout.
    catalog : Catalog, optional
        For reduced-form results (default: the results' ``catalog`` attribute if any, else
        :func:`afdecomp.default_catalog`). Rational results use their own catalog.
    queries : {"observed", "new"}
        Rational results only: average over each model's observed queries (default) or a new
        query (Monte Carlo; every coalition uses the same query draws, from ``random_seed``).
    scenario : str, optional
        Reduced-form results with several scenarios: which one to decompose.
    random_seed : int, default 0
        Seed of the query draws of ``queries="new"``.

    Returns
    -------
    Decomposition
    """
    fit = as_fit(results, catalog)
    ref = fit.resolve_cues(cues)
    gaps = [fit.gap_draws(coalition_cues(ref, s), queries=queries, scenario=scenario, random_seed=random_seed)
            for s in COALITIONS]
    models = [str(m) for m in gaps[0]["model"].to_numpy()]
    G = [g.to_numpy() for g in gaps]
    _check_crossed(ref, G, models)
    source = "rational" if fit.structural else "reduced-form"
    arr = np.stack(G, axis=-1)
    da = xr.DataArray(arr, dims=("draw", "model", "coalition"),
                      coords={"model": models, "coalition": [coalition_label(s) for s in COALITIONS]})
    return Decomposition(da, ref, source)


def _check_crossed(ref: dict[str, float], G: list[np.ndarray], models: list[str]) -> None:
    """Raise naming every coalition's cues that a (reduced-form) fit has no gap for, and for which models."""
    missing = {}
    for s, g in zip(COALITIONS, G, strict=True):
        lacking = [m for j, m in enumerate(models) if np.isnan(g[:, j]).all()]
        if lacking:
            want = coalition_cues(ref, s)
            missing[tuple(want[c] for c in CUES)] = lacking
    if not missing:
        return
    lines = [f"  values={k[0]:g}, goal_guarding={k[1]:g}, sycophancy={k[2]:g}, stakes={k[3]:g}: "
             f"missing for {ms if len(ms) < len(models) else 'every model'}" for k, ms in sorted(missing.items())]
    raise ValueError(
        "decompose: this reduced-form fit cannot predict the counterfactual cues, because the design "
        "does not cross them. A Shapley split needs an unsteered prompt variant for every combination "
        "of the driver cues; these cue combinations (and the models lacking them) are not in the data:\n"
        + "\n".join(lines)
        + "\nAdd (and declare in a catalog) variants with these cues, or decompose a RationalAgent fit, "
          "which predicts any cue combination from its structure.")
