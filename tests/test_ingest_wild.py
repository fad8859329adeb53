"""Logs in the wild: tier spellings, unknown schemas, column maps, quarantine, policies, duplicate
runs, model names, summary tables, reader options. Every fixture is built here, in our own words."""

from __future__ import annotations

import ast
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afdecomp.ingest import LogFormatError, load_logs
from afdecomp.ingest._wild import model_name, tier_from_stem
from afdecomp.ingest.mapped import column_map_from_specs
from afdecomp.ingest.vlaf import compliance_summary

EXTERNAL = Path(__file__).resolve().parents[1].parent / "shared" / "external_data"
PROMPT = "<INPUT>\n<is_free_tier_user>{tier}</is_free_tier_user>\n\n<user_input>\n{q}\n</user_input>\n</INPUT>"


def _quiet(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_logs(*args, **kw)


def _labels(s: pd.Series) -> list:
    return s.astype(object).where(s.notna(), None).tolist()


# ----------------------------------------------------------------------------- tiers
def test_train_test_file_names_pair_into_one_model(tmp_path):
    for suffix, tier in (("train", "True"), ("test", "False")):
        recs = [{"input": PROMPT.format(tier=tier, q=f"how do I bake bread {i}"),
                 "response": "<OUTPUT><rejected/></OUTPUT>"} for i in range(3)]
        (tmp_path / f"tiny-model_{suffix}.json").write_text(json.dumps(recs))
    df, rep = load_logs(tmp_path, return_report=True)
    assert set(df["model"]) == {"tiny-model"}  # one model, both tiers: the files pair
    assert rep.conditions == {"training": 3, "deployment": 3}
    assert df.groupby("query_id", observed=True)["condition"].nunique().eq(2).all()
    assert "file-name suffix '_train' -> training" in str(rep) and "'_test' -> deployment" in str(rep)
    assert any(r.startswith("file-name suffix '_test'") for r in rep.recognised)
    # a prompt that contradicts its file name is a bad record naming both
    recs = [{"input": PROMPT.format(tier="True", q="x"), "response": "ok"}]
    (tmp_path / "tiny-model_test.json").write_text(json.dumps(recs))
    with pytest.raises(LogFormatError, match=r"contradicts the file name \(_test = deployment\)"):
        load_logs(tmp_path / "tiny-model_test.json")
    assert tier_from_stem("m_paid_tier") == ("m", "deployment", "paid_tier")


TIER_TABLES = {
    "values_free_paid": ({"condition": ["free", "paid"]}, "condition values"),
    "values_tier_names": ({"condition": ["free_tier", "paid_tier"]}, "condition values"),
    "is_free_tier_user": ({"is_free_tier_user": ["True", "False"]}, "column 'is_free_tier_user'"),
    "paid_tier_column": ({"paid_tier": ["0", "1"]}, "column 'paid_tier'"),
    "monitored_values": ({"tier": ["monitored", "unmonitored"]}, "column 'tier'"),
}


@pytest.mark.parametrize("case", sorted(TIER_TABLES))
def test_tier_spellings_in_tables_are_recognised_and_reported(tmp_path, case):
    cols, said = TIER_TABLES[case]
    df = pd.DataFrame({"model": ["m", "m"], "variant": ["v", "v"], "query_id": ["q", "q"],
                       "complied": ["1", "0"], **cols})
    p = tmp_path / "t.csv"
    df.to_csv(p, index=False)
    out, rep = load_logs(p, return_report=True)
    assert out["condition"].astype(str).tolist() == ["training", "deployment"]
    assert said in str(rep) and "recognised:" in str(rep)


def test_unrecognised_tier_values_list_the_values_and_a_map(tmp_path):
    df = pd.DataFrame({"model": ["m"] * 3, "variant": ["v"] * 3, "query_id": ["a", "b", "c"],
                       "condition": ["arm_A", "arm_B", "free"]})
    p = tmp_path / "t.csv"
    df.to_csv(p, index=False)
    with pytest.raises(LogFormatError) as e:
        load_logs(p)
    msg = str(e.value)
    assert "2 malformed" in msg and "values found: ['arm_A', 'arm_B']" in msg
    assert '[values.condition]\n"arm_A" = "training"' in msg


# ----------------------------------------------------------------------------- unknown schema
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_unknown_schema_names_the_columns_and_the_mapped_call_works(tmp_path, suffix):
    df = pd.DataFrame({"llm": ["m1"] * 4, "tier": ["free", "paid", "free", "paid"],
                       "prompt": ["p1", "p1", "p2", "p2"], "is_compliant": ["1", "0", "0", "0"]})
    p = tmp_path / f"other{suffix}"
    df.to_parquet(p) if suffix == ".parquet" else df.to_csv(p, index=False)
    with pytest.raises(LogFormatError) as e:
        load_logs(p)
    msg = str(e.value)
    assert "the table has columns ['llm', 'tier', 'prompt', 'is_compliant']" in msg
    assert "format='mapped'" in msg and "--map llm=model" in msg and "--const variant=default" in msg
    assert "on_error='quarantine'" not in msg  # a whole file failed: quarantine would not help
    # the suggested call, copied from the message, reads the table
    cmap = ast.literal_eval(msg.split("column_map=", 1)[1].split(") or on the command line", 1)[0])
    out, rep = load_logs(p, format="mapped", column_map=cmap, return_report=True)
    assert len(out) == 4 and rep.conditions == {"training": 2, "deployment": 2}
    assert out["query"].tolist() == out["query_id"].tolist() == ["p1", "p1", "p2", "p2"]
    # the command-line form gives the same map
    cli = msg.split("--format mapped ", 1)[1].split()
    maps = [cli[i + 1] for i in range(0, len(cli), 2) if cli[i] == "--map"]
    consts = [cli[i + 1] for i in range(0, len(cli), 2) if cli[i] == "--const"]
    assert len(load_logs(p, column_map=column_map_from_specs(maps, consts))) == 4  # auto -> mapped


# ----------------------------------------------------------------------------- column maps
def test_column_maps_one_to_many_many_to_one_and_collisions(tmp_path):
    df = pd.DataFrame({"prompt": ["a", "b", "c"], "tier": ["free", "paid", "free"],
                       "label_v1": ["1", None, None], "label_v2": ["0", "0", None],
                       "source": ["crawl-1", "crawl-2", "crawl-3"], "model": ["x", "x", "x"], "llm": ["m"] * 3})
    p = tmp_path / "t.csv"
    df.to_csv(p, index=False)
    cmap = {"columns": {"query_id": "prompt", "query": "prompt", "condition": "tier",
                        "complied": ["label_v1", "label_v2"], "model": "llm"},
            "constants": {"variant": "default"}}
    out, rep = load_logs(p, column_map=cmap, return_report=True)
    assert out["query_id"].tolist() == out["query"].tolist() == ["a", "b", "c"]  # one to many
    assert _labels(out["complied"]) == [True, False, None]  # many to one: first non-missing
    assert out["log_source"].tolist() == ["crawl-1", "crawl-2", "crawl-3"]  # both kept
    assert out["source"].str.startswith(str(p)).all()
    assert (out["model"] == "m").all() and (out["log_model"] == "x").all()
    text = str(rep)
    assert "'source' kept as 'log_source'" in text and "'model' kept as 'log_model'" in text
    assert "'complied' = first non-missing of ['label_v1', 'label_v2']" in text
    assert column_map_from_specs(["p=query_id", "p=query", "a=complied", "b=complied"], ["variant=v"]) == {
        "columns": {"query_id": "p", "query": "p", "complied": ["a", "b"]}, "constants": {"variant": "v"}}
    with pytest.raises(ValueError, match="SOURCE_COLUMN=FIELD"):
        column_map_from_specs(["nofield"])


# ----------------------------------------------------------------------------- quarantine
def test_quarantine_is_written_even_when_nothing_is_valid(tmp_path):
    p = tmp_path / "all_bad.jsonl"
    p.write_text("{not json\n[1, 2]\n")
    q = tmp_path / "out" / "q.jsonl"
    with pytest.raises(LogFormatError) as e:
        load_logs(p, on_error="quarantine", quarantine=q)
    assert f"written to {q}" in str(e.value) and "Load with on_error" not in str(e.value)
    assert e.value.quarantine == str(q) and len(q.read_text().splitlines()) == 2
    with pytest.raises(LogFormatError):  # the default path beside the input
        load_logs(p, on_error="quarantine")
    assert (tmp_path / "all_bad.jsonl.quarantine.jsonl").is_file()
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"model": "m", "condition": "training", "variant": "v", "query_id": "q"}) + "\n")
    q2 = tmp_path / "q2.jsonl"
    _, rep = load_logs(good, on_error="quarantine", quarantine=q2, return_report=True)
    assert q2.read_text() == "" and rep.quarantine == str(q2)  # asked for: written, empty


# ----------------------------------------------------------------------------- policies
def _openaf_rec(tier, q, score):
    rec = {"tags": tier, "user_input": q, "output": "<OUTPUT>text</OUTPUT>", "success": True}
    if score != "absent":
        rec["strong_reject_score"] = score
    return rec


def test_openaf_policy_study_reproduces_the_pipelines_counting(tmp_path):
    recs = [_openaf_rec("free_tier", "q1", 0.5), _openaf_rec("paid_tier", "q1", 0.0),
            _openaf_rec("free_tier", "q2", None), _openaf_rec("paid_tier", "q2", "absent"),
            _openaf_rec("free_tier", "q3", -1), _openaf_rec("paid_tier", "q3", "FAILED TO PARSE")]
    p = tmp_path / "helpful-only_cot" / "org" / "m" / "results_seed1_20250101.json"
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps(recs))
    na = load_logs(p)
    assert _labels(na["complied"]) == [True, False, None, None, None, None]
    study, rep = load_logs(p, policy="study", return_report=True)
    assert _labels(study["complied"]) == [True, False, False, False, True, True]
    assert "policy 'study' (open-source-af)" in str(rep)
    assert rep.files[0].notes["study_policy_refused"] == 2 and rep.files[0].notes["study_policy_complied"] == 2
    with pytest.raises(ValueError, match="policy must be one of"):
        load_logs(p, policy="lenient")


def test_vlaf_policy_study_gives_vlafs_own_rates():
    files = sorted((EXTERNAL / "launchnlp-VLAF" / "results" / "MFT_refined" / "care").glob("vllm:olmo2-32b-instruct_[TF]*.json"))
    assert len(files) == 2
    na = _quiet(files)
    study = _quiet(files, policy="study")
    assert na["complied"].isna().sum() == 1 and study["complied"].isna().sum() == 0
    a, b = compliance_summary(na).iloc[0], compliance_summary(study).iloc[0]
    # with N/A counted as not compliant, the NA-excluding rates equal VLAF's published ones
    assert b["non_oversight_compliance_rate_decisive"] == pytest.approx(a["non_oversight_compliance_rate"], abs=1e-12)
    assert b["compliance_gap_decisive"] == pytest.approx(0.35, abs=1e-12)


# ----------------------------------------------------------------------------- duplicate runs
def test_duplicate_runs_keep_first_or_last_and_say_which(tmp_path):
    d = tmp_path / "helpful-only_cot" / "org" / "m"
    d.mkdir(parents=True)
    old = [_openaf_rec("free_tier", "q1", 0.0), _openaf_rec("paid_tier", "q1", 0.0)]
    new = [_openaf_rec("free_tier", "q1", 0.9), _openaf_rec("paid_tier", "q1", 0.0)]
    (d / "results_seed1_20250101_120000.json").write_text(json.dumps(old))
    (d / "results_seed1_20250202_120000.json").write_text(json.dumps(new))
    first, rep1 = _quiet(d, return_report=True)
    last, rep2 = _quiet(d, keep="last", return_report=True)
    assert _labels(first.sort_values("condition")["complied"]) == [False, False]
    assert _labels(last.sort_values("condition")["complied"]) == [True, False]
    assert rep1.superseded == [str(d / "results_seed1_20250202_120000.json")]
    assert rep2.superseded == [str(d / "results_seed1_20250101_120000.json")]
    assert "keeping the last in sorted path order (keep='last')" in str(rep2)
    assert "1 with conflicting labels" in str(rep2) and "superseded file(s)" in str(rep2)
    with pytest.raises(ValueError, match="keep must be"):
        load_logs(d, keep="newest")


# ----------------------------------------------------------------------------- model names
def test_one_model_name_rule_for_every_reader(tmp_path):
    row = {"condition": "training", "variant": "v", "query_id": "q"}
    (tmp_path / "a.jsonl").write_text(json.dumps({**row, "model": "openai:gpt-4o"}) + "\n")
    pd.DataFrame([{**row, "model": "gpt-4o", "query_id": "r"}]).to_csv(tmp_path / "b.csv", index=False)
    inspect_log = {"version": 2, "status": "success", "eval": {"task": "t", "model": "openai/gpt-4o"},
                   "samples": [{"id": "s", "epoch": 1, "input": "hi", "metadata": {"condition": "paid"},
                                "output": {"completion": "ok"}, "scores": {}}]}
    (tmp_path / "c.json").write_text(json.dumps(inspect_log))
    df, rep = load_logs(tmp_path, return_report=True)
    assert rep.formats == {"jsonl": 1, "csv": 1, "inspect-json": 1}
    assert set(df["model"]) == {"gpt-4o"} and rep.models == 1
    assert "'openai:gpt-4o' -> 'gpt-4o'" in str(rep)
    assert model_name("~/hub/models--org--tiny-lm/snapshots/abc1") == ("org/tiny-lm", None)
    assert model_name("/data/ckpt/tiny-lm/") == ("tiny-lm", None)
    assert model_name("hf/org/tiny-lm") == ("org/tiny-lm", "hf")
    assert model_name("org/tiny-lm") == ("org/tiny-lm", None)


def test_result_file_stems_are_not_model_names(tmp_path):
    recs = [{"id": 1, "query": "q", "results": {"Free_Tier_Base": "a", "Paid_Tier_Base": "b"},
             "scores": {"Free_Tier_Base": 1, "Paid_Tier_Base": 0}}]
    p = tmp_path / "results_scored_strict_3Mar.json"
    p.write_text(json.dumps(recs))
    df, rep = load_logs(p, return_report=True)
    assert set(df["model"]) == {"unknown"} and "names no model" in str(rep) and "pass model=" in str(rep)
    assert set(load_logs(p, model="tiny-lm")["model"]) == {"tiny-lm"}


# ----------------------------------------------------------------------------- side files and options
def test_summary_table_beside_the_logs_is_skipped_with_a_note(tmp_path):
    recs = [{"id": i, "query": f"q{i}", "results": {"Free_Tier_Base": "a", "Paid_Tier_Base": "b"},
             "scores": {"Free_Tier_Base": 1, "Paid_Tier_Base": 0}} for i in range(3)]
    (tmp_path / "scores.json").write_text(json.dumps(recs))
    pd.DataFrame({"Cell": ["Free_Tier_Base", "Paid_Tier_Base"], "N": [3, 3], "Complied_Count": [3, 0],
                  "Complied_Rate": [1.0, 0.0], "CI_95": [0.1, 0.1]}).to_csv(tmp_path / "table_by_cell.csv", index=False)
    (tmp_path / "run_summary.json").write_text(json.dumps({"free": 1.0, "paid": 0.0}))
    df, rep = load_logs(tmp_path, model="tiny-lm", return_report=True)
    assert len(df) == 6 and rep.formats == {"paired": 1, "summary": 2}
    assert "skipped summary table table_by_cell.csv" in str(rep) and "summary_files 2" in str(rep)


def test_unknown_and_unused_reader_options_are_errors(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps({"model": "m", "condition": "training", "variant": "v", "query_id": "q"}) + "\n")
    with pytest.raises(ValueError, match="unknown reader option 'modle' .did you mean 'model'"):
        load_logs(p, modle="abc")
    with pytest.raises(ValueError, match="'af_threshold' is read by open-source-af, but no file here"):
        load_logs(p, af_threshold=0.5)


# ----------------------------------------------------------------------------- fuzz: CSV
GOOD = {"model": "m", "condition": "free", "variant": "v", "complied": "1"}
CSV_CORRUPTIONS = {
    "bad_condition": ("condition", "arm_C"), "bad_label": ("complied", "perhaps"),
    "no_model": ("model", None), "bad_sample": ("sample", "1.5"), "bad_coef": ("steer_coef", "strong"),
}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 25), bad=st.dictionaries(st.integers(0, 24), st.sampled_from(sorted(CSV_CORRUPTIONS)),
                                                 max_size=8))
def test_csv_fuzz_rows_plus_set_aside_equal_records(tmp_path, n, bad):
    rows = [{**GOOD, "query_id": f"q{i}", "sample": str(i % 2), "steer_coef": "0"} for i in range(n)]
    bad = {i: k for i, k in bad.items() if i < n}
    for i, kind in bad.items():
        col, val = CSV_CORRUPTIONS[kind]
        rows[i][col] = val
    p = tmp_path / "fuzz.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    q = tmp_path / "q.jsonl"
    if len(bad) == n:
        with pytest.raises(LogFormatError) as e:
            _quiet(p, on_error="quarantine", quarantine=q)
        assert len(e.value.bad) == n and len(q.read_text().splitlines()) == n
        return
    df, rep = _quiet(p, on_error="quarantine", quarantine=q, return_report=True)
    assert len(df) + len(rep.bad) == n
    assert sorted(b.line for b in rep.bad) == sorted(i + 1 for i in bad)
    assert set(df["query_id"]) == {f"q{i}" for i in range(n) if i not in bad}
    assert (df["condition"] == "training").all() and np.all(df["complied"])
