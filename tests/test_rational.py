"""afdecomp.RationalAgent: parameter recovery, identifiability, telling the theory apart, checks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import afdecomp as afd
from afdecomp.models.rational import RationalAgent, identifiability
from afdecomp.results import ConvergenceWarning

STEER = [{"vector": "values", "layer": 3, "coefs": [-2.0, 2.0]},
         {"vector": "sycophancy", "layer": 3, "coefs": [-2.0, 2.0]},
         {"vector": "random-0", "layer": 3, "coefs": [-2.0, 2.0]}]
RECOVERED = ("V", "S", "g", "lambda_values", "lambda_sycophancy")


def _coverage(res, truth, hdi_prob=0.9) -> pd.DataFrame:
    s = res.summary(hdi_prob=hdi_prob)
    s = s[s["parameter"].isin(RECOVERED)].copy()
    s["truth"] = [truth.params.loc[m, p] for m, p in zip(s["model"], s["parameter"], strict=True)]
    s["covered"] = (s["lo"] <= s["truth"]) & (s["truth"] <= s["hi"])
    return s


def _fit(seed, n_models=6, n_queries=40, n_samples=20, draws=500, **kw):
    df, truth = afd.simulate(n_models=n_models, n_queries=n_queries, n_samples=n_samples,
                             variants="published", steering=STEER, seed=seed, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short chains: ESS warnings expected here
        res = RationalAgent(draws=draws, tune=draws, chains=2, random_seed=seed).fit(df)
    return df, truth, res


# Coverage of 90% HDIs of V, S, g and the two steering slopes (6 models x 40 queries x 20
# samples, published ablations + a steering sweep of a values, a sycophancy and a random
# vector, 2 x 500 draws), measured on this code: seeds 5-16 85.3% (per seed 73-97%), seeds
# 17-28 89.7%, all 24 seeds 630 of 720 = 87.5% (docs/model.md, Validation). One seed's
# coverage swings by +-8 points, so only the 24-seed sweep tests the 85% target.
def test_parameter_recovery_one_design():
    """>= 75% of 30 intervals (6 models x 5 parameters) cover the truth for seed 5 (measured 83%).

    A fixed seed; 75% is the measured value (25 of 30) minus two intervals of slack, since
    nutpie's draws can differ slightly from run to run here (docs/model.md, Validation).
    Also checks that the fitted default-prompt gap follows the true gap (within 0.05).
    """
    _, truth, res = _fit(seed=5)
    cov = _coverage(res, truth)
    assert len(cov) == 30
    assert cov["covered"].mean() >= 0.75, cov.to_string()
    g = res.predict_gap("default").mean("draw").to_numpy()
    t = truth.gaps.query("variant == 'default' and steer_vector == 'none'")["gap"].to_numpy()
    assert np.abs(g - t).max() < 0.05


@pytest.mark.slow
def test_parameter_recovery_over_seeds():
    """The issue's target: >= 85% of 90% HDIs cover the truth over 24 fixed seeds (measured 87.5%).

    24 seeds x 6 models x 5 parameters = 720 intervals (about 9 minutes). The seeds are the
    consecutive block 5-28, fixed before the measurement; with nominal 90% coverage and
    the measured between-seed spread (SD 7 points) the 24-seed mean has a standard error of
    about 1.4 points.
    """
    frames = []
    for seed in range(5, 29):
        _, truth, res = _fit(seed)
        frames.append(_coverage(res, truth))
    cov = pd.concat(frames)
    assert len(cov) == 720
    assert cov["covered"].mean() >= 0.85, cov.groupby("parameter")["covered"].mean()


def test_identifiability_flags_a_design_that_cannot_separate_S_from_g(tmp_path):
    # The full prompt, a null ablation and a variant that removes both values and sycophancy:
    # the training-only terms (z_S, z_V·z_G·κ) are (1, 1), (1, 1), (0, 0) -> rank 1, so only
    # S + g·V is identified; V still is (the values cue varies).
    toml = tmp_path / "cat.toml"
    toml.write_text("[variants.no-conflict-no-company]\nvalues = 0.0\nsycophancy = 0.0\n")
    cat = afd.load_catalog(toml)
    df, _ = afd.simulate(n_models=2, n_queries=3, n_samples=1, catalog=cat,
                         variants=["default", "cut-scratchpad-concealment", "no-conflict-no-company"], seed=0)
    rep = identifiability(afd.aggregate(df, warn=False), cat).set_index("parameter")
    assert not rep.loc["S", "identified"] and not rep.loc["g", "identified"]
    assert "S + g·V" in rep.loc["g", "reason"]
    assert rep.loc["V", "identified"]
    with pytest.warns(UserWarning, match="g is not identified"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            RationalAgent(draws=20, tune=20, chains=1, random_seed=0).fit(df, catalog=cat)
    # a single ablation that removes sycophancy alone separates them
    df2, _ = afd.simulate(n_models=2, n_queries=3, n_samples=1, variants=["default", "ncs"], seed=0)
    rep2 = identifiability(afd.aggregate(df2, warn=False)).set_index("parameter")
    assert rep2.loc["S", "identified"] and rep2.loc["g", "identified"] and not rep2.loc["V", "identified"]
    full, _ = afd.simulate(n_models=2, n_queries=3, n_samples=1, variants="published", steering=STEER, seed=0)
    assert identifiability(afd.aggregate(full))["identified"].all()
    no_ctrl, _ = afd.simulate(n_models=2, n_queries=3, n_samples=1, variants=["default", "ncs"],
                              steering=STEER[:1], seed=0)
    rep = identifiability(afd.aggregate(no_ctrl)).set_index("parameter")
    assert not rep.loc["rho", "identified"] and not rep.loc["V", "identified"]


def test_data_without_goal_guarding_is_told_apart():
    """Simulated with g = 0: the posterior of g sits near 0 and LOO does not favour adding g.

    Tolerances: every model's posterior mean g < 0.15 (truth 0; a typical g is 0.7) and the
    with-g model's elpd is not better than the no-g model's by more than 2 standard errors
    of the difference.
    """
    n_models = 4
    params = pd.DataFrame({"g": np.zeros(n_models)})
    df, truth = afd.simulate(n_models=n_models, n_queries=15, n_samples=4, variants="published",
                             params=params, seed=5)
    assert (truth.params["g"] == 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with_g = RationalAgent(draws=300, tune=300, chains=2, random_seed=5).fit(df)
        no_g = RationalAgent(draws=300, tune=300, chains=2, random_seed=5, goal_guarding=False).fit(df)
    g = with_g.summary().query("parameter == 'g'")
    assert (g["mean"] < 0.15).all(), g
    cmp = with_g.compare(no_g)
    assert set(cmp.index) == {"rational", "rational (no g)"}
    if cmp.index[0] == "rational":
        other = cmp.loc["rational (no g)"]
        assert other["elpd_diff"] <= 2 * other["dse"], cmp


def test_compare_against_the_reduced_form_gap_model():
    """``.compare(gap_results)``: PSIS-LOO of the structural model against ComplianceGap on the same cells.

    The gap model's pointwise log-likelihood is computed from its draws; checked here against
    scipy's binomial pmf for one draw, and the table has both fits with finite elpd.
    """
    from scipy.stats import binom
    df, _ = afd.simulate(n_models=3, n_queries=8, n_samples=3, variants="published", seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ra = RationalAgent(draws=150, tune=150, chains=2, random_seed=3).fit(df)
        gap = afd.ComplianceGap(draws=150, tune=150, chains=2, random_seed=3).fit(df)
        cmp = ra.compare(gap)
    assert list(cmp.index) != [] and set(cmp.index) == {"rational", "reduced-form gap"}
    assert np.isfinite(cmp["elpd"]).all()
    # the report's rational-agent section shows the same comparison, with a verdict
    from afdecomp.report import _loo_blocks
    text, table = _loo_blocks(ra, gap)
    assert "PSIS-LOO" in text.markdown and ("cannot tell them apart" in text.markdown or "favour" in text.markdown)
    assert table.name == "rational_loo" and set(table.frame["model"]) == set(cmp.index)
    ll = gap.log_likelihood()["k"].values
    const = gap.idata["constant_data"]
    k = gap.idata["observed_data"]["k"].values
    eta = (gap.draws("beta")[0][const["cell_pair"].values] + gap.draws("u")[0][const["cell_query"].values]
           + const["cell_t"].values * (gap.draws("gamma")[0][const["cell_pair"].values]
                                       + gap.draws("w")[0][const["cell_query"].values]))
    expect = binom.logpmf(k, const["cell_n"].values, 1 / (1 + np.exp(-eta)))
    np.testing.assert_allclose(ll[0, 0], expect, rtol=1e-9, atol=1e-9)
    # fits of different data are refused
    other, _ = afd.simulate(n_models=3, n_queries=8, n_samples=3, variants="published", seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gap2 = afd.ComplianceGap(draws=20, tune=20, chains=1, random_seed=3).fit(other)
    with pytest.raises(ValueError, match="same cells"):
        ra.compare(gap2)


def test_predictions_follow_the_theory(tmp_path):
    _, truth, res = _fit(seed=2, n_models=2, n_queries=6, n_samples=2, draws=100)
    assert truth.params.shape[0] == 2
    # no strategic cues -> exactly no gap, for every draw
    off = res.predict_gap({"goal_guarding": 0.0, "sycophancy": 0.0})
    assert np.abs(off.to_numpy()).max() == 0.0
    checks = res.theory_checks()
    assert (checks["gap_no_strategic_cues"] == 0).all()
    assert checks["oversight_logit_nonlinearity"].max() < 1e-9
    assert set(checks["side"]) <= {"rising", "falling"}
    # counterfactual cues, steering and new queries all give (draw, model) arrays
    for kw in ({"steer_vector": "values", "steer_coef": 1.0}, {"steer_vector": "random-0", "steer_coef": 2.0},
               {"queries": "new", "random_seed": 0}, {"oversight": 0.5}):
        p = res.predict("default", **kw)
        assert p.dims == ("draw", "model") and p.shape[1] == 2
        assert ((p >= 0) & (p <= 1)).all()
    ppc = res.ppc()
    assert {"observed", "predicted", "lo", "hi", "p_value"} <= set(ppc.columns)
    assert len(ppc) == 2 * (10 + 6)
    # a model should reproduce most of its own observed gaps
    inside = ((ppc["observed"] >= ppc["lo"]) & (ppc["observed"] <= ppc["hi"])).mean()
    assert inside >= 0.8
    path = res.to_netcdf(tmp_path / "ra.nc")
    assert path.exists()


def test_unknown_variant_names_it_and_shows_how_to_declare(tmp_path):
    df, _ = afd.simulate(n_models=1, n_queries=2, n_samples=1, seed=0)
    df["variant"] = df["variant"].cat.rename_categories({"default": "my-variant"})
    with pytest.raises(KeyError, match=r"(?s)my-variant.*\[variants.my-variant\]"):
        RationalAgent(draws=10, tune=10, chains=1).fit(df)
    toml = tmp_path / "cat.toml"
    toml.write_text("[variants.my-variant]\nsycophancy = 0.0\n")
    cat = afd.load_catalog(toml)
    assert cat.variant("my-variant").cues() == {"values": 1.0, "goal_guarding": 1.0, "sycophancy": 0.0, "stakes": 1.0}
    assert identifiability(afd.aggregate(df), cat) is not None


def test_pointwise_log_likelihood_is_the_sampled_likelihood():
    """``log_likelihood()`` (LOO, ``ppc``) must be the likelihood the sampler used.

    The pointwise values are recomputed from the draws with numpy; here they are checked
    against the model's own ``pm.Potential`` evaluated at the same draw, on a design with
    steering (an earlier version scaled the steering slopes twice in the recomputation, so
    LOO and the posterior predictive check of steered cells were wrong while the fit was
    right). Tolerance 1e-8 relative: the two differ only by floating-point order.
    """
    from pytensor.graph.replace import graph_replace
    from scipy.special import gammaln
    df, _ = afd.simulate(n_models=2, n_queries=4, n_samples=3, variants=["default", "ncs", "cut-company-policy"],
                         steering=STEER, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = RationalAgent(draws=20, tune=30, chains=1, random_seed=11).fit(df)
    model = RationalAgent().build(res.design)
    cells = res.design.cells
    log_choose = (gammaln(cells["n"] + 1) - gammaln(cells["k"] + 1) - gammaln(cells["n"] - cells["k"] + 1)).sum()
    pointwise = res.log_likelihood()["k"].values[0]          # (draw, cell)
    for draw in (0, 19):
        values = {rv: np.asarray(res.idata["posterior"][rv.name].values[0, draw]) for rv in model.free_RVs}
        potential = graph_replace(model.potentials[0], values).eval()
        np.testing.assert_allclose(pointwise[draw].sum() - log_choose, potential, rtol=1e-8)


def test_a_hand_built_table_fits_and_one_tier_data_are_refused():
    """A plain DataFrame with the five required columns fits; a model without deployment data is named."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame([{"model": m, "condition": c, "variant": v, "query_id": f"q{q}",
                        "complied": bool(rng.random() < (0.6 if c == "training" else 0.3))}
                       for m in ("a", "b") for c in ("training", "deployment") for v in ("default", "ncs")
                       for q in range(4) for _ in range(2)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = RationalAgent(draws=30, tune=30, chains=1, random_seed=1).fit(df)
    assert res.design.models == ["a", "b"] and res.summary()["model"].isin(["a", "b", "(population)"]).all()
    with pytest.raises(ValueError, match=r"RationalAgent: 1 of 4 condition\(s\).*model=b, variant=ncs"):
        RationalAgent().fit(df[~((df["model"] == "b") & (df["variant"] == "ncs") & (df["condition"] == "training"))])
    with pytest.raises(ValueError, match=r"RationalAgent: .*'complied'"):
        RationalAgent().fit(df.drop(columns="complied"))


def test_a_fit_with_a_covariate_is_stored_and_read_back(tmp_path):
    """The design's covariates have their own dimension in the stored design (the cell table
    already holds a variable ``model``): the fit is stored and read back with the same values."""
    df, _ = afd.simulate(n_models=3, n_queries=4, n_samples=2, variants="published",
                         covariates={"stated_values": 0.5}, seed=3)
    cov = [c for c in df.columns if c.startswith("x_")]
    assert cov
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 50 draws: storage is the point
        res = RationalAgent(draws=50, tune=50, chains=2, random_seed=0, covariates=cov).fit(df)
    assert list(res.design.covariates.columns) == cov
    back = afd.load_results(res.to_netcdf(tmp_path / "ra.nc"))
    pd.testing.assert_frame_equal(back.design.covariates, res.design.covariates)
    assert np.allclose(back.draws("theta_V"), res.draws("theta_V"))
