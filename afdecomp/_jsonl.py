"""Append-only JSONL files that survive a kill: cut a torn tail, append whole batches durably.

The sampler's generation log and the labelling vote store are both written this way: each
batch is one ``write`` followed by flush and fsync, so a kill can leave at most one partial
final line (no newline yet). :func:`cut_torn_tail` removes that line before the file is read or
appended to again; a bad line anywhere else is real damage and is left for the reader to report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

_BLOCK = 65536


def cut_torn_tail(path: str | os.PathLike) -> bool:
    """Truncate ``path`` back to its last newline; True when a torn final line was removed.

    A missing or empty file, or one ending in a newline, is left as it is.
    """
    path = Path(path)
    if not path.exists():
        return False
    with open(path, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if not size:
            return False
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return False
        pos = size
        while pos > 0:  # scan back in blocks for the last newline
            start = max(0, pos - _BLOCK)
            fh.seek(start)
            block = fh.read(pos - start)
            k = block.rfind(b"\n")
            if k >= 0:
                pos = start + k + 1
                break
            pos = start
        fh.truncate(pos)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def numbered_lines(path: str | os.PathLike) -> Iterator[tuple[int, bytes]]:
    """``(line number, raw line)`` for every non-blank line, streamed (files can be large)."""
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh, start=1):
            if raw.strip():
                yield i, raw


class JsonlWriter:
    """Append-only JSONL: one write per batch, then flush and fsync."""

    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fh = open(path, "a", encoding="utf-8")

    def write(self, records: Iterable[dict]) -> None:
        self.fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
