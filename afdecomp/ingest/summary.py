"""Statistics tables that sit beside raw logs (``statistics_descriptive.csv``, ``summary.json``).

A study folder often holds its own summary next to its generations: rates, counts and confidence
intervals per cell. Such a file holds no generations. It is recognised (a CSV whose columns are
statistics and name no per-generation field, or a JSON object in a file named like a summary),
read as zero rows and counted as ``summary_files`` with a note naming it, so that loading the
folder reads the raw logs and says what it skipped.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from ._base import Reader, register
from ._common import empty_chunk, head_text, load_json, starts_with
from ._wild import _SUMMARY_WORDS, is_summary_table


def _header(head: bytes) -> list[str]:
    text = head_text(head).lstrip("\ufeff")
    try:
        return next(csv.reader(io.StringIO(text.split("\n", 1)[0])))
    except (StopIteration, csv.Error):
        return []


def read_summary_file(path: Path, **_options):
    """Zero rows; notes ``summary_files`` and what was skipped (a JSON summary must parse)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        _, bad = load_json(path)
        if bad is not None:
            return empty_chunk([bad])
    return empty_chunk(notes={"summary_files": 1,
                              "recognised": [f"skipped summary table {path.name} (no generations)"]})


def _sniff_summary(path: Path, head: bytes) -> bool:
    if path.suffix.lower() == ".json":
        words = set(re.split(r"[_\-.\s]+", path.stem.lower()))
        return starts_with(head, "{") and bool(words & _SUMMARY_WORDS)
    cols = _header(head)
    return bool(cols) and is_summary_table(path.stem, cols)


register(Reader("summary", (".csv", ".json"), _sniff_summary, read_summary_file,
                "a statistics table beside the logs (rates, counts, CIs; no generations): skipped, counted"))
