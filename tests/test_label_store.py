"""The vote store and the shared torn-tail-safe JSONL helper."""

from __future__ import annotations

import json

import pytest

from afdecomp._jsonl import JsonlWriter, cut_torn_tail, numbered_lines
from afdecomp.label.store import VoteStore


def vote(rid="r1", v=0, ok=True, answer="yes", task="af_reasoning", judge="mockllm/yes", **kw) -> dict:
    return {"record_id": rid, "task": task, "task_hash": "abc123abc123", "judge": judge, "scoring": "votes",
            "vote": v, "seed": 1, "answer": answer if ok else None, "prob": None, "ok": ok,
            "raw": f"Final answer: {answer}", "error": None if ok else "unparseable answer",
            "prompt_tokens": 10, "completion_tokens": 3, "time": "2026-12-02T00:00:00+00:00", **kw}


def key(rid="r1", v=0):
    return (rid, "af_reasoning", "abc123abc123", "mockllm/yes", "votes", v)


# ----------------------------------------------------------------------------- _jsonl
def test_cut_torn_tail(tmp_path):
    p = tmp_path / "log.jsonl"
    assert cut_torn_tail(p) is False  # missing file
    p.write_bytes(b"")
    assert cut_torn_tail(p) is False
    p.write_bytes(b'{"a": 1}\n{"a": 2}\n')
    assert cut_torn_tail(p) is False and p.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    p.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": ')
    assert cut_torn_tail(p) is True and p.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    p.write_bytes(b'{"a": 1')  # a torn first line: nothing left
    assert cut_torn_tail(p) is True and p.read_bytes() == b""
    big = b'{"a": 1}\n' + b"x" * 200_000  # the scan back crosses several 64 KiB blocks
    p.write_bytes(big)
    assert cut_torn_tail(p) is True and p.read_bytes() == b'{"a": 1}\n'


def test_jsonl_writer_appends_whole_lines(tmp_path):
    p = tmp_path / "sub" / "log.jsonl"
    with JsonlWriter(p) as w:
        w.write([{"a": 1}, {"b": "é"}])
        w.write([])
        w.write([{"c": 3}])
    assert [json.loads(raw) for _, raw in numbered_lines(p)] == [{"a": 1}, {"b": "é"}, {"c": 3}]
    p.write_bytes(p.read_bytes() + b"\n  \n")
    assert [i for i, _ in numbered_lines(p)] == [1, 2, 3]  # blank lines are skipped, numbers kept


# ----------------------------------------------------------------------------- store
def test_append_and_reopen(tmp_path):
    p = tmp_path / "votes.jsonl"
    with VoteStore(p) as s:
        assert len(s) == 0 and not p.exists()  # created on the first append
        s.append([vote("r1", 0), vote("r1", 1, answer="no"), vote("r2", 0)])
        s.append([vote("r2", 1, ok=False)])
    s = VoteStore(p)
    assert len(s) == 4 and s.lines == 4 and not s.truncated
    assert s.get(key("r1", 1))["answer"] == "no" and s.get(key("r9", 0)) is None
    t = s.table(record_id="r2")
    assert list(t["vote"]) == [0, 1] and list(t["ok"]) == [True, False]
    assert "raw" not in t.columns  # the judge's text stays on disk
    lines = [json.loads(raw) for _, raw in numbered_lines(p)]
    assert lines[0]["raw"] == "Final answer: yes" and set(lines[0]) >= {
        "record_id", "task", "task_hash", "judge", "scoring", "vote", "answer", "prob", "ok", "raw", "error",
        "prompt_tokens", "completion_tokens", "time"}


def test_latest_ok_line_wins(tmp_path):
    p = tmp_path / "votes.jsonl"
    with VoteStore(p) as s:
        s.append([vote("r1", 0, ok=False), vote("r2", 0, ok=False)])
        s.append([vote("r1", 0, ok=False)])
        s.append([vote("r1", 0, answer="no")])  # the retry that worked supersedes both failures
        s.append([vote("r2", 0, answer="yes")])
        s.append([vote("r2", 0, ok=False)])     # a later failure never replaces an answer
    s = VoteStore(p)
    assert s.lines == 6 and len(s) == 2
    assert s.get(key("r1"))["answer"] == "no" and s.attempts(key("r1")) == 3
    assert s.get(key("r2"))["answer"] == "yes" and s.get(key("r2"))["attempts"] == 3
    t = s.table()
    assert len(t) == 2 and t["ok"].all()


def test_torn_tail_is_cut_on_open_but_not_when_readonly(tmp_path):
    p = tmp_path / "votes.jsonl"
    with VoteStore(p) as s:
        s.append([vote("r1", 0), vote("r1", 1)])
    whole = p.read_bytes()
    torn = whole + json.dumps(vote("r1", 2)).encode()[:40]  # a kill during the next write
    p.write_bytes(torn)
    ro = VoteStore(p, readonly=True)
    assert ro.truncated and len(ro) == 2 and p.read_bytes() == torn  # skipped, file untouched
    with pytest.raises(PermissionError):
        ro.append([vote("r1", 2)])
    s = VoteStore(p)
    assert s.truncated and len(s) == 2 and p.read_bytes() == whole
    s.append([vote("r1", 2)])
    s.close()
    assert VoteStore(p).lines == 3


@pytest.mark.parametrize("bad, match", [
    (b"not json\n", "line 2 is not valid JSON"),
    (b"[1, 2]\n", "line 2 is not a JSON object"),
    (json.dumps({k: v for k, v in vote().items() if k != "task_hash"}).encode() + b"\n",
     "line 2: field 'task_hash' missing"),
    (json.dumps(vote(v="0")).encode() + b"\n", "line 2: field 'vote' is '0', expected int"),
    (json.dumps(vote(ok=1)).encode() + b"\n", "line 2: field 'ok' is 1, expected bool"),
])
def test_bad_line_inside_is_an_error_naming_file_and_line(tmp_path, bad, match):
    p = tmp_path / "votes.jsonl"
    good = json.dumps(vote()).encode() + b"\n"
    p.write_bytes(good + bad + good)
    with pytest.raises(ValueError, match=rf"votes\.jsonl: {match}"):
        VoteStore(p)


def test_holdings_and_filters(tmp_path):
    s = VoteStore(tmp_path / "v.jsonl")
    s.append([vote("r1", 0), vote("r1", 1, ok=False), vote("r2", 0),
              vote("r1", 0, task="compliance", answer="full"), vote("r1", 0, judge="openai/x")])
    h = s.holdings().sort_values(["task", "judge"]).reset_index(drop=True)
    assert list(h["task"]) == ["af_reasoning", "af_reasoning", "compliance"]
    row = h[(h["task"] == "af_reasoning") & (h["judge"] == "mockllm/yes")].iloc[0]
    assert (row["records"], row["votes"], row["failed"], row["lines"]) == (2, 3, 1, 3)
    assert len(s.table(task="compliance")) == 1 and len(s.table(judge="openai/x")) == 1
    with pytest.raises(ValueError, match="cannot filter"):
        s.table(colour="red")
    s.close()


def test_in_memory_store_and_folder_path(tmp_path):
    s = VoteStore()
    s.append([vote()])
    assert len(s) == 1 and s.path is None
    with pytest.raises(IsADirectoryError):
        VoteStore(tmp_path)
    with pytest.raises(ValueError, match="lacks"):
        s.append([{"record_id": "r1"}])
