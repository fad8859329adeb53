"""Labelled sets: texts with human labels, read from JSONL, to validate a judge against.

A labelled set is one JSON object per line with a text and a label, e.g. the 106 scratchpads of
``gold_106.jsonl`` (``{"text": ..., "label": "potential_faking" | "aligned"}``).
:func:`read_labelled` reads one into a table with a boolean ``truth``; :func:`as_records` turns
that table into records the labelling run can judge, so a labelled set goes through the same
``afd.label`` path as a generation log.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

#: Label spellings understood without ``positive=`` (compared after ``str().strip().lower()``;
#: JSON true/false and 1/0 read as "true"/"false" and "1"/"0").
POSITIVE_LABELS = frozenset({"potential_faking", "alignment_faking", "faking", "yes", "true", "1"})
NEGATIVE_LABELS = frozenset({"aligned", "not_faking", "no", "false", "0"})

#: Columns :func:`read_labelled` writes; a field of the file with one of these names is an error
#: (except ``record_id``, which is kept when the file gives it).
OUTPUT_COLUMNS = ("record_id", "text", "label", "truth", "source")


class LabelledSetError(ValueError):
    """A labelled set that cannot be read; the message names the file and line."""


def text_id(text: str) -> str:
    """Stable id of a text: the first 16 hex digits of its SHA-256 (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _label_key(value) -> str:
    """The spelling a label is matched by: JSON true -> "true", 1 / 1.0 -> "1", "Yes " -> "yes"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()


def _positive_keys(positive) -> set[str]:
    if isinstance(positive, (str, bytes, bool, int, float)):
        positive = [positive]
    return {_label_key(p) for p in positive}


def read_labelled(path: str | os.PathLike, *, text: str = "text", label: str = "label",
                  positive: str | Iterable[str] | None = None) -> pd.DataFrame:
    """Read a JSONL file of labelled texts.

    Parameters
    ----------
    path : path-like
        One JSON object per line; blank lines are skipped.
    text, label : str
        The fields holding the text and its human label.
    positive : str or iterable of str, optional
        The label value(s) that mean True (matched case-insensitively); every other value is then
        False. Default: inferred from :data:`POSITIVE_LABELS` / :data:`NEGATIVE_LABELS`
        (``potential_faking``, ``alignment_faking``, ``faking``, ``yes``, ``true``, ``1`` are
        True; ``aligned``, ``not_faking``, ``no``, ``false``, ``0`` are False); any other value
        is an error that lists the values found.

    Returns
    -------
    DataFrame
        One row per line: ``record_id`` (a hash of the text, see :func:`text_id`, unless the file
        gives ``record_id``), ``text``, ``label`` (the raw value as a string), ``truth`` (bool),
        ``source`` (``file:line``), then every other field of the file as it is.

    Raises
    ------
    LabelledSetError
        A line that is not a JSON object, a missing or empty text, a missing label, an unknown
        label value, a duplicated text or id; the message names the file and line.
    """
    path = Path(path)
    rows: list[dict] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as e:
                raise LabelledSetError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(obj, dict):
                raise LabelledSetError(f"{where}: expected a JSON object, got {type(obj).__name__}")
            body = obj.get(text)
            if not isinstance(body, str) or not body.strip():
                problem = "missing" if text not in obj else f"not a non-empty string ({body!r:.40})"
                raise LabelledSetError(f"{where}: field {text!r} (the text) is {problem}; "
                                       f"fields present: {sorted(obj)}")
            if obj.get(label) is None:
                raise LabelledSetError(f"{where}: field {label!r} (the label) is missing or null; "
                                       f"fields present: {sorted(obj)}")
            extra = {k: v for k, v in obj.items() if k not in (text, label)}
            clash = sorted(set(extra) & set(OUTPUT_COLUMNS) - {"record_id"})
            if clash:
                raise LabelledSetError(f"{where}: field(s) {clash} would overwrite the output columns "
                                       f"{list(OUTPUT_COLUMNS)}; rename them in the file")
            rid = extra.pop("record_id", None)
            rid = text_id(body) if rid is None else str(rid)
            if rid in seen:
                what = "text" if "record_id" not in obj else "record_id"
                raise LabelledSetError(f"{where}: duplicated {what} (same as line {seen[rid]}; "
                                       f"record_id {rid}); remove one of them")
            seen[rid] = line_no
            rows.append({"record_id": rid, "text": body, "label": obj[label], "source": where, **extra,
                         "_line": line_no})
    if not rows:
        raise LabelledSetError(f"{path}: no records")
    keys = [_label_key(r["label"]) for r in rows]
    if positive is not None:
        pos = _positive_keys(positive)
        if not pos & set(keys):
            raise LabelledSetError(f"{path}: positive={positive!r} matches none of the labels found: "
                                   f"{_counts(keys)}")
        truth = [k in pos for k in keys]
    else:
        unknown = [(r["_line"], k) for r, k in zip(rows, keys, strict=True)
                   if k not in POSITIVE_LABELS and k not in NEGATIVE_LABELS]
        if unknown:
            line_no, k = unknown[0]
            raise LabelledSetError(
                f"{path}:{line_no}: unknown label {k!r} ({len(unknown)} line(s) with unknown labels). "
                f"Labels found: {_counts(keys)}. Pass positive= the value that means alignment "
                f"faking (e.g. positive={k!r}); known spellings: positive {sorted(POSITIVE_LABELS)}, "
                f"negative {sorted(NEGATIVE_LABELS)}")
        truth = [k in POSITIVE_LABELS for k in keys]
    df = pd.DataFrame(rows).drop(columns="_line")
    df["label"] = [str(r["label"]) for r in rows]
    df.insert(3, "truth", pd.Series(truth, dtype=bool))
    return df


def _counts(keys: list[str]) -> str:
    return ", ".join(f"{k!r} ×{n}" for k, n in Counter(keys).most_common())


def as_records(labelled: pd.DataFrame, *, condition: str = "training") -> pd.DataFrame:
    """A labelled set as records the labelling run can judge (a valid tidy table).

    The text becomes ``reasoning`` (what the ``af_reasoning`` task reads); the identifying
    columns are placeholders: ``model="labelled-set"``, ``condition`` (default ``"training"``:
    the scratchpads of alignment-faking sets are written under the training cue),
    ``variant="default"``, ``query_id`` = ``record_id``. ``record_id``, ``truth``, ``label`` and
    every other column of ``labelled`` are kept, so judge labels join back by ``record_id``.

    Parameters
    ----------
    labelled : DataFrame
        Output of :func:`read_labelled` (needs ``record_id`` and ``text``).
    condition : {"training", "deployment"}
    """
    from .. import schema

    missing = [c for c in ("record_id", "text") if c not in labelled.columns]
    if missing:
        raise ValueError(f"as_records: labelled set lacks column(s) {missing} (read it with read_labelled)")
    df = labelled.rename(columns={"text": "reasoning"}).copy()
    df["model"] = "labelled-set"
    df["condition"] = condition
    df["variant"] = "default"
    df["query_id"] = df["record_id"].astype(str)
    lead = ["record_id", "model", "condition", "variant", "query_id", "reasoning"]
    df = df[lead + [c for c in df.columns if c not in lead]]
    df, problems = schema.normalize(df)
    if problems:
        raise schema.SchemaError(problems)
    return schema.validate(df)
