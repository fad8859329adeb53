"""Tests of afdecomp.planning: power of candidate designs by simulated replicate studies."""

from __future__ import annotations

import json
import warnings
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
    res = afd.plan([{"n_queries": 50, "n_samples": 5}], TWO, replicates=300, method="glm", seed=0)
    s = res.summary().set_index("model")
    assert abs(s.loc["m0", "power"] - 0.06) <= 3 * np.sqrt(0.06 * 0.94 / 300) + 0.02
    assert np.isnan(s.loc["m0", "wrong_sign"])
    assert s.loc["m1", "power"] >= 0.97 and s.loc["m1", "wrong_sign"] == 0
    assert (s["replicates"] == 300).all() and (s["generations"] == 2 * 2 * 50 * 5).all()
    # Monte Carlo SEs of the width (SD/√R) and of the coverage (binomial)
    w = res.replicates.assign(width=res.replicates["hi"] - res.replicates["lo"]).groupby("model")["width"]
    np.testing.assert_allclose(s["width_se"], w.std() / np.sqrt(300))
    np.testing.assert_allclose(s["coverage_se"], np.sqrt(s["coverage"] * (1 - s["coverage"]) / 300))
    assert list(res.summary().columns[:6]) == ["design", "n_queries", "n_samples", "generations", "question", "model"]


def test_known_answers_with_the_fast_method():
    # the default method: the gap model's Laplace approximation, on 200 replicates of 30 queries ×
    # 5 samples with a query spread. Its 94% intervals may be a little conservative (priors, and
    # the query effects soak up part of the tiers' difference), so its size is at most the
    # nominal 6% plus 3 Monte Carlo SE (1.7 points each); a gap of 0.25 is found every time
    truth = {"m0": {"gap": 0.0, "deployment_rate": 0.3, "query_sd": 0.5},
             "m1": {"gap": 0.25, "deployment_rate": 0.3, "query_sd": 0.5}}
    s = afd.plan([{"n_queries": 30, "n_samples": 5}], truth, replicates=200, seed=1).summary().set_index("model")
    assert s.loc["m0", "power"] <= 0.06 + 3 * np.sqrt(0.06 * 0.94 / 200)
    assert s.loc["m1", "power"] >= 0.97 and s.loc["m1", "wrong_sign"] == 0
    # coverage of the studies' own true gaps: nominal 94%, 3 SE = 5 points
    assert (s["coverage"] >= 0.94 - 3 * np.sqrt(0.94 * 0.06 / 200)).all()


def test_power_rises_with_queries_as_the_binomial_calculation_says():
    # A gap of 0.08 at a deployment rate of 0.3, 5 samples per query, no query spread: every
    # generation is an independent draw, so the power of the interval is the two-proportion
    # calculation above (0.70 at 80 queries, 0.93 at 160). 400 replicates: Monte Carlo SE
    # <= 2.3 points; tolerance 3 SE + 2 points for the GLM's delta-method and cluster-robust SE
    # against the plain binomial one (at 80 queries: 0.687 vs 0.697 in 1,500 replicates).
    designs = [{"n_queries": q, "n_samples": 5} for q in (20, 80, 160)]
    truth = {"m": {"gap": 0.08, "deployment_rate": 0.3}}
    s = afd.plan(designs, truth, replicates=400, method="glm", seed=3).summary()
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
    # 2,000 generations per tier. The truth's rates are averages over queries, also with a query
    # spread: the binomial SE is <= 1.1 points and the spread of 400 queries' rates adds <= 0.8
    # (SD of σ(a + u) <= 0.16 for u ~ N(0, 1)), so 4 × 1.4 points
    for model, dep, tr in (("a", 0.1, 0.3), ("b", 0.5, 0.5)):
        assert abs(rate[model, "deployment"] - dep) < 0.056 and abs(rate[model, "training"] - tr) < 0.056
    # the estimand is the gap averaged over the 400 queries drawn: near 0.2 (its SD over query
    # draws is below 0.5 points), and exactly 0 without a gap
    assert abs(cells.attrs["estimand"]["a"] - 0.2) < 0.02 and cells.attrs["estimand"]["b"] == 0


def test_nuts_replicates_give_bayesian_intervals():
    res = afd.plan([{"n_queries": 10, "n_samples": 3}], TWO, replicates=2, method="nuts", seed=0)
    r = res.replicates
    assert len(r) == 4 and r[["estimate", "lo", "hi"]].notna().all().all()
    assert (r["lo"] <= r["estimate"]).all() and (r["estimate"] <= r["hi"]).all()


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
    res = afd.plan(designs, TWO, replicates=60, method="glm", seed=2)
    best = res.cheapest(0.8).set_index("model")
    s = res.summary()
    # m1 (gap 0.25) is found at the smallest design that reaches 0.8, and no cheaper one does
    reach = s[(s["model"] == "m1") & (s["power"] >= 0.8)]
    assert best.loc["m1", "generations"] == reach["generations"].min()
    assert np.isnan(best.loc["m0", "generations"])                  # no gap: power stays at the size
    ax = res.plot(target=0.8)
    assert len(ax.get_legend().get_texts()) == 2 and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["200", "800", "3,200"]


# ----------------------------------------------------------------------------- rational-agent truths
STEER = [{"vector": "values", "layer": 16, "coefs": [-2, 2]}, {"vector": "random-0", "layer": 16, "coefs": [-2, 2]}]


def _truth():
    _, truth = afd.simulate(n_models=2, n_queries=5, n_samples=1, steering=STEER[:1], seed=7)
    return truth


def test_a_simulated_truth_draws_studies_of_the_design_with_their_facts():
    from afdecomp.analysis.decomposition import theory_shares
    from afdecomp.planning.worlds import design_settings, world

    truth = _truth()
    w = world(truth)
    d = design_settings({"n_queries": 30, "n_samples": 2, "variants": ["default", "cut-rlhf-modification"],
                         "steering": STEER, "models": ["model-02"]})
    rep = w.draw(d, seed=3)
    c = rep.cells
    assert set(c["model"]) == {"model-02"} and set(c["variant"]) == {"default", "cut-rlhf-modification"}
    assert set(c["steer_vector"].astype(str)) == {"none", "values", "random-0"}
    assert rep.generations == c["n"].sum() == len(c) * 2 // 1 and c["query_id"].nunique() == 30
    f = rep.facts.set_index(["question", "target"])
    # the facts are those of the study drawn: simulate with the same parameters and seed
    _, again = afd.simulate(n_models=1, n_queries=30, n_samples=2, variants=["default", "cut-rlhf-modification"],
                            steering=STEER, params=truth.params.loc[["model-02"], ["b", "V", "S", "g", "rho", "eta",
                                                                                    "lambda_values"]],
                            population=truth.population, seed=3)
    ref = again.gaps.query("variant == 'default' and steer_vector == 'none'")["gap"].iloc[0]
    assert f.loc[("gap", ""), "truth"] == pytest.approx(ref)
    p = truth.params.loc["model-02"]
    sh = theory_shares(p["b"], p["V"], p["S"], p["g"], again.query_effects.to_numpy())
    assert f.loc[("shares", "goal_guarding − sycophancy"), "truth"] == pytest.approx(sh["goal_guarding"] - sh["sycophancy"])
    assert f.loc[("steering", "values"), "truth"] == p["lambda_values"]
    assert "random-0" not in f.index.get_level_values("target")      # a control has no slope to claim
    pd.testing.assert_frame_equal(w.draw(d, seed=3).cells, c)           # deterministic for a seed


def test_questions_the_truth_or_design_cannot_answer_are_named():
    truth = _truth()
    with pytest.raises(ValueError, match="need a rational-agent truth"):
        afd.plan([{"n_queries": 5}], TWO, questions=["shares"])
    with pytest.raises(ValueError, match="need a rational-agent truth"):
        afd.plan([{"n_queries": 5, "variants": ["default", "ncs"]}], TWO)
    with pytest.raises(ValueError, match="design 0: .*sycophancy.*no \\['lambda_sycophancy'\\]"):
        afd.plan([{"n_queries": 5, "steering": [{"vector": "sycophancy", "coefs": [1]}]}], truth)
    with pytest.raises(ValueError, match="design 1: .*lacks"):
        afd.plan([{"n_queries": 5}, {"n_queries": 5, "variants": ["ncs"]}], truth)
    with pytest.raises(ValueError, match="design 0: .*no-such-variant"):
        afd.plan([{"n_queries": 5, "variants": ["default", "no-such-variant"]}], truth)
    with pytest.raises(ValueError, match="design 0: .*model 'x'|design 0: .*\\['x'\\]"):
        afd.plan([{"n_queries": 5, "models": ["x"]}], truth)
    with pytest.raises(ValueError, match="steering question needs a steering sweep"):
        afd.plan([{"n_queries": 5}], truth, questions=["steering"])


def test_prior_sd_of_s_and_log_g_is_the_rational_models():
    # the "identified" question divides posterior SDs by these. The draws of the 3 models share
    # their population mean, and the prior is a heavy-tailed normal mixture, so 20,000 draws
    # give the SD within about 1% (seeds 1-3: 1.117, 1.117, 1.127 for S); tolerance 2.5%
    import pymc as pm

    from afdecomp.models.rational import RationalAgent, build_design
    from afdecomp.planning.questions import PRIOR_SD

    df, _ = afd.simulate(n_models=3, n_queries=4, n_samples=1, seed=0)
    model = RationalAgent().build(build_design(afd.aggregate(df), afd.default_catalog(), None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # "Potentials are ignored": the likelihood, as wanted for a prior
        prior = pm.sample_prior_predictive(draws=20000, model=model, var_names=["S", "g"], random_seed=1).prior
    assert np.std(prior["S"].values) == pytest.approx(PRIOR_SD["S"], rel=0.025)
    assert np.std(np.log(prior["g"].values)) == pytest.approx(PRIOR_SD["log_g"], rel=0.025)


def test_rational_questions_are_answered_from_a_fit_of_the_rational_model():
    # one replicate study (2 models × 3 prompts × 30 queries × 3 samples + a steering sweep),
    # a short NUTS fit: each question gets its rows, the intervals hold their estimates
    truth = _truth()
    design = {"n_queries": 30, "n_samples": 3, "variants": ["default", "cut-rlhf-modification", "cut-company-policy"],
              "steering": STEER}
    res = afd.plan([design], truth, questions=["gap", "shares", "steering", "identified"], replicates=1,
                   executor=ThreadPoolExecutor(1), seed=0,
                   fit_kwargs={"rational": {"draws": 300, "tune": 300, "chains": 2, "max_chains": 2}})
    r = res.replicates.set_index(["question", "model"])
    assert sorted(set(r.index.get_level_values("question"))) == ["gap", "identified", "shares", "steering"]
    assert len(r) == 2 * 4
    ivl = r.drop(index="identified", level="question")
    assert ((ivl["lo"] <= ivl["estimate"]) & (ivl["estimate"] <= ivl["hi"])).all()
    ratio = r.xs("identified", level="question")["estimate"]
    assert ((ratio > 0) & (ratio < 1)).all()                          # the data inform S and log g
    s = res.summary()
    assert set(s["variants"]) == {"default+cut-rlhf-modification+cut-company-policy"}
    assert (s["generations"] == 2 * 3 * 2 * 30 * 3 + 2 * 2 * 2 * 2 * 30 * 3).all()


def test_a_pilot_fit_is_a_truth_whose_draws_vary_across_replicates():
    # a gap fit as the truth: each replicate takes one posterior draw of each model's rates
    from afdecomp.planning.worlds import world

    df, _ = afd.simulate(n_models=2, n_queries=15, n_samples=3, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = afd.ComplianceGap(random_seed=0, progress=False, draws=300, tune=300).fit(df)
    w = world(fit)
    tables = [w.world(s).table for s in range(6)]
    gaps = np.array([t["gap"].to_numpy() for t in tables])
    draws = fit.draws("gap")
    assert all(any(np.allclose(g, d) for d in draws) for g in gaps)   # each is one posterior draw
    assert len({tuple(g) for g in gaps}) > 1
    res = afd.plan([{"n_queries": 10, "n_samples": 2}], fit, replicates=6, method="glm", seed=0,
                   executor=ThreadPoolExecutor(1))
    assert res.replicates.groupby("model")["truth"].nunique().min() > 1
