"""Tests of afdecomp.planning: power of candidate designs by simulated replicate studies."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import afdecomp as afd
from afdecomp.planning import replicate_cells, truth_table

TWO = {"m0": {"gap": 0.0, "deployment_rate": 0.3}, "m1": {"gap": 0.25, "deployment_rate": 0.3}}


def _power_by_hand(gap: float, rate: float, n: int, ci_prob: float = 0.94) -> float:
    """Two-sided power of the difference of two proportions with n generations per tier (normal)."""
    se = np.sqrt(rate * (1 - rate) / n + (rate + gap) * (1 - rate - gap) / n)
    z = stats.norm.ppf(0.5 + ci_prob / 2)
    return float(stats.norm.cdf(gap / se - z) + stats.norm.cdf(-gap / se - z))


def test_known_answers_size_for_no_gap_and_power_one_for_a_large_gap():
    # 300 replicates of 50 queries × 5 samples. No gap: the share of claims is the test's size,
    # nominally 6%; its Monte Carlo SE is 1.4 points, and the cluster-robust SE with 50 query
    # clusters runs a little small (6.7% at 20 queries in 1,500 replicates), so 0.06 ± (3 SE + 2
    # points). Gap 0.25 with 250 generations per tier: 5.8 standard errors, power ~1 by hand.
    res = afd.plan([{"n_queries": 50, "n_samples": 5}], TWO, replicates=300, seed=0)
    s = res.summary().set_index("model")
    assert abs(s.loc["m0", "power"] - 0.06) <= 3 * np.sqrt(0.06 * 0.94 / 300) + 0.02
    assert np.isnan(s.loc["m0", "wrong_sign"])
    assert s.loc["m1", "power"] >= 0.97 and s.loc["m1", "wrong_sign"] == 0
    assert (s["replicates"] == 300).all() and (s["generations"] == 2 * 2 * 50 * 5).all()
    assert list(res.summary().columns[:6]) == ["design", "n_queries", "n_samples", "generations", "question", "model"]


def test_power_rises_with_queries_as_the_binomial_calculation_says():
    # A gap of 0.08 at a deployment rate of 0.3, 5 samples per query, no query spread: every
    # generation is an independent draw, so the power of the interval is the two-proportion
    # calculation above (0.70 at 80 queries, 0.93 at 160). 400 replicates: Monte Carlo SE
    # <= 2.3 points; tolerance 3 SE + 2 points for the GLM's delta-method and cluster-robust SE
    # against the plain binomial one (at 80 queries: 0.687 vs 0.697 in 1,500 replicates).
    designs = [{"n_queries": q, "n_samples": 5} for q in (20, 80, 160)]
    truth = {"m": {"gap": 0.08, "deployment_rate": 0.3}}
    s = afd.plan(designs, truth, replicates=400, seed=3).summary()
    assert s["power"].is_monotonic_increasing and s["width"].is_monotonic_decreasing
    for row in s[s["n_queries"] >= 80].itertuples():
        hand = _power_by_hand(0.08, 0.3, row.n_queries * 5)
        assert abs(row.power - hand) <= 3 * row.power_se + 0.02, (row.n_queries, row.power, hand)


def test_same_numbers_on_any_executor_and_a_killed_sweep_resumes(tmp_path):
    designs = [{"n_queries": 8, "n_samples": 2}, {"n_queries": 16, "n_samples": 2}]
    kw = dict(truth=TWO, replicates=6, seed=11)
    local = afd.plan(designs, **kw).replicates                     # local processes
    with ThreadPoolExecutor(2) as pool:
        threads = afd.plan(designs, executor=pool, **kw).replicates
    pd.testing.assert_frame_equal(local, threads)

    full = tmp_path / "full.jsonl"
    afd.plan(designs, store=full, **kw)
    lines = full.read_text().splitlines()
    assert len(lines) == 1 + 12                                     # a header and one line per replicate
    killed = tmp_path / "killed.jsonl"
    killed.write_text("\n".join(lines[:6]) + "\n" + lines[6][:40])  # 5 finished, one torn mid-write
    resumed = afd.plan(designs, store=killed, **kw).replicates
    pd.testing.assert_frame_equal(local, resumed)
    keys = [tuple(json.loads(x)["key"]) for x in killed.read_text().splitlines()[1:]]
    assert len(keys) == 12 and len(set(keys)) == 12                 # nothing lost, nothing twice
    with pytest.raises(ValueError, match="different sweep"):
        afd.plan(designs, store=killed, truth=TWO, replicates=6, seed=12)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="model 'x'.*deployment_rate \\+ gap = 1.1"):
        truth_table({"x": {"gap": 0.3, "deployment_rate": 0.8}})
    with pytest.raises(ValueError, match="lacks \\['deployment_rate'\\]"):
        truth_table(pd.DataFrame({"model": ["a"], "gap": [0.1]}))
    with pytest.raises(ValueError, match="method"):
        afd.plan([{"n_queries": 5}], TWO, method="laplace")
    with pytest.raises(ValueError, match="question"):
        afd.plan([{"n_queries": 5}], TWO, questions=["share"])
    with pytest.raises(ValueError, match="n_queries = 0"):
        afd.plan([{"n_queries": 0}], TWO)
    with pytest.raises(ValueError, match="unknown design setting"):
        afd.plan([{"queries": 5}], TWO)


def test_replicate_cells_follow_the_design_and_the_truth():
    t = truth_table({"a": {"gap": 0.2, "deployment_rate": 0.1, "query_sd": 1.0}, "b": {"gap": 0.0, "deployment_rate": 0.5}})
    cells = replicate_cells({"n_queries": 400, "n_samples": 5}, t, seed=0)
    assert len(cells) == 2 * 2 * 400 and (cells["n"] == 5).all()
    rate = cells.groupby(["model", "condition"])["k"].sum() / cells.groupby(["model", "condition"])["n"].sum()
    # 2,000 generations per tier; with query_sd = 1 the mean rate is not the rate at the mean
    # logit, so model a is checked loosely (its gap has the right sign and size) and b exactly
    # (binomial SE 1.1 points; tolerance 4 SE)
    assert abs(rate["b", "training"] - 0.5) < 0.045 and abs(rate["b", "deployment"] - 0.5) < 0.045
    assert 0.1 < rate["a", "training"] - rate["a", "deployment"] < 0.3


def test_nuts_replicates_give_bayesian_intervals():
    res = afd.plan([{"n_queries": 10, "n_samples": 3}], TWO, replicates=2, method="nuts", seed=0)
    r = res.replicates
    assert len(r) == 4 and r[["gap", "gap_lo", "gap_hi"]].notna().all().all()
    assert (r["gap_lo"] <= r["gap"]).all() and (r["gap"] <= r["gap_hi"]).all()


def test_a_dask_local_cluster_gives_the_same_numbers():
    # a real LocalCluster (2 worker processes) against local processes, same seeds
    import distributed  # in the dev extra, so CI runs this test

    designs = [{"n_queries": 8, "n_samples": 2}]
    kw = dict(truth=TWO, replicates=6, seed=5)
    local = afd.plan(designs, **kw).replicates
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = afd.plan(designs, executor=client, **kw).replicates
    pd.testing.assert_frame_equal(local, on_dask)


def test_cheapest_design_and_the_power_figure():
    import matplotlib
    matplotlib.use("Agg")
    designs = [{"n_queries": q, "n_samples": 5} for q in (10, 40, 160)]
    res = afd.plan(designs, TWO, replicates=60, seed=2)
    best = res.cheapest(0.8).set_index("model")
    s = res.summary()
    # m1 (gap 0.25) is found at the smallest design that reaches 0.8, and no cheaper one does
    reach = s[(s["model"] == "m1") & (s["power"] >= 0.8)]
    assert best.loc["m1", "generations"] == reach["generations"].min()
    assert np.isnan(best.loc["m0", "generations"])                  # no gap: power stays at the size
    ax = res.plot(target=0.8)
    assert len(ax.get_legend().get_texts()) == 2 and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["200", "800", "3,200"]
