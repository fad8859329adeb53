"""Helpers shared by the readers of published log formats: JSON loading, ids, chunk building.

Every reader here reads one file into a list of plain row dicts (schema column names) plus the
record number of each row, the records it could not use (:class:`BadRecord`) and a ``notes``
dict of counts; :func:`make_chunk` turns that into the :class:`Chunk` the loader expects.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ._base import BadRecord, Chunk

#: The judge-failure sentinel of the open-source alignment-faking pipeline (and others).
FAILED = "FAILED TO PARSE"


#: Label policies: "na" (afdecomp's default: an unreadable label is NA) and "study" (count it as the
#: study that wrote the logs did; each reader documents what that means for its format).
POLICIES = ("na", "study")


def check_policy(policy: str, reader: str) -> str:
    """``policy`` if it is one of :data:`POLICIES`, else a ValueError naming the reader."""
    if policy not in POLICIES:
        raise ValueError(f"{reader}: policy must be one of {list(POLICIES)}, not {policy!r}")
    return policy


def text_id(text: str, n: int = 12) -> str:
    """A stable short id for a query text (the first ``n`` hex digits of its SHA-1)."""
    return hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:n]


def load_json(path: Path) -> tuple[object | None, BadRecord | None]:
    """Parse a whole JSON file; on failure a file-level bad record naming line and column."""
    try:
        data = Path(path).read_bytes()
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, BadRecord(str(path), None, "<file>", f"invalid UTF-8 at byte {e.start}", unit="record")
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        hint = " (the file looks truncated)" if e.pos >= len(text.rstrip()) - 1 else ""
        return None, BadRecord(str(path), None, "<json>",
                               f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}{hint}",
                               text[max(0, e.pos - 80): e.pos + 80], unit="record")


def load_json_list(path: Path, what: str) -> tuple[list | None, BadRecord | None]:
    """Parse a JSON file that must hold a list of objects (``what`` names them in errors)."""
    obj, bad = load_json(path)
    if bad is not None:
        return None, bad
    if not isinstance(obj, list):
        return None, BadRecord(str(path), None, "<json>",
                               f"expected a JSON list of {what}, got a JSON {type(obj).__name__}", unit="record")
    return obj, None


def head_text(head: bytes) -> str:
    """The first bytes of a file as text (for sniffers); undecodable bytes are dropped."""
    return head.decode("utf-8", "ignore")


def starts_with(head: bytes, char: str) -> bool:
    """Whether the first non-blank character of the file is ``char`` (e.g. ``[`` or ``{``)."""
    s = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return s[:1] == char.encode()


def has_key(text: str, key: str) -> bool:
    """Whether ``"key":`` occurs in a JSON text (used by sniffers on the file head)."""
    return re.search(r'"' + re.escape(key) + r'"\s*:', text) is not None


def make_chunk(rows: list[dict], recs: list[int], bad: list[BadRecord], notes: dict,
               records: list | None = None) -> Chunk:
    """Build a :class:`Chunk` of unit "record" from row dicts and their 1-based record numbers.

    ``records`` (the file's parsed records) gives the quarantine file each row's raw record,
    serialized only when it is needed.
    """
    keys = list(dict.fromkeys(k for r in rows[:1] for k in r))
    keys += [k for k in dict.fromkeys(k for r in rows for k in r) if k not in keys]
    df = pd.DataFrame({k: [r.get(k) for r in rows] for k in keys}) if rows else pd.DataFrame()
    raw = (lambda j: dumps(records[recs[j] - 1])) if records is not None else None
    return Chunk(df, np.asarray(recs, dtype=np.int64), bad, unit="record", notes=notes, raw=raw)


def empty_chunk(bad: list[BadRecord] | None = None, notes: dict | None = None) -> Chunk:
    """A chunk with no rows (a file-level failure, or a side file that holds no generations)."""
    return Chunk(pd.DataFrame(), np.zeros(0, np.int64), list(bad or []), unit="record", notes=dict(notes or {}))


def record_failer(path: Path, bads: list[BadRecord]):
    """``fail(i, field, msg, rec)``: report record ``i`` (0-based) of a JSON-list file as bad,
    naming the file, its 1-based record number and the field, with the record kept for quarantine."""
    def fail(i: int, field: str, msg: str, rec) -> None:
        bads.append(BadRecord(str(path), i + 1, field, msg, dumps(rec), unit="record"))
    return fail


def object_records(records: list, fail):
    """``(i, rec)`` for the records that are JSON objects; each other record is reported through ``fail``."""
    for i, rec in enumerate(records):
        if isinstance(rec, dict):
            yield i, rec
        else:
            fail(i, "<record>", f"a JSON {type(rec).__name__}, not an object", rec)


def count(notes: dict, key: str, by: int = 1) -> None:
    notes[key] = notes.get(key, 0) + by


def dumps(obj, limit: int = 2000) -> str:
    """A record as JSON text for the quarantine file (long records cut at ``limit`` characters)."""
    s = json.dumps(obj, ensure_ascii=False, default=str)
    return s if len(s) <= limit else s[:limit] + "...<cut>"
