"""The vote store: an append-only JSONL sidecar with one line per judge vote.

A vote is keyed by (``record_id``, ``task``, ``task_hash``, ``judge``, ``scoring``, ``vote``);
a line also holds its ``seed``, the parsed ``answer`` (null when unparseable), ``prob``
(answer probabilities, for log-probability scoring), ``ok``, the judge's ``raw`` text (kept for
audit), ``error``, token counts, the sampling settings (``temperature``, ``max_tokens``: votes
asked with other settings are not reused, see :func:`afdecomp.label.run.label`) and the ``time``
it was written.

Rules, so that a run can be killed at any moment and re-run without paying twice:

- each batch is one write, flushed and fsynced; on opening for writing, a torn final line (the
  trace of a kill during a write) is cut, and a bad line anywhere else is an error naming the
  file and the line;
- a failed vote (``ok`` false: the engine failed or the answer could not be parsed) is a
  recorded attempt, not an answer. A re-run asks it again and appends a new line for the same
  key; the answer of a key is its latest ``ok`` line, or its latest failed line when none is
  ok, so the store always yields exactly one answer per key and lines are never rewritten.

One process writes a store at a time.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pandas as pd

from .._jsonl import JsonlWriter, cut_torn_tail, numbered_lines

KEY = ("record_id", "task", "task_hash", "judge", "scoring", "vote")
#: What ``table()`` returns per key (the judge's raw text stays in the file, not in memory).
FIELDS = KEY + ("seed", "answer", "prob", "ok", "error", "prompt_tokens", "completion_tokens", "temperature",
                "max_tokens", "time", "attempts")
_TYPES = {"record_id": str, "task": str, "task_hash": str, "judge": str, "scoring": str, "vote": int,
          "ok": bool}
GROUP = ("task", "task_hash", "judge", "scoring")


class VoteStore:
    """Votes already asked, and where new ones are appended.

    Parameters
    ----------
    path : str or Path, optional
        The JSONL file (created on the first append). None keeps votes in memory only.
    readonly : bool
        Read without repairing: a torn final line is skipped, not cut (for reading a store that
        another process may still be writing).
    """

    def __init__(self, path: str | os.PathLike | None = None, *, readonly: bool = False):
        self.path = Path(path) if path is not None else None
        self.readonly = readonly
        self.truncated = False
        self.lines = 0
        self._latest: dict[tuple, dict] = {}
        self._attempts: Counter = Counter()
        self._writer: JsonlWriter | None = None
        if self.path is not None and self.path.exists():
            if self.path.is_dir():
                raise IsADirectoryError(f"{self.path}: the vote store must be a file, not a folder")
            if not readonly:
                self.truncated = cut_torn_tail(self.path)
            self._read()

    def _read(self) -> None:
        for i, raw in numbered_lines(self.path):
            if not raw.endswith(b"\n"):  # only the last line can lack it (readonly: not ours to cut)
                self.truncated = True
                continue
            self._index(_checked(raw, self.path, i))

    def _index(self, line: dict) -> None:
        key = tuple(line[k] for k in KEY)
        self.lines += 1
        self._attempts[key] += 1
        old = self._latest.get(key)
        if old is None or line["ok"] or not old["ok"]:  # the latest ok line wins
            entry = {k: line.get(k) for k in FIELDS if k != "attempts"}
            self._latest[key] = entry
        self._latest[key]["attempts"] = self._attempts[key]

    def __len__(self) -> int:
        """Number of distinct vote keys."""
        return len(self._latest)

    def get(self, key: tuple) -> dict | None:
        """The answer of one vote key (see ``KEY``), or None when it was never asked."""
        return self._latest.get(key)

    def attempts(self, key: tuple) -> int:
        """How many lines the store holds for ``key``."""
        return self._attempts[key]

    def append(self, votes: list[dict]) -> None:
        """Append one batch of votes (one write, flushed and fsynced)."""
        if self.readonly:
            raise PermissionError(f"{self.path}: the vote store was opened read-only")
        for v in votes:
            missing = [k for k in KEY if k not in v]
            if missing or "ok" not in v:
                raise ValueError(f"vote lacks {missing or ['ok']}: {v}")
        if self.path is not None:
            if self._writer is None:
                self._writer = JsonlWriter(self.path)
            self._writer.write(votes)
        for v in votes:
            self._index(v)

    def table(self, **where) -> pd.DataFrame:
        """One row per vote key (its answer, as defined above), optionally filtered by field.

        ``store.table(task="af_reasoning", judge="openai/x")``
        """
        bad = set(where) - set(KEY)
        if bad:
            raise ValueError(f"cannot filter votes by {sorted(bad)}; fields: {list(KEY)}")
        rows = [e for e in self._latest.values() if all(e[k] == v for k, v in where.items())]
        return pd.DataFrame(rows, columns=list(FIELDS))

    def holdings(self) -> pd.DataFrame:
        """What the store holds: one row per (task, task_hash, judge, scoring) with its records,
        vote keys, failed keys and lines."""
        acc: dict[tuple, dict] = {}
        for e in self._latest.values():
            g = acc.setdefault(tuple(e[k] for k in GROUP), {"records": set(), "votes": 0, "failed": 0,
                                                             "lines": 0})
            g["records"].add(e["record_id"])
            g["votes"] += 1
            g["failed"] += not e["ok"]
            g["lines"] += e["attempts"]
        rows = [{**dict(zip(GROUP, k, strict=True)), **v, "records": len(v["records"])} for k, v in acc.items()]
        return pd.DataFrame(rows, columns=[*GROUP, "records", "votes", "failed", "lines"])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> VoteStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VoteStore({str(self.path) if self.path else 'in memory'}, {len(self)} votes, {self.lines} lines)"


def _checked(raw: bytes, path: Path, line: int) -> dict:
    """A store line parsed and checked, or a ValueError naming file, line and field."""
    try:
        v = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"{path}: line {line} is not valid JSON ({e}); a vote store is only ever "
                         "appended to, so this line was damaged outside afdecomp") from None
    if not isinstance(v, dict):
        raise ValueError(f"{path}: line {line} is not a JSON object")
    for k, t in _TYPES.items():
        if k not in v:
            raise ValueError(f"{path}: line {line}: field {k!r} missing (is this a vote store?)")
        if not isinstance(v[k], t) or (t is int and isinstance(v[k], bool)):
            raise ValueError(f"{path}: line {line}: field {k!r} is {v[k]!r}, expected {t.__name__}")
    return v
