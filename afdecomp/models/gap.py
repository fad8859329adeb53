"""The hierarchical compliance-gap model (docs/gap.md; the maths in docs/concepts.md) on binomial cells, fitted with PyMC.

Per model × prompt variant × steering condition ("pair") a (β, γ): β the logit compliance in
deployment, γ the logit-scale gap. Queries enter with a difficulty effect ``u_q`` and a
query-specific gap ``w_q``, both zero-sum (the global intercept and the mean of the query
effects are not separately identified otherwise)::

    logit p_c = β_pair + u_q + t · (γ_pair + w_q),   t = oversight (1 training, 0 deployment)

The hierarchy is written at the midpoint of the tiers, ``b = β + γ/2`` (and ``v_q = u_q + w_q/2``),
which the two tiers inform independently of γ (docs/gap.md: at t = 0, β and γ were correlated
−0.66 in the posterior and NUTS needed 37 leapfrog steps per draw; 15 at the midpoint). The pairs
of one setting (variant × steering) share a population mean μ, each model has a deviation δ
shared by all its settings, and the pairs scatter around μ + δ, so a model with little data is
pulled toward the other models (and toward its own other settings)::

    (b, γ)_pair ~ N(μ_setting + δ_model, diag(τ_b, τ_γ)²)
    δ_model ~ ZeroSumNormal(τ_model) over models, independently for b and γ
    v ~ ZeroSumNormal(σ_u),  w ~ ZeroSumNormal(σ_w)

The structure follows the design (:func:`structure`): δ only when some model has several
settings and some setting several models, the pair scatter only when the design leaves it
residual degrees of freedom; otherwise two levels would be the same level written twice. Each
level is written partially non-centred with a weight taken from the data's information about
it (docs/gap.md). With graded oversight, ``t`` is the stated oversight probability and the
reported training rate is the one at t = 1. Priors (logit scale): μ_b ~ N(0, 1.5), μ_γ ~ N(0, 1)
(a negative gap is as plausible as a positive one), τ ~ HalfNormal(1), τ_model ~
HalfNormal(0.5), σ_u ~ HalfNormal(1), σ_w ~ HalfNormal(0.5). The posterior keeps ``beta`` and
``u`` on the deployment scale (``gap_logit``), so everything downstream reads them as before.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from .. import _arviz
from ..aggregate import aggregate, check_tiers
from ._loglik import binomial_potential, gap_logit, observed_log_probs
from ._sampling import SAMPLERS, sample
from .baseline import CONDITION_KEYS, seed_sem_gap
from .judge_error import judge_attrs, judge_draws, judged_potential, resolve_judge_error

if TYPE_CHECKING:
    from ..results import GapResults

SETTING_KEYS = [k for k in CONDITION_KEYS if k != "model"]
def as_cells(data: pd.DataFrame, label: str = "complied") -> pd.DataFrame:
    """Binomial cells from either the tidy table or a cell table (columns ``n`` and ``k``)."""
    if {"n", "k"} <= set(data.columns) and label not in data.columns:
        cells = data
    elif label in data.columns:
        cells = aggregate(data, label)
    else:
        raise ValueError(f"expected the tidy table (with a '{label}' column) or binomial cells "
                         f"(with 'n' and 'k' columns); got columns {list(data.columns)}")
    missing = [c for c in ("model", "variant", "query_id", "n", "k") if c not in cells.columns]
    if missing:
        raise ValueError(f"cell table lacks required column(s) {missing}")
    cells = cells.copy()
    for c, default in (("scenario", "default"), ("steer_vector", "none"), ("steer_coef", 0.0)):
        if c not in cells.columns:
            cells[c] = default
    if "steer_layer" not in cells.columns:
        cells["steer_layer"] = pd.array([pd.NA] * len(cells), dtype="Int64")
    if "oversight" not in cells.columns:
        if "condition" not in cells.columns:
            raise ValueError("cell table needs an 'oversight' or a 'condition' column")
        cells["oversight"] = np.where(cells["condition"].astype(str) == "training", 1.0, 0.0)
    bad = (cells["k"] < 0) | (cells["k"] > cells["n"])
    if bad.any():
        raise ValueError(f"{int(bad.sum())} cell(s) have k outside [0, n]; e.g. row {cells.index[bad][0]}")
    check_tiers(cells, who="ComplianceGap")
    return cells


@dataclass
class Design:
    """Index arrays that map cells to pairs, settings and queries."""

    pairs: pd.DataFrame          # one row per pair: CONDITION_KEYS, n
    settings: pd.DataFrame       # one row per setting: SETTING_KEYS
    pair_setting: np.ndarray     # setting index of each pair
    pair_model: np.ndarray       # model index of each pair
    models: np.ndarray           # model labels
    queries: np.ndarray          # query labels ("scenario/query_id")
    cell_pair: np.ndarray
    cell_query: np.ndarray
    cell_t: np.ndarray
    cell_n: np.ndarray
    cell_k: np.ndarray


def _codes(frame: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    g = frame.groupby(keys, observed=True, dropna=False, sort=True)
    codes = g.ngroup().to_numpy()
    table = g.size().reset_index()[keys]
    return codes, table


def design(cells: pd.DataFrame) -> Design:
    """Build the index arrays of the model from a cell table (cells with n = 0 are left out)."""
    cells = cells[cells["n"] > 0].reset_index(drop=True)
    if cells.empty:
        raise ValueError("no labelled generations (every cell has n = 0)")
    pair_codes, pairs = _codes(cells, CONDITION_KEYS)
    pairs["n"] = np.bincount(pair_codes, weights=cells["n"].to_numpy(), minlength=len(pairs)).astype(np.int64)
    set_codes, settings = _codes(pairs, SETTING_KEYS)
    qkey = cells["scenario"].astype(str) + "/" + cells["query_id"].astype(str)
    q_codes, q_labels = pd.factorize(qkey, sort=True)
    m_codes, m_labels = pd.factorize(pairs["model"].astype(str), sort=True)
    return Design(pairs=pairs, settings=settings, pair_setting=set_codes, pair_model=m_codes,
                  models=np.asarray(m_labels, dtype=str), queries=np.asarray(q_labels, dtype=str),
                  cell_pair=pair_codes, cell_query=q_codes,
                  cell_t=cells["oversight"].to_numpy(dtype=float),
                  cell_n=cells["n"].to_numpy(dtype=np.int64), cell_k=cells["k"].to_numpy(dtype=np.int64))


def pair_labels(pairs: pd.DataFrame) -> list[str]:
    """Readable labels of the pairs: ``model|scenario|variant|vector|layer|coef``."""
    return ["|".join("" if pd.isna(v) else str(v) for v in row)
            for row in pairs[CONDITION_KEYS].itertuples(index=False)]


def _dense(d: Design):
    """(levels, pairs, queries) arrays of n and k when the cell grid is at least half full, else None."""
    levels, lev = np.unique(d.cell_t, return_inverse=True)
    shape = (len(levels), len(d.pairs), len(d.queries))
    if len(d.cell_n) < 0.5 * np.prod(shape):
        return None
    n = np.zeros(shape, dtype=np.int64)
    k = np.zeros(shape, dtype=np.int64)
    np.add.at(n, (lev, d.cell_pair, d.cell_query), d.cell_n)
    np.add.at(k, (lev, d.cell_pair, d.cell_query), d.cell_k)
    return levels, n, k


@dataclass
class Structure:
    """Which levels the design separates, and how each level is written (decided from the data).

    ``a_*`` are centring weights of the partially non-centred parameterisation
    (Papaspiliopoulos, Roberts & Sköld 2007): a level ``x ~ N(c, τ)`` is sampled as
    ``x̃ ~ N(a·c, τ^a)``, ``x = c + τ^(1-a)·(x̃ - a·c)``, the same distribution for any ``a``;
    ``a = 1`` is the centred form (good when the data pin ``x`` down), ``a = 0`` the
    non-centred one (good when they do not). Each ``a`` is ``τ_q² / (τ_q² + se²)``, the share of
    the element's variance the data can see, with ``se`` its binomial standard error and ``τ_q``
    a low quantile of the level scale's approximate posterior; at the model level, whose scale
    has M − 1 degrees of freedom, the weight that suits its central 90% (see :func:`_weights`).
    """

    model_level: bool        # δ_model: some model has >= 2 settings and some setting >= 2 models
    pair_level: bool         # scatter of the pairs around μ (+ δ): the design leaves residual df
    a_beta: np.ndarray       # per pair (the midpoint b)
    a_gamma: np.ndarray      # per pair
    a_model: np.ndarray      # (b, γ)
    a_u: float
    a_w: float
    scales: dict             # approximate posterior means of the level scales
    crossed: bool = False    # every model has every setting once: the two-way decomposition
    # (b, γ), crossed designs only: the model means of the pairs r = δ + x̄_model, and the
    # model × setting interaction
    a_r: np.ndarray = field(default_factory=lambda: np.zeros(2))
    a_e: np.ndarray = field(default_factory=lambda: np.zeros(2))
    pair_df: int = 0         # residual degrees of freedom of the pair scatter (0 without it)


def _logit_rate(k, n):
    """Smoothed empirical logit and its sampling variance (k + ½)/(n + 1)."""
    p = (k + 0.5) / (n + 1.0)
    return np.log(p / (1 - p)), 1.0 / ((n + 1.0) * p * (1 - p))


def _tier_logits(d: Design, index: np.ndarray, size: int):
    """Per group: midpoint logit (at t = ½), its variance, gap logit (per unit t), its variance."""
    dep = d.cell_t == 0
    out = []
    for mask in (dep, ~dep):
        n = np.bincount(index[mask], weights=d.cell_n[mask], minlength=size)
        k = np.bincount(index[mask], weights=d.cell_k[mask], minlength=size)
        out.append(_logit_rate(k, n))
    nt = np.bincount(index[~dep], weights=d.cell_n[~dep], minlength=size)
    tbar = np.bincount(index[~dep], weights=(d.cell_n * d.cell_t)[~dep], minlength=size) / np.maximum(nt, 1)
    tbar = np.where(tbar > 0, tbar, 1.0)
    (l0, v0), (l1, v1) = out
    h = TIER_MIDPOINT / tbar                      # midpoint = l0 + ½·gap = (1 − h)·l0 + h·l1
    return (1 - h) * l0 + h * l1, (1 - h) ** 2 * v0 + h ** 2 * v1, (l1 - l0) / tbar, (v0 + v1) / tbar ** 2


def _scale_posterior(r: np.ndarray, v: np.ndarray, df: int, prior_sd: float):
    """Approximate posterior of a level's scale τ from residuals ``r`` with noise variances ``v``.

    ``r_i ~ N(0, τ² + v_i)`` with a HalfNormal(``prior_sd``) prior, on a grid; ``df`` residual
    degrees of freedom (the residuals of a fit of ``len(r) - df`` effects). Returns the grid and
    its posterior weights.
    """
    tau = np.linspace(0.0, 4.0 * prior_sd, 401)
    logp = -0.5 * (tau / prior_sd) ** 2
    if df > 0:
        scale = len(r) / df                    # residuals are shrunk by the fitted effects
        tot = tau[:, None] ** 2 + v[None, :]
        logp = logp - 0.5 * (df / len(r)) * np.sum(np.log(tot) + scale * r[None, :] ** 2 / tot, axis=1)
    post = np.exp(logp - logp.max())
    return tau, post / post.sum()


#: Where the tier coding puts zero: the model is written at the midpoint ``t − ½`` of the two
#: tiers (docs/gap.md), so that the pair intercept and the gap are informed independently.
TIER_MIDPOINT = 0.5

#: The lower quantile of a scale's approximate posterior at which the centring weight is taken.
LOW_QUANTILE = 0.05


def _quantile(tau: np.ndarray, post: np.ndarray, q: float) -> float:
    return float(tau[min(np.searchsorted(np.cumsum(post), q), len(tau) - 1)])


def _steadiest_weight(lo: float, hi: float, se2: np.ndarray) -> np.ndarray:
    """Per element, the weight ``a`` whose sampled variable's conditional scale varies least over τ ∈ [lo, hi].

    Given τ, an element with standard error ``se`` has posterior SD ``(1/τ² + 1/se²)^(−½)``, and
    its sampled form ``x̃ = x / τ^(1−a)`` that divided by ``τ^(1−a)``. NUTS meets a funnel where
    this varies over the plausible τ; the weight minimising its range (in logs) over [lo, hi] is
    ``τ²/(τ² + se²)`` when lo = hi, and between the centred and non-centred forms otherwise.
    """
    s = np.geomspace(lo, max(hi, lo * 1.001), 64)[:, None]
    a = np.linspace(0.0, 1.0, 101)[:, None, None]
    log_sd = a * np.log(s)[None] - 0.5 * np.log1p(s[None] ** 2 / se2[None, None, :])
    return a[np.argmin(np.ptp(log_sd, axis=1), axis=0), 0, 0]


#: The quantiles of a scale's approximate posterior over which :func:`_steadiest_weight` looks.
RANGE_QUANTILES = (0.05, 0.95)


def _weights(r: np.ndarray, v: np.ndarray, df: int, prior_sd: float, se2,
             whole_range: bool = False) -> tuple[np.ndarray, float]:
    """Centring weights per element and the posterior mean of the level's scale τ.

    By default ``τ_q² / (τ_q² + se²)`` at ``τ_q`` the :data:`LOW_QUANTILE` of the scale's
    approximate posterior: where small scales are plausible the weight goes toward the
    non-centred form, whose geometry stays good as τ → 0 (the centred one is a funnel there,
    which the sampler meets in the posterior's left tail). ``whole_range``: the weight that
    suits the central 90% of the scale's posterior (:func:`_steadiest_weight`), for the model
    level, whose M − 1 degrees of freedom leave a posterior over orders of magnitude, while its
    elements (means over all of a model's data) are pinned down: at one quantile the weight
    suits one end only, and the other end is a funnel (docs/gap.md).
    """
    tau, post = _scale_posterior(r, v, df, prior_sd)
    se2 = np.atleast_1d(np.asarray(se2, dtype=float))
    if whole_range:
        lo, hi = (max(_quantile(tau, post, q), tau[1]) for q in RANGE_QUANTILES)
        return _steadiest_weight(lo, hi, se2), float(post @ tau)
    tau_q = _quantile(tau, post, LOW_QUANTILE)
    return tau_q ** 2 / (tau_q ** 2 + se2), float(post @ tau)


def _residuals(y: np.ndarray, groups: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Residuals of ``y`` after additive group effects (least squares), and their degrees of freedom."""
    X = np.column_stack([np.ones(len(y))] + [np.eye(g.max() + 1)[g][:, 1:] for g in groups if g.max() > 0])
    coef, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
    return y - X @ coef, len(y) - rank


def structure(d: Design, centred: bool | None = None) -> Structure:
    """The :class:`Structure` of the model for a design: its levels and their centring weights.

    Levels: δ_model only when some model has several settings and some setting several models
    (otherwise δ and the pair scatter, or δ and μ, are the same level written twice); the pair
    scatter only when the pairs outnumber the effects (μ, δ) fitted to them. Weights: each
    level's residuals (empirical logits minus least-squares setting and model effects) give an
    approximate posterior of its scale τ (normal residuals, the model's half-normal prior, on a
    grid), and each element's weight follows from it and the element's binomial standard error
    ``se`` (:func:`_weights`). ``centred`` forces every weight to 1 (True) or 0 (False).
    """
    P, S, M, Q = len(d.pairs), len(d.settings), len(d.models), len(d.queries)
    model_level = M > 1 and P > M and P > S
    pair_level = P > S + (M - 1 if model_level else 0)
    b, vb, g, vg = _tier_logits(d, d.cell_pair, P)
    scales = {}
    groups = [d.pair_setting] + ([d.pair_model] if model_level else [])
    a_pair = []
    for name, y, v in (("tau_midpoint", b, vb), ("tau_gamma", g, vg)):
        r, df = _residuals(y, groups)
        a, scales[name] = _weights(r, v, df, 1.0, v)
        a_pair.append(a)
    a_model, a_r, a_e = np.zeros(2), np.zeros(2), np.zeros(2)
    crossed = model_level and P == M * S
    if model_level:
        per = np.bincount(d.pair_model, minlength=M)
        for j, (y, v, key) in enumerate(((b, vb, "tau_midpoint"), (g, vg, "tau_gamma"))):
            r, _ = _residuals(y, [d.pair_setting])
            rm = np.bincount(d.pair_model, weights=r, minlength=M) / per
            noise = np.bincount(d.pair_model, weights=v, minlength=M) / per ** 2
            se2 = scales[key] ** 2 / per + noise
            w, scales[f"tau_model_{j}"] = _weights(rm - rm.mean(), se2, M - 1, 0.5, np.median(se2), True)
            a_model[j] = w[0]
            if crossed:   # r_m = δ_m + x̄_m: prior scale √(τ_model² + τ²/S), seen through the noise alone
                w, _ = _weights(rm - rm.mean(), noise, M - 1, float(np.sqrt(0.25 + scales[key] ** 2 / S)),
                                np.median(noise), True)
                a_r[j] = w[0]
                a_e[j] = float(np.median(a_pair[j]))
    a_u = a_w = 0.0
    if Q > 1:  # per query, pooled over pairs: its logits' spread beyond the binomial noise
        u0, v0, w0, vw = _tier_logits(d, d.cell_query, Q)
        w, scales["sigma_u"] = _weights(u0 - u0.mean(), v0, Q - 1, 1.0, np.median(v0))
        a_u = float(w[0])
        w, scales["sigma_w"] = _weights(w0 - w0.mean(), vw, Q - 1, 0.5, np.median(vw))
        a_w = float(w[0])
    a_beta, a_gamma = a_pair
    if centred is not None:
        c = 1.0 if centred else 0.0
        a_beta, a_gamma = np.full(P, c), np.full(P, c)
        a_model, a_r, a_e, a_u, a_w = np.full(2, c), np.full(2, c), np.full(2, c), c, c
    pair_df = P - S - (M - 1 if model_level else 0) if pair_level else 0
    return Structure(model_level, pair_level, a_beta, a_gamma, a_model, a_u, a_w, scales, crossed, a_r, a_e,
                     pair_df)


#: Below this many residual degrees of freedom the pair scale's posterior spans orders of
#: magnitude (3 models × 1 variant: 0.013 to 0.84, 5% to 95%) and no centring suits all of it.
FEW_PAIR_DF = 10


def default_target_accept(st: Structure) -> float:
    """NUTS's target acceptance for a :class:`Structure`: 0.95 when the pair scale has fewer than
    :data:`FEW_PAIR_DF` residual degrees of freedom, else 0.9.

    With a handful of pairs the pair scale is barely informed, and whichever centring the
    weights choose is a funnel at one end of its posterior (3 models × 20 queries × 1 variant:
    the divergent transitions start at τ ≈ 2, the upper tail, where the non-centred pair
    effects are pinned to a width se/τ). The smaller step of 0.95 passes that neck (0 divergent
    transitions in 8 × 4,000 draws, against 3 at 0.9; docs/gap.md); these studies are small,
    so it costs seconds. Larger studies keep 0.9, whose longer steps they need for speed.
    """
    return 0.95 if st.pair_level and st.pair_df < FEW_PAIR_DF else 0.9


def _partial(pm, name: str, centre, scale, a, dims):
    """``N(centre, scale)`` written with centring weight ``a`` (see :class:`Structure`)."""
    raw = pm.Normal(name + "_raw", mu=a * centre, sigma=scale ** a, dims=dims)
    return centre + scale ** (1.0 - a) * (raw - a * centre)


def _partial_zerosum(pm, name: str, scale, a, dims):
    """``ZeroSumNormal(scale)`` written with centring weight ``a``, zero-sum along every one of ``dims``."""
    dims = (dims,) if isinstance(dims, str) else tuple(dims)
    raw = pm.ZeroSumNormal(name + "_raw", sigma=scale ** a, dims=dims, n_zerosum_axes=len(dims))
    return pm.Deterministic(name, scale ** (1.0 - a) * raw, dims=dims)


#: The two parameters of a pair in the sampled hierarchy: the midpoint logit b (at t = ½) and the gap γ.
PARAMS = ("midpoint", "gamma")

#: Prior standard deviations of the setting means μ (b, γ), logit scale.
MU_SD = np.array([1.5, 1.0])


def weight_values(st: Structure) -> dict[str, np.ndarray]:
    """The centring weights of a :class:`Structure` by the names ``build_model(shared=True)`` gives their data."""
    return {name: np.asarray(getattr(st, name), dtype=float)
            for name in ("a_beta", "a_gamma", "a_model", "a_r", "a_e", "a_u", "a_w")}


def _centred_within(d: Design, x):
    """``x`` minus the mean of its setting's pairs (a zero-sum deviation within each setting)."""
    n = np.bincount(d.pair_setting, minlength=len(d.settings))
    avg = np.zeros((len(d.settings), len(d.pairs)))
    avg[d.pair_setting, np.arange(len(d.pairs))] = 1.0 / n[d.pair_setting]
    return x - (avg @ x)[d.pair_setting]


def _part_given_sum(var_part, var_rest, total, eps):
    """``x`` drawn from its exact conditional given ``x + y = total``, for independent
    ``x ~ N(0, var_part)`` and ``y ~ N(0, var_rest)``: ``k·total + √(k·var_rest)·eps``,
    ``k = var_part / (var_part + var_rest)``, ``eps ~ N(0, 1)``."""
    import pytensor.tensor as pt
    k = var_part / (var_part + var_rest)
    return k * total + pt.sqrt(k * var_rest) * eps


def _setting_means(pm, d: Design, tau):
    """The setting means μ, sampled through the mean ``m`` of each setting's pairs.

    With ``x_p ~ N(0, τ)`` the pair deviations, ``β_p = μ_s + δ + x_p = m_s + δ + (x_p - x̄_s)``
    with ``m_s = μ_s + x̄_s``. The data pin ``m_s`` down, while μ_s given the pairs has a spread
    of τ/√n_s: sampled directly, μ and τ form a funnel when a setting has few pairs and τ is
    uncertain. So ``m_s ~ N(0, √(σ_μ² + τ²/n_s))`` (μ integrated out) is sampled, and μ from its
    exact conditional, ``μ_s = k·m_s + √(k τ²/n_s)·ε_s``, ``k = σ_μ² / (σ_μ² + τ²/n_s)``,
    ``ε_s ~ N(0, 1)``: the same joint distribution. Returns (m, μ), each (setting, param).
    """
    import pytensor.tensor as pt
    n = np.bincount(d.pair_setting, minlength=len(d.settings)).astype(float)[:, None]
    v = tau[None, :] ** 2 / n                                   # Var(x̄_s), (setting, param)
    m = pm.Normal("m_setting", 0.0, sigma=pt.sqrt(MU_SD ** 2 + v), dims=("setting", "param"))
    eps = pm.Normal("mu_eps", 0.0, 1.0, dims=("setting", "param"))
    mu = pm.Deterministic("mu", _part_given_sum(MU_SD ** 2, v, m, eps), dims=("setting", "param"))
    return m, mu


def _model_deviations(pm, d: Design, st: Structure, name: str, tau_model, weights, j: int):
    """``δ_model`` of one parameter per pair (0 without a model level): shared by all of a model's
    settings, zero-sum over models so that it does not trade off against the setting means μ."""
    if not st.model_level:
        return 0.0
    return _partial_zerosum(pm, f"delta_{name}", tau_model[j], weights["a_model"][j], "model")[d.pair_model]


def _crossed_deviations(pm, d: Design, name: str, tau, tau_model, weights, j: int):
    """``δ_model + (x_p − x̄_setting)`` of one parameter on a complete model × setting grid, per pair.

    With every model in every setting once, the pair deviations ``x ~ N(0, τ)`` split into
    independent parts: setting means (in ``m``, :func:`_setting_means`), model means
    ``x̄_m − x̄ ~ ZeroSumNormal(τ/√S)`` and a model × setting interaction ``e`` (zero-sum over both
    axes, scale τ). The data inform ``r_m = δ_m + x̄_m − x̄`` but not how it splits between δ
    and the pairs, so ``r ~ ZeroSumNormal(√(τ_model² + τ²/S))`` is sampled, and δ from its exact
    conditional ``δ = k·r + √(k·τ²/S)·ε``, ``k = τ_model² / (τ_model² + τ²/S)``, ``ε ~
    ZeroSumNormal(1)``: the same joint distribution, without the ridge along which δ and the
    pairs' model means trade off. Returns ``r_m + e_{m,s}`` per pair.
    """
    import pytensor.tensor as pt
    v = tau ** 2 / len(d.settings)
    r = _partial_zerosum(pm, f"r_{name}", pt.sqrt(tau_model ** 2 + v), weights["a_r"][j], "model")
    eps = pm.ZeroSumNormal(f"delta_{name}_eps", 1.0, dims="model")
    pm.Deterministic(f"delta_{name}", _part_given_sum(tau_model ** 2, v, r, eps), dims="model")
    e = _partial_zerosum(pm, f"e_{name}", tau, weights["a_e"][j], ("model", "setting"))
    return r[d.pair_model] + e[d.pair_model, d.pair_setting]


def build_model(d: Design, centred: bool | None = None, dense: bool | None = None,
                struct: Structure | None = None, shared: bool = False, judge_error=None, label: str = "complied"):
    """The PyMC model (``pm.Model``) of the module docstring for a :class:`Design`.

    The levels and their parameterisation follow the design and the data (:func:`structure`):
    the model deviations δ only when the design separates them from the pairs, the pair scatter
    only when it leaves residual degrees of freedom, and every level partially non-centred with
    the weight the data's information gives it. ``centred`` forces every weight to 1 (True) or
    0 (False). With a pair level, each setting's mean μ is sampled through the mean of its pairs
    (see :func:`_setting_means`). ``dense``: evaluate the likelihood on the full (tier × pair ×
    query) grid (faster when the grid is at least half full; the default then).
    ``shared``: hold the counts ``k`` and the centring weights in ``pm.Data`` (names ``k``,
    ``a_beta``, ``a_gamma``, ``a_model``, ``a_u``, ``a_w``), so that one compiled model can be
    refitted to new counts of the same design (``benchmarks/sbc_gap.py``); with a judge error,
    its Beta parameters too (``se_<label>_ab``, ``sp_<label>_ab``).
    ``judge_error``: a :class:`~afdecomp.JudgeError` of the judge that labelled ``label``; the
    counts are then binomial with the judged rate and β, γ describe the true rates
    (:func:`afdecomp.models.judge_error.judged_potential`).
    """
    import pymc as pm
    st = struct if struct is not None else structure(d, centred)
    grid = _dense(d) if dense in (None, True) else None
    coords = {"pair": pair_labels(d.pairs), "setting": np.arange(len(d.settings)), "model": d.models,
              "param": list(PARAMS), "query": d.queries}
    with pm.Model(coords=coords) as model:
        weights = weight_values(st)
        k_obs = grid[2] if grid is not None else d.cell_k
        if shared:
            weights = {name: pm.Data(name, value) for name, value in weights.items()}
            k_obs = pm.Data("k", k_obs)
        tau_m = pm.HalfNormal("tau_model", 0.5, dims="param") if st.model_level else None
        if not st.pair_level:
            mu = pm.Normal("mu", mu=0.0, sigma=MU_SD, dims=("setting", "param"))
            mid, gamma = (mu[d.pair_setting, j] + _model_deviations(pm, d, st, p, tau_m, weights, j)
                          for j, p in enumerate(PARAMS))
        else:
            # the pair scales: standard deviations of the pairs' (b, γ) around μ + δ
            tau = pm.HalfNormal("chol_stds", 1.0, dims="param")
            m, mu = _setting_means(pm, d, tau)
            if st.crossed:
                mid, gamma = (m[d.pair_setting, j] + _crossed_deviations(pm, d, p, tau[j], tau_m[j], weights, j)
                              for j, p in enumerate(PARAMS))
            else:
                delta = [_model_deviations(pm, d, st, p, tau_m, weights, j) for j, p in enumerate(PARAMS)]
                x_b = _partial(pm, "midpoint", 0.0, tau[0], weights["a_beta"], "pair")
                x_g = _partial(pm, "gamma", 0.0, tau[1], weights["a_gamma"], "pair")
                mid = m[d.pair_setting, 0] + delta[0] + _centred_within(d, x_b)
                gamma = m[d.pair_setting, 1] + delta[1] + _centred_within(d, x_g)
        gamma = pm.Deterministic("gamma", gamma, dims="pair")
        pm.Deterministic("beta", mid - TIER_MIDPOINT * gamma, dims="pair")   # the deployment logit
        if len(d.queries) > 1:
            sigma_u = pm.HalfNormal("sigma_u", 1.0)
            sigma_w = pm.HalfNormal("sigma_w", 0.5)
            u_mid = _partial_zerosum(pm, "u_midpoint", sigma_u, weights["a_u"], "query")
            w = _partial_zerosum(pm, "w", sigma_w, weights["a_w"], "query")
            pm.Deterministic("u", u_mid - TIER_MIDPOINT * w, dims="query")
        else:
            u_mid = w = np.zeros(1)
        # the likelihood in the midpoint coding (the same η as gap_logit(beta, gamma, u, w, t))
        if grid is not None:
            levels, n, _ = grid
            eta = gap_logit(mid[None, :, None], gamma[None, :, None], u_mid[None, None, :], w[None, None, :],
                            levels[:, None, None] - TIER_MIDPOINT)
            if judge_error is None:
                pm.Potential("loglik", binomial_potential(k_obs, n, eta))  # empty grid cells (n = 0) add nothing
            else:
                pm.Potential("loglik", judged_potential(k_obs, n, eta, judge_error, label, shared))
        else:
            eta = gap_logit(mid[d.cell_pair], gamma[d.cell_pair], u_mid[d.cell_query], w[d.cell_query],
                            d.cell_t - TIER_MIDPOINT)
            if judge_error is None:
                pm.Potential("loglik", binomial_potential(k_obs, d.cell_n, eta))
            else:
                pm.Potential("loglik", judged_potential(k_obs, d.cell_n, eta, judge_error, label, shared))
    return model


class ComplianceGap:
    """Hierarchical compliance-gap estimator (docs/gap.md, docs/concepts.md).

    Parameters
    ----------
    draws, tune, chains : int, default 1000, 300, 4
        NUTS draws and tuning steps per chain, and the number of chains. Four chains, because
        R-hat compares chains (with 2 it is a weak check) and nutpie runs them on as many cores
        as there are; 300 tuning steps, nutpie's own default (its mass-matrix adaptation settles
        that fast on every study of ``docs/gap.md``). Draws per chain are what R-hat needs: its
        expected excess over 1 falls with each chain's own ESS, so short chains fail R-hat <= 1.01
        however many there are (500 draws, 12 chains: R-hat 1.013 at bulk ESS 880, measured).
    random_seed : int, optional
        Same seed, same data, same sampler -> the same posterior.
    sampler : {"auto", "nutpie", "pymc", "numpyro"}
        NUTS backend; ``"auto"`` is :func:`afdecomp.models._sampling.default_sampler` (nutpie when
        installed, measured fastest here). ``"numpyro"`` needs the ``[jax]`` extra.
    hdi_prob : float, default 0.94
        Probability mass of the reported highest-density intervals.
    progress : bool, optional
        Show sampling progress; default: on a terminal, or for a fit of >= 1,000 cells.
    target_accept : float, optional
        NUTS's target acceptance; default :func:`default_target_accept` of the design's
        structure (0.95 with fewer than 10 residual degrees of freedom for the pair scale, else
        0.9). ``idata.attrs["target_accept"]`` records it.
    label : str, default "complied"
        The boolean column of the tidy table whose rate and gap are fitted (``"af_reasoning"``,
        ``"partial"``, ... work too); ``fit``'s ``judge_error`` must be keyed by it.
    max_chains : int, optional
        When the first ``chains`` chains miss the convergence thresholds (R-hat <= 1.01, bulk and
        tail ESS >= 400), batches of ``chains`` more independent chains are added until they are
        met or the fit has ``max_chains`` chains (default ``3 × chains``; ``chains`` turns it
        off). ``idata.attrs["batches"]`` says how many were run.

    Examples
    --------
    >>> res = ComplianceGap(draws=500, random_seed=0).fit(df)   # doctest: +SKIP
    >>> res.summary()                                            # doctest: +SKIP
    """

    def __init__(self, draws: int = 1000, tune: int = 300, chains: int = 4, random_seed: int | None = None,
                 sampler: str = "auto", hdi_prob: float = 0.94, progress: bool | None = None,
                 target_accept: float | None = None, label: str = "complied", max_chains: int | None = None):
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")
        if not 0 < hdi_prob < 1:
            raise ValueError(f"hdi_prob must be in (0, 1), got {hdi_prob}")
        self.draws, self.tune, self.chains = int(draws), int(tune), int(chains)
        self.random_seed = random_seed
        self.sampler = sampler
        self.hdi_prob = hdi_prob
        self.progress = progress
        self.target_accept = target_accept
        self.label = label
        self.max_chains = max_chains

    def _sample(self, model, progress: bool, n_cells: int, target_accept: float):
        from ..results import gap_checked_parameters, meets_thresholds

        def converged(idata):
            return meets_thresholds(idata, gap_checked_parameters(idata["posterior"], [self.label]))
        idata = sample(model, draws=self.draws, tune=self.tune, chains=self.chains,
                       random_seed=self.random_seed, sampler=self.sampler,
                       target_accept=target_accept, progress=progress, n_cells=n_cells,
                       converged=converged, max_chains=self.max_chains)
        return idata, idata.attrs["sampler"]

    def fit(self, data: pd.DataFrame, judge_error: dict | None = None) -> GapResults:
        """Fit to the tidy table or to its binomial cells; return :class:`GapResults`.

        ``judge_error={label: JudgeError}`` (or a ``JudgeValidation``) corrects for the judge
        that labelled the fitted label (docs/judge_error.md): the rates and gaps are then true
        rates, and the fit records the correction (``idata.attrs["judge_error"]``, ``summary``).
        A key other than the fitted label is an error.

        When the tidy table has several seeds (``sample``), the papers' seed-SEM estimate is
        kept alongside for the figures.
        """
        from ..results import GapResults
        judge = resolve_judge_error(judge_error, self.label, "ComplianceGap.fit")
        cells = as_cells(data, self.label)
        d = design(cells)
        progress = self.progress if self.progress is not None else sys.stderr.isatty() or len(d.cell_n) >= 1000
        st = structure(d)
        model = build_model(d, struct=st, judge_error=judge.get(self.label), label=self.label)
        t0 = time.perf_counter()
        target_accept = self.target_accept if self.target_accept is not None else default_target_accept(st)
        idata, sampler = self._sample(model, progress, len(d.cell_n), target_accept)
        seconds = time.perf_counter() - t0
        seed = None
        if self.label in data.columns and "sample" in data.columns and data["sample"].nunique() > 1:
            seed = seed_sem_gap(data, self.label)
        idata = attach(idata, d, hdi_prob=self.hdi_prob, seed_table=seed, random_seed=self.random_seed,
                       attrs={"sampler": sampler, "sampling_seconds": seconds, "draws": self.draws,
                              "judge_error": judge_attrs(judge),
                              "tune": self.tune, "chains": idata.attrs["chains"], "label": self.label,
                              "target_accept": target_accept,
                              "levels": "+".join(["setting"] + ["model"] * st.model_level + ["pair"] * st.pair_level)})
        return GapResults(idata)


# ----------------------------------------------------------------------------- derived quantities
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def derived_draws(beta: np.ndarray, gamma: np.ndarray, u: np.ndarray, w: np.ndarray,
                  pq_pair: np.ndarray, pq_query: np.ndarray, n_pairs: int, chunk: int = 200):
    """Per draw and pair: rates at t = 1 and t = 0 averaged over the pair's observed queries.

    ``beta, gamma`` are (S, P), ``u, w`` (S, Q); ``(pq_pair, pq_query)`` list each observed
    (pair, query) once. Returns ``rate_training, rate_deployment`` as (S, P).
    """
    from scipy import sparse
    counts = np.bincount(pq_pair, minlength=n_pairs).astype(float)
    avg = sparse.csr_matrix((1.0 / counts[pq_pair], (np.arange(len(pq_pair)), pq_pair)),
                            shape=(len(pq_pair), n_pairs))
    S = beta.shape[0]
    rt = np.empty((S, n_pairs))
    rd = np.empty((S, n_pairs))
    for s0 in range(0, S, chunk):
        sl = slice(s0, s0 + chunk)
        b, g, uq, wq = beta[sl][:, pq_pair], gamma[sl][:, pq_pair], u[sl][:, pq_query], w[sl][:, pq_query]
        e0, e1 = gap_logit(b, g, uq, wq, 0.0), gap_logit(b, g, uq, wq, 1.0)
        rd[sl] = (avg.T @ _sigmoid(e0).T).T
        rt[sl] = (avg.T @ _sigmoid(e1).T).T
    return rt, rd


def _replicated_gap(d: Design, beta, gamma, u, w, rng, max_draws: int = 400, judge=None):
    """Posterior-predictive pooled gap per pair (k_rep ~ Binomial(n, p) per cell), thinned draws.

    ``judge``: per-draw ``(se, sp)`` of a judge-corrected fit; the replicated counts are then
    judged ones (rate ``se·p + (1 − sp)·(1 − p)``), comparable with the observed gap."""
    S = beta.shape[0]
    idx = np.linspace(0, S - 1, min(S, max_draws)).round().astype(int)
    train = d.cell_t > 0
    n_tr = np.bincount(d.cell_pair[train], weights=d.cell_n[train], minlength=len(d.pairs))
    n_de = np.bincount(d.cell_pair[~train], weights=d.cell_n[~train], minlength=len(d.pairs))
    out = np.empty((len(idx), len(d.pairs)))
    for j, s in enumerate(idx):
        eta = gap_logit(beta[s, d.cell_pair], gamma[s, d.cell_pair], u[s, d.cell_query], w[s, d.cell_query], d.cell_t)
        p = _sigmoid(eta) if judge is None else np.exp(observed_log_probs(eta, judge[0][s], judge[1][s])[0])
        k = rng.binomial(d.cell_n, p)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[j] = (np.bincount(d.cell_pair[train], weights=k[train], minlength=len(d.pairs)) / n_tr
                      - np.bincount(d.cell_pair[~train], weights=k[~train], minlength=len(d.pairs)) / n_de)
    return idx, out


def observed_gap(d: Design) -> np.ndarray:
    """Pooled observed gap per pair: k/n in training minus k/n in deployment."""
    train = d.cell_t > 0
    P = len(d.pairs)

    def rate(mask):
        with np.errstate(invalid="ignore", divide="ignore"):
            return (np.bincount(d.cell_pair[mask], weights=d.cell_k[mask], minlength=P)
                    / np.bincount(d.cell_pair[mask], weights=d.cell_n[mask], minlength=P))
    return rate(train) - rate(~train)


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def attach(idata, d: Design, *, hdi_prob: float, seed_table: pd.DataFrame | None, random_seed=None,
           attrs: dict | None = None):
    """Add the derived rates and gaps, the design and a posterior-predictive check to ``idata``."""
    post = _arviz.group(idata, "posterior")
    C, D = post.sizes["chain"], post.sizes["draw"]
    P, Q = len(d.pairs), len(d.queries)
    beta = _flat(post["beta"].values)
    gamma = _flat(post["gamma"].values)
    u = _flat(post["u"].values) if "u" in post else np.zeros((C * D, Q))
    w = _flat(post["w"].values) if "w" in post else np.zeros((C * D, Q))
    pq = np.unique(np.stack([d.cell_pair, d.cell_query], axis=1), axis=0)
    rt, rd = derived_draws(beta, gamma, u, w, pq[:, 0], pq[:, 1], P)
    dims = ("chain", "draw", "pair")
    post = post.assign(rate_training=(dims, rt.reshape(C, D, P)),
                       rate_deployment=(dims, rd.reshape(C, D, P)),
                       gap=(dims, (rt - rd).reshape(C, D, P)))
    _arviz.set_group(idata, "posterior", post)

    rng = np.random.default_rng(None if random_seed is None else [int(random_seed), 1])
    idx, rep = _replicated_gap(d, beta, gamma, u, w, rng, judge=judge_draws(attrs or {}, post))
    _arviz.set_group(idata, "posterior_predictive", xr.Dataset(
        {"gap_rep": (("sample", "pair"), rep)}, coords={"sample": idx, "pair": post["pair"].values}))

    pairs = d.pairs
    const = {
        "cell_pair": ("cell", d.cell_pair), "cell_query": ("cell", d.cell_query),
        "cell_t": ("cell", d.cell_t), "cell_n": ("cell", d.cell_n),
        "pair_n": ("pair", pairs["n"].to_numpy(dtype=np.int64)),
        "pair_setting": ("pair", d.pair_setting),
        "gap_obs": ("pair", observed_gap(d)),
    }
    for c in CONDITION_KEYS:
        if c == "steer_layer":
            const["key_" + c] = ("pair", pd.to_numeric(pairs[c]).astype("Float64").to_numpy(dtype=float, na_value=np.nan))
        elif c == "steer_coef":
            const["key_" + c] = ("pair", pairs[c].to_numpy(dtype=float))
        else:
            const["key_" + c] = ("pair", pairs[c].astype(str).to_numpy(dtype=str))
    if seed_table is not None:
        st = seed_table.copy()
        st["steer_layer"] = pd.to_numeric(st["steer_layer"]).astype("Float64")
        left = pairs[CONDITION_KEYS].copy()
        left["steer_layer"] = pd.to_numeric(left["steer_layer"]).astype("Float64")
        for c in CONDITION_KEYS:
            if c not in ("steer_layer", "steer_coef"):
                left[c] = left[c].astype(str)
                st[c] = st[c].astype(str)
        m = left.merge(st[CONDITION_KEYS + ["gap", "gap_sem"]], on=CONDITION_KEYS, how="left")
        const["seed_gap"] = ("pair", m["gap"].to_numpy(dtype=float))
        const["seed_gap_sem"] = ("pair", m["gap_sem"].to_numpy(dtype=float))
    _arviz.set_group(idata, "constant_data", xr.Dataset(const, coords={"pair": post["pair"].values,
                                                                        "query": d.queries}))
    _arviz.set_group(idata, "observed_data", xr.Dataset({"k": ("cell", d.cell_k)}))
    all_attrs = {"afdecomp_model": "ComplianceGap", "hdi_prob": float(hdi_prob),
                 "random_seed": -1 if random_seed is None else int(random_seed)}
    all_attrs.update({k: v for k, v in (attrs or {}).items() if v is not None})
    idata.attrs.update(all_attrs)
    return idata
