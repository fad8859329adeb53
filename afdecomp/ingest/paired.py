"""Paired tables: one record per query with every tier x condition cell side by side.

The layout of ``Aristo240/alignment_causal_audit`` (``results_scored_*.json``)::

    [{"id": 0, "query": "...", "results": {"Free_Tier_Baseline": "<text>", ...},
      "scores": {"Free_Tier_Baseline": 0 | 1, ...}}, ...]

Each ``<Tier>_Tier_<Rest>`` key is one row: ``Free`` -> ``training``, ``Paid`` -> ``deployment``,
``<Rest>`` -> ``variant``. The score (0/1, also "0"/"1") -> ``complied``; a missing or null score
is NA and counted. The text is split into reasoning and output like a Redwood transcript. The
file does not name the model: pass ``model=`` (default: the file name's stem, unless it names a
result file such as ``results_scored_rigorous_5Feb`` -- then ``unknown``, with a note).
"""

from __future__ import annotations

import re
from pathlib import Path

from . import _transcript as tr
from . import _wild
from ._base import Chunk, Reader, register
from ._common import (
    count,
    empty_chunk,
    head_text,
    load_json_list,
    make_chunk,
    object_records,
    record_failer,
    starts_with,
)

_KEY = re.compile(r"^(?P<tier>[A-Za-z]+)_Tier_(?P<rest>.+)$")
_TIERS = {"free": "training", "paid": "deployment"}


def read_paired(path: Path, *, model: str | None = None, scenario: str = "default", **_options) -> Chunk:
    """Read one paired table (see the module docstring).

    Parameters
    ----------
    path : Path
        A JSON list of ``{id, query, results, scores}`` records.
    model : str, optional
        The model (the file does not say; default: the file name's stem when it is a model name).
    scenario : str, default "default"
        The scenario family of every row.

    Returns
    -------
    Chunk
        One row per record and cell key; ``lines`` are 1-based record numbers.
    """
    path = Path(path)
    records, bad = load_json_list(path, "paired records")
    if bad is not None:
        return empty_chunk([bad])
    rows, recs, bads = [], [], []
    notes: dict = {"records": len(records)}
    if not model:
        model = _wild.model_from_stem(path.stem) or "unknown"
        if model == "unknown":
            notes["recognised"] = [f"the file name {path.stem!r} names no model: model 'unknown' (pass model=)"]
    fail = record_failer(path, bads)
    for i, rec in object_records(records, fail):
        results, scores = rec.get("results"), rec.get("scores", {})
        if not isinstance(results, dict):
            fail(i, "results", "required object missing", rec)
            continue
        if "id" not in rec or rec["id"] is None:
            fail(i, "id", "required field missing", rec)
            continue
        if not isinstance(scores, dict):
            fail(i, "scores", "not an object", rec)
            continue
        keys = list(results) + [k for k in scores if k not in results]
        parsed = {}
        for key in keys:
            m = _KEY.match(key)
            if m is None or m.group("tier").lower() not in _TIERS:
                fail(i, f"results.{key}",
                     "unknown cell key (expected Free_Tier_<variant> or Paid_Tier_<variant>)", rec)
                parsed = None
                break
            s = scores.get(key)
            if s is None:
                label = None
            elif isinstance(s, bool):
                label = s
            elif s in (0, 1, "0", "1"):
                label = str(s) == "1"
            else:
                fail(i, f"scores.{key}", f"not a 0/1 score (got {s!r})", rec)
                parsed = None
                break
            parsed[key] = (_TIERS[m.group("tier").lower()], m.group("rest"), label)
        if parsed is None:
            continue
        for key, (cond, variant, label) in parsed.items():
            text = results.get(key)
            if not isinstance(text, str):
                count(notes, "missing_texts")
                reasoning, output = None, None
            else:
                reasoning, output = tr.split_response(text)
            count(notes, "labelled" if label is not None else "missing_scores")
            rows.append({"model": model, "condition": cond, "variant": variant, "scenario": scenario,
                         "query_id": str(rec["id"]), "complied": label, "query": rec.get("query"),
                         "response": output, "reasoning": reasoning, "cell": key})
            recs.append(i + 1)
    return make_chunk(rows, recs, bads, notes, records)


def _sniff_paired(path: Path, head: bytes) -> bool:
    text = head_text(head)
    return starts_with(head, "[") and re.search(r'"results"\s*:\s*\{\s*"(Free|Paid)_Tier_', text) is not None


register(Reader("paired", (".json",), _sniff_paired, read_paired,
                "paired table: [{id, query, results{<Tier>_Tier_<variant>: text}, scores{...: 0/1}}]"))
