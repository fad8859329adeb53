"""A fast approximate fit of the gap model for planning sweeps and previews (``method="fast"``).

The likelihood is :class:`~afdecomp.ComplianceGap`'s: each binomial cell of pair p, query q and
tier t has ``η = b_p + v_q + (t − ½)(γ_p + w_q)`` (the midpoint coding, docs/gap.md), with
query effects ``v_q ~ N(0, τ_u²)`` and ``w_q ~ N(0, τ_w²)`` shared by every pair.

What is approximated (docs/planning.md, "The fast method"):

- the pairs' ``(b_p, γ_p)`` get independent ``N(0, PAIR_SD²)`` priors (the marginal prior of one
  pair's effects under the gap model's hierarchy, ``MU_SD² + 1``) instead of the hierarchy that
  pools them across models and settings;
- for each ``(τ_u, τ_w)`` on a grid, the conditional posterior of ``x = (b, γ, v, w)`` is the
  Gaussian at its mode (Newton's method; the curvature is the exact Hessian of a concave
  log-density), and the grid points are weighted by the Laplace approximation of
  ``p(y | τ) p(τ)`` — the integrated nested Laplace idea (Rue, Martino & Chopin 2009) with a
  plain grid over the two scales;
- draws: a grid point by its weight, then ``x`` from its Gaussian; rates and gaps are averaged
  over each pair's observed queries as in the NUTS fit (:func:`~afdecomp.models.gap.derived_draws`).

Pairs and queries couple only through the cells, so the Hessian has two block-diagonal parts;
the solve eliminates the larger side (2 × 2 blocks) and factors a dense matrix of the smaller
one: cost O(cells + min(P, Q)² · max(P, Q)) per Newton step. Its calibration against NUTS on
planning studies (coverage, bias, time) is measured by ``benchmarks/bench_plan.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from .._arviz import hdi
from .baseline import CONDITION_KEYS
from .gap import MU_SD, TIER_MIDPOINT, as_cells, derived_draws, design

#: Prior SD of a pair's (midpoint, gap) on the logit scale: the gap model's setting mean
#: (``MU_SD``) plus a pair deviation whose scale has a HalfNormal(1) prior (E τ² = 1).
PAIR_SD = np.sqrt(MU_SD ** 2 + 1.0)

#: HalfNormal prior scales of the query intercept and query slope SDs (as in the gap model).
QUERY_SCALE_PRIOR = np.array([1.0, 0.5])

#: The grid of log τ: a coarse pass over [log 0.01, log 4], then a fine one where the mass is.
LOG_TAU_RANGE = (np.log(0.01), np.log(4.0))
COARSE, FINE = 9, 9

COLUMNS = CONDITION_KEYS + ["rate_training", "rate_deployment", "gap", "gap_lo", "gap_hi", "n", "gap_se"]


def _inv2(m: np.ndarray) -> np.ndarray:
    """Inverses of a stack of 2 × 2 matrices (..., 2, 2)."""
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    det = a * d - b * c
    out = np.empty_like(m)
    out[..., 0, 0], out[..., 0, 1], out[..., 1, 0], out[..., 1, 1] = d / det, -b / det, -c / det, a / det
    return out


def _logdet2(m: np.ndarray) -> np.ndarray:
    return np.log(m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0])


class _Cells:
    """The cells as index arrays, and the sums the Newton steps need."""

    def __init__(self, cell_pair, cell_query, t, n, k, P, Q):
        self.P, self.Q = P, Q
        self.cp, self.cq = cell_pair, cell_query
        self.c = np.asarray(t, dtype=float) - TIER_MIDPOINT
        self.n, self.k = np.asarray(n, dtype=float), np.asarray(k, dtype=float)
        self.pq = cell_pair * Q + cell_query
        self.small_is_pairs = P <= Q

    def eta(self, x_pair: np.ndarray, x_query: np.ndarray) -> np.ndarray:
        return (x_pair[self.cp, 0] + x_query[self.cq, 0]
                + self.c * (x_pair[self.cp, 1] + x_query[self.cq, 1]))

    def loglik(self, eta: np.ndarray) -> float:
        # k log p + (n − k) log(1 − p), with log(1 + e^η) computed stably
        return float(np.sum(self.k * eta - self.n * np.logaddexp(0.0, eta)))

    def _sum2(self, idx: np.ndarray, v: np.ndarray, size: int) -> np.ndarray:
        """Per group: (Σ v, Σ v·c) as (size, 2)."""
        out = np.empty((size, 2))
        out[:, 0] = np.bincount(idx, v, size)
        out[:, 1] = np.bincount(idx, v * self.c, size)
        return out

    def _sum22(self, idx: np.ndarray, h: np.ndarray, size: int) -> np.ndarray:
        """Per group: Σ h·[[1, c], [c, c²]] as (size, 2, 2)."""
        hc = h * self.c
        out = np.empty((size, 2, 2))
        out[:, 0, 0] = np.bincount(idx, h, size)
        out[:, 0, 1] = out[:, 1, 0] = np.bincount(idx, hc, size)
        out[:, 1, 1] = np.bincount(idx, hc * self.c, size)
        return out

    def pieces(self, x_pair, x_query, prec_pair, prec_query):
        """Log joint density (without constants of θ-free terms), gradients and Hessian blocks."""
        eta = self.eta(x_pair, x_query)
        p = expit(eta)
        r = self.k - self.n * p
        h = self.n * p * (1.0 - p)
        g_pair = self._sum2(self.cp, r, self.P) - x_pair * prec_pair
        g_query = self._sum2(self.cq, r, self.Q) - x_query * prec_query
        A = self._sum22(self.cp, h, self.P) + prec_pair[..., None] * np.eye(2)
        D = self._sum22(self.cq, h, self.Q) + prec_query[..., None] * np.eye(2)
        B = self._sum22(self.pq, h, self.P * self.Q).reshape(self.P, self.Q, 2, 2)
        lj = (self.loglik(eta) - 0.5 * np.sum(x_pair ** 2 * prec_pair)
              - 0.5 * np.sum(x_query ** 2 * prec_query))
        return lj, g_pair, g_query, A, D, B


def _flat(B: np.ndarray) -> np.ndarray:
    """(n, m, 2, 2) blocks as one (2n, 2m) matrix: row (p, i), column (q, j) holds B[p, q, i, j]."""
    n, m = B.shape[:2]
    return B.transpose(0, 2, 1, 3).reshape(2 * n, 2 * m)


def _by_size(cells: _Cells, pair_part, query_part) -> tuple:
    """(the dense side's part, the eliminated side's part): pairs are the dense side unless
    there are more pairs than queries. Swapping twice is the identity, so this also maps back."""
    return (pair_part, query_part) if cells.small_is_pairs else (query_part, pair_part)


def _factor(cells: _Cells, A, D, B):
    """The Hessian H = [[A, B], [Bᵀ, D]] (both diagonal parts made of 2 × 2 blocks), factored by
    eliminating the larger side's blocks: with D that side, the Schur complement
    S = A − B D⁻¹ Bᵀ is a dense matrix of the smaller side, and log|H| = Σ log|D_q| + log|S|.

    Returns the eliminated blocks' inverses D⁻¹, B as one (2n, 2m) matrix, B D⁻¹ likewise, the
    Cholesky factor of S, and log|H|."""
    As, Ds = _by_size(cells, A, D)
    Bs = B if cells.small_is_pairs else B.transpose(1, 0, 3, 2)
    n = As.shape[0]
    Dinv = _inv2(Ds)
    Bf = _flat(Bs)                                        # (2n, 2m)
    BDf = _flat(np.matmul(Bs, Dinv[None]))                # B D⁻¹, blockwise
    S = -BDf @ Bf.T
    S.reshape(n, 2, n, 2)[np.arange(n), :, np.arange(n), :] += As
    L = np.linalg.cholesky(S)
    logdet = float(np.sum(_logdet2(Ds)) + 2.0 * np.sum(np.log(np.diag(L))))
    return Dinv, Bf, BDf, L, logdet


def _newton_step(cells: _Cells, g_pair, g_query, A, D, B):
    """Solve H δ = g through :func:`_factor`: δA = S⁻¹(gA − B D⁻¹ gD), δD = D⁻¹(gD − Bᵀ δA).
    Returns (δ_pair, δ_query) and log|H|."""
    Dinv, Bf, BDf, L, logdet = _factor(cells, A, D, B)
    gA, gD = _by_size(cells, g_pair, g_query)
    rhs = gA.ravel() - BDf @ gD.ravel()
    dA = np.linalg.solve(L.T, np.linalg.solve(L, rhs)).reshape(-1, 2)
    dD = np.matmul(Dinv, (gD - (Bf.T @ dA.ravel()).reshape(-1, 2))[..., None])[..., 0]
    return _by_size(cells, dA, dD), logdet


def _mode(cells: _Cells, x_pair, x_query, prec_pair, prec_query, tol: float = 1e-8, max_iter: int = 50):
    """Newton's method with step halving on the (strictly concave) log joint density.
    Returns the mode, the log joint density there and log|H| there."""
    lj, gp, gq, A, D, B = cells.pieces(x_pair, x_query, prec_pair, prec_query)
    for _ in range(max_iter):
        (dp, dq), _ = _newton_step(cells, gp, gq, A, D, B)
        step = 1.0
        while True:
            xp, xq = x_pair + step * dp, x_query + step * dq
            new = cells.pieces(xp, xq, prec_pair, prec_query)
            if new[0] >= lj - 1e-10 or step < 1e-6:
                break
            step /= 2
        x_pair, x_query = xp, xq
        lj, gp, gq, A, D, B = new
        if max(np.max(np.abs(dp)), np.max(np.abs(dq))) * step < tol:
            break
    return x_pair, x_query, lj, _factor(cells, A, D, B)[-1]


def _log_hyperprior(log_tau: np.ndarray) -> float:
    """log p(log τ) for HalfNormal priors on τ (the Jacobian of the log included)."""
    s = QUERY_SCALE_PRIOR
    tau = np.exp(log_tau)
    return float(np.sum(np.log(2.0) - 0.5 * np.log(2 * np.pi * s ** 2) - tau ** 2 / (2 * s ** 2) + log_tau))


class _Point:
    """One grid point of log τ: the conditional mode of x there and log p(log τ | y) (unnormalised)."""

    __slots__ = ("log_tau", "x_pair", "x_query", "logpost")


def _precisions(cells: _Cells, log_tau) -> tuple[np.ndarray, np.ndarray]:
    """Prior precisions of the pairs' and the queries' effects at log τ."""
    return (np.broadcast_to(1.0 / PAIR_SD ** 2, (cells.P, 2)),
            np.broadcast_to(np.exp(-2.0 * np.asarray(log_tau)), (cells.Q, 2)))


def _evaluate(cells: _Cells, log_tau, start):
    x_pair, x_query, lj, logdet = _mode(cells, *start, *_precisions(cells, log_tau))
    # Laplace: log p(y | τ) ≈ log p(y, x̂ | τ) + (d/2) log 2π − ½ log|H|; the Gaussian priors'
    # normalising constants depend on τ (the d/2 log 2π terms cancel against theirs)
    lognorm = (-np.sum(np.log(PAIR_SD)) * cells.P - cells.Q * float(np.sum(log_tau)))
    pt = _Point()
    pt.log_tau, pt.x_pair, pt.x_query = np.asarray(log_tau, float), x_pair, x_query
    pt.logpost = lj + lognorm - 0.5 * logdet + _log_hyperprior(np.asarray(log_tau))
    return pt


def _weights(pts: list[_Point]) -> np.ndarray:
    """The grid points' posterior weights (they sum to 1)."""
    lp = np.array([p.logpost for p in pts])
    w = np.exp(lp - lp.max())
    return w / w.sum()


def _grid(cells: _Cells, lo: np.ndarray, hi: np.ndarray, size: int, start) -> list[_Point]:
    """Laplace evaluations on a size × size grid of log τ (a snake walk, so each warm-starts the next)."""
    a, b = np.linspace(lo[0], hi[0], size), np.linspace(lo[1], hi[1], size)
    pts = []
    for i, x in enumerate(a):
        for y in (b if i % 2 == 0 else b[::-1]):
            pt = _evaluate(cells, (x, y), start)
            start = (pt.x_pair, pt.x_query)
            pts.append(pt)
    return pts


def _draws(cells: _Cells, pts: list[_Point], n_draws: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Draws of x from the mixture of the grid points' Gaussians, weighted by the posterior of τ.

    The Hessian is factored again at the points that receive draws (keeping every point's
    factors would hold a pairs × queries block per grid point)."""
    counts = rng.multinomial(n_draws, _weights(pts))
    xp_all, xq_all = [], []
    for pt, m in zip(pts, counts, strict=True):
        if m == 0:
            continue
        *_, A, D, B = cells.pieces(pt.x_pair, pt.x_query, *_precisions(cells, pt.log_tau))
        Dinv, Bf, _, L, _ = _factor(cells, A, D, B)
        mode_a, mode_d = _by_size(cells, pt.x_pair, pt.x_query)
        dA = np.linalg.solve(L.T, rng.standard_normal((m, L.shape[0])).T).T    # N(0, S⁻¹), (m, 2n)
        # the eliminated side given the dense one: mean x̂ − D⁻¹Bᵀ(δA), covariance D⁻¹
        shift = (dA @ Bf).reshape(m, -1, 2)                                    # Bᵀ δA per draw
        mean_shift = -np.matmul(Dinv[None], shift[..., None])[..., 0]
        noise = np.matmul(np.linalg.cholesky(Dinv)[None], rng.standard_normal((m, Dinv.shape[0], 2))[..., None])[..., 0]
        xp, xq = _by_size(cells, mode_a[None] + dA.reshape(m, -1, 2), mode_d[None] + mean_shift + noise)
        xp_all.append(xp)
        xq_all.append(xq)
    return np.concatenate(xp_all), np.concatenate(xq_all)


def laplace_draws(data: pd.DataFrame, label: str = "complied", *, draws: int = 2000, seed=None) -> dict:
    """Approximate posterior draws of the gap model's per-pair rates (the fast method).

    Parameters
    ----------
    data : DataFrame
        The tidy table or its binomial cells, as :class:`~afdecomp.ComplianceGap` takes them
        (a condition without both tiers raises, naming it).
    label : str
        The boolean column whose rate is compared.
    draws : int, default 2000
        Draws from the approximate posterior.
    seed : int, optional
        Seed of the draws (the grid and the modes are deterministic).

    Returns
    -------
    dict
        ``pairs`` (one row per pair: the condition keys and ``n``), ``rate_training`` and
        ``rate_deployment`` (draws × pairs), and ``tau`` (the posterior mean of ``τ_u, τ_w``).
    """
    d = design(as_cells(data, label))
    P, Q = len(d.pairs), len(d.queries)
    cl = _Cells(d.cell_pair, d.cell_query, d.cell_t, d.cell_n, d.cell_k, P, Q)
    start = (np.zeros((P, 2)), np.zeros((Q, 2)))
    lo, hi = np.full(2, LOG_TAU_RANGE[0]), np.full(2, LOG_TAU_RANGE[1])
    coarse = _grid(cl, lo, hi, COARSE, start)
    lp = np.array([p.logpost for p in coarse])
    keep = np.array([p.log_tau for p in coarse])[lp > lp.max() - 8.0]
    step = (hi - lo) / (COARSE - 1)
    flo, fhi = np.maximum(keep.min(0) - step, lo), np.minimum(keep.max(0) + step, hi)
    best = coarse[int(np.argmax(lp))]
    fine = _grid(cl, flo, fhi, FINE, (best.x_pair, best.x_query))
    rng = np.random.default_rng(seed)
    xp, xq = _draws(cl, fine, draws, rng)
    # deployment-scale β = b − γ/2 and u = v − w/2, as derived_draws takes them
    beta, gamma = xp[..., 0] - TIER_MIDPOINT * xp[..., 1], xp[..., 1]
    u, w = xq[..., 0] - TIER_MIDPOINT * xq[..., 1], xq[..., 1]
    pq = np.unique(np.stack([d.cell_pair, d.cell_query], 1), axis=0)
    rt, rd = derived_draws(beta, gamma, u, w, pq[:, 0], pq[:, 1], P)
    tau = _weights(fine) @ np.exp(np.array([p.log_tau for p in fine]))
    return {"pairs": d.pairs, "rate_training": rt, "rate_deployment": rd, "tau": tau}


def laplace_gap(data: pd.DataFrame, label: str = "complied", *, ci_prob: float = 0.94,
                draws: int = 2000, seed=None) -> pd.DataFrame:
    """Compliance gap per condition from the fast (Laplace) approximation of the gap model.

    A preview and the planning sweeps' estimator (``afd.plan(..., method="fast")``): a quarter
    of a second where NUTS takes 16 s on 3 models × 100 queries (benchmarks/bench_plan.py). NUTS (:class:`~afdecomp.ComplianceGap`) stays the
    estimator for inference; docs/planning.md gives this method's coverage and bias against it.

    Parameters
    ----------
    data : DataFrame
        The tidy table or its binomial cells.
    label : str
        The boolean column whose rate is compared.
    ci_prob : float, default 0.94
        Probability of the highest-density intervals.
    draws : int, default 2000
        Draws from the approximate posterior.
    seed : int, optional
        Seed of the draws.

    Returns
    -------
    DataFrame
        model, scenario, variant, steer_vector, steer_layer, steer_coef, rate_training,
        rate_deployment, gap (posterior means), gap_lo, gap_hi (HDI), n and ``gap_se`` (posterior
        SD): the columns of :func:`afdecomp.glm_gap`.
    """
    fit = laplace_draws(data, label, draws=draws, seed=seed)
    gap = fit["rate_training"] - fit["rate_deployment"]
    lo, hi = hdi(gap.T, ci_prob)
    out = fit["pairs"].copy()
    out["rate_training"] = fit["rate_training"].mean(0)
    out["rate_deployment"] = fit["rate_deployment"].mean(0)
    out["gap"] = gap.mean(0)
    out["gap_lo"], out["gap_hi"] = lo, hi
    out["gap_se"] = gap.std(0, ddof=1)
    out["steer_layer"] = pd.array(out["steer_layer"], dtype="Int64")
    return out[COLUMNS].reset_index(drop=True)
