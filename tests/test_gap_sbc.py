"""Simulation-based calibration of the gap model (benchmarks/sbc_gap.py): the rank test and a small run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location("sbc_gap", Path(__file__).parents[1] / "benchmarks" / "sbc_gap.py")
sbc = importlib.util.module_from_spec(_SPEC)
sys.modules["sbc_gap"] = sbc  # dataclasses look their module up by name
_SPEC.loader.exec_module(sbc)


def test_rank_test_tells_calibrated_from_overconfident_posteriors():
    # Truth drawn from N(0, 1); a calibrated posterior is N(0, 1) draws, an overconfident one
    # N(0, 0.5) draws. 300 replicates, ranks among 99 draws, 10 bins: the calibrated ranks pass
    # at 1% (fails with probability 0.01 for a fresh seed; the seed is fixed), the overconfident
    # ones pile up at both ends and fail at p < 1e-6.
    rng = np.random.default_rng(0)
    truth = rng.standard_normal(300)
    good = np.array([sbc.ranks(rng.standard_normal((400,)), np.array(t), 99) for t in truth])
    bad = np.array([sbc.ranks(0.5 * rng.standard_normal((400,)), np.array(t), 99) for t in truth])
    assert good.min() >= 0 and good.max() <= 99
    assert sbc.chi2_uniform(good, 99, 10)[1] > 0.01
    assert sbc.chi2_uniform(bad, 99, 10)[1] < 1e-6


def test_prior_draws_and_counts_follow_the_design():
    d = sbc.design_of(sbc.Study(n_models=3, n_variants=2, n_queries=6, n_samples=2))
    draws = sbc.prior_draws(d, 5, seed=1)
    assert draws["beta"].shape == (5, len(d.pairs)) and draws["u"].shape == (5, len(d.queries))
    np.testing.assert_allclose(draws["u"].sum(axis=1), 0.0, atol=1e-9)  # zero-sum query effects
    k = sbc.simulate_counts(d, draws["beta"][0], draws["gamma"][0], draws["u"][0], draws["w"][0],
                            np.random.default_rng(0))
    assert ((0 <= k) & (k <= d.cell_n)).all()
    gap = sbc.true_gap(d, draws["beta"][0], draws["gamma"][0], draws["u"][0], draws["w"][0])
    assert gap.shape == (len(d.pairs),) and (np.abs(gap) <= 1).all()


@pytest.mark.slow
def test_small_sbc_run_is_uniform():
    # 40 prior draws of a 3-model x 2-variant x 10-query study, default fits. Each quantity's
    # ranks (and all gaps pooled) are tested with chi-square on 5 bins (8 expected per bin) at a
    # Bonferroni-corrected family-wise 1%: a calibrated model fails this with probability <= 0.01.
    # The full run (benchmarks/sbc_gap.py, >= 200 draws) is the real check; this one catches a
    # gross miscalibration (e.g. a wrong Jacobian or prior in the reparameterisation).
    table = sbc.run(sbc.Study(n_models=3, n_variants=2, n_queries=10, n_samples=3), replicates=40, seed=11)
    res = sbc.uniformity(table, L=99, bins=5, alpha=0.01)
    assert res["uniform"].all(), res
