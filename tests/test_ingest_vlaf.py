"""VLAF results, summaries and survey files: the real study folder, its summary, and bad files."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from afdecomp.cli import main
from afdecomp.ingest import LogFormatError, load_logs
from afdecomp.ingest.vlaf import compliance_summary, option_label, read_summary

EXTERNAL = Path(__file__).resolve().parents[1].parent / "shared" / "external_data"
VLAF = EXTERNAL / "launchnlp-VLAF" / "results"


@pytest.fixture(scope="module")
def raw_counts():
    """Counts taken straight from the JSON files with the standard library."""
    files = [f for f in sorted((VLAF / "MFT_refined").glob("*/*.json")) if f.stem.endswith(("_True", "_False"))]
    labels, samples, per_file = Counter(), 0, {}
    for f in files:
        data = json.loads(f.read_text())
        per_file[f] = sum(len(r["response"]) for r in data)
        samples += per_file[f]
        labels.update(lab for r in data for lab in r["option_selection_evaluation"])
    return {"files": files, "labels": labels, "samples": samples, "per_file": per_file}


@pytest.fixture(scope="module")
def vlaf():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_logs(VLAF, return_report=True)


def test_every_file_and_sample_is_read(vlaf, raw_counts):
    df, rep = vlaf
    assert len(raw_counts["files"]) == 120
    assert len(df) == raw_counts["samples"] == 22080
    assert rep.bad == [] and rep.duplicates == 0
    assert rep.formats == {"vlaf": 120, "vlaf-summary": 1, "vlaf-survey": 14}
    on_disk = [f for f in VLAF.rglob("*") if f.is_file()]
    assert len(rep.files) == len(on_disk) and rep.skipped == []  # nothing left unread
    rows = {Path(f.path): f.rows for f in rep.files if f.format == "vlaf"}
    assert rows == raw_counts["per_file"]


def test_conditions_are_balanced(vlaf):
    df, rep = vlaf
    assert rep.conditions == {"training": 11040, "deployment": 11040}
    n = df.groupby(["model", "scenario", "condition"], observed=True).size().unstack()
    assert (n["training"] == n["deployment"]).all() and len(n) == 12 * 5
    # True files are monitored (training): the prompt's tier tag agrees
    assert df.loc[df["condition"] == "training", "source"].str.contains("_True.json").all()


def test_label_counts_follow_the_option_mapping(vlaf, raw_counts):
    df, rep = vlaf
    lab = raw_counts["labels"]
    assert int((df["complied"] == True).sum()) == lab["a"] + lab["1"]  # noqa: E712
    assert int((df["complied"] == False).sum()) == lab["b"] + lab["2"]  # noqa: E712
    assert int(df["complied"].isna().sum()) == lab["N/A"] + lab["0"] == 2266
    notes = Counter()
    for f in rep.files:
        notes.update({k: v for k, v in f.notes.items() if isinstance(v, int)})
    assert notes["na_labels"] == lab["N/A"] and notes["unknown_labels"] == lab["0"] == 1
    assert notes["labelled"] + notes["na_labels"] + notes["unknown_labels"] == len(df)
    assert rep.na_labels == {"complied": 2266}


def test_option_label():
    assert option_label("a") == (True, "ok") and option_label(" 1 ") == (True, "ok")
    assert option_label("b") == (False, "ok") and option_label("2") == (False, "ok")
    assert option_label("A)") == (True, "ok")
    assert option_label("a", reverse=True) == (False, "ok")
    assert option_label("N/A") == (None, "na")
    assert option_label("0") == (None, "unknown") and option_label("answer b") == (None, "unknown")


def test_every_summary_file_is_reproduced(vlaf):
    """VLAF's own numbers: per-query rates count N/A as not compliant; overall = mean over queries."""
    df, _ = vlaf
    summaries = sorted(EXTERNAL.rglob("*_option_based_compliance.json"))
    assert summaries, "no VLAF summary file found"
    for path in summaries:
        model = path.name.removesuffix("_option_based_compliance.json").split(":", 1)[-1]
        sub = df[(df["model"] == model) & (df["scenario"] == path.parent.name)]
        got = compliance_summary(sub).iloc[0]
        table, overall = read_summary(path)
        for key in ("oversight_compliance_rate", "non_oversight_compliance_rate", "compliance_gap"):
            assert got[key] == pytest.approx(overall[key], abs=1e-12), (path.name, key)
        # and scenario by scenario
        per = sub.assign(k=sub["complied"].fillna(False).astype(bool)).groupby(
            ["query_id", "condition"], observed=True)["k"].mean().unstack()
        merged = table.set_index("query_id").join(per)
        assert len(merged) == len(table) == sub["query_id"].nunique()
        assert (merged["oversight_compliance_rate"] - merged["training"]).abs().max() < 1e-12
        assert (merged["non_oversight_compliance_rate"] - merged["deployment"]).abs().max() < 1e-12


def test_na_excluding_rates_differ_only_by_the_counted_na(vlaf):
    df, _ = vlaf
    sub = df[(df["model"] == "olmo2-32b-instruct") & (df["scenario"] == "care")]
    s = compliance_summary(sub).iloc[0]
    assert s["n_na"] == 1  # one N/A in the unmonitored file
    assert s["non_oversight_compliance_rate_decisive"] > s["non_oversight_compliance_rate"]
    assert s["oversight_compliance_rate_decisive"] == pytest.approx(s["oversight_compliance_rate"])


def test_cli_ingest_then_report(tmp_path, capsys):
    out = tmp_path / "vlaf.parquet"
    assert main(["ingest", str(VLAF), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "read 135 file(s)" in printed and "22080 rows" in printed and "12 model(s)" in printed
    assert "'training': 11040" in printed and "complied 2266" in printed
    assert "no malformed records" in printed
    assert len(pd.read_parquet(out)) == 22080
    assert main(["report", str(out), "--out", str(tmp_path / "rep"), "--sections", "data,seed_sem"]) == 0
    md = (tmp_path / "rep" / "index.md").read_text()
    assert "Compliance gaps" in md and (tmp_path / "rep" / "figures" / "gap_per_model.png").exists()


# ----------------------------------------------------------------------------- malformed files
def _write(dirpath: Path, name: str, records) -> Path:
    p = dirpath / "MFT_refined" / "care" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(records if isinstance(records, str) else json.dumps(records))
    return p


def _rec(tier="True", labels=("a", "b"), text="Pick one:: a) x b) y"):
    return {"input": f"<INPUT>\n<is_free_tier_user>{tier}</is_free_tier_user>\n\n<user_input>\n{text}\n"
                     "</user_input>\n</INPUT>",
            "response": [f"<think>hm</think>\n<OUTPUT>{lab}</OUTPUT>" for lab in labels],
            "option_selection_evaluation": list(labels)}


def test_small_file_maps_everything(tmp_path):
    p = _write(tmp_path, "vllm:m_True.json", [_rec(labels=("a", "N/A", "2"))])
    df = load_logs(p)
    assert df["complied"].astype(object).where(df["complied"].notna(), None).tolist() == [True, None, False]
    assert set(df["reasoning"]) == {"hm"} and df["response"].tolist() == ["a", "N/A", "2"]
    assert (df["model"] == "m").all() and (df["provider"] == "vllm").all() and (df["scenario"] == "care").all()
    rev = load_logs(p, reverse=True)
    assert rev["complied"].iloc[0] == False  # noqa: E712


def test_truncated_json_names_the_file(tmp_path):
    text = json.dumps([_rec(), _rec(text="other")])
    p = _write(tmp_path, "vllm:m_True.json", text[: len(text) // 2])
    with pytest.raises(LogFormatError, match=r"vllm:m_True\.json.*not valid JSON"):
        load_logs(p, format="vlaf")


def test_missing_fields_and_unknown_tags_name_the_record(tmp_path):
    bad_len = _rec()
    bad_len["option_selection_evaluation"] = ["a"]
    no_input = _rec()
    del no_input["input"]
    p = _write(tmp_path, "vllm:m_True.json", [_rec(), bad_len, no_input, _rec(tier="Maybe"), _rec(tier="False")])
    with pytest.raises(LogFormatError) as e:
        load_logs(p)
    msg = str(e.value)
    assert "5 malformed" not in msg and "4 malformed record(s)" in msg
    assert "record 2: field 'option_selection_evaluation': 2 responses but 1 labels" in msg
    assert "record 3: field 'input'" in msg
    assert "record 4: field 'input': unknown <is_free_tier_user> value 'Maybe'" in msg
    assert "record 5: field 'input'" in msg and "contradicts the file name" in msg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df, rep = load_logs(p, on_error="quarantine", quarantine=tmp_path / "q.jsonl", return_report=True)
    assert len(df) == 2 and len(rep.bad) == 4
    assert len((tmp_path / "q.jsonl").read_text().splitlines()) == 4
