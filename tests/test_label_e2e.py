"""The whole loop on a real instruct model (SmolLM2-135M-Instruct, on the CPU):
``afdecomp generate`` -> ``afdecomp label`` (compliance and af_reasoning, ``hf/`` judge) ->
``afdecomp report``. A 135M model is a poor judge and a poor subject; this checks that real
text, a real chat template and a real judge go through every step and that every record is
accounted for, not the quality of the labels."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from afdecomp import load_logs
from afdecomp.cli import main
from afdecomp.label.store import VoteStore

from ._real_model import real_model  # noqa: F401  (fixture)

pytestmark = pytest.mark.sampler


def test_generate_label_report_on_a_real_model(real_model, tmp_path, capsys):  # noqa: F811
    cfg = tmp_path / "study.toml"
    cfg.write_text(f"""
[run]
seed = 0
samples = 1
scenarios = ["helpful-only"]
variants = ["default"]
batch_size = 4
[decoding]
max_new_tokens = 32
temperature = 1.0
[queries]
source = "demo"
limit = 2
[[models]]
name = "smollm2-135m"
model = "{real_model}"
dtype = "float32"
""")
    log, store, rep = tmp_path / "study.jsonl", tmp_path / "labels.jsonl", tmp_path / "report"
    assert main(["generate", str(cfg), "--out", str(log), "--no-progress"]) == 0
    df = load_logs(log)
    assert len(df) == 4  # 2 queries x 2 tiers
    assert df["response"].str.len().gt(0).all()  # real text

    judge = f"hf/{real_model}"
    assert main(["label", str(log), "--task", "compliance", "--task", "af_reasoning", "--judge", judge,
                 "--votes", "2", "--max-tokens", "16", "--out", str(store), "--no-progress",
                 "--table", str(tmp_path / "labelled.parquet")]) == 0
    printed = capsys.readouterr().out
    assert "task compliance" in printed and "task af_reasoning" in printed

    with VoteStore(store, readonly=True) as vs:
        held = vs.holdings().set_index("task")
        votes = vs.table()
    n_need = int(df["complied"].isna().sum())  # compliance judges only what the tags left NA
    if n_need:
        assert held.loc["compliance", "records"] == n_need
        assert held.loc["compliance", "votes"] == 2 * n_need
    has_reasoning = int(df["reasoning"].notna().sum())
    if has_reasoning:
        assert held.loc["af_reasoning", "votes"] == 2 * has_reasoning
    # one answer per vote key, each vote either parsed or counted as failed
    assert not votes.duplicated(["record_id", "task", "task_hash", "judge", "scoring", "vote"]).any()
    assert (votes["ok"] == votes["answer"].notna()).all()
    raw = [json.loads(x) for x in store.read_text().splitlines()]
    assert all(r["judge"] == judge for r in raw)

    labelled = pd.read_parquet(tmp_path / "labelled.parquet")
    assert len(labelled) == len(df)

    # re-running asks nothing already answered
    assert main(["label", str(log), "--task", "compliance", "--judge", judge, "--votes", "2",
                 "--max-tokens", "16", "--out", str(store), "--no-progress"]) == 0
    again = capsys.readouterr().out
    n_ok = int(votes[(votes["task"] == "compliance") & votes["ok"]].shape[0])
    assert f"{n_ok:,} reused from the store" in again

    assert main(["report", str(log), "--labels", str(store), "--out", str(rep),
                 "--sections", "data,labels,seed_sem"]) == 0
    index = (rep / "index.md").read_text()
    assert "## Labels and judges" in index and judge in index
