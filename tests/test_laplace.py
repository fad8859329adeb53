"""Tests of afdecomp.models.laplace: the fast (Laplace) approximation of the gap model."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import afdecomp as afd
from afdecomp.models.gap import as_cells, design
from afdecomp.models.laplace import (
    COLUMNS,
    PAIR_SD,
    _Cells,
    _draws,
    _evaluate,
    _mode,
    _newton_step,
    laplace_gap,
)
from afdecomp.planning import replicate_cells, truth_table


def _cells(n_models: int, n_queries: int, seed: int = 0) -> pd.DataFrame:
    t = truth_table({f"m{i}": {"gap": 0.05 * i, "deployment_rate": 0.3, "query_sd": 0.8} for i in range(n_models)})
    return replicate_cells({"n_queries": n_queries, "n_samples": 4}, t, seed)


def _dense(cl: _Cells, A, D, B) -> np.ndarray:
    """The full Hessian [[A, B], [Bᵀ, D]] written out, pairs first then queries."""
    P, Q = cl.P, cl.Q
    H = np.zeros((2 * (P + Q), 2 * (P + Q)))
    for p in range(P):
        H[2 * p:2 * p + 2, 2 * p:2 * p + 2] = A[p]
        for q in range(Q):
            H[2 * p:2 * p + 2, 2 * (P + q):2 * (P + q) + 2] = B[p, q]
            H[2 * (P + q):2 * (P + q) + 2, 2 * p:2 * p + 2] = B[p, q].T
    for q in range(Q):
        H[2 * (P + q):2 * (P + q) + 2, 2 * (P + q):2 * (P + q) + 2] = D[q]
    return H


@pytest.mark.parametrize("n_models, n_queries", [(2, 7), (9, 3)])   # queries eliminated; pairs eliminated
def test_newton_step_and_log_determinant_equal_the_dense_solve(n_models, n_queries):
    d = design(as_cells(_cells(n_models, n_queries)))
    P, Q = len(d.pairs), len(d.queries)
    cl = _Cells(d.cell_pair, d.cell_query, d.cell_t, d.cell_n, d.cell_k, P, Q)
    rng = np.random.default_rng(1)
    xp, xq = rng.normal(0, 0.5, (P, 2)), rng.normal(0, 0.5, (Q, 2))
    prec_p, prec_q = np.full((P, 2), 0.4), np.full((Q, 2), 1.7)
    lj, gp, gq, A, D, B = cl.pieces(xp, xq, prec_p, prec_q)
    (dp, dq), logdet = _newton_step(cl, gp, gq, A, D, B)
    H = _dense(cl, A, D, B)
    step = np.linalg.solve(H, np.concatenate([gp.ravel(), gq.ravel()]))
    np.testing.assert_allclose(np.concatenate([dp.ravel(), dq.ravel()]), step, rtol=1e-9, atol=1e-12)
    assert logdet == pytest.approx(np.linalg.slogdet(H)[1], rel=1e-10)
    # the gradient is the log joint's (central differences, step 1e-6)
    e = 1e-6
    for which, idx in (("p", (P - 1, 1)), ("q", (Q - 1, 0))):
        up, dn = [x.copy() for x in (xp, xq)], [x.copy() for x in (xp, xq)]
        k = 0 if which == "p" else 1
        up[k][idx] += e
        dn[k][idx] -= e
        num = (cl.pieces(*up, prec_p, prec_q)[0] - cl.pieces(*dn, prec_p, prec_q)[0]) / (2 * e)
        assert num == pytest.approx((gp if which == "p" else gq)[idx], rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("n_models, n_queries", [(2, 6), (7, 2)])
def test_draws_at_one_grid_point_have_the_inverse_hessian_as_covariance(n_models, n_queries):
    # 40,000 draws: each covariance entry's Monte Carlo SE is about 0.5% of its scale √(Σ_ii Σ_jj),
    # so a tolerance of 5% of that scale; the means are the mode within 5 SE
    d = design(as_cells(_cells(n_models, n_queries, seed=2)))
    P, Q = len(d.pairs), len(d.queries)
    cl = _Cells(d.cell_pair, d.cell_query, d.cell_t, d.cell_n, d.cell_k, P, Q)
    pt = _evaluate(cl, (np.log(0.7), np.log(0.3)), (np.zeros((P, 2)), np.zeros((Q, 2))))
    xp, xq = _draws(cl, [pt], 40_000, np.random.default_rng(0))
    x = np.concatenate([xp.reshape(len(xp), -1), xq.reshape(len(xq), -1)], axis=1)
    prec_p, prec_q = np.full((P, 2), 1 / PAIR_SD ** 2), np.full((Q, 2), [1 / 0.7 ** 2, 1 / 0.3 ** 2])
    _, _, _, A, D, B = cl.pieces(pt.x_pair, pt.x_query, prec_p, prec_q)
    cov = np.linalg.inv(_dense(cl, A, D, B))
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert (np.abs(np.cov(x.T) - cov) / scale).max() < 0.05
    assert np.all(np.abs(x.mean(0) - np.concatenate([pt.x_pair.ravel(), pt.x_query.ravel()]))
                  < 5 * np.sqrt(np.diag(cov) / len(x)))


def test_newton_finds_the_mode():
    d = design(as_cells(_cells(3, 12)))
    P, Q = len(d.pairs), len(d.queries)
    cl = _Cells(d.cell_pair, d.cell_query, d.cell_t, d.cell_n, d.cell_k, P, Q)
    prec_p, prec_q = np.full((P, 2), 0.3), np.full((Q, 2), 2.0)
    xp, xq, *_ = _mode(cl, np.zeros((P, 2)), np.zeros((Q, 2)), prec_p, prec_q)
    _, gp, gq, *_ = cl.pieces(xp, xq, prec_p, prec_q)
    assert max(np.abs(gp).max(), np.abs(gq).max()) < 1e-6


def test_fast_gap_agrees_with_nuts_on_one_study():
    # 2 models × 80 queries × 4 samples with a query spread of 0.8. Both fit the same likelihood;
    # the fast fit drops the pooling of the pairs across models, which two models barely inform.
    # Tolerances: posterior means within 0.015 (NUTS's Monte Carlo SE of the mean is ~0.001;
    # the rest is the approximation and the pooling) and posterior SDs within 25%.
    cells = _cells(2, 80, seed=4)
    fast = laplace_gap(cells, seed=0).set_index("model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nuts = afd.ComplianceGap(random_seed=1, progress=False).fit(cells)
    s = nuts.summary().set_index("model")
    sd = pd.Series(nuts.draws("gap").std(0), index=s.index)
    for m in s.index:
        assert abs(fast.loc[m, "gap"] - s.loc[m, "gap"]) < 0.015, m
        assert 0.75 < fast.loc[m, "gap_se"] / sd[m] < 1.25, (m, fast.loc[m, "gap_se"], sd[m])
    assert list(laplace_gap(cells).columns) == COLUMNS


def test_takes_the_tidy_table_and_a_tier_at_100_percent():
    df, _ = afd.simulate(n_models=1, n_queries=10, n_samples=3, seed=2)
    a = laplace_gap(df, seed=0)
    b = laplace_gap(afd.aggregate(df), seed=0)
    pd.testing.assert_frame_equal(a, b)
    cells = _cells(1, 10)
    cells.loc[cells["condition"] == "training", "k"] = cells["n"]       # every training generation complies
    out = laplace_gap(cells, seed=0).iloc[0]
    assert np.isfinite([out.gap_lo, out.gap_hi]).all() and out.gap_lo > 0   # the priors keep it finite
    with pytest.raises(ValueError, match="k outside"):
        laplace_gap(cells.assign(k=cells["n"] + 1))
