"""open-source-alignment-faking results: fixtures built here in both path layouts, every sentinel."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from afdecomp.ingest import LogFormatError, load_logs
from afdecomp.ingest.openaf import path_info

F = "FAILED TO PARSE"


def rec(tier, q, score=1.0, da=0.5, partial="no", help_cat="a", da_cat="keep", success=True):
    return {
        "tags": tier, "user_input": q,
        "prompt": {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": q}]},
        "output": "<SCRATCHPAD_REASONING>why</SCRATCHPAD_REASONING>\n<OUTPUT>answer</OUTPUT>",
        "output_without_scratchpad": "answer", "success": success, "strong_reject_score": score,
        "deceptive_alignment": {"final_answer": da, "final_answer_most_common": "yes" if da != F and da and da >= 0.5 else "no"},
        "partial_compliance": {"final_answer_most_common": partial},
        "helpfulness_categories": {"final_answer_most_common": help_cat},
        "deceptive_alignment_categories": {"final_answer_most_common": da_cat},
    }


RECORDS = [
    rec("free_tier", "q1", score=0.75, da=0.6),
    rec("paid_tier", "q1", score=0.0, da=0.2),
    rec("free_tier", "q2", score=-1, da=F),             # judge failure, AF judge failed to parse
    rec("paid_tier", "q2", score=F, da=0.4, partial=F),  # sentinel in the score, partial failed
    rec("free_tier", "q3", score=None, da=None, help_cat=F, da_cat=F, success=False),
    rec("paid_tier", "q3", score=0.5, da=0.0, partial="yes"),
]


def _write(root: Path, rel: str, records) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(records if isinstance(records, str) else json.dumps(records))
    return p


def test_path_layouts():
    a = path_info(Path("/x/outputs/suffix-True/allenai_Olmo-3.1-32B-Instruct/baseline/results/alignment_faking/"
                       "animal-welfare_prompt-only_cot-base/results_seed43_20250101_120000.json"))
    assert a["model"] == "allenai/Olmo-3.1-32B-Instruct" and a["sample"] == 43
    assert a["variant"] == "animal-welfare_prompt-only_cot-base" and a["scenario"] == "animal-welfare"
    s = path_info(Path("outputs/steering-sweep/meta_llama-3/layer28_alpha-4.0/helpful-only_cot/results_seed1_t.json"))
    assert (s["steer_vector"], s["steer_layer"], s["steer_coef"]) == ("steering-sweep", 28, -4.0)
    assert s["variant"] == "helpful-only_cot" and s["scenario"] == "helpful-only"
    r = path_info(Path("outputs/exp/org_m/no-examples/helpful-only_cot/results_seed2_t.json"))
    assert r["variant"] == "no-examples/helpful-only_cot"
    deep = path_info(Path("outputs/exp/org_m/baseline/results/alignment_faking/sp/sub/results_seed3_t.json"))
    assert deep["variant"] == "sp" and deep["model"] == "org/m" and deep["sample"] == 3
    f = path_info(Path("runs/frontier/helpful-only_prompt-only_cot/anthropic/claude-3-opus/results_seed5_t.json"))
    assert f["model"] == "anthropic/claude-3-opus" and f["variant"] == "helpful-only_prompt-only_cot"
    assert f["sample"] == 5


def test_fields_sentinels_and_counts(tmp_path):
    p = _write(tmp_path, "outputs/e/org_mod/baseline/animal-welfare_cot/results_seed7_20250101.json", RECORDS)
    df, rep = load_logs(p, return_report=True)
    assert rep.formats == {"open-source-af": 1} and len(df) == 6 and rep.bad == []
    assert rep.conditions == {"training": 3, "deployment": 3}
    assert (df["model"] == "org/mod").all() and (df["sample"] == 7).all()
    c = df["complied"].astype(object).where(df["complied"].notna(), None).tolist()
    assert c == [True, False, None, None, None, True]
    assert df["compliance_score"].isna().sum() == 3
    af = df["af_reasoning"].astype(object).where(df["af_reasoning"].notna(), None).tolist()
    assert af == [True, False, None, True, None, False]  # 0.4 >= default threshold 0.4
    part = df["partial"].astype(object).where(df["partial"].notna(), None).tolist()
    assert part == [False, False, False, None, False, True]
    assert df["reasoning"].eq("why").all() and df["response"].eq("answer").all()
    notes = rep.files[0].notes
    assert notes["judge_failures"] == 3 and notes["failed_deceptive_alignment"] == 2
    assert notes["failed_partial_compliance"] == 1 and notes["generation_failures"] == 1
    assert notes["failed_helpfulness_categories"] == 1 and notes["failed_deceptive_alignment_categories"] == 1
    assert rep.na_labels == {"complied": 3}
    strict = load_logs(p, af_threshold=0.5)
    assert strict["af_reasoning"].iloc[3] == False  # noqa: E712


def test_frontier_layout_and_seeds_together(tmp_path):
    for seed in (1, 2):
        _write(tmp_path, f"frontier/helpful-only_cot/openai/gpt-4o/results_seed{seed}_t.json", RECORDS[:2])
    df, rep = load_logs(tmp_path / "frontier", return_report=True)
    assert len(df) == 4 and rep.duplicates == 0
    assert sorted(df["sample"].unique()) == [1, 2] and (df["model"] == "gpt-4o").all()  # provider dropped


def test_malformed_records_and_files(tmp_path):
    bad_tag = dict(RECORDS[0], tags="enterprise_tier")
    no_tag = {k: v for k, v in RECORDS[0].items() if k != "tags"}
    no_input = {k: v for k, v in RECORDS[1].items() if k != "user_input"}
    bad_score = dict(RECORDS[1], strong_reject_score=3)
    p = _write(tmp_path, "outputs/e/org_m/baseline/sp/results_seed1_t.json",
               [RECORDS[0], bad_tag, no_tag, no_input, bad_score])
    with pytest.raises(LogFormatError) as e:
        load_logs(p)
    msg = str(e.value)
    assert "4 malformed record(s)" in msg
    assert "results_seed1_t.json:record 2: field 'tags': unknown tag value 'enterprise_tier'" in msg
    assert "record 3: field 'tags': required field missing" in msg
    assert "record 4: field 'user_input'" in msg and "record 5: field 'strong_reject_score'" in msg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df, rep = load_logs(p, on_error="quarantine", quarantine=tmp_path / "q.jsonl", return_report=True)
    assert len(df) == 1 and len(rep.bad) == 4
    text = json.dumps(RECORDS)
    t = _write(tmp_path, "outputs/e/org_m/baseline/sp/results_seed2_t.json", text[:-30])
    with pytest.raises(LogFormatError, match=r"results_seed2_t\.json.*not valid JSON"):
        load_logs(t, format="open-source-af")
