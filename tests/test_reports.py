"""The report scripts in reports/: each runs (small settings), writes PNG + PDF + SVG and a CSV per
figure, and the numbers they reproduce equal the studies' own, recomputed here from the raw files
with the standard library (to 1e-12)."""

from __future__ import annotations

import csv
import importlib
import importlib.util
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import EXTERNAL, ROOT

REPORTS = ROOT / "reports"
VLAF = EXTERNAL / "launchnlp-VLAF" / "results"
ARISTO = EXTERNAL / "Aristo240-alignment_causal_audit" / "results"
GOLD = EXTERNAL / "bigsnarfdude-detector" / "data" / "gold_106.jsonl"


def _script(name: str):
    if str(REPORTS) not in sys.path:
        sys.path.insert(0, str(REPORTS))
    return importlib.import_module(name)


def _check_outputs(out: Path) -> list[dict]:
    """Every figure listed in figures.json exists in the three formats, with its CSV and a caption."""
    figs = json.loads((out / "figures.json").read_text())
    assert figs
    for f in figs:
        for ext in ("png", "pdf", "svg"):
            p = out / f"{f['name']}.{ext}"
            assert p.exists() and p.stat().st_size > 1000, p
        assert f["table"] and (out / f["table"]).exists(), f
        assert len(f["caption"]) > 80 and "interval" in f["caption"].lower() or "HDI" in f["caption"], f["name"]
    return figs


# ----------------------------------------------------------------------------- VLAF
def _vlaf_study_gap(model: str, value: str) -> float:
    """VLAF's estimator from the raw JSON: per scenario, the share of the samples labelled a/1
    (N/A counts as not compliant); mean over scenarios per tier; monitored minus unmonitored."""
    rates = {}
    for tier in ("True", "False"):
        recs = json.loads(next((VLAF / "MFT_refined" / value).glob(f"*:{model}_{tier}.json")).read_text())
        rates[tier] = np.mean([sum(lab.strip().lower() in ("a", "1") for lab in r["option_selection_evaluation"])
                               / len(r["option_selection_evaluation"]) for r in recs])
    return rates["True"] - rates["False"]


def test_vlaf_values_reproduces_the_study(tmp_path, capsys):
    out = tmp_path / "vlaf"
    assert _script("vlaf_values").main(["--out", str(out), "--no-fit", "--dpi", "60"]) == 0
    printed = capsys.readouterr().out
    assert "22,080 generations" in printed and "12 models x 5 values" in printed
    figs = _check_outputs(out)
    assert [f["name"] for f in figs] == ["gap_per_value_model"]
    assert "0.075 by the study's estimator, 0.091 by seed-SEM" in figs[0]["caption"]
    # every number the study published, reproduced
    rep = pd.read_csv(out / "study_reproduction.csv")
    summary = json.loads((VLAF / "MFT_refined" / "care" / "vllm:olmo2-32b-instruct_option_based_compliance.json").read_text())
    assert len(rep) == 3 + 2 * len(summary["element_wise"])
    assert rep["abs_diff"].max() <= 1e-12
    ov = rep[rep["scope"] == "overall"].set_index("number")["reproduced"]
    for key, value in summary["overall"].items():
        assert abs(ov[key] - value) <= 1e-12, key
    # the table's study column is VLAF's estimator for every model × value (checked on three)
    t = pd.read_csv(out / "gap_per_value_model.csv")
    assert len(t) == 60
    for model, value in (("Qwen2.5-14B-Instruct", "authority"), ("gpt-5", "care"), ("olmo2-7b-instruct", "loyalty")):
        row = t[(t["model"] == model) & (t["value"] == value)].iloc[0]
        assert abs(row["study_gap"] - _vlaf_study_gap(model, value)) <= 1e-12, (model, value)
    q = t[(t["model"] == "Qwen2.5-14B-Instruct") & (t["value"] == "authority")].iloc[0]
    assert round(q["study_gap"], 3) == 0.075 and round(q["seed_gap"], 3) == 0.091  # the example
    ok = (t["glm_gap_lo"] <= t["glm_gap"]) | t["glm_gap_lo"].isna()  # NaN: a tier at 0% or 100%
    assert ok.all() and t["glm_gap_lo"].notna().sum() > 50 and "hier_gap" not in t.columns  # --no-fit


def test_vlaf_values_rejects_unknown_models(tmp_path, capsys):
    import shutil
    small = tmp_path / "vlaf" / "MFT_refined" / "care"  # one model's two files, read from a temporary copy
    small.mkdir(parents=True)
    for tier in ("True", "False"):
        shutil.copy(VLAF / "MFT_refined" / "care" / f"vllm:Qwen3-8B_{tier}.json", small)
    assert _script("vlaf_values").main(["--data", str(tmp_path / "vlaf"), "--out", str(tmp_path / "out"),
                                        "--models", "nonexistent-7b", "--dpi", "60"]) == 2
    captured = capsys.readouterr()
    assert "nothing published to reproduce" in captured.out
    assert "unknown model(s) ['nonexistent-7b']; known: ['Qwen3-8B']" in captured.err


@pytest.mark.slow
def test_vlaf_values_hierarchical_fit(tmp_path, capsys):
    out = tmp_path / "vlaf"
    assert _script("vlaf_values").main(["--out", str(out), "--models", "Qwen2.5-14B-Instruct,gpt-5",
                                        "--draws", "300", "--tune", "500", "--dpi", "60"]) == 0
    assert "fit ComplianceGap:" in capsys.readouterr().out
    acr = pd.read_csv(out / "gap_across_values.csv")
    assert len(acr) == 5 and (acr["hier_gap_lo"] < acr["hier_gap"]).all() and (acr["n_models"] == 2).all()


# ----------------------------------------------------------------------------- Aristo240
def test_aristo240_cells_and_published_table(tmp_path, capsys):
    out = tmp_path / "aristo"
    assert _script("aristo240").main(["--out", str(out), "--no-fit", "--dpi", "60"]) == 0
    printed = capsys.readouterr().out
    _check_outputs(out)
    raw = json.loads((ARISTO / "results_scored_rigorous_5Feb.json").read_text())
    k, n = defaultdict(int), defaultdict(int)
    for rec in raw:
        for cell, s in rec["scores"].items():
            k[cell] += int(s)
            n[cell] += 1
    cells = pd.read_csv(out / "cells.csv").set_index("cell")
    assert len(cells) == 8
    for cell in k:
        assert cells.loc[cell, "k"] == k[cell] and cells.loc[cell, "n"] == n[cell], cell
    with open(ARISTO / "statistics_descriptive.csv", newline="") as fh:
        published = {r["Condition"]: r for r in csv.DictReader(fh)}
    check = pd.read_csv(out / "published_vs_raw.csv").set_index("cell")
    assert set(check.index) == set(published)
    differ = []
    for cell, r in published.items():
        d = k[cell] - int(r["Compliance_Count"])
        assert check.loc[cell, "count_diff_raw_minus_published"] == d
        assert abs(check.loc[cell, "rate_diff_raw_minus_published"] - (k[cell] / n[cell] - float(r["Compliance_Rate"]))) <= 1e-12
        if d:
            differ.append(cell)
            assert f"{cell}: published {r['Compliance_Count']}/{r['N']}" in printed
    assert len(differ) == 4 and f"{8 - len(published)}" == "2"  # 4 of 6 rows differ; 2 cells unpublished
    assert "not in the published table: Free_Tier_Awareness_Private, Paid_Tier_Awareness_Monitored" in printed
    assert check["ci95_diff"].abs().max() <= 1e-12  # its CI_95 is 1.96·SE of its own counts
    gaps = pd.read_csv(out / "gap_per_condition.csv").set_index("variant")
    free_base, paid_base = k["Free_Tier_Baseline"] / 50, k["Paid_Tier_Baseline"] / 50
    assert abs(gaps.loc["Baseline", "raw_gap"] - (free_base - paid_base)) <= 1e-12


# ----------------------------------------------------------------------------- three drivers
@pytest.mark.filterwarnings("ignore::afdecomp.results.ConvergenceWarning")  # 60 draws: the point is the output
def test_three_drivers_small_fit(tmp_path, capsys):
    out = tmp_path / "td"
    assert _script("three_drivers").main([
        "--out", str(out), "--models", "model-01,model-02", "--queries", "6", "--draws", "60", "--tune", "100",
        "--chains", "2",
        "--n-boot", "50", "--dpi", "60", "--covariate", "x_stated_values"]) == 0
    printed = capsys.readouterr().out
    assert "fit RationalAgent: 2 chains x 60 draws" in printed and "max R-hat" in printed
    figs = _check_outputs(out)
    names = [f["name"] for f in figs]
    assert names[:5] == ["a_steering_bars", "d_rates_vs_alpha_values", "d_rates_vs_alpha_sycophancy", "b_ablations",
                         "c_outcomes"]
    assert {"e_decomposition", "f_gap_vs_x_stated_values", "g_rational_parameters"} <= set(names)
    df = pd.read_parquet(ROOT / "data" / "example" / "example.parquet")
    has_af = "af_reasoning" in df.columns and df["af_reasoning"].notna().any()
    assert (out / "af_reasoning_rates.csv").exists() == has_af
    assert ("no af_reasoning labels" in printed) == (not has_af)
    cap = next(f["caption"] for f in figs if f["name"] == "f_gap_vs_x_stated_values")
    assert "the fitted structural relation" in cap  # --covariate: fitted through θ, not a descriptive line
    params = pd.read_csv(out / "rational_parameters.csv")
    assert params["parameter"].astype(str).str.startswith("theta").any()
    pts = pd.read_csv(out / "steering_points.csv")
    assert set(pts["model"]) == {"model-01", "model-02"} and (pts["lo"] <= pts["hi"]).all()


# ----------------------------------------------------------------------------- judge validation
def test_judge_validation_default_and_scores_file(tmp_path, capsys):
    from sklearn.metrics import roc_auc_score

    import afdecomp as afd
    from afdecomp.label.validation import lexicon_counts

    mod = _script("judge_validation")
    out = tmp_path / "jv"
    assert mod.main(["--out", str(out), "--n-boot", "200", "--dpi", "60"]) == 0
    _check_outputs(out)
    assert "106 labelled texts (51 positive" in capsys.readouterr().out
    m = pd.read_csv(out / "metrics.csv")
    assert 0.7 < float(m["auroc"].iloc[0]) < 0.9
    # a judge's scores from a file: here the "modif" word count, keyed by text
    gold = afd.read_labelled(GOLD)
    scores = pd.DataFrame({"text": gold["text"], "score": lexicon_counts(gold["text"])["modif"]})
    scores.loc[0, "score"] = np.nan  # one unscored item
    path = tmp_path / "scores.csv"
    scores.to_csv(path, index=False)
    out2 = tmp_path / "jv2"
    assert mod.main(["--out", str(out2), "--scores", str(path), "--n-boot", "200", "--dpi", "60"]) == 0
    m2 = pd.read_csv(out2 / "metrics.csv")
    keep = scores["score"].notna().to_numpy()
    want = roc_auc_score(gold["truth"].to_numpy()[keep], scores["score"].to_numpy()[keep])
    assert abs(float(m2["auroc"].iloc[0]) - want) <= 1e-12
    assert "105 of 106 items scored" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"record_id": ["nope"], "score": [0.5]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="not in the labelled set"):
        mod.main(["--out", str(tmp_path / "jv3"), "--scores", str(bad)])


# ----------------------------------------------------------------------------- gallery
def test_make_gallery_collects_for_the_docs_page(tmp_path):
    import matplotlib.pyplot as plt

    out = tmp_path / "out" / "aristo240"
    out.mkdir(parents=True)
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    fig.savefig(out / "cells.png")
    plt.close(fig)
    (out / "figures.json").write_text(json.dumps([{"name": "cells", "title": "Eight cells", "caption": "95% Wilson.",
                                                   "files": ["cells.png"], "table": "cells.csv"}]))
    (out / "command.txt").write_text("python reports/aristo240.py --draws 2000\n")
    gal = tmp_path / "docs" / "figures" / "gallery"
    assert _script("make_gallery").main(["--no-run", "--only", "aristo240", "--out", str(tmp_path / "out"),
                                         "--gallery", str(gal)]) == 0
    index = json.loads((gal / "index.json").read_text())
    assert index == [{"png": "aristo240__cells.png", "title": "Eight cells", "caption": "95% Wilson.",
                      "script": "python reports/aristo240.py --draws 2000", "name": "aristo240", "figure": "cells",
                      "fits": []}]
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts" / "docs_hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    md = hooks.gallery_markdown(tmp_path / "docs")  # the documentation's gallery page reads it
    assert "## Eight cells" in md and "(figures/gallery/aristo240__cells.png)" in md


def test_plan_s_vs_g_small_run(tmp_path, capsys):
    # one replicate per design with 2-6 queries and a short NUTS fit: the script runs end to end,
    # says which designs separate S from g by their prompts alone, and a second run resumes from
    # its store instead of fitting again
    out = tmp_path / "plan"
    argv = ["--out", str(out), "--replicates", "1", "--queries", "2", "--draws", "60", "--tune", "60", "--dpi", "60"]
    assert _script("plan_s_vs_g").main(argv) == 0
    text = capsys.readouterr().out
    assert "design 0: 1 prompt(s) × 2 queries: S and g separable by the design: no" in text
    assert "design 1: 4 prompt(s) × 2 queries: S and g separable by the design: yes" in text
    figs = _check_outputs(out)
    assert [f["name"] for f in figs] == ["power_identified", "power_shares"]
    s = pd.read_csv(out / "plan_summary.csv")
    assert set(s["question"]) == {"identified", "shares"} and len(s) == 4 * 2 * 6
    lines = (out / "plan.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 4
    assert _script("plan_s_vs_g").main(argv) == 0                       # resumed: nothing refitted
    assert (out / "plan.jsonl").read_text().splitlines() == lines
