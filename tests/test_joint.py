"""The joint outcome (compliance and AF reasoning): counts, simulation, fit, theory link, figure."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import afdecomp as afd
from afdecomp import schema
from afdecomp.aggregate import aggregate_joint
from afdecomp.models.joint import SUMMARY_COLUMNS, JointOutcome, JointRational, joint_cells
from afdecomp.results import ConvergenceWarning

JE = afd.JudgeError(sensitivity=0.85, specificity=0.9)


def _table(rows):
    df, problems = schema.normalize(pd.DataFrame(rows))
    assert not problems
    return df


@pytest.fixture
def rows_with_na():
    """One model, one query, both tiers: every (complied, af_reasoning) combination and NAs."""
    base = {"model": "m1", "variant": "default", "query_id": "q1"}
    combos = [(True, True), (True, False), (False, False), (False, True), (True, None), (False, None),
              (None, True), (None, None)]
    rows = []
    for tier in ("training", "deployment"):
        for s, (c, a) in enumerate(combos):
            rows.append({**base, "condition": tier, "complied": c, "af_reasoning": a, "sample": s})
    return rows


def test_aggregate_joint_counts_every_combination_and_na(rows_with_na):
    df = _table(rows_with_na)
    with pytest.warns(UserWarning, match="counted"):
        cells = aggregate_joint(df)
    assert len(cells) == 2
    for _, c in cells.iterrows():
        assert (c["c1_af1"], c["c1_af0"], c["c0_af0"], c["c0_af1"]) == (1, 1, 1, 1)
        assert (c["c1_af_na"], c["c0_af_na"], c["n_na"]) == (1, 1, 2)
        # nothing dropped: every row is in exactly one count
        assert sum(c[k] for k in ("c0_af0", "c0_af1", "c1_af0", "c1_af1", "c0_af_na", "c1_af_na", "n_na")) == 8
        assert (c["n"], c["k"], c["n_af"], c["k_af"]) == (6, 3, 2, 1)
    # the compliance binomial agrees with aggregate()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = afd.aggregate(df)
    assert (plain["n"].to_numpy() == cells["n"].to_numpy()).all()
    assert (plain["k"].to_numpy() == cells["k"].to_numpy()).all()
    assert (plain["n_na"].to_numpy() == cells["n_na"].to_numpy()).all()


def test_aggregate_joint_needs_af_column(tiny_df):
    with pytest.raises(ValueError, match="af_reasoning"):
        aggregate_joint(tiny_df.drop(columns="af_reasoning"))


def test_simulate_af_reasoning_link_and_judge():
    kw = dict(n_models=3, n_queries=8, n_samples=4, variants=["default", "ncs"], seed=4)
    plain, _ = afd.simulate(**kw)
    df, truth = afd.simulate(**kw, af_reasoning="goal-guarding")
    assert (plain["complied"] == df["complied"]).all()          # the option leaves compliance alone
    assert not (df["af_reasoning"] & ~df["complied"]).any()     # AF reasoning only with compliance
    dep = df["condition"] == "deployment"
    assert not df.loc[dep, "af_reasoning"].any()                # the motive carries the oversight
    assert df.loc[~dep, "af_reasoning"].any()
    g = truth.gaps
    assert (g["af_rate_deployment"] == 0).all() and (g["af_rate_training"] <= g["rate_training"]).all()
    share = (g["af_rate_training"] - g["af_rate_deployment"]) / g["gap"]
    assert np.allclose(share, g["af_share_of_gap"])
    # ncs (no sycophancy cue) leaves goal guarding the only training-only motive: the whole gap is AF
    assert np.allclose(g.loc[g["variant"] == "ncs", "af_share_of_gap"], 1.0)
    judged, jt = afd.simulate(**kw, af_reasoning="goal-guarding", judge={"af_reasoning": (0.85, 0.9)})
    assert (jt.labels["af_reasoning"].to_numpy() == df["af_reasoning"].to_numpy()).all()
    assert (judged["complied"] == df["complied"]).all()
    flips = (judged["af_reasoning"] != df["af_reasoning"]).mean()
    assert 0.03 < flips < 0.2                                   # about 0.1 of negatives flip
    assert "se 0.85" in judged["judge"].iloc[0]
    with pytest.raises(ValueError, match="af_reasoning"):
        afd.simulate(**kw, af_reasoning="values")


def test_joint_cells_refuse_graded_oversight_and_bad_counts():
    df, _ = afd.simulate(n_models=1, n_queries=3, n_samples=2, oversight=[0, 0.5, 1], seed=1,
                         af_reasoning=0.3)
    with pytest.raises(ValueError, match="graded oversight"):
        joint_cells(df)
    cells = aggregate_joint(afd.simulate(n_models=1, n_queries=3, n_samples=2, seed=1, af_reasoning=0.3)[0])
    cells.loc[0, "k_af"] = cells.loc[0, "n_af"] + 1
    with pytest.raises(ValueError, match="k_af"):
        joint_cells(cells)


@pytest.fixture(scope="module")
def small_fits():
    df, truth = afd.simulate(n_models=3, n_queries=10, n_samples=4, variants=["default"], seed=2,
                             af_reasoning="goal-guarding", judge={"af_reasoning": JE})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)   # short chains: shape checks only
        naive = JointOutcome(draws=150, tune=200, chains=2, random_seed=0).fit(df)
        corr = JointOutcome(draws=150, tune=200, chains=2, random_seed=0).fit(df, judge_error={"af_reasoning": JE})
    return df, truth, naive, corr


def test_joint_summary_columns_judge_note_and_round_trip(small_fits, tmp_path):
    df, truth, naive, corr = small_fits
    s = corr.summary()
    assert list(s.columns[:len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS
    assert len(s) == 3 and (s["condition"] == "default").all()
    assert (s["gap_lo"] <= s["gap"]).all() and (s["gap"] <= s["gap_hi"]).all()
    assert (s["af_rate_training"] <= s["rate_training"] + 1e-12).all()
    # the share is reported only where the gap's interval excludes 0
    defined = (s["gap_lo"] > 0) | (s["gap_hi"] < 0)
    assert (s["af_share_of_gap"].notna() == defined).all()
    assert "af_reasoning" in s["judge"].iloc[0] and naive.summary()["judge"].iloc[0] == "no judge correction"
    # the naive fit reads the judge's false positives as AF reasoning in deployment
    assert naive.summary()["af_rate_deployment"].mean() > corr.summary()["af_rate_deployment"].mean()
    path = corr.to_netcdf(tmp_path / "joint.nc")
    back = afd.load_results(path)
    assert type(back).__name__ == "JointResults"
    pd.testing.assert_frame_equal(back.summary(), s)


def test_joint_loo_and_figure(small_fits):
    _, _, naive, corr = small_fits
    ll = corr.log_likelihood()
    assert ll["k"].shape[-1] == len(joint_cells(small_fits[0]))
    assert np.isfinite(ll["k"].values).all()
    ax = afd.plot.af_bars(corr, naive=naive)
    assert len(ax.patches) == 3 * 2 * 3          # 3 segments × 2 tiers × 3 models
    with pytest.raises(ValueError, match="no condition"):
        afd.plot.af_bars(corr, "ncs")


def test_judge_error_keys_are_checked(small_fits):
    with pytest.raises(ValueError, match="partial"):
        JointOutcome(draws=10, tune=10, chains=1).fit(small_fits[0], judge_error={"partial": JE})


# ----------------------------------------------------------------------------- slow: recovery
@pytest.mark.slow
def test_joint_recovers_the_af_linked_share():
    """The corrected fit recovers the simulated share of the gap with AF reasoning.

    One seeded study (4 models × 3 variants × 40 queries × 10 samples; AF labels through a judge
    with se 0.85, sp 0.90). Tolerance: the true share lies in the 94% interval for at least 9 of
    the 12 conditions where it is reported (expected ≈ 11.3; 9 is ~2.5 binomial SDs below), and
    the mean absolute error of the reported shares is below 0.15 (a share's posterior SD here is
    ≈ 0.1).
    """
    df, truth = afd.simulate(n_models=4, n_queries=40, n_samples=10, variants=["default", "ncs", "low-stakes"],
                             seed=11, af_reasoning="goal-guarding", judge={"af_reasoning": JE})
    res = JointOutcome(draws=1000, tune=1000, chains=4, random_seed=3).fit(df, judge_error={"af_reasoning": JE})
    s = res.summary().merge(truth.gaps[["model", "variant", "af_share_of_gap"]].rename(
        columns={"af_share_of_gap": "true"}), on=["model", "variant"])
    rep = s[s["af_share_of_gap"].notna()]
    covered = ((rep["af_share_of_gap_lo"] <= rep["true"]) & (rep["true"] <= rep["af_share_of_gap_hi"])).sum()
    assert len(rep) >= 9
    assert covered >= min(9, len(rep) - 1), rep[["model", "variant", "true", "af_share_of_gap",
                                                 "af_share_of_gap_lo", "af_share_of_gap_hi"]]
    assert (rep["af_share_of_gap"] - rep["true"]).abs().mean() < 0.15


@pytest.mark.slow
@pytest.mark.parametrize("af", ["goal-guarding", 0.3])
def test_theory_link_preferred_by_loo_only_with_the_link(af):
    """PSIS-LOO prefers the goal-guarding link on data simulated with it, and not without it.

    "Preferred" = the better elpd by more than 2 standard errors of the difference (dse). With
    the link the linked model has the fewer free parameters and the right shape; without it
    (AF reasoning in a fixed 30% of compliances, in both tiers) the link forces AF reasoning to
    rise with the goal-guarding part of the gap and vanish in deployment, which the data deny.
    """
    df, _ = afd.simulate(n_models=4, n_queries=20, n_samples=5,
                         variants=["default", "ncs", "cut-rlhf-modification", "low-stakes"], seed=5,
                         af_reasoning=af)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        linked = JointRational(af_link=True, draws=1000, tune=1000, chains=2, random_seed=1).fit(df)
        free = JointRational(af_link=False, draws=1000, tune=1000, chains=2, random_seed=1).fit(df)
    cmp = linked.compare(free)
    best, other = cmp.index[0], cmp.index[1]
    margin = abs(cmp.loc[other, "elpd_diff"]) / cmp.loc[other, "dse"]
    if af == "goal-guarding":
        assert best == linked.name and margin > 2, cmp
    else:
        assert best == free.name and margin > 2, cmp


def test_judged_pattern_probabilities_match_enumeration():
    """The observed-pattern probabilities equal a brute-force sum over true outcomes and judge calls
    (independent errors given the truth, no AF reasoning in a true refusal); se = sp = 1 gives the
    uncorrected probabilities exactly."""
    from afdecomp.models.joint import _af_log_probs
    rng = np.random.default_rng(0)
    p, a = rng.uniform(0.05, 0.95, 20), rng.uniform(0.05, 0.95, 20)
    se_c, sp_c, se_a, sp_a = 0.9, 0.8, 0.85, 0.7
    true = {(1, 1): p * a, (1, 0): p * (1 - a), (0, 0): 1 - p}
    obs = {(1, 1): 0.0, (1, 0): 0.0}
    for (c, f), w in true.items():
        pc = se_c if c else 1 - sp_c                  # P(judged complied | truth)
        pa = se_a if f else 1 - sp_a                  # P(judged AF | truth)
        obs[(1, 1)] = obs[(1, 1)] + w * pc * pa
        obs[(1, 0)] = obs[(1, 0)] + w * pc * (1 - pa)
    la, ln, lc, lnc = _af_log_probs(np.log(p), np.log1p(-p), np.log(a), np.log1p(-a), se_c, sp_c, se_a, sp_a, np)
    pc_obs = obs[(1, 1)] + obs[(1, 0)]
    assert np.allclose(np.exp(lc), pc_obs) and np.allclose(np.exp(lnc), 1 - pc_obs)
    assert np.allclose(np.exp(la), obs[(1, 1)] / pc_obs) and np.allclose(np.exp(ln), obs[(1, 0)] / pc_obs)
    la, ln, lc, lnc = _af_log_probs(np.log(p), np.log1p(-p), np.log(a), np.log1p(-a), 1.0, 1.0, 1.0, 1.0, np)
    assert np.allclose(la, np.log(a)) and np.allclose(ln, np.log1p(-a)) and np.allclose(lc, np.log(p))


def test_theory_link_fits_with_judge_error_and_gives_the_same_tables(small_fits):
    """A smoke test of JointRational with both judges (30 draws: shapes, not values)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = JointRational(af_link=True, draws=30, tune=30, chains=1, random_seed=0).fit(
            small_fits[0], judge_error={"complied": JE, "af_reasoning": JE})
    s = res.summary()
    assert list(s.columns[:len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS and len(s) == 3
    assert res.name == "rational + AF link" and "complied" in s["judge"].iloc[0]
    assert np.isfinite(res.log_likelihood()["k"].values).all()


@pytest.mark.parametrize("judge", [None, {"af_reasoning": JE}, {"complied": JE, "af_reasoning": JE}])
def test_dense_grid_likelihood_equals_the_per_cell_one(judge):
    """The dense (tier × pair × query) likelihood and the per-cell one are the same function of
    the parameters (compared at a random point, to 1e-8 relative), for each likelihood form:
    plain binomials, the AF judge alone (the cheap judged rate) and both judges (the general form)."""
    from afdecomp.models.joint import joint_grid
    df, _ = afd.simulate(n_models=2, n_queries=5, n_samples=3, variants=["default", "ncs"], seed=3,
                         af_reasoning="goal-guarding", judge={"af_reasoning": JE})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cells = joint_cells(df)
    logps = []
    for dense in (False, True):
        model, d, _ = JointOutcome(dense=dense).build(cells, judge)
        assert joint_grid(d, cells) is not None        # the simulated design fills its grid
        pot = {v.name for v in model.potentials}
        assert {"loglik_complied", "loglik_af"} <= pot
        ip = model.initial_point()
        rng = np.random.default_rng(0)
        point = {k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in ip.items()}
        logps.append(float(model.compile_logp(mode="FAST_COMPILE")(point)))
    assert np.isclose(logps[0], logps[1], rtol=1e-8, atol=0), logps


def test_cheap_judged_af_rate_equals_the_log_sum_exp_form():
    import pytensor.tensor as pt

    from afdecomp.models._loglik import judged_binomial_potential
    from afdecomp.models.joint import _judged_af_potential
    rng = np.random.default_rng(1)
    eta = rng.normal(0, 3, 50)
    n = rng.integers(0, 8, 50).astype(float)
    k = np.floor(n * rng.uniform(size=50))
    for se, sp in ((0.85, 0.9), (0.6, 0.99), (0.99, 0.55)):
        a = _judged_af_potential(k, n, pt.as_tensor(eta), se, sp).eval()
        b = judged_binomial_potential(k, n, pt.as_tensor(eta), se, sp).eval()
        assert np.isclose(a, b, rtol=1e-10), (se, sp, a, b)
