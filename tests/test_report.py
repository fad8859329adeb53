"""The report folder and the command line, end to end on the bundled example."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import afdecomp as afd
from afdecomp import cli, report
from afdecomp.settings import FitSettings

from .conftest import ROOT

EXAMPLE = ROOT / "data" / "example"


def test_bundled_example_is_what_the_preset_makes(tmp_path):
    ex = afd.load_logs(EXAMPLE)
    df, _ = afd.simulate(**cli.EXAMPLE)
    assert len(ex) == len(df) == 52_800
    a = ex.set_index("record_id").sort_index()
    b = df.set_index("record_id").sort_index()
    assert (a.index == b.index).all()
    assert (a["complied"] == b["complied"]).all()
    assert (a["af_reasoning"] == b["af_reasoning"]).all() and a["af_reasoning"].notna().all()
    assert sum(f.stat().st_size for f in EXAMPLE.iterdir()) < 5e6


def test_report_on_example_writes_table_figures_index(tmp_path):
    df, rep = afd.load_logs(EXAMPLE, return_report=True)
    index = report.build_report(df, tmp_path, load_report=rep, sections=["data", "seed_sem"])
    text = index.read_text()
    assert "## Compliance gaps (papers' estimator)" in text
    for name in ("gap_per_model", "rates_by_tier"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 10_000
        assert (tmp_path / "figures" / f"{name}.pdf").exists()
        assert f"figures/{name}.png" in text
    table = pd.read_csv(tmp_path / "tables" / "seed_sem_gap.csv")
    assert len(table) == 6 * (10 + 12) and {"gap", "gap_sem", "p_value"} <= set(table.columns)
    assert (tmp_path / "index.html").exists()


def test_unknown_section_is_an_error(tmp_path, tiny_df):
    with pytest.raises(ValueError, match="unknown report section"):
        report.build_report(tiny_df, tmp_path, sections=["nope"])


def _run(*args):
    return subprocess.run([sys.executable, "-m", "afdecomp.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


def test_cli_simulate_ingest_and_bad_input(tmp_path):
    r = _run("simulate", "--models", 2, "--queries", 3, "--samples", 2, "--variants", "default,ncs",
             "--steer", "values:4:-1,1", "--out", tmp_path / "s.jsonl", "--truth", tmp_path / "t.csv")
    assert r.returncode == 0, r.stderr
    assert "simulated 96 generations" in r.stdout
    r = _run("ingest", tmp_path / "s.jsonl", "--out", tmp_path / "s.parquet")
    assert r.returncode == 0, r.stderr
    assert "96 rows" in r.stdout and (tmp_path / "s.parquet").exists()
    # a malformed line: one-line error naming file, line and field; non-zero exit
    with open(tmp_path / "s.jsonl", "a") as fh:
        fh.write('{"model": "m", "condition": "training", "variant": "default", "query_id": "q", "complied": "meh"}\n')
    r = _run("ingest", tmp_path / "s.jsonl")
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "s.jsonl:line 97: field 'complied'" in r.stderr
    r = _run("ingest", tmp_path / "s.jsonl", "--on-error", "quarantine")
    assert r.returncode == 0 and "set aside 1 malformed record" in r.stdout
    r = _run("report", tmp_path / "missing.jsonl", "--out", tmp_path / "rep")
    assert r.returncode == 1 and "no such file" in r.stderr


# ----------------------------------------------------------------------------- every section, small study
STEER = [{"vector": "values", "layer": 4, "coefs": [-1.0, 1.0]},
         {"vector": "random-0", "layer": 4, "coefs": [-1.0, 1.0]}]
#: Tiny fits: enough draws for every section to have something to draw, not to converge.
TINY = FitSettings(draws=100, tune=100, chains=2, random_seed=1, progress=False)


@pytest.fixture(scope="module")
def study():
    df, _ = afd.simulate(n_models=2, n_queries=6, n_samples=2, variants=["default", "ncs"], steering=STEER,
                         covariates={"stated_values": 0.3}, seed=1, af_reasoning="goal-guarding",
                         judge={"af_reasoning": (0.85, 0.9)})
    return df


@pytest.fixture(scope="module")
def fits(study):
    """Both fits of the small study, made once for the module (~1 min on 2 cores)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        je = afd.JudgeError(sensitivity=0.85, specificity=0.9)
        return {"gap": TINY.gap().fit(study), "rational": TINY.rational().fit(study),
                "joint_naive": TINY.joint().fit(study), "joint": TINY.joint().fit(study, judge_error={"af_reasoning": je})}


def _images_exist(folder: Path) -> list[str]:
    """Every <img> of index.html, checked to be a file of the folder; returns their sources."""
    html = (folder / "index.html").read_text()
    srcs = re.findall(r"<img[^>]*\ssrc=\"([^\"]+)\"", html)
    for s in srcs:
        assert (folder / s).is_file() and (folder / s).stat().st_size > 5_000, s
    return srcs


@pytest.mark.parametrize("key", sorted(report.SECTIONS))
def test_every_section_alone(key, study, fits, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = report.build_report(study, tmp_path, sections=[key], fits=fits, settings=TINY)
    md = index.read_text()
    html = (tmp_path / "index.html").read_text()
    title = {"data": "Data", "labels": "Labels and judges", "seed_sem": "Compliance gaps (papers' estimator)",
             "gap": "Hierarchical gap", "joint": "Joint outcome: compliance and alignment-faking reasoning",
             "rational": "Rational-agent model", "decomposition": "Decomposition",
             "steering": "Steering"}[key]
    assert f"## {title}" in md and "## Summary" in md and "## Run record" in md
    assert md.index("## Summary") < md.index(f"## {title}") < md.index("## Run record")
    assert "Not fitted" not in md and "Not computed" not in md and "No steering analysis" not in md
    srcs = _images_exist(tmp_path)
    figures = {"seed_sem": 2, "gap": 2, "joint": 1, "rational": 2, "decomposition": 3, "steering": 2}.get(key, 0)
    assert len(srcs) == figures
    for csv in re.findall(r"\(tables/([a-z_]+\.csv)\)", md):
        assert (tmp_path / "tables" / csv).is_file()
    assert f'href="#{report._render.slug(title)}"' in html


def test_all_sections_together_headline_first(study, fits, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = report.build_report(study, tmp_path, fits=fits, settings=TINY, command="afdecomp report x.jsonl")
    md = index.read_text()
    heads = re.findall(r"^## (.+)$", md, flags=re.M)
    assert heads == ["Summary", "Data", "Labels and judges", "Compliance gaps (papers' estimator)", "Hierarchical gap",
                     "Joint outcome: compliance and alignment-faking reasoning", "Rational-agent model", "Decomposition", "Steering", "Run record"]
    assert md.index("**Contents:**") < md.index("## Summary")
    # the summary: one row per model with both gaps, the three shares and the theory check
    summ = pd.read_csv(tmp_path / "tables" / "summary.csv")
    assert list(summ["model"]) == ["model-01", "model-02"]
    assert {"gap, hierarchical (94% HDI)", "values share (94% HDI)", "goal guarding share (94% HDI)",
            "sycophancy share (94% HDI)", "theory check (rational-agent model)"} <= set(summ.columns)
    gap = fits["gap"].summary()
    g = gap[(gap["variant"] == "default") & (gap["steer_vector"] == "none")].set_index("model")["gap"]
    assert summ.set_index("model")["gap, hierarchical (94% HDI)"].str.startswith(
        tuple(f"{g[m]:+.3f}" for m in g.index)).all()
    # 100 draws do not converge: said in plain words, with what to do
    assert "the sampler has not converged" in md and "--draws 200" in md
    # integer counts: no "12.0" in the generations table, and the CSV keeps integers
    gen = md.split("Generations per model")[1].split("##")[0]
    assert "| 12 |" in gen and ".0 |" not in gen
    assert pd.read_csv(tmp_path / "tables" / "generations.csv")["training"].dtype.kind == "i"
    # long tables are folded in the page; the LOO comparison is there
    html = (tmp_path / "index.html").read_text()
    folded = re.findall(r'<details class="table"><summary>.*?href="tables/(\w+)\.csv"', html)
    assert "rational_parameters" in folded and "generations" not in folded and "rational_loo.csv" in html
    assert len(_images_exist(tmp_path)) == 2 + 2 + 1 + 2 + 3 + 2
    # the run record
    rec = md.split("## Run record")[1]
    assert f"**afdecomp:** {afd.__version__}" in rec and "afdecomp report x.jsonl" in rec
    assert "100 draws" in rec and "seed 1" in rec and "gap: given" in rec


def test_sections_get_the_fits_they_declare(study, fits, tmp_path, monkeypatch):
    """--sections rational alone still fits the gap model for the LOO comparison, once."""
    calls = []

    def fake_gap_fit(ctx):
        calls.append(1)
        return report.FitRecord("gap", fits["gap"], seconds=1.0)

    monkeypatch.setitem(report.FITS, "gap", fake_gap_fit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.build_report(study, tmp_path / "a", sections=["rational"], fits={"rational": fits["rational"]})
        assert len(calls) == 1 and (tmp_path / "a" / "tables" / "rational_loo.csv").is_file()
        report.build_report(study, tmp_path / "b", sections=["gap", "rational"], fits={"rational": fits["rational"]})
    assert len(calls) == 2  # once per report, shared by both sections
    assert report.SECTIONS["rational"].needs == ("rational", "gap")
    with pytest.raises(ValueError, match="unknown fit"):
        report.section("nope", order=99, needs=("gap", "glm"))(lambda ctx: None)


def test_fit_settings_reach_the_estimators():
    s = FitSettings(draws=123, tune=45, chains=3, random_seed=7, sampler="pymc", progress=False)
    for est in (s.gap(), s.rational()):
        assert (est.draws, est.tune, est.chains, est.random_seed, est.sampler, est.progress) == (123, 45, 3, 7, "pymc",
                                                                                                 False)
    assert s.replace(draws=10, tune=None).tune == 45
    with pytest.raises(ValueError, match="draws must be a positive integer"):
        FitSettings(draws=0)
    with pytest.raises(ValueError, match="sampler must be one of"):
        FitSettings(sampler="gibbs")


def test_numbers_print_as_counts_or_decimals():
    from afdecomp.report._render import formatted
    t = pd.DataFrame({"n": [200.0, 12.0], "rate": [0.25, 0.5], "p_value": [0.0123, 0.5], "t": [8.5e15, np.inf],
                      "name": ["a", None]})
    f = formatted(t)
    assert list(f["n"]) == ["200", "12"] and list(f["rate"]) == ["0.250", "0.500"]
    assert list(f["p_value"]) == ["0.012", "0.5"] and list(f["t"]) == ["8.5e+15", "inf"] and f["name"][1] == ""


@pytest.mark.slow
def test_report_fits_both_models_itself(study, tmp_path):
    """The whole report with no fits given: the report makes them (each once)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        md = report.build_report(study, tmp_path, settings=TINY).read_text()
    assert "Not fitted" not in md and "rational_loo.csv" in md and "joint_outcome.csv" in md
    assert len(_images_exist(tmp_path)) == 12   # 11 + the joint outcome's signature figure
