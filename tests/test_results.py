"""Tests of GapResults (afdecomp.results): summary, population gap, diagnostics, NetCDF."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest

import afdecomp as afd
from afdecomp.results import RHAT_MAX, SUMMARY_COLUMNS, ConvergenceWarning

from ._gap_data import small_fit


def test_summary_columns_and_values():
    df, truth, res = small_fit()
    s = res.summary()
    assert list(s.columns) == SUMMARY_COLUMNS == [
        "model", "scenario", "variant", "steer_vector", "steer_layer", "steer_coef",
        "rate_training", "rate_deployment", "gap", "gap_lo", "gap_hi", "n"]
    assert len(s) == 6
    assert (s["gap_lo"] <= s["gap"]).all() and (s["gap"] <= s["gap_hi"]).all()
    np.testing.assert_allclose(s["gap"], s["rate_training"] - s["rate_deployment"], atol=1e-12)
    assert s["n"].sum() == len(df)
    wider = res.summary(hdi_prob=0.99)
    assert ((wider["gap_hi"] - wider["gap_lo"]) >= (s["gap_hi"] - s["gap_lo"]) - 1e-12).all()


def test_population_gap_and_ppc():
    _, _, res = small_fit()
    pop = res.population_gap()
    s = res.summary()
    assert len(pop) == len(s) and {"gap", "gap_lo", "gap_hi"} <= set(pop.columns)
    # a new query adds (u, w) uncertainty: the interval is at least as wide as the observed-query one
    assert ((pop["gap_hi"] - pop["gap_lo"]) >= 0.9 * (s["gap_hi"] - s["gap_lo"])).all()
    ppc = res.ppc()
    assert {"observed", "predicted", "lo", "hi", "covered"} <= set(ppc.columns)
    assert ppc["covered"].mean() >= 0.5


def test_diagnostics_table():
    _, _, res = small_fit()
    d = res.diagnostics()
    assert list(d.columns) == ["parameter", "r_hat", "ess_bulk", "ess_tail"]
    assert d["parameter"].str.startswith("gamma[").sum() == 6
    assert d["r_hat"].notna().all()
    assert isinstance(res.divergences, int)


def test_seed_sem_kept_when_seeds_exist():
    df, _, res = small_fit()
    seed = res.seed_sem()
    expected = afd.seed_sem_gap(df)
    np.testing.assert_allclose(np.sort(seed["gap"].to_numpy()), np.sort(expected["gap"].to_numpy()))


def test_netcdf_round_trip(tmp_path):
    _, _, res = small_fit()
    path = res.to_netcdf(tmp_path / "res.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # loading does not repeat the fit's warnings
        back = afd.load_results(path)
    assert isinstance(back, afd.GapResults) and repr(back) == repr(res)
    pd.testing.assert_frame_equal(back.summary(), res.summary())
    pd.testing.assert_frame_equal(back.diagnostics(), res.diagnostics())
    pd.testing.assert_frame_equal(back.ppc(), res.ppc())
    assert back.divergences == res.divergences
    np.testing.assert_array_equal(back.draws("beta"), res.draws("beta"))


def test_load_results_rejects_other_files(tmp_path):
    import xarray as xr
    p = tmp_path / "other.nc"
    xr.DataTree(dataset=xr.Dataset({"a": ("x", [1.0])})).to_netcdf(p, engine="h5netcdf")
    with pytest.raises(ValueError, match="not an afdecomp results file"):
        afd.load_results(p)


def test_gap_results_real_dimensions_and_gap_draws():
    _, _, res = small_fit()
    g = res.by_condition("gap")
    assert set(g.dims) == {"draw", "model", "variant"}
    s = res.summary().set_index(["model", "variant"])
    one = g.sel(model="model-02", variant="ncs")
    assert one.mean().item() == pytest.approx(s.loc[("model-02", "ncs"), "gap"], abs=1e-12)
    # the analyses' shared method: by name, and by cues through the catalog (ncs: sycophancy 0)
    by_name = res.gap_draws("ncs")
    by_cues = res.gap_draws({"sycophancy": 0.0})
    assert by_name.dims == ("draw", "model")
    np.testing.assert_array_equal(by_name.to_numpy(), by_cues.to_numpy())
    np.testing.assert_allclose(by_name.sel(model="model-02").to_numpy(), one.to_numpy())
    assert res.gap_draws({"values": 0.0}).isnull().all()  # no such variant in the fit: NaN, not a guess
    assert res.fitted_variants() == ["default", "ncs"]


def test_one_convergence_check_for_every_kind():
    """Both kinds use the same check: too few draws give one ConvergenceWarning naming the fit."""
    _, _, res = small_fit()
    with pytest.warns(ConvergenceWarning, match=r"^ComplianceGap: .*ESS") as rec:
        msgs = res.check()
    assert len(rec) == 1 and msgs and all(isinstance(m, str) for m in msgs)
    ra = _rational_fit()[1]
    with pytest.warns(ConvergenceWarning, match=r"^RationalAgent: ") as rec:
        ra.check()
    assert len(rec) == 1
    assert "R-hat" in ra.diagnostics_line() and RHAT_MAX == 1.01


@functools.cache
def _rational_fit():
    """A tiny steered rational-agent fit (few draws: it does not converge, on purpose)."""
    df, _ = afd.simulate(n_models=2, n_queries=4, n_samples=2, variants=["default", "ncs"],
                         steering=[{"vector": "values", "layer": 2, "coefs": [-1.0, 1.0]}], seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return df, afd.RationalAgent(draws=60, tune=60, chains=2, random_seed=4).fit(df)


def test_rational_fit_saved_by_the_cli_loads_with_the_same_summary(tmp_path):
    """``afdecomp fit rational ... --out ra.nc`` writes what ``afd.load_results`` reads back."""
    from afdecomp.cli import main
    df, _ = afd.simulate(n_models=2, n_queries=4, n_samples=2, variants=["default", "ncs"], seed=6)
    data = tmp_path / "tidy.parquet"
    afd.write_logs(df, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", "rational", str(data), "--out", str(tmp_path / "ra.nc"), "--draws", "40",
                     "--tune", "40", "--chains", "2", "--seed", "1"]) == 0
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            back = afd.load_results(tmp_path / "ra.nc")
        fresh = afd.RationalAgent(draws=40, tune=40, chains=2, random_seed=1).fit(df)
    assert isinstance(back, afd.RationalResults)
    pd.testing.assert_frame_equal(back.summary(), fresh.summary())
    assert repr(back) == repr(fresh)


def test_rational_round_trip_keeps_design_catalog_and_predictions(tmp_path):
    df, res = _rational_fit()
    back = afd.load_results(res.to_netcdf(tmp_path / "ra.nc"))
    pd.testing.assert_frame_equal(back.summary(), res.summary())
    pd.testing.assert_frame_equal(back.diagnostics(), res.diagnostics())
    pd.testing.assert_frame_equal(back.identifiability, res.identifiability)
    pd.testing.assert_frame_equal(back.design.cells, res.design.cells)
    pd.testing.assert_frame_equal(back.ppc(), res.ppc())
    assert back.catalog == res.catalog and back.goal_guarding == res.goal_guarding
    np.testing.assert_array_equal(back.predict_gap("ncs", steer_vector="values", steer_coef=1.0),
                                  res.predict_gap("ncs", steer_vector="values", steer_coef=1.0))
    np.testing.assert_array_equal(back.log_likelihood()["k"].values, res.log_likelihood()["k"].values)
    assert "RationalResults: 2 model(s), 2 variant(s), 1 steering vector(s)" in repr(back)


def test_a_hand_built_table_fits_the_gap_model_and_one_tier_data_are_refused():
    rng = np.random.default_rng(2)
    df = pd.DataFrame([{"model": m, "condition": c, "variant": "default", "query_id": f"q{q}", "sample": s,
                        "complied": bool(rng.random() < (0.6 if c == "training" else 0.3))}
                       for m in ("a", "b") for c in ("training", "deployment") for q in range(4) for s in range(2)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = afd.ComplianceGap(draws=50, tune=50, chains=1, random_seed=2, progress=False).fit(df)
    assert list(res.summary()["model"]) == ["a", "b"] and res.seed_sem() is not None
    with pytest.raises(ValueError, match=r"1 of 2 condition\(s\) lack a labelled tier.*model=b"):
        afd.ComplianceGap().fit(df[~((df["model"] == "b") & (df["condition"] == "deployment"))])


def test_rational_results_real_dimensions():
    _, res = _rational_fit()
    gap = res.by_condition("gap")
    assert set(gap.dims) == {"draw", "model", "variant", "steer_vector", "steer_coef"}
    np.testing.assert_array_equal(gap.sel(model="model-01", variant="ncs", steer_vector="none", steer_coef=0.0),
                                  res.predict_gap("ncs").sel(model="model-01"))
    # the values vector was applied on the default variant only: NaN on ncs, a value on default
    assert gap.sel(variant="ncs", steer_vector="values", steer_coef=1.0).isnull().all()
    assert gap.sel(variant="default", steer_vector="values", steer_coef=1.0).notnull().all()
    rt, rd = res.by_condition("rate_training"), res.by_condition("rate_deployment")
    np.testing.assert_allclose((rt - rd).fillna(0), gap.fillna(0), atol=1e-12)


def test_the_analyses_read_a_gap_fit_through_gap_draws():
    """decompose and ablation_contrasts take a GapResults like any fit (no type checks)."""
    _, _, res = small_fit()
    t = afd.ablation_contrasts(results=res)
    assert set(t["variant"]) == {"default", "ncs"} and len(t) == 3 * 2
    ncs = t[t["variant"] == "ncs"].set_index("model")
    np.testing.assert_allclose(ncs["gap"], res.gap_draws("ncs").mean("draw").to_numpy())
    with pytest.raises(ValueError, match="does not cross"):  # 2 variants cannot give 8 cue combinations
        afd.decompose(res)
    with pytest.raises(TypeError, match="structural fit"):
        afd.steering_analysis(afd.simulate(n_models=1, n_queries=2, n_samples=1, seed=0)[0], res)


def test_one_interval_vocabulary():
    """ci_prob (ArviZ 1.x) everywhere; hdi_prob still works where the API named it."""
    _, _, res = small_fit()
    pd.testing.assert_frame_equal(res.summary(ci_prob=0.8), res.summary(hdi_prob=0.8))
    pd.testing.assert_frame_equal(res.summary(0.8), res.summary(ci_prob=0.8))
    with pytest.raises(ValueError, match="disagree"):
        res.summary(ci_prob=0.8, hdi_prob=0.9)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        res.ppc(ci_prob=94)
    t = afd.ablation_contrasts(results=res, ci_prob=0.5)
    pd.testing.assert_frame_equal(t, afd.ablation_contrasts(results=res, hdi_prob=0.5))
