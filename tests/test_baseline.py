"""The papers' estimator and Wilson rates, against hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import afdecomp as afd
from afdecomp import schema


def _table(rows):
    df, problems = schema.normalize(pd.DataFrame(rows))
    assert not problems
    return df


def test_seed_sem_gap_matches_hand_computation():
    # 3 seeds x 2 queries per tier for one model.
    # seed 0: training 2/2, deployment 0/2 -> gap 1.0
    # seed 1: training 1/2, deployment 1/2 -> gap 0.0
    # seed 2: training 2/2, deployment 1/2 -> gap 0.5
    outcome = {0: ([1, 1], [0, 0]), 1: ([1, 0], [0, 1]), 2: ([1, 1], [1, 0])}
    rows = []
    for s, (tr, de) in outcome.items():
        for q, (a, b) in enumerate(zip(tr, de, strict=True)):
            rows.append({"model": "m", "variant": "default", "condition": "training",
                         "query_id": f"q{q}", "sample": s, "complied": bool(a)})
            rows.append({"model": "m", "variant": "default", "condition": "deployment",
                         "query_id": f"q{q}", "sample": s, "complied": bool(b)})
    out = afd.seed_sem_gap(_table(rows))
    assert len(out) == 1
    r = out.iloc[0]
    gaps = np.array([1.0, 0.0, 0.5])
    assert r["n_seeds"] == 3 and r["n"] == 12
    assert r["gap"] == pytest.approx(0.5, abs=1e-12)
    assert r["gap_sem"] == pytest.approx(np.std(gaps, ddof=1) / np.sqrt(3), abs=1e-12)  # 0.288675...
    assert r["rate_training"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert r["rate_deployment"] == pytest.approx((0 + 0.5 + 0.5) / 3)
    t = 0.5 / (0.5 / np.sqrt(3))
    assert r["t"] == pytest.approx(t)
    assert r["p_value"] == pytest.approx(2 * stats.t.sf(t, df=2))


def test_seed_sem_gap_single_seed_and_na_labels():
    rows = [{"model": "m", "variant": "v", "condition": c, "query_id": "q", "complied": x}
            for c, x in (("training", True), ("deployment", False), ("deployment", None))]
    rows[2]["query_id"] = "q2"
    out = afd.seed_sem_gap(_table(rows)).iloc[0]
    assert out["gap"] == 1.0 and out["n_seeds"] == 1 and np.isnan(out["gap_sem"]) and out["n"] == 2


def test_wilson_interval_reference_values():
    # Reference: k=8, n=10 at 95% -> (0.4902, 0.9433) (Wilson 1927; standard tables).
    lo, hi = afd.models.baseline.wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    lo, hi = afd.models.baseline.wilson_interval(0, 0)
    assert np.isnan(lo) and np.isnan(hi)


def test_rates_count_na_separately(tiny_df):
    r = afd.rates(tiny_df).set_index("condition")
    assert r.loc["deployment", ["k", "n", "n_na"]].tolist() == [1, 2, 1]
    assert r.loc["training", "rate"] == pytest.approx(2 / 3)
    assert (r["lo"] <= r["rate"]).all() and (r["rate"] <= r["hi"]).all()


def test_seed_sem_gap_names_one_tier_conditions_and_warns_on_zero_variance():
    rows = [{"model": m, "variant": "v", "condition": c, "query_id": f"q{q}", "sample": s, "complied": False}
            for m in ("a", "b") for c in ("training", "deployment") for q in range(3) for s in range(3)]
    df = pd.DataFrame(rows)  # hand-built: normalized by the estimator
    with pytest.warns(UserWarning, match=r"same gap in every seed \(a/v: 0% vs 0%; b/v: 0% vs 0%\)"):
        out = afd.seed_sem_gap(df)
    assert (out["gap"] == 0).all() and (out["gap_sem"] == 0).all()
    with pytest.raises(ValueError, match=r"model=b \(no labelled training generation\)"):
        afd.seed_sem_gap(df[~((df["model"] == "b") & (df["condition"] == "training"))])
    fresh = df.assign(complied=pd.NA)  # nothing labelled yet: an empty table, not an error
    assert afd.seed_sem_gap(fresh).empty
    with pytest.raises(ValueError, match="'model'"):
        afd.rates(df.drop(columns="model"))
