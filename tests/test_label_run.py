"""Labelling runs with scripted judges: aggregation, resume, failures, apply_labels, the kill test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from afdecomp import schema
from afdecomp._jsonl import numbered_lines
from afdecomp.label.judges import LogprobsUnavailable, MockJudge
from afdecomp.label.run import JudgeFailed, aggregate_store, apply_labels, label, vote_seed
from afdecomp.label.store import VoteStore
from afdecomp.label.tasks import load_task

AF = load_task("af_reasoning")
REPO = Path(__file__).resolve().parents[1]


def scripted(task, plan: dict[str, list[str | None]], default="Final answer: Yes"):
    """A responder that gives record ``rid``'s vote ``v`` the text ``plan[rid][v]`` (by its seed)."""
    by_seed = {vote_seed(rid, task.hash, v): text for rid, texts in plan.items() for v, text in enumerate(texts)}
    return lambda p: by_seed.get(p.seed, default)


def frame(n=4, **cols) -> pd.DataFrame:
    data = {"record_id": [f"r{i}" for i in range(n)], "reasoning": [f"reasoning {i}" for i in range(n)]}
    data.update(cols)
    return pd.DataFrame(data)


# ----------------------------------------------------------------------------- aggregation
def test_vote_aggregation_and_failed_votes(tmp_path):
    Y, N, G = "Final answer: Yes", "**Final answer:** no", "I cannot decide."
    plan = {"r0": [Y, Y, N, G, Y], "r1": [N, N, N, N, Y], "r2": [G, G, None, G, G], "r3": [Y, N, Y, N, G]}
    judge = MockJudge("mockllm/s", respond=scripted(AF, plan), batch_size=3)
    lab = label(frame(4), AF, judge, votes=5, store=tmp_path / "v.jsonl", progress=False)
    assert judge.calls == 20
    got = lab.set_index("record_id")
    assert list(got["n_votes"]) == [4, 5, 0, 4] and list(got["n_failed"]) == [1, 0, 5, 1]
    np.testing.assert_allclose(got["score"], [0.75, 0.2, np.nan, 0.5])
    assert got["label"].tolist() == [True, False, pd.NA, True]  # 0.5 >= threshold 0.5; all failed -> NA
    assert got.loc["r0", "answers"] == ["yes", "yes", "no", None, "yes"]
    rep = lab.attrs["report"]
    assert (rep.records, rep.labelled, rep.all_failed, rep.asked, rep.reused, rep.failed, rep.failed_now) == \
        (4, 3, 1, 20, 0, 7, 7)
    assert "7 failed" in str(rep) and "1 left NA" in str(rep)
    stored = [json.loads(r) for _, r in numbered_lines(tmp_path / "v.jsonl")]
    engine_fail = [s for s in stored if s["raw"] is None]
    assert len(engine_fail) == 1 and engine_fail[0]["error"] == "mock failure" and not engine_fail[0]["ok"]
    assert {s["error"] for s in stored if s["raw"] == G} == {"unparseable answer"}
    # a higher threshold moves r3 (0.5) and r0 (0.75) only as far as their scores say
    strict = aggregate_store(tmp_path / "v.jsonl", threshold=0.8).set_index("record_id")
    assert strict["label"].tolist() == [False, False, pd.NA, False]


def test_rerun_asks_nothing_answered_and_retries_failed_votes(tmp_path):
    store = tmp_path / "v.jsonl"
    plan = {"r0": ["Final answer: Yes", "garbled", "Final answer: No"], "r1": [None, None, "Final answer: No"]}
    first = label(frame(2), AF, MockJudge("mockllm/s", respond=scripted(AF, plan)), votes=3, store=store,
                  progress=False)
    assert first.attrs["report"].failed == 3
    again = MockJudge("mockllm/s", respond=scripted(AF, plan))
    label(frame(2), AF, again, votes=3, store=store, progress=False, retry_failed=False)
    assert again.calls == 0
    # retries carry a new seed (attempt 1), so a deterministic engine is not asked the same thing
    fixed = MockJudge("mockllm/s", respond=lambda p: "Final answer: Yes")
    lab = label(frame(2), AF, fixed, votes=3, store=store, progress=False)
    assert fixed.calls == 3 and lab.attrs["report"].reused == 3 and lab.attrs["report"].failed == 0
    assert list(lab["n_votes"]) == [3, 3] and list(lab["n_failed"]) == [0, 0]
    lines = [json.loads(r) for _, r in numbered_lines(store)]
    assert len(lines) == 9
    retried = [ln for ln in lines[6:]]
    assert all(ln["seed"] == vote_seed(ln["record_id"], AF.hash, ln["vote"], 1) for ln in retried)
    nothing = MockJudge("mockllm/s")
    label(frame(2), AF, nothing, votes=3, store=store, progress=False)
    assert nothing.calls == 0
    # more votes later: only the new vote indices are asked
    more = MockJudge("mockllm/s", respond=lambda p: "Final answer: Yes")
    lab5 = label(frame(2), AF, more, votes=5, store=store, progress=False)
    assert more.calls == 4 and list(lab5["n_votes"]) == [5, 5]


def test_logprob_scoring(tmp_path):
    def probs(p, choices):
        assert list(choices) == ["yes", "no"] and "one word" in p.user
        return {"yes": 0.2, "no": 0.6} if "reasoning 0" in p.user else {"yes": 0.9, "no": 0.1}
    judge = MockJudge("mockllm/p", probs=probs, batch_size=2)
    lab = label(frame(3), AF, judge, scoring="logprob", store=tmp_path / "v.jsonl", progress=False)
    np.testing.assert_allclose(lab["score"], [0.25, 0.9, 0.9])  # P(yes) normalised over the choices
    assert lab["label"].tolist() == [False, True, True] and list(lab["n_votes"]) == [1, 1, 1]
    assert lab.attrs["report"].asked == 3
    out = apply_labels(frame(3), tmp_path / "v.jsonl")
    assert out["judge"].tolist() == ["af_reasoning=mockllm/p (logprob)"] * 3
    np.testing.assert_allclose(out["af_score"], [0.25, 0.9, 0.9])
    with pytest.raises(LogprobsUnavailable, match="scoring='votes'"):
        label(frame(1), AF, MockJudge("mockllm/yes"), scoring="logprob", progress=False)


# ----------------------------------------------------------------------------- inputs and skips
def test_records_without_text_are_skipped_and_counted():
    df = frame(5, reasoning=["a", None, "  ", "b", ""])
    judge = MockJudge("mockllm/yes")
    lab = label(df, AF, judge, votes=2, progress=False)
    assert list(lab["record_id"]) == ["r0", "r3"] and judge.calls == 4
    assert lab.attrs["report"].skipped == {"no reasoning": 3}
    with pytest.raises(ValueError, match="missing: model"):
        label(pd.DataFrame({"reasoning": ["x"]}), AF, judge, progress=False)
    with pytest.raises(ValueError, match="not unique"):
        label(frame(2).assign(record_id=["a", "a"]), AF, judge, progress=False)


def test_ids_derived_from_schema_columns_and_log_paths(tmp_path):
    df = pd.DataFrame({"model": ["m"] * 2, "condition": ["training", "deployment"], "variant": ["default"] * 2,
                       "query_id": ["q1"] * 2, "reasoning": ["x", "y"]})
    lab = label(df, AF, MockJudge("mockllm/no"), votes=2, progress=False)
    assert list(lab["record_id"]) == list(schema.record_ids(df)) and not lab["label"].any()
    log = tmp_path / "run.jsonl"
    log.write_text("".join(json.dumps({**r, "complied": None, "response": "ok"}) + "\n"
                           for r in df.to_dict("records")))
    lab = label(log, AF, "mockllm/yes", votes=2, progress=False)
    assert (tmp_path / "run.jsonl.labels.jsonl").exists() and lab["label"].all()
    assert lab.attrs["report"].store == str(tmp_path / "run.jsonl.labels.jsonl")


def test_scenario_reaches_the_judge():
    seen = []
    judge = MockJudge("mockllm/s", respond=lambda p: seen.append(p.user) or "Final answer: full")
    df = pd.DataFrame({"record_id": ["a", "b"], "response": ["fine", "fine"],
                       "scenario": pd.Categorical(["animal-welfare", "helpful-only"])})
    label(df, "compliance", judge, votes=1, progress=False)
    assert "animal-welfare" in seen[0] and "animal-welfare" not in seen[1]


# ----------------------------------------------------------------------------- apply_labels
def test_compliance_fills_only_missing_and_apply_round_trip(tmp_path):
    store = tmp_path / "v.jsonl"
    df = pd.DataFrame({"record_id": ["a", "b", "c", "d"], "response": ["x", "y", "z", "w"],
                       "complied": pd.array([True, pd.NA, False, pd.NA], dtype="boolean"),
                       "judge": ["tags", None, "tags", None]})
    judge = MockJudge("mockllm/s", respond=lambda p: "Final answer: refusal" if "<reply>\ny\n</reply>" in p.user
                      else "Final answer: full")
    lab = label(df, "compliance", judge, votes=4, store=store, progress=False)
    assert list(lab["record_id"]) == ["b", "d"] and judge.calls == 8
    assert lab.attrs["report"].skipped == {"complied already set (only_missing)": 2}
    out = apply_labels(df, lab)
    assert out["complied"].tolist() == [True, False, False, True]
    assert out["compliance_score"].tolist()[1:4:2] == [0.0, 1.0] and np.isnan(out["compliance_score"][0])
    assert out["judge"].tolist() == ["tags", "compliance=mockllm/s (4 votes)", "tags",
                                     "compliance=mockllm/s (4 votes)"]
    assert out["complied"].dtype == "boolean" and out["compliance_score"].dtype == "float64"
    # labels for every row (only_missing=False at label time) still never overwrite a tag's value
    all_rows = label(df, "compliance", MockJudge("mockllm/refusal"), votes=2, only_missing=False, progress=False)
    assert len(all_rows) == 4
    out2 = apply_labels(df, all_rows)
    assert out2["complied"].tolist() == [True, False, False, False] and out2["judge"][0] == "tags"
    assert df["complied"].tolist()[1] is pd.NA  # the input is not changed


def test_several_tasks_share_the_judge_column(tmp_path):
    store = tmp_path / "v.jsonl"
    df = frame(3, response=["r0", "r1", "r2"])
    label(df, AF, MockJudge("mockllm/yes"), votes=2, store=store, progress=False)
    label(df, "partial_compliance", MockJudge("mockllm/no"), votes=3, store=store, progress=False)
    with pytest.raises(ValueError, match="several labellings(.|\n)*task=af_reasoning(.|\n)*task=partial_compliance"):
        apply_labels(df, store)
    out = apply_labels(apply_labels(df, store, task="af_reasoning"), store, task="partial_compliance")
    assert out["af_reasoning"].all() and not out["partial"].any()
    assert out["judge"][0] == "af_reasoning=mockllm/yes (2 votes); partial_compliance=mockllm/no (3 votes)"
    again = apply_labels(out, store, task="af_reasoning")  # re-applying replaces its own entry only
    assert again["judge"].tolist() == out["judge"].tolist()
    label(df, AF, MockJudge("mockllm/no"), votes=1, store=store, progress=False)  # a second judge
    with pytest.raises(ValueError, match="mockllm/no(.|\n)*mockllm/yes|mockllm/yes(.|\n)*mockllm/no"):
        apply_labels(df, store, task="af_reasoning")
    out = apply_labels(df, store, task="af_reasoning", judge="mockllm/no")
    assert not out["af_reasoning"].any() and out["af_score"].tolist() == [0.0] * 3
    with pytest.raises(ValueError, match="none of the"):
        apply_labels(frame(2).assign(record_id=["x", "y"]), store, task="af_reasoning", judge="mockllm/no")


def test_user_task_writes_its_own_columns(tmp_path):
    path = tmp_path / "money.toml"
    path.write_text('name = "money"\nversion = 1\ncolumn = "mentions_money"\nscore_column = "money_score"\n'
                    'choices = ["yes", "no"]\npositive = "yes"\nreads = ["response"]\n'
                    '[prompt]\nuser = "Money? {{ response }} Final answer: yes or no"\n')
    df = pd.DataFrame({"record_id": ["a", "b"], "response": ["$5 please", "hello"]})
    judge = MockJudge("mockllm/s", respond=lambda p: "Final answer: " + ("yes" if "$" in p.user else "no"))
    lab = label(df, path, judge, votes=2, store=tmp_path / "v.jsonl", progress=False)
    out = apply_labels(df, lab)
    assert out["mentions_money"].tolist() == [True, False] and out["money_score"].tolist() == [1.0, 0.0]
    out = apply_labels(df, tmp_path / "v.jsonl", task=path)  # from the store, naming the task file
    assert out["judge"].tolist() == ["money=mockllm/s (2 votes)"] * 2


# ----------------------------------------------------------------------------- failures
def test_dead_judge_keeps_what_was_written_and_resumes(tmp_path):
    store = tmp_path / "v.jsonl"
    state = {"n": 0}

    def flaky(p):
        state["n"] += 1
        if state["n"] > 6:
            raise ConnectionError("server went away")
        return "Final answer: Yes"
    with pytest.raises(JudgeFailed, match=rf"(?s)server went away.*{store.name}.*re-running the same command resumes"):
        label(frame(4), AF, MockJudge("mockllm/s", respond=flaky, batch_size=3), votes=3, store=store, progress=False)
    assert VoteStore(store).lines == 6  # the two whole batches before the failure
    back = MockJudge("mockllm/s", respond=lambda p: "Final answer: Yes", batch_size=3)
    lab = label(frame(4), AF, back, votes=3, store=store, progress=False)
    assert back.calls == 6 and lab["label"].all() and list(lab["n_votes"]) == [3] * 4


# ----------------------------------------------------------------------------- the kill test
_CHILD = """
import sys, time
import pandas as pd
from afdecomp.label.judges import MockJudge
from afdecomp.label.run import label

def respond(p):
    time.sleep(0.05)
    return "Final answer: Yes" if p.seed % 3 else "Final answer: No"

df = pd.DataFrame({"record_id": [f"r{i:02d}" for i in range(20)], "reasoning": ["some reasoning"] * 20})
label(df, "af_reasoning", MockJudge("mockllm/k", respond=respond, batch_size=4), votes=5,
      store=sys.argv[1], progress=False)
"""


def test_killed_run_resumes_with_one_answer_per_vote(tmp_path):
    store = tmp_path / "votes.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(store)], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if store.exists() and store.read_bytes().count(b"\n") >= 12:  # three batches written
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the labelling child finished before it could be killed"
    written = store.read_bytes().count(b"\n")
    assert 12 <= written < 100
    # the trace of a kill during a write: half a line at the end
    with open(store, "ab") as fh:
        fh.write(b'{"record_id": "r19", "task": "af_reasoning", "task_h')

    df = pd.DataFrame({"record_id": [f"r{i:02d}" for i in range(20)], "reasoning": ["some reasoning"] * 20})
    def respond(p):
        return "Final answer: Yes" if p.seed % 3 else "Final answer: No"
    resumed = MockJudge("mockllm/k", respond=respond, batch_size=4)
    lab = label(df, "af_reasoning", resumed, votes=5, store=store, progress=False)
    rep = lab.attrs["report"]
    assert rep.truncated_tail and rep.reused == written and resumed.calls == 100 - written == rep.asked

    lines = [json.loads(r) for _, r in numbered_lines(store)]
    keys = Counter((ln["record_id"], ln["vote"]) for ln in lines)
    assert len(lines) == 100 and set(keys.values()) == {1}  # no duplicates, no torn line left
    assert set(keys) == {(f"r{i:02d}", v) for i in range(20) for v in range(5)}  # no lost votes
    assert all(ln["ok"] for ln in lines)
    # the same labels as one uninterrupted run (each vote's answer is fixed by its seed)
    whole = label(df, "af_reasoning", MockJudge("mockllm/k", respond=respond), votes=5, progress=False)
    assert lab["answers"].tolist() == whole["answers"].tolist()
    np.testing.assert_allclose(lab["score"], whole["score"])


def test_store_with_two_prompt_versions(tmp_path):
    import dataclasses
    store = tmp_path / "v.jsonl"
    old = dataclasses.replace(AF, version=AF.version + 100)  # an edited task file: same name, new hash
    df = frame(2)
    label(df, old, MockJudge("mockllm/no"), votes=2, store=store, progress=False)
    label(df, AF, MockJudge("mockllm/no"), votes=3, store=store, progress=False)
    with pytest.raises(ValueError, match=rf"(?s)hash {old.hash}.*hash {AF.hash}|hash {AF.hash}.*hash {old.hash}"):
        apply_labels(df, store)
    out = apply_labels(df, store, task="af_reasoning")  # the bundled version is the one named
    assert out["judge"].tolist() == ["af_reasoning=mockllm/no (3 votes)"] * 2
    assert apply_labels(df, store, task=old)["judge"].tolist() == ["af_reasoning=mockllm/no (2 votes)"] * 2


def test_votes_asked_with_other_sampling_settings_are_not_reused(tmp_path):
    """A vote at temperature 0.2 answers another question than one at 1.0: the store refuses to
    mix them (naming both settings) rather than silently reuse the old votes."""
    from afdecomp.label.judges import MockJudge
    from afdecomp.label.run import label as run_label
    df = pd.DataFrame({"model": "m", "condition": ["training", "deployment"], "variant": "default",
                       "query_id": ["q1", "q2"], "reasoning": ["I may be modified.", "Nothing to see."]})
    store = tmp_path / "votes.jsonl"
    run_label(df, "af_reasoning", MockJudge("mockllm/yes"), votes=2, store=store, temperature=1.0, progress=False)
    with pytest.raises(ValueError, match="temperature=1.0, max_tokens=768, not temperature=0.2"):
        run_label(df, "af_reasoning", MockJudge("mockllm/yes"), votes=2, store=store, temperature=0.2,
                  progress=False)
    again = run_label(df, "af_reasoning", MockJudge("mockllm/yes"), votes=2, store=store, temperature=1.0,
                      progress=False)
    assert again.attrs["report"].reused == 4 and again.attrs["report"].asked == 0
