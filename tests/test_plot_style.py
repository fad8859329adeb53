"""The paper style (afd.plot.style): what it sets, that it is restored, that plot functions follow
it (palette, width, fonts) and that nothing is clipped; and the three-driver figures
(steering_bars, steering_layers, outcomes) drawn from counts checked by hand."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import afdecomp as afd  # noqa: E402

from .conftest import ROOT  # noqa: E402

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7"]


def _tidy(models=("alpha-model", "a-much-longer-model-name-02"), n_q=6, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for m in models:
        for cond, p in (("training", 0.6), ("deployment", 0.3)):
            for q in range(n_q):
                for s in range(3):
                    c = bool(rng.random() < p)
                    rows.append({"model": m, "variant": "default", "condition": cond, "query_id": f"q{q}",
                                 "sample": s, "complied": c, "partial": c and bool(rng.random() < 0.3)})
    return pd.DataFrame(rows)


def test_style_sets_and_restores_rcparams():
    before = dict(mpl.rcParams)
    with afd.plot.style(columns=1):
        assert mpl.rcParams["figure.figsize"][0] == pytest.approx(3.4)
        assert mpl.rcParams["font.size"] == 9
        assert mpl.rcParams["savefig.bbox"] == "tight"
        assert mpl.rcParams["svg.fonttype"] == "none" and mpl.rcParams["pdf.fonttype"] == 42
        assert [afd.plot.PALETTE(i).upper() for i in range(4)] == OKABE_ITO
        assert afd.plot.DRIVER_COLORS["values"].upper() == OKABE_ITO[0]
    assert dict(mpl.rcParams) == before
    assert afd.plot.PALETTE(0) == mpl.rcParams["axes.prop_cycle"].by_key()["color"][0]  # default cycle again
    with afd.plot.style(columns=2, font_size=10):
        assert mpl.rcParams["figure.figsize"][0] == pytest.approx(7.0) and mpl.rcParams["font.size"] == 10
    with pytest.raises(ValueError, match="columns must be one of"):
        afd.plot.style(columns=3)
    assert afd.plot.STYLE_SHEET.exists()  # shipped as package data; plt.style.use accepts it
    with plt.style.context(afd.plot.STYLE_SHEET):
        assert mpl.rcParams["axes.spines.top"] is False


@pytest.mark.parametrize("columns", [1, 2])
def test_plot_functions_follow_the_style_and_clip_nothing(columns):
    df = _tidy()
    with afd.plot.style(columns=columns):
        figs = [afd.plot.rates(afd.rates(df)).figure, afd.plot.seed_gaps(afd.seed_sem_gap(df)).figure,
                afd.plot.outcomes(df).figure]
        for fig in figs:
            assert fig.get_size_inches()[0] == pytest.approx(afd.plot.COLUMN_WIDTHS[columns])
            fig.canvas.draw()
            ax = fig.axes[0]
            # colours from the style's cycle, fonts from its sizes
            colours = {mpl.colors.to_hex(c.get_color()).upper() for c in ax.lines if c.get_marker() not in (None, "None", "")}
            colours |= {mpl.colors.to_hex(p.get_facecolor()).upper() for p in ax.patches}
            assert colours & set(OKABE_ITO), colours
            assert {t.get_fontsize() for t in ax.get_xticklabels()} == {8.0}
            # every text inside the figure (constrained layout), so a tight bbox cuts nothing either
            r = fig.canvas.get_renderer()
            box = fig.bbox
            for t in fig.findobj(mpl.text.Text):
                if t.get_visible() and t.get_text().strip() and t.axes is not None and not t.get_clip_on():
                    e = t.get_window_extent(r)
                    assert e.x0 >= box.x0 - 1 and e.x1 <= box.x1 + 1, (t.get_text(), e, box)
            plt.close(fig)
    # outside the style the functions keep their own sizes
    fig = afd.plot.rates(afd.rates(df)).figure
    assert fig.get_size_inches()[0] == pytest.approx(6.5)
    plt.close(fig)


def test_saved_vector_files_keep_text(tmp_path):
    df = _tidy()
    with afd.plot.style(columns=1):
        fig = afd.plot.seed_gaps(afd.seed_sem_gap(df)).figure
        fig.savefig(tmp_path / "f.svg")
        fig.savefig(tmp_path / "f.pdf")
    svg = (tmp_path / "f.svg").read_text()
    assert "<text" in svg and "a-much-longer-model-name-02" in svg  # text, not paths
    assert (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"
    plt.close(fig)


def test_outcomes_shares_are_the_counts():
    df = _tidy(models=("m1",), n_q=10)
    ax = afd.plot.outcomes(df)
    bars = [p for p in ax.patches if p.get_height() > 0]
    for tier in ("training", "deployment"):
        t = df[df["condition"] == tier]
        want = {"complied": (t["complied"] & ~t["partial"]).mean(), "partial": t["partial"].mean(),
                "refused": (~t["complied"]).mean()}
        got = sorted(round(b.get_height(), 12) for b in bars if (b.get_x() < 0) == (tier == "training"))
        assert got == sorted(round(v, 12) for v in want.values() if v > 0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["complied", "partial", "refused"]
    plt.close(ax.figure)
    no_partial = df.assign(partial=pd.NA)
    ax = afd.plot.outcomes(no_partial)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["complied (partial not labelled)", "refused"]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="variant 'ncs' is not in the table"):
        afd.plot.outcomes(df, variant="ncs")


@pytest.fixture(scope="module")
def steering():
    ex = pd.read_parquet(ROOT / "data" / "example" / "example.parquet")
    ex = ex[ex["model"].isin(["model-01", "model-02"]) & ex["query_id"].isin(sorted(ex["query_id"].unique())[:8])
            & (ex["variant"] == "default")]
    return afd.steering_analysis(ex, n_boot=50)


def test_steering_bars_draw_the_data_points(steering):
    with afd.plot.style(columns=2):
        axes = afd.plot.steering_bars(steering)
    assert len(axes) == 2
    d = steering.data
    d = d[(d["model"] == "model-01") & (d["quantity"] == "gap")]
    heights = {round(p.get_height(), 12) for p in axes[0].patches}
    for v in ("values", "sycophancy", "random-0"):
        for a in (-2.0, -1.0, 1.0, 2.0):
            est = d[(d["steer_vector"] == v) & (d["steer_coef"] == a)]["estimate"].iloc[0]
            assert round(est, 12) in heights, (v, a)
    base = d[d["steer_coef"] == 0]["estimate"].iloc[0]
    assert round(base, 12) in heights
    labels = [t.get_text() for t in axes[0].figure.legends[0].get_texts()]
    assert labels[-1] == "random direction, same α" and labels[0] == "baseline (α = 0)"
    plt.close(axes[0].figure)
    with pytest.raises(ValueError, match="layer 3 was not steered"):
        afd.plot.steering_bars(steering, layer=3)


def test_steering_layers_two_tier_panels(steering):
    axes = afd.plot.steering_layers(steering, "values")
    assert axes.shape == (2, 2)
    assert axes[0, 0].get_title().startswith("training") and axes[0, 1].get_title().startswith("deployment")
    d = steering.data
    d = d[(d["model"] == "model-01") & (d["steer_vector"] == "values") & (d["quantity"] == "rate_training")]
    y = np.sort(axes[0, 0].lines[0].get_ydata())
    assert np.allclose(y, np.sort(d["estimate"].to_numpy()))
    plt.close(axes[0, 0].figure)
    with pytest.raises(ValueError, match="vector 'goal' not in the analysis"):
        afd.plot.steering_layers(steering, "goal")
