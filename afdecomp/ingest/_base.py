"""What every reader shares: the bad-record type, the chunk a reader returns, the registry.

A reader turns one file into a :class:`Chunk`: a raw table with schema column names (not yet
normalized), the line (or record) number of each row, and the records it could not read. The
loader (``afdecomp.ingest.load_logs``) normalizes, validates, quarantines and reports.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class BadRecord:
    """A record that could not be read: where it is, which field, why, and its raw text."""

    file: str
    line: int | None  # 1-based line (JSONL), row (CSV/Parquet) or record index (JSON list)
    field: str
    message: str
    raw: str = ""
    unit: str = "line"

    def __str__(self) -> str:
        where = f"{self.file}:{self.unit} {self.line}" if self.line is not None else self.file
        return f"{where}: field '{self.field}': {self.message}"

    def to_json(self) -> str:
        return json.dumps({"file": self.file, self.unit: self.line, "field": self.field,
                           "error": self.message, "raw": self.raw}, ensure_ascii=False)


class LogFormatError(ValueError):
    """Malformed input. The message names file, line and field of each bad record (first 10).

    Parameters
    ----------
    bad : list of BadRecord
        The records that could not be read (kept as ``.bad``).
    hint : str, default ""
        A note added to the message's first line, e.g. ``"no valid records at all"``.
    quarantine : str or Path, optional
        The file the bad records were written to (kept as ``.quarantine``, a str); the message
        then says so instead of suggesting ``on_error='quarantine'``.
    """

    def __init__(self, bad: list[BadRecord], hint: str = "", quarantine=None):
        self.bad = list(bad)
        self.quarantine = None if quarantine is None else str(quarantine)
        head = f"{len(bad)} malformed record(s)"
        lines = [head + (f" ({hint})" if hint else "") + ":"]
        lines += [f"  {b}" for b in bad[:10]]
        if len(bad) > 10:
            lines.append(f"  ... and {len(bad) - 10} more")
        if quarantine is not None:
            lines.append(f"  All of them were written to {quarantine}.")
        elif any(b.line is not None for b in bad):
            lines.append("  Load with on_error='quarantine' to set them aside and load the rest.")
        else:
            lines.append("  Whole files failed: fix them or the reader options (quarantine sets aside "
                         "single records, not files).")
        super().__init__("\n".join(lines))


class UnknownFormatError(ValueError):
    """No reader recognises a file."""


@dataclass
class Chunk:
    """One file as read: raw rows (schema names), their line numbers, unreadable records."""

    df: pd.DataFrame
    lines: np.ndarray  # 1-based position of each row in the file (line, row or record)
    bad: list[BadRecord] = field(default_factory=list)
    unit: str = "line"
    notes: dict = field(default_factory=dict)  # reader-specific counts for the load report
    raw: Callable[[int], str] | None = None  # the raw text of a row, for quarantine

    def __post_init__(self):
        if len(self.lines) != len(self.df):
            raise ValueError("Chunk.lines must have one entry per row")


@dataclass
class Reader:
    """A log format: its name, the suffixes it reads, how to recognise a file, how to read it."""

    name: str
    suffixes: tuple[str, ...]
    sniff: Callable[[Path, bytes], bool]
    read: Callable[..., Chunk]  # read(path, **options) -> Chunk
    description: str = ""


READERS: dict[str, Reader] = {}


def register(reader: Reader) -> Reader:
    """Add a reader to the registry used by ``load_logs(format=...)`` and auto-detection."""
    READERS[reader.name] = reader
    return reader


def detect(path: Path) -> Reader:
    """The reader for a file: the first registered one whose suffix and content both match."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
    suffix = "".join(path.suffixes[-1:]).lower()
    for r in READERS.values():
        if suffix in r.suffixes and r.sniff(path, head):
            return r
    names = ", ".join(f"{r.name} ({'/'.join(r.suffixes)})" for r in READERS.values())
    raise UnknownFormatError(
        f"{path}: no reader recognises this file. Known formats: {names}. "
        "Pass format=... to choose one.")


def suffixes() -> set[str]:
    return {s for r in READERS.values() for s in r.suffixes}
