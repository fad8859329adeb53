"""afdecomp.decompose: exactness, recovery of the true Shapley shares, symmetry, null drivers, errors."""

from __future__ import annotations

from itertools import product

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import afdecomp as afd
from afdecomp.analysis.decomposition import COALITIONS, PARTS, shapley, theory_shares
from afdecomp.design import Catalog, Variant

from ._decomp_fits import N_QUERIES, null_fit, plain_fit

DRIVERS = ("values", "goal_guarding", "sycophancy")


# ----------------------------------------------------------------------------- exact, no MCMC
class FakeGapResults:
    """A reduced-form results object (the CellGapResults protocol): per-draw gaps per condition."""

    def __init__(self, pairs: pd.DataFrame, gap: np.ndarray):
        self._pairs, self._gap = pairs, gap

    def pairs(self) -> pd.DataFrame:
        return self._pairs

    def draws(self, name: str) -> np.ndarray:
        assert name == "gap"
        return self._gap


def _crossed_catalog() -> Catalog:
    """Eight variants, one per combination of the three driver cues (stakes 1)."""
    vs = {f"v{a:g}{b:g}{c:g}": Variant(f"v{a:g}{b:g}{c:g}", values=a, goal_guarding=b, sycophancy=c)
          for a, b, c in product((0.0, 1.0), repeat=3)}
    vs["default"] = Variant("default")
    return Catalog(vs, {})


def _fake(weights: dict[str, np.ndarray], base: float = -0.5, remainder: float = 0.02, n_models: int = 2):
    """Gap(S) = σ(base + Σ_{d∈S} w_d + w_V·w_G·[V,G∈S]) − σ(base) + remainder: non-additive, known."""
    rows, cols = [], []
    for m in range(n_models):
        for a, b, c in product((0.0, 1.0), repeat=3):
            on = {"values": a, "goal_guarding": b, "sycophancy": c}
            x = base + sum(on[d] * weights[d] for d in DRIVERS) + a * b * weights["values"] * weights["goal_guarding"]
            rows.append({"model": f"m{m}", "variant": f"v{a:g}{b:g}{c:g}", "steer_vector": "none"})
            cols.append((m + 1) * (expit(x) - expit(base)) + remainder)
    return FakeGapResults(pd.DataFrame(rows), np.column_stack(cols))


def test_shapley_is_efficient_and_symmetric_on_a_known_game():
    G = {s: float(len(s) ** 2) for s in COALITIONS}  # symmetric game: equal shares
    phi = shapley(G)
    assert np.allclose(list(phi.values()), 9 / 3)
    G = {s: 2.0 * ("values" in s) + 0.5 * ("sycophancy" in s) for s in COALITIONS}  # additive game
    phi = shapley(G)
    assert phi["values"] == pytest.approx(2.0) and phi["sycophancy"] == pytest.approx(0.5)
    assert phi["goal_guarding"] == pytest.approx(0.0)


def test_reduced_form_decomposition_is_exact_and_swapping_parameters_swaps_shares():
    rng = np.random.default_rng(0)
    w = {"values": rng.normal(1.0, 0.3, 50), "goal_guarding": rng.normal(0.3, 0.3, 50),
         "sycophancy": rng.normal(-0.4, 0.3, 50)}
    cat = _crossed_catalog()
    dec = afd.decompose(_fake(w), catalog=cat)
    d = dec.draws
    assert np.abs(d[list(PARTS)].sum(axis=1) - d["gap"]).max() < 1e-12
    assert np.allclose(d["remainder"], 0.02)
    # the game is symmetric in (values, goal_guarding) up to their parameters: swap them
    swapped = afd.decompose(_fake({**w, "values": w["goal_guarding"], "goal_guarding": w["values"]}), catalog=cat)
    a, b = dec.shares, swapped.shares
    assert np.allclose(a.sel(driver="values"), b.sel(driver="goal_guarding"), atol=1e-12)
    assert np.allclose(a.sel(driver="goal_guarding"), b.sel(driver="values"), atol=1e-12)
    assert np.allclose(a.sel(driver="sycophancy"), b.sel(driver="sycophancy"), atol=1e-12)
    s = dec.summary()
    assert list(s.columns[:5]) == ["model", "driver", "share", "share_lo", "share_hi"]
    assert set(s["driver"]) == set(PARTS) and len(s) == 2 * 4


def test_a_driver_whose_cue_changes_nothing_gets_exactly_zero_share():
    rng = np.random.default_rng(1)
    w = {"values": rng.normal(1.0, 0.3, 20), "goal_guarding": rng.normal(0.5, 0.3, 20),
         "sycophancy": np.zeros(20)}
    dec = afd.decompose(_fake(w), catalog=_crossed_catalog())
    assert np.abs(dec.shares.sel(driver="sycophancy")).max() < 1e-15
    row = dec.summary().query("driver == 'sycophancy'")
    assert (row["share_lo"] <= 0).all() and (row["share_hi"] >= 0).all()


def test_reduced_form_without_crossed_cues_names_the_missing_combinations():
    rows = [{"model": "m0", "variant": v, "steer_vector": "none"}
            for v in ("default", "cut-company-policy", "cut-rlhf-modification", "ncs")]
    fake = FakeGapResults(pd.DataFrame(rows), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="does not cross") as e:
        afd.decompose(fake)
    msg = str(e.value)
    assert "values=0, goal_guarding=0, sycophancy=1" in msg
    assert "values=0, goal_guarding=0, sycophancy=0" in msg
    assert "values=1, goal_guarding=1, sycophancy=1" not in msg  # the default prompt is there
    with pytest.raises(TypeError, match="RationalResults"):
        afd.decompose(object())


def test_theory_shares_add_up_and_vanish_without_strategic_cues():
    u = np.linspace(-1, 1, 7)
    t = theory_shares(-0.3, 1.2, 0.5, 0.7, u)
    assert t["values"] + t["goal_guarding"] + t["sycophancy"] + t["remainder"] == pytest.approx(t["gap"], abs=1e-12)
    assert t["remainder"] == 0.0  # the theory: no cue, no gap
    assert theory_shares(-0.3, 1.2, 0.0, 0.7, u)["sycophancy"] == pytest.approx(0.0, abs=1e-15)


# ----------------------------------------------------------------------------- on rational fits
def _coverage(truth, dec, hdi_prob=0.9) -> pd.DataFrame:
    s = dec.summary(hdi_prob=hdi_prob)
    s = s[s["driver"].isin(DRIVERS)].copy()
    u = truth.query_effects.to_numpy()[:N_QUERIES]
    true = {m: theory_shares(*truth.params.loc[m, ["b", "V", "S", "g"]], u) for m in dec.models}
    s["truth"] = [true[m][d] for m, d in zip(s["model"], s["driver"], strict=True)]
    s["covered"] = (s["share_lo"] <= s["truth"]) & (s["truth"] <= s["share_hi"])
    return s


def test_rational_decomposition_is_exact_per_draw():
    _, _, res = null_fit()
    dec = afd.decompose(res)
    d = dec.draws
    assert len(d) == 4 * 600
    assert np.abs(d[list(PARTS)].sum(axis=1) - d["gap"]).max() < 1e-12
    # and the gap is the model's own predicted gap for the full prompt
    assert np.allclose(dec.gap.to_numpy(), res.predict_gap("default").to_numpy())
    new = afd.decompose(res, queries="new").draws  # a new query (Monte Carlo): still exact
    assert np.abs(new[list(PARTS)].sum(axis=1) - new["gap"]).max() < 1e-12
    assert np.allclose(new["remainder"], 0.0)


def test_share_recovery_over_two_seeds():
    """True Shapley shares (theory, true parameters) inside 90% HDIs for >= 85% of 24 pairs.

    Two fixed seeds x 4 models x 3 drivers (the remainder is 0 in truth and fit by
    construction and is not counted). Nominal 90% coverage; fewer than 21 of 24 covered would
    signal miscalibration. The slow test extends this to 4 more seeds.
    """
    cov = pd.concat([_coverage(null_fit()[1], afd.decompose(null_fit()[2])),
                     _coverage(plain_fit()[1], afd.decompose(plain_fit()[2]))])
    assert len(cov) == 24
    assert cov["covered"].mean() >= 0.85, cov.to_string()


def test_null_driver_share_interval_contains_zero():
    """S = 0 in every model: the sycophancy share's 94% HDI contains 0 for every model."""
    _, _, res = null_fit()
    s = afd.decompose(res).summary().query("driver == 'sycophancy'")
    assert ((s["share_lo"] <= 0) & (s["share_hi"] >= 0)).all(), s.to_string()
    # while values and goal guarding carry the gap
    other = afd.decompose(res).summary().query("driver in ['values', 'goal_guarding']")
    assert (other["share_lo"] > 0).mean() >= 0.75


def test_decompose_counterfactual_reference_prompt():
    """A reference prompt with a driver already cut gives that driver exactly zero share."""
    _, _, res = null_fit()
    dec = afd.decompose(res, cues="cut-rlhf-modification")
    assert np.abs(dec.shares.sel(driver="goal_guarding")).max() == 0.0
    assert np.allclose(dec.gap.to_numpy(), res.predict_gap("cut-rlhf-modification").to_numpy())


@pytest.mark.slow
def test_share_recovery_over_seeds():
    """>= 85% coverage of 90% HDIs over 4 seeds x 5 models x 3 drivers (60 pairs)."""
    frames = []
    for seed in (21, 22, 23, 24):
        _, truth, res = plain_fit(seed, n_models=5, draws=500)
        frames.append(_coverage(truth, afd.decompose(res)))
    cov = pd.concat(frames)
    assert len(cov) == 60
    assert cov["covered"].mean() >= 0.85, cov.groupby("driver")["covered"].mean()


# ----------------------------------------------------------------------------- ablation contrasts
def test_ablation_contrasts_data_and_model():
    df, _, res = null_fit()
    t = afd.ablation_contrasts(df, res, n_boot=300)
    assert set(t["source"]) == {"data", "model"}
    assert len(t) == 2 * 4 * 10
    ref = t[t["variant"] == "default"]
    assert (ref["contrast"] == 0).all() and ref["contrast_lo"].isna().all()
    # bootstrap and seed-SEM data intervals agree on the point gap (balanced design)
    s = afd.ablation_contrasts(df, method="seed")
    b = t[t["source"] == "data"].set_index(["model", "variant"])["gap"]
    assert np.allclose(s.set_index(["model", "variant"])["gap"].reindex(b.index), b)
    # the model says cutting the goal-guarding cue lowers the gap: contrast > 0
    m = t[(t["source"] == "model") & (t["variant"] == "cut-rlhf-modification")]
    assert (m["contrast_lo"] > 0).all()
    inter = t.dropna(subset=["contrast_lo"])
    assert (inter["contrast_lo"] <= inter["contrast"]).all() and (inter["contrast"] <= inter["contrast_hi"]).all()


def test_ablation_contrasts_on_reduced_form_results():
    rng = np.random.default_rng(2)
    fake = _fake({"values": rng.normal(1, 0.2, 30), "goal_guarding": rng.normal(0.5, 0.2, 30),
                  "sycophancy": rng.normal(0.3, 0.2, 30)})
    pairs = fake.pairs().copy()
    pairs.loc[pairs["variant"] == "v111", "variant"] = "default"
    fake = FakeGapResults(pairs, fake.draws("gap"))
    t = afd.ablation_contrasts(results=fake)
    assert set(t["source"]) == {"model"} and len(t) == 2 * 8
    with pytest.raises(ValueError, match="needs the data"):
        afd.ablation_contrasts()


# ----------------------------------------------------------------------------- figures
def test_figures_have_labels_and_legends():
    import matplotlib.pyplot as plt

    df, _, res = null_fit()
    ax = afd.plot.decomposition(afd.decompose(res))
    assert ax.get_xlabel() and ax.get_legend() is not None
    assert [t.get_text() for t in ax.get_yticklabels()] == list(res.design.models)
    con = afd.ablation_contrasts(df, res, n_boot=200)
    axes = afd.plot.ablation_forest(con, None)
    assert len(axes) == 2 and "No AF-reasoning labels" in axes[1].texts[0].get_text()
    rates = pd.DataFrame({"model": "model-01", "variant": ["default", "ncs"], "rate": [0.3, 0.1],
                          "lo": [0.2, 0.05], "hi": [0.4, 0.2]})
    axes = afd.plot.ablation_forest(con, rates)
    assert not axes[1].texts and axes[1].get_xlabel().startswith("AF-reasoning rate")
    score = {m: i - 1.5 for i, m in enumerate(res.design.models)}
    ax = afd.plot.gap_vs_covariate(res, df.assign(x_score=df["model"].astype(str).map(score)), "x_score")
    assert ax.get_xlabel().startswith("score") and ax.get_ylabel()
    assert "least-squares" in ax.get_legend().get_texts()[0].get_text()
    plt.close("all")


def test_report_sections_reuse_the_cached_rational_fit(tmp_path, monkeypatch):
    from afdecomp import report
    from afdecomp.models.rational import RationalAgent

    df, _, res = null_fit()
    monkeypatch.setattr(RationalAgent, "fit", lambda *a, **k: pytest.fail("the sections must not refit"))
    ctx = report.Context(df, tmp_path, cache={"rational": res})
    sec = report.SECTIONS["decomposition"][1](ctx)
    figs = [b.name for b in sec.blocks if isinstance(b, report.Figure)]
    assert figs == ["decomposition", "ablation_forest"]  # no x_* covariate in these data
    assert "decomposition" in ctx.cache and "ablation_contrasts" in ctx.cache
    sec = report.SECTIONS["steering"][1](ctx)
    assert [b.name for b in sec.blocks if isinstance(b, report.Figure)] == ["steering_gap", "steering_rates"]
    assert ctx.cache["steering"].curves is not None
    # without a rational fit: a note, not an error; without steering: no section
    empty = report.Context(df, tmp_path)
    assert "Not computed" in report.SECTIONS["decomposition"][1](empty).blocks[0].markdown
    unsteered = df[df["steer_vector"].astype(str) == "none"]
    assert report.SECTIONS["steering"][1](report.Context(unsteered, tmp_path)) is None
    assert report.SECTIONS["decomposition"][0] > report.SECTIONS["rational"][0]
    import matplotlib.pyplot as plt
    plt.close("all")
