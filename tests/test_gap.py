"""Tests of the hierarchical compliance-gap model (afdecomp.models.gap)."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest

import afdecomp as afd
from afdecomp.models.gap import ComplianceGap, as_cells, design
from afdecomp.results import ConvergenceWarning

from ._gap_data import recovery_study

KEYS = ["model", "variant", "steer_vector", "steer_coef"]


def _fit(df, **kw):
    kw = {"draws": 300, "tune": 300, "random_seed": 0, "progress": False, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ComplianceGap(**kw).fit(df)


@functools.lru_cache(maxsize=4)
def _recovery_fit(seed, draws=300):
    df, truth = recovery_study(seed)
    return df, truth, _fit(df, draws=draws, tune=draws, random_seed=seed)


def _coverage(seeds, draws=300):
    hits, rows = [], []
    for seed in seeds:
        df, truth, res = _recovery_fit(seed, draws)
        s = res.summary().merge(truth.gaps[KEYS + ["gap"]].rename(columns={"gap": "true"}), on=KEYS)
        assert len(s) == len(truth.gaps)
        hits.append((s["gap_lo"] <= s["true"]) & (s["true"] <= s["gap_hi"]))
        rows.append(s.assign(seed=seed))
    return pd.concat(hits).to_numpy(), pd.concat(rows), res, df


def test_recovery_covers_true_gaps_including_negative_and_zero():
    # 3 seeds x 6 models x 3 variants = 54 conditions: positive, negative (S < 0, g = 0) and
    # exactly zero (S = g = 0) gaps, unbalanced samples, one model with 5 queries. Nominal
    # coverage is 94%; we require >= 90% (at most 5 misses of 54; 5 observed in development).
    # A calibrated interval fails this with probability ~0.2 for a fresh set of seeds, but the
    # seeds are fixed; a model that over-shrinks outlying models fails it (the same model without
    # the model-level effect covered 87%).
    covered, s, _, _ = _coverage([13, 14, 15])
    assert covered.mean() >= 0.90, s[~covered]
    assert (s["true"] < -0.05).any() and (s["true"].abs() < 1e-12).any()  # the design has both


@pytest.mark.slow
def test_recovery_sweep():
    covered, s, _, _ = _coverage(range(21, 27), draws=500)
    assert covered.mean() >= 0.90, s[~covered]


def test_agrees_with_glm_where_data_are_plentiful():
    # Models 03 and 04 of the recovery fits (30 queries, 3 and 5 samples per cell, not outliers).
    # Both estimators target the gap averaged over the observed queries; the posterior mean
    # differs from the GLM's no-pooling estimate by partial pooling (shrinkage factor
    # SE^2 / (SE^2 + tau^2) times the distance to the population: a fraction of one SE for a
    # typical model) plus Monte Carlo error (300 draws). Tolerance: 0.75 x the GLM's
    # cluster-robust SE + 0.01 per condition, and a median |difference| / SE below 0.5 over
    # every condition with a finite SE (outliers included; ~0.3 in development).
    rows = []
    for seed in (13, 14, 15):
        df, _, res = _recovery_fit(seed, 300)  # the fits of the recovery test (cached)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # conditions with a tier at 0% have no GLM interval
            glm = afd.glm_gap(df)
        rows.append(res.summary().merge(glm, on=KEYS, suffixes=("", "_glm")))
    m = pd.concat(rows, ignore_index=True)
    m["diff"] = (m["gap"] - m["gap_glm"]).abs()
    plenty = m[m["model"].isin(["model-03", "model-04"])]
    assert len(plenty) == 18
    ok = plenty["diff"] <= 0.75 * plenty["gap_se"] + 0.01
    assert ok.all(), plenty.loc[~ok, ["model", "variant", "gap", "gap_glm", "gap_se"]]
    assert (m["diff"] / m["gap_se"]).median() < 0.5


def test_shrinkage_few_pulled_to_population_many_not():
    # Five ordinary models, one with lots of data and a large true gap (S = 3), and one with
    # three queries and one sample whose observed gap is an extreme 1.0 (all comply in
    # training, none in deployment).
    params = pd.DataFrame({"S": [3.0]}, index=["model-01"])
    df, _ = afd.simulate(n_models=6, n_queries=30, n_samples=[12, 3, 3, 3, 3, 3], params=params, seed=5)
    few = df[(df["model"] == "model-02") & (df["sample"] == 0) & df["query_id"].isin(["q0000", "q0001", "q0002"])].copy()
    few["model"] = "model-few"
    few["complied"] = few["condition"] == "training"
    df = pd.concat([df.astype({"model": str}), few.astype({"model": str})], ignore_index=True)
    res = _fit(df, draws=300, tune=300, random_seed=5)
    s = res.summary().set_index("model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # model-few has tiers at 0% and 100%
        glm = afd.glm_gap(df).set_index("model")  # raw pooled rates
    pop = glm.loc[["model-02", "model-03", "model-04", "model-05", "model-06"], "gap"].mean()

    def pulled(m):  # fraction of the way from the observed gap to the population
        return (glm.loc[m, "gap"] - s.loc[m, "gap"]) / (glm.loc[m, "gap"] - pop)

    assert glm.loc["model-few", "gap"] == 1.0
    assert pulled("model-few") > 0.3, s.loc["model-few"]            # strongly shrunk
    assert pop < s.loc["model-few", "gap"] < 1.0                    # ... but not past the population
    assert abs(pulled("model-01")) < 0.1, (s.loc["model-01"], glm.loc["model-01"])  # barely moved


def test_bad_fit_warns_and_same_seed_same_posterior():
    df, _ = afd.simulate(n_models=2, n_queries=8, n_samples=2, seed=1)
    with pytest.warns(ConvergenceWarning, match="R-hat|ESS"):
        a = ComplianceGap(draws=10, tune=10, random_seed=7, progress=False).fit(df)
    b = _fit(df, draws=10, tune=10, random_seed=7)
    np.testing.assert_array_equal(a.draws("gap"), b.draws("gap"))
    pd.testing.assert_frame_equal(a.summary(), b.summary())


def test_cells_and_table_give_the_same_design():
    df, _ = afd.simulate(n_models=2, n_queries=5, n_samples=2, variants=["default", "ncs"], seed=0)
    a, b = design(as_cells(df)), design(as_cells(afd.aggregate(df)))
    np.testing.assert_array_equal(a.cell_k, b.cell_k)
    assert len(a.pairs) == 4 and a.pairs["n"].sum() == len(df)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="'n' and 'k'"):
        as_cells(pd.DataFrame({"model": ["a"]}))
    cells = afd.aggregate(afd.simulate(n_models=1, n_queries=2, n_samples=1)[0])
    cells.loc[0, "k"] = 5
    with pytest.raises(ValueError, match="k outside"):
        as_cells(cells)
    with pytest.raises(ValueError, match="sampler"):
        ComplianceGap(sampler="gibbs")


def test_structure_follows_the_design():
    from afdecomp.models.gap import default_target_accept, structure

    def st(**kw):
        return structure(design(as_cells(afd.simulate(**kw)[0])))

    one_variant = st(n_models=4, n_queries=10, n_samples=3, seed=1)
    assert not one_variant.model_level and one_variant.pair_level   # δ and the pairs would be one level
    one_model = st(n_models=1, n_queries=10, n_samples=3, variants=["default", "ncs", "low-stakes"], seed=1)
    assert not one_model.model_level and not one_model.pair_level   # each setting has one pair: μ alone
    crossed = st(n_models=4, n_queries=10, n_samples=3, variants=["default", "ncs"], seed=1)
    assert crossed.model_level and crossed.pair_level
    rich = st(n_models=6, n_queries=40, n_samples=5, seed=0)        # 400 generations per pair, τ ≈ 0.8
    assert rich.a_beta.min() > 0.5 and 0 <= rich.a_w < 0.3          # β pinned by data; σ_w (truly 0) is not
    # few pairs per effect: the pair scale is barely informed and NUTS takes smaller steps
    assert (one_variant.pair_df, default_target_accept(one_variant)) == (3, 0.95)
    assert rich.pair_df == 5 and default_target_accept(st(n_models=20, n_queries=10, n_samples=2, seed=0)) == 0.9


def test_steadiest_weight_is_the_gaussian_optimum_at_one_scale_and_between_over_a_range():
    from afdecomp.models.gap import _steadiest_weight
    se2 = np.array([0.01, 0.04, 1.0])
    # at a single scale τ the conditional scale of x̃ does not vary for any a; as the range
    # shrinks to τ the weight tends to the Gaussian optimum τ² / (τ² + se²) (grid of 0.01)
    narrow = _steadiest_weight(0.2, 0.2 * 1.05, se2)
    np.testing.assert_allclose(narrow, 0.04 / (0.04 + se2), atol=0.03)
    # over 0.01..1 for a pinned element (se 0.1) neither form suits the whole range
    a = _steadiest_weight(0.01, 1.0, np.array([0.01]))[0]
    assert 0.2 < a < 0.8


@pytest.mark.parametrize("grid", ["complete", "incomplete"])
def test_reparameterised_prior_is_the_model_prior(grid):
    # The pair effects are sampled through the setting means' conditional and centred within
    # each setting, and on a complete model × setting grid through the model means r = δ + x̄_m
    # and δ's conditional given r (build_model); the prior must still be mu ~ N(0, (1.5, 1)),
    # δ ~ ZeroSumNormal(tau_model) and (b - mu - delta) / tau ~ N(0, 1) independent of mu and δ,
    # for the midpoint b = beta + gamma/2 and for gamma. 4,000 prior draws: the SD of a sample SD
    # is ~1.1%, so 5% tolerances (and |corr| < 0.05, ~3 SE) fail only on a real error.
    import pymc as pm

    from afdecomp.models.gap import build_model, structure
    cells = as_cells(afd.simulate(n_models=4, n_queries=6, n_samples=2, variants=["default", "ncs"], seed=2)[0])
    if grid == "incomplete":   # one model without its second variant: no two-way split
        cells = cells[~((cells["model"] == cells["model"].iloc[0]) & (cells["variant"] == "ncs"))]
    d = design(cells)
    assert structure(d).crossed == (grid == "complete")
    names = ["mu", "chol_stds", "tau_model", "delta_midpoint", "delta_gamma", "beta", "gamma"]
    with build_model(d), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pr = pm.sample_prior_predictive(draws=4000, random_seed=1, var_names=names)["prior"]
    v = {k: pr[k].values[0] for k in names}
    mu = v["mu"]
    np.testing.assert_allclose(mu.std(axis=0), [[1.5, 1.0]] * len(d.settings), rtol=0.05)
    M = len(d.models)
    pair = {"midpoint": v["beta"] + 0.5 * v["gamma"], "gamma": v["gamma"]}
    for j, name in enumerate(["midpoint", "gamma"]):
        delta = v[f"delta_{name}"]
        np.testing.assert_allclose((delta / v["tau_model"][:, j:j + 1]).std(axis=0), np.sqrt((M - 1) / M), rtol=0.05)
        z = (pair[name] - mu[:, d.pair_setting, j] - delta[:, d.pair_model]) / v["chol_stds"][:, j:j + 1]
        np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=0.05)
        assert np.abs(z.mean(axis=0)).max() < 0.06
        assert abs(np.corrcoef(z[:, 0], mu[:, d.pair_setting[0], j])[0, 1]) < 0.05
        assert abs(np.corrcoef(z[:, 0], delta[:, d.pair_model[0]])[0, 1]) < 0.05


def test_sampler_adds_chains_until_converged_and_not_for_a_short_fit():
    """Batches of chains are added while ``converged`` says no and the ESS projected to
    ``max_chains`` chains could reach ``ESS_MIN`` (the check's threshold); they are pooled along
    ``chain``. A fit whose projection falls short stops after one batch."""
    import pymc as pm

    from afdecomp.models._sampling import sample
    from afdecomp.results import ESS_MIN
    with pm.Model() as model:
        pm.Normal("x", 0.0, 1.0)
    answers = iter([(False, ESS_MIN / 2), (True, 2.0 * ESS_MIN)])   # 2 chains now, 6 at most: 3x projected
    idata = sample(model, draws=50, tune=50, chains=2, random_seed=0, sampler="nutpie",
                   converged=lambda idata: next(answers), max_chains=6)
    assert (idata.attrs["batches"], idata.attrs["chains"]) == (2, 4)
    assert idata["posterior"].sizes["chain"] == 4 and list(idata["posterior"]["chain"].values) == [0, 1, 2, 3]
    assert idata["sample_stats"].sizes["chain"] == 4
    x = idata["posterior"]["x"].values
    assert not np.allclose(x[:2], x[2:])                    # new seeds, not the same chains again
    short = sample(model, draws=50, tune=50, chains=2, random_seed=0, sampler="nutpie",
                   converged=lambda idata: (False, ESS_MIN / 4), max_chains=6)   # 6 chains: 0.75 x ESS_MIN
    assert (short.attrs["batches"], short.attrs["chains"]) == (1, 2)
