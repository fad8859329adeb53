"""afdecomp.aggregate: cells with n, k and counted NA labels."""

from __future__ import annotations

import pytest

import afdecomp as afd


def test_cells_count_labelled_and_na(tiny_df):
    with pytest.warns(UserWarning, match="1 generation"):
        cells = afd.aggregate(tiny_df)
    by = cells.set_index(["condition", "query_id"])
    assert by.loc[("training", "q1"), ["n", "k", "n_na"]].tolist() == [2, 2, 0]
    assert by.loc[("training", "q2"), ["n", "k", "n_na"]].tolist() == [1, 0, 0]
    assert by.loc[("deployment", "q1"), ["n", "k", "n_na"]].tolist() == [2, 1, 0]
    # the all-NA cell is kept with n = 0 and its NA counted
    assert by.loc[("deployment", "q2"), ["n", "k", "n_na"]].tolist() == [0, 0, 1]
    assert cells["n"].sum() + cells["n_na"].sum() == len(tiny_df)


def test_cells_keep_na_steer_layer_and_sum_to_rows():
    df, _ = afd.simulate(n_models=2, n_queries=3, n_samples=4, variants=["default", "ncs"],
                         steering=[{"vector": "random-1", "layer": 5, "coefs": [-1, 1]}], seed=1)
    cells = afd.aggregate(df, warn=False)
    assert cells["n"].sum() == len(df)
    assert cells["k"].sum() == int(df["complied"].sum())
    assert (cells["n"] == 4).all()
    assert cells["steer_layer"].isna().sum() == 2 * 2 * 2 * 3  # unsteered cells keep NA layer
    assert set(cells["condition"].cat.categories) == {"training", "deployment"}


def test_other_labels_can_be_counted(tiny_df):
    df = tiny_df.assign(af_reasoning=tiny_df["complied"])
    cells = afd.aggregate(df, label="af_reasoning", warn=False)
    assert cells["k"].sum() == 3


def _hand_built(n_models=2, per_query=2):
    """A plain DataFrame as a notebook user writes it: the five required columns, nothing else."""
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(0)
    return pd.DataFrame([{"model": f"m{m}", "condition": c, "variant": "default", "query_id": f"q{q}",
                          "complied": bool(rng.random() < (0.7 if c == "training" else 0.3))}
                         for m in range(n_models) for c in ("training", "deployment") for q in range(5)
                         for _ in range(per_query)])


def test_a_hand_built_table_aggregates_and_a_missing_column_is_named_in_one_line():
    df = _hand_built()
    cells = afd.aggregate(df)
    assert cells["n"].sum() == len(df) and cells["k"].sum() == int(df["complied"].sum())
    assert {"scenario", "steer_vector", "steer_layer", "steer_coef", "oversight"} <= set(cells.columns)
    with pytest.raises(ValueError, match=r"lacks the required column\(s\) 'query_id'") as e:
        afd.aggregate(df.drop(columns="query_id"))
    assert "\n" not in str(e.value)
    with pytest.raises(afd.SchemaError, match="condition"):
        afd.aggregate(df.assign(condition="train"))


def test_a_condition_with_one_tier_is_named():
    df = _hand_built(n_models=3)
    one_tier = df[~((df["model"] == "m1") & (df["condition"] == "deployment"))]
    with pytest.raises(ValueError, match=r"1 of 3 condition\(s\) lack a labelled tier.*model=m1.*no labelled deployment"):
        afd.aggregate(one_tier)
    unlabelled = df.assign(complied=df["complied"].where(df["model"] != "m2"))
    with pytest.raises(ValueError, match=r"model=m2 \(no labelled generation\)"):
        afd.aggregate(unlabelled, warn=False)
    assert len(afd.aggregate(one_tier, check_tiers=False)) == 25  # asked for: aggregated anyway
