"""Tests of afdecomp.plot: the gap figures (gaps, ppc), rates per scenario, and the conventions every
figure follows (ax=/axes=, ci_prob with hdi_prob as its older name)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import inspect  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import afdecomp as afd  # noqa: E402

from ._gap_data import small_fit  # noqa: E402


def test_gaps_two_panels_with_seed_overlay():
    _, _, res = small_fit()
    ax = afd.plot.gaps(res)
    fig = ax.figure
    assert len(fig.axes) == 2  # rates | gaps
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]  # shared y: labels on the left
    assert labels == ["model-01", "model-02", "model-03"]
    # the gap points sit at the posterior means of the default variant
    s = res.summary()
    s = s[s["variant"] == "default"].set_index("model")
    xs = np.sort(np.concatenate([line.get_xdata() for line in ax.lines if line.get_marker() == "o"]))
    for g in s["gap"]:
        assert np.isclose(xs, g).any()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "seed mean ± SEM (papers)" in legend
    plt.close(fig)


def test_gaps_on_given_axes_and_ppc():
    _, _, res = small_fit()
    fig, ax = plt.subplots()
    assert afd.plot.gaps(res, ax=ax) is ax
    assert len(fig.axes) == 1
    fig2, ax2 = plt.subplots()
    assert afd.plot.ppc(res, ax=ax2) is ax2
    assert "Posterior predictive check" in ax2.get_title()
    assert len(ax2.lines) >= 1
    plt.close(fig)
    plt.close(fig2)


# ----------------------------------------------------------------------------- conventions
def _two_scenarios():
    a, _ = afd.simulate(n_models=2, n_queries=5, n_samples=2, scenario="helpful-only", seed=1)
    b, _ = afd.simulate(n_models=2, n_queries=5, n_samples=2, scenario="animal-welfare", seed=2)
    return pd.concat([a, b], ignore_index=True)


def test_rates_one_row_per_model_and_scenario_as_in_the_table():
    r = afd.rates(_two_scenarios())
    ax = afd.plot.rates(r)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["model-01 · animal-welfare", "model-01 · helpful-only", "model-02 · animal-welfare",
                      "model-02 · helpful-only"]
    assert "2 scenarios" in ax.get_title()
    # the points are the table's rates (nothing pooled or recomputed)
    train = r[r["condition"] == "training"].sort_values(["model", "scenario"])["rate"].to_numpy()
    drawn = [line for line in ax.lines if line.get_marker() == "o"][0].get_xdata()
    np.testing.assert_allclose(drawn, train)
    plt.close(ax.figure)


def test_rates_unknown_variant_names_the_known_ones():
    r = afd.rates(_two_scenarios())
    with pytest.raises(ValueError, match=r"variant 'ncs' is not in the table; known: \['default'\]"):
        afd.plot.rates(r, variant="ncs")


def test_every_figure_takes_ax_or_axes_and_one_interval_vocabulary():
    single = ["seed_gaps", "rates", "gaps", "ppc", "rational_params", "gap_vs_values", "gap_vs_covariate",
              "decomposition", "roc", "calibration", "auroc_by_votes"]
    multi = ["ablation_forest", "steering", "gaps"]
    for name in single:
        assert "ax" in inspect.signature(getattr(afd.plot, name)).parameters, name
    for name in multi:
        assert "axes" in inspect.signature(getattr(afd.plot, name)).parameters, name
    for name in ["gaps", "ppc", "rational_params", "gap_vs_values", "gap_vs_covariate", "decomposition",
                 "ablation_forest"]:
        params = inspect.signature(getattr(afd.plot, name)).parameters
        assert "ci_prob" in params and "hdi_prob" in params, name  # hdi_prob: the older name, still accepted
        assert params["ci_prob"].default is None  # 94% (or the fit's, which defaults to 94%)
    assert set(afd.plot.__all__) >= set(single) | set(multi)


def test_ci_prob_and_hdi_prob_are_one_setting():
    from afdecomp.plot._style import ci_prob_of
    assert ci_prob_of() == 0.94 and ci_prob_of(hdi_prob=0.9) == 0.9 and ci_prob_of(0.8) == 0.8
    with pytest.raises(ValueError, match="disagree"):
        ci_prob_of(0.8, 0.9)
    _, _, res = small_fit()
    a = afd.plot.gaps(res, ci_prob=0.5)
    b = afd.plot.gaps(res, hdi_prob=0.5)
    assert a.get_xlabel() == b.get_xlabel() == "compliance gap (posterior mean, 50% HDI)"
    assert "94% HDI" in afd.plot.ppc(res).get_ylabel()
    plt.close("all")


def test_gaps_both_panels_on_given_axes():
    _, _, res = small_fit()
    fig, axes = plt.subplots(1, 2)
    assert afd.plot.gaps(res, axes=axes) is axes[1]
    assert axes[0].get_title().startswith("training")
    with pytest.raises(ValueError, match="not both"):
        afd.plot.gaps(res, ax=axes[0], axes=axes)
    plt.close(fig)


def test_steering_draws_on_given_axes():
    df, _ = afd.simulate(n_models=2, n_queries=5, n_samples=2, seed=4,
                         steering=[{"vector": "values", "layer": 3, "coefs": [-1.0, 1.0]},
                                   {"vector": "random-0", "layer": 3, "coefs": [-1.0, 1.0]}])
    sa = afd.steering_analysis(df, None)
    n_panels = len(sa.panels()[["steer_vector", "steer_layer"]].drop_duplicates())
    fig, axes = plt.subplots(2, n_panels, squeeze=False)
    out = afd.plot.steering(sa, axes=axes)
    assert out.shape == (2, n_panels) and out[0, 0] is axes[0, 0] and axes[0, 0].lines
    with pytest.raises(ValueError, match="axes must have shape"):
        afd.plot.steering(sa, axes=axes[:1])
    plt.close("all")
