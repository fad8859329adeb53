"""Inspect AI logs: a .json log and .eval archives (zstd and deflate members) built here."""

from __future__ import annotations

import json
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import pytest
import zstandard  # the 'inspect' extra; also in 'dev', so the tests always exercise zstd members

from afdecomp.ingest import LogFormatError, load_logs

HEADER = {"version": 2, "status": "success",
          "eval": {"task": "af_helpful", "model": "openai/gpt-4o", "created": "2025-01-01T00:00:00"},
          "plan": {}, "results": {}, "stats": {}}


def sample(i, epoch, tier, value, **extra):
    s = {"id": f"q{i}", "epoch": epoch,
         "input": [{"role": "system", "content": "sys"}, {"role": "user", "content": f"question {i}"}],
         "target": "", "metadata": {"tier": tier, "scenario": "helpful-only"},
         "output": {"model": "gpt-4o", "choices": [{"message": {"role": "assistant", "content": [
             {"type": "reasoning", "reasoning": "thinking"}, {"type": "text", "text": "<OUTPUT>done</OUTPUT>"}]}}],
             "completion": "<OUTPUT>done</OUTPUT>"},
         "scores": {"complied": {"value": value, "explanation": "judge"}}}
    s.update(extra)
    return s


SAMPLES = [sample(1, 1, "free", "C"), sample(1, 2, "free", "I"), sample(1, 1, "paid", "I"),
           sample(2, 1, "paid", "N"), sample(2, 1, "free", 1.0, error={"message": "timeout"}),
           sample(3, 1, "paid", "P")]
# q1 epoch 1 appears in both tiers: distinct rows (condition is part of the record id)


def _zip_member(name: str, data: bytes, method: int, offset: int) -> tuple[bytes, bytes]:
    """Local header + data and the central-directory entry of one member (method 8 or 93)."""
    if method == 93:
        comp = zstandard.ZstdCompressor().compress(data)
    else:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        comp = c.compress(data) + c.flush()
    crc = zlib.crc32(data)
    fname = name.encode()
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 63, 0, method, 0, 33, crc, len(comp), len(data),
                        len(fname), 0) + fname + comp
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 63, 63, 0, method, 0, 33, crc, len(comp),
                          len(data), len(fname), 0, 0, 0, 0, 0, offset) + fname
    return local, central


def write_eval(path: Path, header: dict, samples: list, method: int = 93) -> Path:
    """An Inspect-style .eval archive written by hand (Python's zipfile cannot write zstd)."""
    members = [("header.json", json.dumps(header).encode()),
               ("_journal/start.json", json.dumps({"version": 2, "eval": header["eval"]}).encode())]
    members += [(f"samples/{i:02d}_{s.get('id', 'noid')}_epoch_{s['epoch']}.json", json.dumps(s).encode())
                for i, s in enumerate(samples)]
    body, central = b"", b""
    for name, data in members:
        loc, cen = _zip_member(name, data, method, len(body))
        body += loc
        central += cen
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(body), 0)
    path.write_bytes(body + central + eocd)
    return path


@pytest.mark.parametrize("method", [93, 8])
def test_eval_archive(tmp_path, method):
    p = write_eval(tmp_path / "run.eval", HEADER, SAMPLES, method)
    with zipfile.ZipFile(p) as zf:  # the archive is a valid zip with the intended member method
        assert {i.compress_type for i in zf.infolist()} == {method}
    df, rep = load_logs(p, return_report=True)
    assert rep.formats == {"inspect": 1} and len(df) == 6 and rep.bad == []
    assert rep.conditions == {"training": 3, "deployment": 3}
    df = df.sort_values(["query_id", "sample", "condition"]).reset_index(drop=True)
    c = df["complied"].astype(object).where(df["complied"].notna(), None).tolist()
    assert c == [True, False, False, True, None, True]  # C, I, I, 1.0, N, P
    assert df["partial"].astype(object).where(df["partial"].notna(), None).tolist()[-1] is True
    assert (df["model"] == "gpt-4o").all() and (df["variant"] == "af_helpful").all()  # one model-name rule
    assert (df["provider"] == "openai").all()
    assert df["sample"].tolist() == [0, 0, 1, 0, 0, 0] and df["query"].iloc[0] == "question 1"
    assert (df["reasoning"] == "thinking").all() and (df["response"] == "done").all()
    assert rep.files[0].notes["errored_samples"] == 1 and rep.files[0].notes["na_labels"] == 1


def test_json_log(tmp_path):
    p = tmp_path / "run.json"
    p.write_text(json.dumps({**HEADER, "samples": SAMPLES}))
    df, rep = load_logs(p, return_report=True)
    assert rep.formats == {"inspect-json": 1} and len(df) == 6
    tagged = sample(9, 1, None, "C")
    tagged["metadata"] = {}
    tagged["input"] = "<is_free_tier_user>False</is_free_tier_user> hi"
    p.write_text(json.dumps({**HEADER, "samples": [tagged]}))
    assert load_logs(p)["condition"].iloc[0] == "deployment"


def test_malformed_logs(tmp_path):
    bad = [SAMPLES[0], sample(5, 1, "premium", "C"), sample(6, 1, "free", "maybe"),
           {k: v for k, v in SAMPLES[1].items() if k != "id"}]
    p = write_eval(tmp_path / "bad.eval", HEADER, bad)
    with pytest.raises(LogFormatError) as e:
        load_logs(p)
    msg = str(e.value)
    assert "3 malformed record(s)" in msg
    assert "bad.eval:sample 2: field 'samples/01_q5_epoch_1.json.metadata': metadata.tier: unknown value 'premium'" in msg
    assert "sample 3: field 'samples/02_q6_epoch_1.json.scores.complied.value': unknown score value 'maybe'" in msg
    assert "sample 4" in msg and ".id'" in msg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = load_logs(p, on_error="quarantine", quarantine=tmp_path / "q.jsonl")
    assert len(df) == 1
    broken = tmp_path / "broken.eval"
    broken.write_bytes(p.read_bytes()[:200])
    with pytest.raises(LogFormatError, match=r"broken\.eval.*not a readable \.eval"):
        load_logs(broken)
    no_model = tmp_path / "nomodel.json"
    no_model.write_text(json.dumps({"version": 2, "status": "success", "eval": {"task": "t"}, "samples": []}))
    with pytest.raises(LogFormatError, match="eval.model"):
        load_logs(no_model)


def test_missing_zstandard_says_which_extra(tmp_path, monkeypatch):
    p = write_eval(tmp_path / "run.eval", HEADER, SAMPLES[:1])
    monkeypatch.setitem(__import__("sys").modules, "zstandard", None)  # as if not installed
    with pytest.raises(ImportError, match=r"afdecomp\[inspect\]"):
        load_logs(p)
