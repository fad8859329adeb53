"""Judge error (issue 16): JudgeError, the noisy channel, and fits that estimate true rates through it."""

from __future__ import annotations

import functools
import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import afdecomp as afd
from afdecomp import _arviz
from afdecomp.models import gap as G
from afdecomp.models._loglik import observed_log_probs
from afdecomp.models.judge_error import JudgeError, judge_from_attrs, resolve_judge_error

#: PyTensor mode of the density checks: the Python implementations, no C compilation (seconds, not a minute)
FAST = "FAST_COMPILE"


# ----------------------------------------------------------------------------- the class
def test_from_counts_gives_the_conjugate_beta_posteriors():
    je = JudgeError.from_counts(tp=45, fn=6, tn=50, fp=5)
    assert je.sensitivity_beta == (46.0, 7.0) and je.specificity_beta == (51.0, 6.0)
    assert je.sensitivity == pytest.approx(46 / 53) and je.specificity == pytest.approx(51 / 57)
    assert je.shrinkage == pytest.approx(46 / 53 + 51 / 57 - 1)
    assert not je.is_fixed
    lo, hi = je.interval(0.9)["sensitivity"]
    assert (lo, hi) == pytest.approx(tuple(stats.beta(46, 7).ppf([0.05, 0.95])))
    jeffreys = JudgeError.from_counts(tp=45, fn=6, tn=50, fp=5, prior=(0.5, 0.5))
    assert jeffreys.sensitivity_beta == (45.5, 6.5) and jeffreys.specificity_beta == (50.5, 5.5)
    assert je.source["tp"] == 45 and je.source["prior"] == [1.0, 1.0]
    # draws follow the Beta: mean within 5 standard errors over 20,000 draws
    se, sp = je.sample(20_000, rng=0)
    assert abs(se.mean() - je.sensitivity) < 5 * se.std() / np.sqrt(20_000)
    assert abs(sp.mean() - je.specificity) < 5 * sp.std() / np.sqrt(20_000)


def test_fixed_values_are_point_masses():
    je = JudgeError(sensitivity=0.9, specificity=0.95)
    assert je.is_fixed and je.interval()["specificity"] == (0.95, 0.95)
    se, sp = je.sample(5)
    assert (se == 0.9).all() and (sp == 0.95).all()
    assert JudgeError.from_dict(je.to_dict()) == je
    assert "se 0.9" in str(je)


@pytest.mark.parametrize("se, sp", [(0.5, 0.5), (0.3, 0.6), (0.0, 1.0)])
def test_refuses_a_judge_with_se_plus_sp_at_most_one(se, sp):
    with pytest.raises(ValueError, match=r"se \+ sp - 1 <= 0"):
        JudgeError(se, sp)


def test_refuses_counts_whose_posterior_means_sum_to_at_most_one():
    with pytest.raises(ValueError, match="means of the Beta"):
        JudgeError.from_counts(tp=10, fn=30, tn=25, fp=25)


@pytest.mark.parametrize("kw, match", [({"tp": -1}, "non-negative integer"), ({"fn": 2.5}, "non-negative integer"),
                                       ({"tn": True}, "non-negative integer"), ({"prior": (0, 1)}, "prior")])
def test_bad_counts_are_named(kw, match):
    args = {"tp": 40, "fn": 5, "tn": 40, "fp": 5, **kw}
    with pytest.raises(ValueError, match=match):
        JudgeError.from_counts(**args)


def test_rates_outside_zero_one_are_refused():
    with pytest.raises(ValueError, match="sensitivity must lie in"):
        JudgeError(1.2, 0.9)


# ----------------------------------------------------------------------------- the noisy channel
def test_apply_judge_error_flips_at_one_minus_se_and_one_minus_sp_and_keeps_na():
    truth = pd.Series(pd.array([True, False, None] * 10_000, dtype="boolean"), index=np.arange(30_000) * 2,
                      name="complied")
    judged = afd.apply_judge_error(truth, JudgeError(0.85, 0.9), rng=0)
    assert judged.dtype == "boolean" and judged.name == "complied" and judged.index.equals(truth.index)
    assert judged.isna().equals(truth.isna())
    # flip rates within 4.5 binomial standard errors of 1 - se and 1 - sp (10,000 items each)
    miss = 1 - judged[truth == True].astype(float).mean()  # noqa: E712  (nullable boolean)
    false_pos = judged[truth == False].astype(float).mean()  # noqa: E712
    for rate, want in ((miss, 0.15), (false_pos, 0.10)):
        assert abs(rate - want) < 4.5 * np.sqrt(want * (1 - want) / 10_000)
    arr = afd.apply_judge_error(np.array([1.0, 0.0, np.nan]), JudgeError(1.0, 1.0), rng=0)
    np.testing.assert_array_equal(arr, [1.0, 0.0, np.nan])
    with pytest.raises(ValueError, match="position 1"):
        afd.apply_judge_error([1, 2, 0], JudgeError(0.9, 0.9))


def test_observed_log_probs_is_the_judged_rate_and_exact_at_se_sp_one():
    import pytensor.tensor as pt
    eta = np.linspace(-30, 30, 61)
    p = 1 / (1 + np.exp(-eta))
    log_q, log_1mq = observed_log_probs(eta, 0.85, 0.9)
    np.testing.assert_allclose(np.exp(log_q), 0.85 * p + 0.1 * (1 - p), rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_1mq), 0.15 * p + 0.9 * (1 - p), rtol=1e-12)
    lp, l1 = observed_log_probs(eta, 1.0, 1.0)
    np.testing.assert_array_equal(lp, -np.logaddexp(0.0, -eta))
    np.testing.assert_array_equal(l1, -np.logaddexp(0.0, eta))
    x = pt.dvector("eta")
    sym = observed_log_probs(x, 0.85, 0.9, xp=pt)
    np.testing.assert_allclose(sym[0].eval({x: eta}), log_q, rtol=1e-12)
    np.testing.assert_allclose(sym[1].eval({x: eta}), log_1mq, rtol=1e-12)


# ----------------------------------------------------------------------------- the models' densities
def _noisy_study(seed: int = 4):
    df, truth = afd.simulate(n_models=3, n_queries=15, n_samples=10, seed=seed)
    judged = df.copy()
    judged["complied"] = afd.apply_judge_error(df["complied"], JudgeError(0.85, 0.9), rng=seed)
    return judged, truth


def _logp_points(model, n=5, seed=0):
    """The model's log density at its initial point and at ``n`` jittered points (unconstrained)."""
    f = model.compile_logp(mode=FAST)
    start = model.initial_point()
    rng = np.random.default_rng(seed)
    pts = [start] + [{k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in start.items()} for _ in range(n)]
    return pts, [float(f(p)) for p in pts]


def test_gap_model_with_se_sp_one_has_exactly_the_uncorrected_density():
    df, _ = _noisy_study()
    d = G.design(G.as_cells(df))
    st = G.structure(d)
    pts, plain = _logp_points(G.build_model(d, struct=st))
    f = G.build_model(d, struct=st, judge_error=JudgeError(1.0, 1.0)).compile_logp(mode=FAST)
    np.testing.assert_allclose([float(f(p)) for p in pts], plain, rtol=1e-10)


def test_rational_model_with_se_sp_one_has_exactly_the_uncorrected_density():
    from afdecomp.aggregate import aggregate
    from afdecomp.models.rational import build_design
    from afdecomp.models.rational_results import canonical_cells
    df, _ = _noisy_study()
    cells = canonical_cells(aggregate(df))
    design = build_design(cells[cells["n"] > 0], afd.default_catalog(), None)
    ra = afd.RationalAgent()
    pts, plain = _logp_points(ra.build(design))
    f = ra.build(design, judge_error=JudgeError(1.0, 1.0)).compile_logp(mode=FAST)
    np.testing.assert_allclose([float(f(p)) for p in pts], plain, rtol=1e-10)
    beta = ra.build(design, judge_error=JudgeError.from_counts(45, 6, 50, 5))
    assert {"se_complied", "sp_complied"} <= set(beta.named_vars)


def test_beta_judge_adds_se_sp_and_refuses_se_plus_sp_at_most_one_in_the_likelihood():
    df, _ = _noisy_study()
    d = G.design(G.as_cells(df))
    model = G.build_model(d, judge_error=JudgeError.from_counts(45, 6, 50, 5))
    assert {"se_complied", "sp_complied", "se_sp_complied"} <= set(model.named_vars)
    f = model.compile_logp(mode=FAST)
    p = model.initial_point()
    assert np.isfinite(f(p))
    # se = sp = 0.4 (logit -0.405 on the sampler's scale): outside se + sp > 1, density 0
    bad = {**p, "se_complied_logodds__": np.array(-0.405), "sp_complied_logodds__": np.array(-0.405)}
    assert f(bad) == -np.inf


# ----------------------------------------------------------------------------- arguments
def test_judge_error_keys_must_name_the_fitted_label():
    df, _ = _noisy_study()
    je = JudgeError(0.9, 0.9)
    with pytest.raises(ValueError, match=r"names \['af_reasoning'\], but this fit models \['complied'\]"):
        afd.ComplianceGap().fit(df, judge_error={"af_reasoning": je})
    with pytest.raises(ValueError, match=r"names \['compliance'\]"):
        afd.RationalAgent().fit(df, judge_error={"compliance": je})
    with pytest.raises(TypeError, match="dict naming the label"):
        afd.ComplianceGap().fit(df, judge_error=je)
    with pytest.raises(TypeError, match=r"judge_error\['complied'\] must be a JudgeError"):
        afd.ComplianceGap().fit(df, judge_error={"complied": (0.9, 0.9)})


def test_from_validation_round_trip():
    rng = np.random.default_rng(0)
    truth = np.r_[np.ones(51, bool), np.zeros(55, bool)]
    called = np.where(truth, rng.random(106) < 0.85, rng.random(106) >= 0.9)
    val = afd.validate_judge(called.astype(float), truth, n_boot=100, judge="toy", task="af_reasoning",
                             progress=False)
    c = val.confusion()
    assert c == {"tp": int((called & truth).sum()), "fn": int((~called & truth).sum()),
                 "tn": int((~called & ~truth).sum()), "fp": int((called & ~truth).sum())}
    je = JudgeError.from_validation(val)
    assert je.sensitivity_beta == (c["tp"] + 1, c["fn"] + 1) and je.specificity_beta == (c["tn"] + 1, c["fp"] + 1)
    assert je.source["validation"]["judge"] == "toy" and je.source["validation"]["threshold"] == 0.5
    assert je.sensitivity == pytest.approx((c["tp"] + 1) / (c["tp"] + c["fn"] + 2))
    assert JudgeError.from_dict(je.to_dict()) == je
    assert resolve_judge_error({"complied": val}, "complied", "test") == {"complied": je}
    with pytest.raises(TypeError, match="expects a JudgeValidation"):
        JudgeError.from_validation({"tp": 1})


# ----------------------------------------------------------------------------- fits
@functools.lru_cache(maxsize=1)
def _fits():
    """One noisy study (se 0.85, sp 0.9) fitted naive, with se = sp = 1, and corrected."""
    df, truth = _noisy_study()
    je = JudgeError.from_counts(tp=44, fn=7, tn=50, fp=5)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, kw in (("naive", {}), ("one", {"judge_error": {"complied": JudgeError(1.0, 1.0)}}),
                         ("corrected", {"judge_error": {"complied": je}})):
            out[name] = afd.ComplianceGap(draws=500, tune=500, random_seed=2, progress=False).fit(df, **kw)
    return df, truth, je, out


def _mcse(res, name="gap"):
    x = res.draws(name)
    ess = _arviz.diagnostics(res.idata, [name])["ess_bulk"].to_numpy()
    return x.mean(axis=0), x.std(axis=0, ddof=1), x.std(axis=0, ddof=1) / np.sqrt(ess), ess


def test_se_sp_one_gives_the_uncorrected_answers_within_monte_carlo_error():
    # Same density (test above), separate chains: per model the posterior mean gaps differ by
    # less than 4 combined Monte Carlo standard errors (sd/√ESS; a 4-SE miss has probability
    # 6e-5 per model), and the posterior sds by less than 15% (the relative MC error of an sd
    # is ≈ 1/√(2·ESS) ≈ 3.5% at ESS ≥ 400, so 15% is ≥ 3 combined SEs).
    *_, fits = _fits()
    m0, s0, e0, ess0 = _mcse(fits["naive"])
    m1, s1, e1, ess1 = _mcse(fits["one"])
    assert min(ess0.min(), ess1.min()) > 400
    assert (np.abs(m1 - m0) < 4 * np.hypot(e0, e1)).all(), (m0, m1, e0, e1)
    assert (np.abs(s1 / s0 - 1) < 0.15).all(), (s0, s1)


def test_corrected_gap_is_larger_than_the_naive_one_on_noisy_data():
    df, truth, je, fits = _fits()
    naive, corr = fits["naive"].summary(), fits["corrected"].summary()
    assert (corr["gap"].abs() > naive["gap"].abs()).all()
    assert ((corr["gap_hi"] - corr["gap_lo"]) > (naive["gap_hi"] - naive["gap_lo"])).all()
    # the naive gaps are shrunk toward the judged ones: (se + sp − 1)·true gap, 0.75 here
    ratio = naive["gap"].sum() / corr["gap"].sum()
    assert 0.55 < ratio < 0.95, ratio
    # rates move away from the judge's floor 1 − sp and ceiling se toward the truth
    assert (corr["rate_deployment"] < naive["rate_deployment"] + 0.02).all()


def test_a_corrected_fit_says_which_correction_it_applied_and_keeps_it_on_disk(tmp_path):
    _, _, je, fits = _fits()
    res = fits["corrected"]
    assert judge_from_attrs(res.idata.attrs) == {"complied": je}
    s = res.summary()
    assert s["judge"].str.contains(r"complied \(se Beta\(45, 8\)").all()
    assert s.attrs["judge_error"].startswith("judge-corrected")
    assert "judge-corrected" in repr(res) and "no judge correction" in repr(fits["naive"])
    assert "judge" not in fits["naive"].summary().columns
    assert {"se_complied", "sp_complied"} <= set(res.checked_parameters())
    res.to_netcdf(tmp_path / "fit.nc")
    back = afd.load_results(tmp_path / "fit.nc")
    assert back.judge_error == {"complied": je} and "judge-corrected" in repr(back)


def test_pointwise_log_likelihood_and_predictive_check_use_the_judged_rate():
    _, _, _, fits = _fits()
    ll_naive = fits["naive"].log_likelihood()["k"].values
    ll_one = fits["one"].log_likelihood()["k"].values
    ll_corr = fits["corrected"].log_likelihood()["k"].values
    assert np.isfinite(ll_corr).all()
    # same data, similar fit quality: the summed expected log density agrees within 2% whether
    # the judge is modelled or not (both describe the judged counts), se = sp = 1 within 1%
    tot = {k: v.sum(axis=-1).mean() for k, v in (("naive", ll_naive), ("one", ll_one), ("corr", ll_corr))}
    assert abs(tot["one"] / tot["naive"] - 1) < 0.01 and abs(tot["corr"] / tot["naive"] - 1) < 0.02, tot
    # the replicated gap is judged too: the observed gap lies inside its 94% interval
    assert fits["corrected"].ppc()["covered"].all()
    # with a true-rate replicate the interval would sit around the larger corrected gap
    assert (fits["corrected"].ppc()["predicted"] < fits["corrected"].summary()["gap"]).all()


def test_rational_agent_fit_records_the_correction():
    df, _ = _noisy_study()
    je = JudgeError.from_counts(tp=44, fn=7, tn=50, fp=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = afd.RationalAgent(draws=200, tune=300, random_seed=1, progress=False).fit(
            df, judge_error={"complied": je})
    s = res.summary()
    judge_rows = s[s["model"] == "(judge)"].set_index("parameter")
    assert list(judge_rows.index) == ["se_complied", "sp_complied"]
    # the posterior of se stays near its Beta(45, 8) prior (the compliance counts say little about it)
    assert abs(judge_rows.loc["se_complied", "mean"] - 45 / 53) < 0.05
    assert s.attrs["judge_error"].startswith("judge-corrected") and "judge-corrected" in repr(res)
    assert np.isfinite(res.log_likelihood()["k"].values).all()
    # the predictive check replicates judged counts: they match the observed (judged) gaps on average
    ppc = res.ppc()
    assert abs((ppc["predicted"] - ppc["observed"]).mean()) < 0.03, ppc


# ----------------------------------------------------------------------------- coverage (slow)
def _coverage_module():
    path = Path(__file__).parents[1] / "benchmarks" / "judge_error_coverage.py"
    spec = importlib.util.spec_from_file_location("judge_error_coverage", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["judge_error_coverage"] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_coverage_study_three_seeds():
    # 3 seeds × 4 models = 12 interval checks per method (benchmarks/judge_error_coverage.py,
    # default setup). Corrected: at least 10 of 12 covered (at a true 94% coverage, P(≤ 9 of
    # 12) = 3%). Naive: its gaps are shrunk (mean error < 0) and its mean absolute error is
    # larger than the corrected one's (the systematic shrinkage is ≈ 0.25 × a gap of ~0.15).
    cov = _coverage_module()
    setup = cov.Setup()
    judged, _, je, _ = cov.study(0, setup)
    fitter = cov.Fitter(judged, je, setup)  # compiled once for the three studies
    table = pd.concat([cov.one_seed(s, setup, fitter) for s in range(3)], ignore_index=True)
    res = cov.analyse(table).set_index("method")
    assert res.loc["corrected", "checks"] == 12
    assert res.loc["corrected", "coverage"] >= 10 / 12
    assert res.loc["naive", "mean_error"] < 0
    assert res.loc["naive", "mean_abs_error"] > res.loc["corrected", "mean_abs_error"]
