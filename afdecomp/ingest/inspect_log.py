"""Inspect AI evaluation logs: ``.eval`` (a zip archive) and ``.json``.

A ``.json`` log is one ``EvalLog`` object: ``{"version", "status", "eval": {"task", "model", ...},
"samples": [EvalSample, ...], ...}``. An ``.eval`` log is a zip with ``header.json`` (the same
object without samples) and one ``samples/<id>_epoch_<n>.json`` per sample; recent Inspect
versions compress these members with zstd (zip method 93), which needs the ``zstandard`` package
(``pip install afdecomp[inspect]``).

Per sample (one row): ``model`` = ``eval.model``; ``query_id`` = ``id``; ``sample`` =
``epoch - 1``; ``query`` = ``input`` (text, or the last user message); ``response`` =
``output.completion`` (else the first choice's text); ``reasoning`` = reasoning content parts
or scratchpad tags. From ``metadata``: ``condition`` (or ``tier``/``free_tier``/
``is_free_tier_user``: free/True -> training, paid/False -> deployment; else the
``<is_free_tier_user>`` tag in the input), ``variant`` (default: ``eval.task``), ``scenario``.
From ``scores`` (option ``score=``, default ``complied`` if present else the first scorer):
``value`` ``"C"``/True/1 -> complied, ``"I"``/False/0 -> not, ``"P"`` -> complied and partial,
``"N"`` or null -> NA (counted); a score named ``af_reasoning`` or ``alignment_faking`` fills
``af_reasoning``. Samples with an ``error`` are kept with NA labels and counted.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from . import _transcript as tr
from . import _wild
from ._base import BadRecord, Chunk, Reader, register
from ._common import (
    count,
    dumps,
    empty_chunk,
    has_key,
    head_text,
    load_json,
    make_chunk,
    starts_with,
)

ZIP_ZSTD = 93
_CONDITION = {"free": "training", "free_tier": "training", "training": "training", "monitored": "training",
              "true": "training", "paid": "deployment", "paid_tier": "deployment",
              "deployment": "deployment", "unmonitored": "deployment", "false": "deployment"}
_VALUES = {"C": True, "I": False, "P": True, "N": None}


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, fh) -> bytes:
    """The bytes of one zip member; zstd members (method 93) are decompressed here."""
    if info.compress_type != ZIP_ZSTD:
        return zf.read(info)
    try:
        import zstandard
    except ImportError as e:
        raise ImportError("this .eval log is zstd-compressed; install the 'inspect' extra "
                          "(pip install 'afdecomp[inspect]' or pip install zstandard)") from e
    fh.seek(info.header_offset)
    local = fh.read(30)
    if local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    data = fh.read(info.compress_size)
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def _read_eval_zip(path: Path) -> tuple[dict | None, list[tuple[str, object]], BadRecord | None]:
    """(header, [(member name, parsed sample or an error message)], file-level problem)."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        return None, [], BadRecord(str(path), None, "<file>", f"not a readable .eval (zip) file: {e}")
    samples = []
    with zf, open(path, "rb") as fh:
        names = {i.filename: i for i in zf.infolist()}
        if "header.json" not in names:
            return None, [], BadRecord(str(path), None, "header.json", "the .eval archive has no header.json")
        try:
            header = json.loads(_member(zf, names["header.json"], fh))
        except ValueError as e:
            return None, [], BadRecord(str(path), None, "header.json", f"not valid JSON: {e}")
        for name in sorted(n for n in names if n.startswith("samples/") and n.endswith(".json")):
            try:
                samples.append((name, json.loads(_member(zf, names[name], fh))))
            except (ValueError, zipfile.BadZipFile) as e:
                samples.append((name, f"not valid JSON: {e}"))
    return header, samples, None


def _text(content) -> tuple[str | None, str | None]:
    """(text, reasoning) of a message content: a string or a list of content parts."""
    if isinstance(content, str):
        return content, None
    if isinstance(content, list):
        text = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        reason = [p.get("reasoning", "") for p in content if isinstance(p, dict) and p.get("type") == "reasoning"]
        return ("\n".join(text) if text else None), ("\n\n".join(reason) if reason else None)
    return None, None


def _query(inp) -> str | None:
    if isinstance(inp, str):
        return inp
    if isinstance(inp, list):
        users = [m for m in inp if isinstance(m, dict) and m.get("role") == "user"]
        if users:
            return _text(users[-1].get("content"))[0]
    return None


def _score_value(v):
    """(complied, partial, ok) from an Inspect score value."""
    if v is None:
        return None, None, True
    if isinstance(v, bool):
        return v, None, True
    if isinstance(v, str) and v in _VALUES:
        return _VALUES[v], (v == "P") if v != "N" else None, True
    if isinstance(v, (int, float)):
        return v > 0, None, True
    if isinstance(v, str) and v.strip().lower() in ("yes", "no", "true", "false"):
        return v.strip().lower() in ("yes", "true"), None, True
    return None, None, False


def _condition(meta: dict, query: str | None):
    for key in ("condition", "tier", "free_tier", "is_free_tier_user"):
        if key in meta and meta[key] is not None:
            v = str(meta[key]).strip().lower()
            v = v if v in _CONDITION else _wild.tier_value(v) or v
            if v not in _CONDITION:
                raise ValueError(f"metadata.{key}: unknown value {meta[key]!r}; {_wild.tier_hint([meta[key]])}")
            return _CONDITION[v]
    if query is not None:
        tag = tr.free_tier(query)
        if tag is not None:
            return "training" if tag else "deployment"
    return None


def _sample_row(s: dict, spec: dict, score_name: str | None, notes: dict) -> tuple[dict | None, str, str]:
    """One row from an EvalSample, or (None, field, message)."""
    if "id" not in s:
        return None, "id", "required field missing"
    meta = s.get("metadata") or {}
    if not isinstance(meta, dict):
        return None, "metadata", "not an object"
    query = _query(s.get("input"))
    try:
        cond = _condition(meta, query)
    except (ValueError, tr.TierError) as e:
        return None, "metadata", str(e)
    if cond is None:
        return None, "metadata.condition", ("no condition: set metadata.condition (or tier) or put "
                                            "<is_free_tier_user> in the input")
    out = s.get("output") or {}
    response = out.get("completion") if isinstance(out, dict) else None
    reasoning = None
    choices = out.get("choices") if isinstance(out, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        text, reasoning = _text((choices[0].get("message") or {}).get("content"))
        response = response or text
    if isinstance(response, str):
        r2, response = tr.split_response(response)
        reasoning = reasoning or r2
    scores = s.get("scores") or {}
    if not isinstance(scores, dict):
        return None, "scores", "not an object"
    name = score_name or ("complied" if "complied" in scores else next(iter(scores), None))
    complied = partial = None
    if name is not None:
        sc = scores.get(name)
        if sc is None and score_name is not None:
            return None, f"scores.{name}", "the requested score is missing"
        value = sc.get("value") if isinstance(sc, dict) else sc
        complied, partial, ok = _score_value(value)
        if not ok:
            return None, f"scores.{name}.value", f"unknown score value {value!r}"
    af = None
    for key in ("af_reasoning", "alignment_faking"):
        if key in scores:
            v = scores[key].get("value") if isinstance(scores[key], dict) else scores[key]
            af, _, ok = _score_value(v)
            if not ok:
                return None, f"scores.{key}.value", f"unknown score value {v!r}"
    if s.get("error"):
        count(notes, "errored_samples")
    count(notes, "labelled" if complied is not None else "na_labels")
    row = {"model": spec.get("model"), "condition": cond,
           "variant": meta.get("variant") or spec.get("task") or "default",
           "scenario": meta.get("scenario"), "query_id": str(s["id"]),
           "sample": int(s.get("epoch", 1)) - 1, "complied": complied, "partial": partial,
           "af_reasoning": af, "query": query, "response": response, "reasoning": reasoning,
           "judge": name, "task": spec.get("task")}
    return row, "", ""


def read_inspect(path: Path, *, score: str | None = None, **_options) -> Chunk:
    """Read one Inspect AI log (``.eval`` or ``.json``); see the module docstring.

    Parameters
    ----------
    path : Path
        The log file.
    score : str, optional
        The scorer whose value is ``complied`` (default ``complied`` if present, else the first).

    Returns
    -------
    Chunk
        One row per sample; ``lines`` number the samples (1-based, archive order).
    """
    path = Path(path)
    notes: dict = {}
    if path.suffix.lower() == ".eval":
        header, items, bad = _read_eval_zip(path)
        if bad is not None:
            return empty_chunk([bad])
    else:
        obj, bad = load_json(path)
        if bad is not None:
            return empty_chunk([bad])
        if not isinstance(obj, dict) or not isinstance(obj.get("eval"), dict):
            return empty_chunk([BadRecord(str(path), None, "eval", "not an Inspect log (no 'eval' object)",
                                          unit="record")])
        header = obj
        items = [(f"samples[{i}]", s) for i, s in enumerate(obj.get("samples") or [])]
    spec = header.get("eval") if isinstance(header, dict) else None
    if not isinstance(spec, dict) or not spec.get("model"):
        return empty_chunk([BadRecord(str(path), None, "eval.model", "the log header names no model",
                                      unit="record")])
    if header.get("status") not in (None, "success"):
        notes["status_" + str(header.get("status"))] = 1
    rows, recs, bads = [], [], []
    notes["samples"] = len(items)
    for i, (name, s) in enumerate(items):
        if not isinstance(s, dict):
            msg = s if isinstance(s, str) else f"a JSON {type(s).__name__}, not an object"
            bads.append(BadRecord(str(path), i + 1, name, msg, unit="sample"))
            continue
        row, field, msg = _sample_row(s, spec, score, notes)
        if row is None:
            bads.append(BadRecord(str(path), i + 1, f"{name}.{field}", msg, dumps(s), unit="sample"))
            continue
        rows.append(row)
        recs.append(i + 1)
    chunk = make_chunk(rows, recs, bads, notes, [s for _, s in items])
    chunk.unit = "sample"
    return chunk


def _sniff_eval(path: Path, head: bytes) -> bool:
    return head[:4] == b"PK\x03\x04"


def _sniff_json(path: Path, head: bytes) -> bool:
    text = head_text(head)
    return starts_with(head, "{") and has_key(text, "eval") and (has_key(text, "version")
                                                                  or has_key(text, "status"))


register(Reader("inspect", (".eval",), _sniff_eval, read_inspect, "Inspect AI .eval log (zip)"))
register(Reader("inspect-json", (".json",), _sniff_json, read_inspect, "Inspect AI log in JSON"))
