"""Tests of the statsmodels baseline afdecomp.glm_gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import afdecomp as afd


def test_columns_rates_and_interval():
    df, truth = afd.simulate(n_models=3, n_queries=40, n_samples=4, variants=["default", "ncs"], seed=4)
    g = afd.glm_gap(df)
    assert list(g.columns[:12]) == ["model", "scenario", "variant", "steer_vector", "steer_layer", "steer_coef",
                                    "rate_training", "rate_deployment", "gap", "gap_lo", "gap_hi", "n"]
    r = afd.rates(df).pivot_table(index=["model", "variant"], columns="condition", values="rate", observed=True)
    g2 = g.set_index(["model", "variant"])
    # without query effects in the predictor, the GLM's rates are the pooled k/n (to IRLS tolerance)
    np.testing.assert_allclose(g2["rate_training"], r.loc[g2.index, "training"], atol=1e-8)
    np.testing.assert_allclose(g2["rate_deployment"], r.loc[g2.index, "deployment"], atol=1e-8)
    assert (g["gap_lo"] < g["gap"]).all() and (g["gap"] < g["gap_hi"]).all()
    # truth is within 4 standard errors everywhere (a very loose check that the SEs are sane)
    m = g.merge(truth.gaps, on=["model", "variant"], suffixes=("", "_true"))
    assert ((m["gap"] - m["gap_true"]).abs() < 4 * m["gap_se"]).all()


def test_queries_are_the_replicate():
    # Clustered by query, the gap's standard error is that of a paired design over queries:
    # for balanced data the sandwich reduces to sd(per-query gap) / sqrt(#queries), up to the
    # small-sample factor G / (G - 1) (about 3% here). Tolerance 10% relative.
    df, _ = afd.simulate(n_models=1, n_queries=30, n_samples=8, population={"sigma_u": 2.0}, seed=9)
    g = afd.glm_gap(df)
    per_q = df.pivot_table(index="query_id", columns="condition", values="complied",
                           aggfunc="mean", observed=True)
    d = (per_q["training"] - per_q["deployment"]).to_numpy(dtype=float)
    paired = d.std(ddof=1) / np.sqrt(len(d))
    assert abs(g["gap_se"].iloc[0] / paired - 1) < 0.10, (g["gap_se"].iloc[0], paired)


def test_same_on_cells_and_table_and_separation_warns():
    df, _ = afd.simulate(n_models=2, n_queries=10, n_samples=2, seed=1)
    pd.testing.assert_frame_equal(afd.glm_gap(df), afd.glm_gap(afd.aggregate(df)))
    df.loc[df["condition"] == "deployment", "complied"] = False
    with pytest.warns(UserWarning, match="0% or 100%"):
        g = afd.glm_gap(df)
    assert g["gap_lo"].isna().all() and g["gap"].notna().all()


def test_one_tier_condition_is_named():
    df, _ = afd.simulate(n_models=2, n_queries=5, n_samples=2, seed=1)
    one = df[~((df["model"] == "model-02") & (df["condition"] == "training"))]
    with pytest.raises(ValueError, match=r"model=model-02.*no labelled training"):
        afd.glm_gap(one)
    with pytest.raises(ValueError, match=r"model=model-02.*no labelled training"):
        afd.glm_gap(afd.aggregate(one, check_tiers=False))  # cells too
