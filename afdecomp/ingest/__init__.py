"""Read generation logs of any supported format into the tidy table, and write it back.

``load_logs`` expands a path, a directory or a glob; picks a reader per file (by ``format=`` or
by detection); normalizes each file's rows to the schema; sets aside every record it cannot
use (bad JSON, bad UTF-8, a missing required field, a value of the wrong type, a duplicated
``record_id``) — raising a :class:`LogFormatError` that names file, line and field, or writing
them to a quarantine file — and returns the table. Nothing is dropped without being counted in
the :class:`LoadReport`.
"""

from __future__ import annotations

import difflib
import glob as _glob
import inspect
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import schema

# Registration order is detection order: specific sniffers first, the native formats last.
# isort: off
from . import openaf, vlaf, paired, inspect_log, redwood, mapped  # noqa: F401
from . import summary  # noqa: F401  (statistics tables beside the logs: skipped with a note)
from . import native  # noqa: F401  (registers the native readers)
# isort: on
from . import _wild
from ._base import (
    READERS,
    BadRecord,
    Chunk,
    LogFormatError,
    Reader,
    UnknownFormatError,
    detect,
    register,
    suffixes,
)

__all__ = ["load_logs", "write_logs", "LoadReport", "LogFormatError", "UnknownFormatError",
           "BadRecord", "Chunk", "Reader", "register", "READERS"]


@dataclass
class FileReport:
    path: str
    format: str
    rows: int
    bad: int
    notes: dict = field(default_factory=dict)


@dataclass
class LoadReport:
    """What ``load_logs`` read, kept, set aside and could not label.

    :func:`afdecomp.load_logs` builds it (``return_report=True``); ``str(report)`` is a
    summary for people, :meth:`to_frame` one row per file. Each parameter is kept as the
    attribute of the same name.

    Parameters
    ----------
    files : list of FileReport, default []
        One entry per file read: its path, the reader's name, rows kept, records set aside and
        the reader's notes.
    skipped : list of str, default []
        Files in a directory given that no reader reads.
    rows : int, default 0
        Rows in the returned table (after dropping duplicates).
    bad : list of BadRecord, default []
        The records set aside: malformed ones and, with ``on_error="quarantine"``, the dropped
        duplicates.
    duplicates : int, default 0
        Rows dropped because an earlier (``keep="first"``) or later row had the same
        ``record_id``.
    duplicates_conflicting : int, default 0
        How many of those dropped duplicates had a ``complied`` label different from the kept row.
    keep : {"first", "last"}, default "first"
        Which duplicate was kept, in sorted path order.
    superseded : list of str, default []
        Files every row of which was a dropped duplicate.
    quarantine : str, optional
        Where the set-aside records were written (None: nothing written).
    na_labels : dict, default {}
        Label column -> number of rows with a missing (NA) label (``complied``).
    models : int, default 0
        Number of distinct models in the table.
    conditions : dict, default {}
        Condition (``training`` / ``deployment``) -> number of rows.
    """

    files: list[FileReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files in a directory no reader reads
    rows: int = 0
    bad: list[BadRecord] = field(default_factory=list)
    duplicates: int = 0
    duplicates_conflicting: int = 0
    keep: str = "first"
    superseded: list[str] = field(default_factory=list)  # files whose every row was a dropped duplicate
    quarantine: str | None = None
    na_labels: dict = field(default_factory=dict)
    models: int = 0
    conditions: dict = field(default_factory=dict)

    @property
    def formats(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.format] = out.get(f.format, 0) + 1
        return out

    @property
    def recognised(self) -> list[str]:
        """Every spelling, rule or policy the readers applied (tiers, model names, maps, skips)."""
        return list(dict.fromkeys(r for f in self.files for r in f.notes.get("recognised", [])))

    def to_frame(self) -> pd.DataFrame:
        """One row per file read: path, format, rows kept, records set aside."""
        return pd.DataFrame([{"path": f.path, "format": f.format, "rows": f.rows, "bad": f.bad,
                              **f.notes} for f in self.files])

    def __str__(self) -> str:
        fm = ", ".join(f"{k}: {v}" for k, v in self.formats.items())
        lines = [f"read {len(self.files)} file(s) ({fm}) -> {self.rows} rows, "
                 f"{self.models} model(s), conditions {self.conditions}"]
        if self.na_labels:
            lines.append("unlabelled (NA): " + ", ".join(f"{k} {v}" for k, v in self.na_labels.items()))
        notes: dict[str, int] = {}
        for f in self.files:
            for k, v in f.notes.items():
                if isinstance(v, (int, np.integer)):
                    notes[k] = notes.get(k, 0) + int(v)
        if notes:
            lines.append("reader notes: " + ", ".join(f"{k} {v}" for k, v in notes.items()))
        recognised = self.recognised
        if recognised:
            lines.append("recognised: " + "; ".join(recognised[:8])
                         + (f"; ... and {len(recognised) - 8} more" if len(recognised) > 8 else ""))
        if self.bad:
            lines.append(f"set aside {len(self.bad)} malformed record(s)"
                         + (f" -> {self.quarantine}" if self.quarantine else ""))
            lines += [f"  {b}" for b in self.bad[:5]]
            if len(self.bad) > 5:
                lines.append(f"  ... and {len(self.bad) - 5} more")
        else:
            lines.append("no malformed records")
        if self.duplicates:
            lines.append(f"dropped {self.duplicates} duplicated record_id(s), keeping the {self.keep} "
                         f"in sorted path order (keep={self.keep!r})"
                         + (f" ({self.duplicates_conflicting} with conflicting labels)"
                            if self.duplicates_conflicting else ""))
            if self.superseded:
                lines.append("superseded file(s) (every row a duplicate): "
                             + ", ".join(Path(s).name for s in self.superseded[:5]))
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} file(s) no reader reads: "
                         + ", ".join(Path(s).name for s in self.skipped[:5]))
        return "\n".join(lines)


# ----------------------------------------------------------------------------- paths
def _expand(path_or_glob, fmt: str) -> tuple[list[Path], list[str]]:
    items = path_or_glob if isinstance(path_or_glob, (list, tuple)) else [path_or_glob]
    files: list[Path] = []
    skipped: list[str] = []
    known = suffixes() if fmt == "auto" else set(READERS[fmt].suffixes) | {".json"}
    for item in items:
        p = Path(os.fspath(item))
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if not f.is_file() or f.name.startswith(".") or f.name.endswith(".quarantine.jsonl"):
                    continue
                if f.suffix.lower() in known:
                    files.append(f)
                else:
                    skipped.append(str(f))
        elif p.is_file():
            files.append(p)
        else:
            matches = sorted(Path(m) for m in _glob.glob(str(p), recursive=True))
            if not matches:
                raise FileNotFoundError(f"{p}: no such file, directory or matching glob")
            files += [m for m in matches if m.is_file()]
    return files, skipped


def _quarantine_path(first_input, given) -> Path:
    if given is not None:
        return Path(given)
    base = Path(os.fspath(first_input[0] if isinstance(first_input, (list, tuple)) else first_input))
    base = Path(str(base).split("*")[0].rstrip("/")) or Path(".")
    cand = base.parent / f"{base.name or 'logs'}.quarantine.jsonl"
    return cand if os.access(cand.parent, os.W_OK) else Path.cwd() / cand.name


# ----------------------------------------------------------------------------- per file
def _rows_to_bad(chunk: Chunk, path: Path, problems: list[schema.Problem]) -> dict[int, BadRecord]:
    """Map row-level schema problems of one file to bad records (first problem per row)."""
    bad: dict[int, BadRecord] = {}
    for p in problems:
        if p.rows is None:
            continue
        for r in p.rows:
            r = int(r)
            if r in bad:
                continue
            val = chunk.df[p.column].iloc[r] if p.column in chunk.df.columns else None
            bad[r] = BadRecord(str(path), int(chunk.lines[r]), p.column,
                               p.message + (f" (got {val!r})" if val is not None and not pd.isna(val) else ""),
                               chunk.raw(r) if chunk.raw else "", unit=chunk.unit)
    return bad


def _read_file(path: Path, reader: Reader, options: dict) -> tuple[pd.DataFrame, Chunk, list[BadRecord]]:
    chunk = reader.read(path, **options)
    raw = chunk.df
    bad = list(chunk.bad)
    if raw.empty and len(raw.columns) == 0:
        return raw, chunk, bad
    columns = [str(c) for c in raw.columns]  # as the file has them
    raw, used = _wild.conditions(raw)
    if used:
        chunk.notes.setdefault("recognised", []).extend(used)
    missing = [c for c in schema.REQUIRED if c not in raw.columns]
    if missing and reader.name in ("csv", "parquet"):  # a table in another schema: say how to map it
        bad.append(BadRecord(str(path), None, ",".join(missing),
                             f"not in afdecomp's schema: no column(s) {missing}; the table has columns "
                             f"{columns[:20]}. " + _wild.suggest_map(columns, str(path)), unit="row"))
        chunk.notes["records"] = len(raw)
        return pd.DataFrame(), chunk, bad
    _normalise_models(raw, chunk.notes)
    for c in missing:
        raw[c] = None  # reported per row below as a missing required field
    cond_raw = raw["condition"].astype(object).copy()
    df, problems = schema.normalize(raw.reset_index(drop=True), derive_ids=False)
    row_checks = [p for p in schema.check(df) if p.rows is not None and p.column != "record_id"]
    for p in row_checks:
        if p.column in missing:
            p.message = "required field missing"
    for p in problems:
        if p.column == "condition" and p.rows is not None:
            p.message += "; " + _wild.tier_hint(cond_raw.iloc[p.rows].unique())
    by_row = _rows_to_bad(chunk, path, problems + row_checks)
    if by_row:
        keep = np.ones(len(df), bool)
        keep[list(by_row)] = False
        df = df.loc[keep].reset_index(drop=True)
        lines = chunk.lines[keep]
        bad += [by_row[r] for r in sorted(by_row)]
        bad.sort(key=lambda b: (b.line is None, b.line or 0))
    else:
        lines = chunk.lines
    if "source" not in df.columns or df["source"].isna().any():
        src = pd.Series(f"{path}:", index=df.index, dtype="str") + pd.Series(lines, index=df.index).astype("str")
        df["source"] = src if "source" not in df.columns else df["source"].fillna(src)
    return df, chunk, bad


def _normalise_models(raw: pd.DataFrame, notes: dict) -> None:
    """Apply the one model-name rule (:func:`_wild.model_name`) in place; note every change."""
    if "model" not in raw.columns:
        return
    col = raw["model"].astype(object)
    names = {v: _wild.model_name(v) for v in col.dropna().unique()}
    changed = {v: n for v, (n, _) in names.items() if n != v}
    if not changed:
        return
    raw["model"] = col.map(lambda v: changed.get(v, v) if isinstance(v, str) else v)
    if "provider" not in raw.columns:
        prov = {v: p for v, (_, p) in names.items() if p}
        if prov:
            raw["provider"] = col.map(prov)
    notes.setdefault("recognised", []).append(
        "model names " + ", ".join(f"{k!r} -> {v!r}" for k, v in list(changed.items())[:4])
        + (f" (+{len(changed) - 4} more)" if len(changed) > 4 else ""))


def _reader_options(reader: Reader) -> set[str]:
    """The options a reader takes (its keyword-only parameters)."""
    return {n for n, p in inspect.signature(reader.read).parameters.items() if p.kind == p.KEYWORD_ONLY}


def _check_options(options: dict, used: list[Reader]) -> None:
    """Unknown or unused reader options are errors (a typo is never silently ignored)."""
    known = {o: [r.name for r in READERS.values() if o in _reader_options(r)] for o in options}
    for opt, readers in known.items():
        if not readers:
            every = sorted(set().union(*(_reader_options(r) for r in READERS.values())))
            close = difflib.get_close_matches(opt, every, n=1)
            raise ValueError(f"unknown reader option {opt!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                             + f"; options: {', '.join(every)}")
        if not any(r.name in readers for r in used):
            raise ValueError(f"reader option {opt!r} is read by {', '.join(readers)}, but no file here was "
                             f"read by {'it' if len(readers) == 1 else 'them'} (read by: "
                             f"{', '.join(sorted({r.name for r in used}))})")


def _source_record(source: str, field_: str, message: str, raw: str) -> BadRecord:
    """A BadRecord for a row already loaded, located by its ``source`` ("file:line")."""
    file, _, line = source.rpartition(":")
    if line.isdigit():
        return BadRecord(file, int(line), field_, message, raw)
    return BadRecord(source, None, field_, message, raw)


def _reader_for(path: Path, fmt: str, options: dict) -> Reader:
    """The reader of one file: forced, ``mapped`` for tables when a column map is given, or detected."""
    if fmt != "auto":
        return READERS[fmt]
    if "column_map" in options and path.suffix.lower() in READERS["mapped"].suffixes:
        return READERS["mapped"]
    return detect(path)


def _write_quarantine(path_or_glob, given, bad: list[BadRecord]) -> Path:
    qpath = _quarantine_path(path_or_glob, given)
    qpath.parent.mkdir(parents=True, exist_ok=True)
    with open(qpath, "w", encoding="utf-8") as fh:
        for b in bad:
            fh.write(b.to_json() + "\n")
    return qpath


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if len(frames) == 1:
        return frames[0]
    cats = {c for f in frames for c in f.columns if isinstance(f[c].dtype, pd.CategoricalDtype)}
    out = pd.concat(frames, ignore_index=True)
    for c in cats:
        if not isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype("category")
    out["condition"] = pd.Categorical(out["condition"].astype(object), categories=list(schema.CONDITIONS))
    return out


def load_logs(path_or_glob, format: str = "auto", on_error: str = "raise", dedupe: bool = True,
              *, quarantine: str | os.PathLike | None = None, return_report: bool = False,
              progress: bool | None = None, keep: str = "first", **reader_options):
    """Load generation logs into the tidy table.

    Parameters
    ----------
    path_or_glob : str, Path or list of them
        A file, a directory (read recursively; files no reader reads are listed in the report as
        skipped) or a glob such as ``"runs/*.jsonl"``.
    format : str, default "auto"
        A reader name (``afdecomp.ingest.READERS``) or ``"auto"`` to detect each file's format.
    on_error : {"raise", "quarantine"}
        ``"raise"``: any malformed record raises :class:`LogFormatError` naming file, line and
        field. ``"quarantine"``: malformed records (and dropped duplicates) are written to a
        side file (``quarantine=``, default ``<input>.quarantine.jsonl``) and counted. A
        ``quarantine=`` path given is always written (empty when nothing was set aside), also
        when no valid record is left (the error then names it).
    dedupe : bool, default True
        Keep one of the rows with the same ``record_id`` (see ``keep``) and count the rest in the
        report. ``False`` raises a :class:`~afdecomp.schema.SchemaError` on duplicates.
    keep : {"first", "last"}, default "first"
        Which duplicate wins, in sorted path order: for time-stamped re-runs
        (``results_seed1_<time>.json``) "first" keeps the oldest run, "last" the newest. Files
        whose every row lost are listed in the report (``superseded``).
    quarantine : str or Path, optional
        Where ``on_error="quarantine"`` writes the records it sets aside (default
        ``<input>.quarantine.jsonl``).
    return_report : bool, default False
        Also return the :class:`LoadReport`.
    progress : bool, optional
        Show a progress bar over files (default: on a terminal).
    **reader_options
        Passed to the reader (e.g. ``af_threshold=`` for the open-source-AF format,
        ``policy="study"``, ``column_map=`` which reads CSV/Parquet files as ``mapped``). An
        option no reader knows, or none of the readers used here reads, is an error.

    Returns
    -------
    DataFrame or (DataFrame, LoadReport)
    """
    if on_error not in ("raise", "quarantine"):
        raise ValueError(f"on_error must be 'raise' or 'quarantine', not {on_error!r}")
    if format != "auto" and format not in READERS:
        raise ValueError(f"unknown format {format!r}; known: {', '.join(READERS)} or 'auto'")
    if keep not in ("first", "last"):
        raise ValueError(f"keep must be 'first' or 'last', not {keep!r}")
    files, skipped = _expand(path_or_glob, format)
    if not files:
        raise FileNotFoundError(f"{path_or_glob}: no log files found"
                                + (f" (skipped: {', '.join(skipped[:5])})" if skipped else ""))
    readers = [_reader_for(p, format, reader_options) for p in files]
    _check_options(reader_options, readers)
    report = LoadReport(skipped=skipped, keep=keep)
    frames, all_bad = [], []
    show = progress if progress is not None else len(files) > 20
    for path, reader in tqdm(list(zip(files, readers, strict=True)), desc="reading logs", unit="file",
                             disable=not show):
        opts = {k: v for k, v in reader_options.items() if k in _reader_options(reader)}
        df, chunk, bad = _read_file(path, reader, opts)
        all_bad += bad
        report.files.append(FileReport(str(path), reader.name, len(df), len(bad), dict(chunk.notes)))
        if len(df):
            frames.append(df)
    if all_bad and on_error == "raise":
        raise LogFormatError(all_bad)
    if not frames:
        if not all_bad:
            raise FileNotFoundError(f"{path_or_glob}: the files hold no records"
                                    + (" (only summary or side files)" if report.files else ""))
        qpath = _write_quarantine(path_or_glob, quarantine, all_bad) if on_error == "quarantine" else None
        raise LogFormatError(all_bad, "no valid records at all", quarantine=qpath)
    df = _concat(frames)
    schema.fill_record_ids(df)

    dups = df["record_id"].duplicated(keep=keep)
    if dups.any():
        if not dedupe:
            schema.validate(df)  # raises with the duplicated ids listed
        code = df["complied"].astype("Float64").fillna(-1.0).to_numpy(dtype=float)  # NA is its own value
        first_code = pd.Series(code[~dups.to_numpy()], index=df.loc[~dups, "record_id"])
        conflict = code[dups.to_numpy()] != first_code.reindex(df.loc[dups, "record_id"]).to_numpy()
        report.duplicates = int(dups.sum())
        report.duplicates_conflicting = int(np.sum(conflict))
        raws = df.loc[dups].to_json(orient="records", lines=True, default_handler=str).splitlines()
        dup_bad = [_source_record(src, "record_id", f"duplicate of an earlier record ({rid})", raw)
                   for src, rid, raw in zip(df.loc[dups, "source"].astype(str), df.loc[dups, "record_id"],
                                            raws, strict=True)]
        files_of = df["source"].astype(str).str.rpartition(":")[0]
        lost = set(files_of[dups]) - set(files_of[~dups])
        report.superseded = sorted(lost)
        df = df.loc[~dups].reset_index(drop=True)
        if on_error == "quarantine":
            all_bad += dup_bad
        warnings.warn(f"load_logs: dropped {report.duplicates} duplicated record_id(s), keeping the {keep} "
                      "in sorted path order", stacklevel=2)
    report.bad = all_bad
    if all_bad or (on_error == "quarantine" and quarantine is not None):
        qpath = _write_quarantine(path_or_glob, quarantine, all_bad)
        report.quarantine = str(qpath)
        if all_bad:
            warnings.warn(f"load_logs: set aside {len(all_bad)} record(s) -> {qpath}", stacklevel=2)
    schema.validate(df)
    report.rows = len(df)
    report.models = int(df["model"].nunique())
    report.conditions = {k: int(v) for k, v in df["condition"].value_counts(sort=False).items()}
    report.na_labels = {c: int(df[c].isna().sum()) for c in ("complied",) if c in df.columns}
    return (df, report) if return_report else df


def write_logs(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a tidy table to ``.parquet``, ``.jsonl`` or ``.csv`` (chosen by the suffix).

    A plain table is brought to the canonical form first (:func:`afdecomp.schema.tidy`: defaults,
    dtypes, record ids) and checked; extra columns are written as they are.

    Parameters
    ----------
    df : DataFrame
        The tidy table, or a plain table with the schema's required columns.
    path : str or Path
        The file to write; its suffix chooses the format.

    Returns
    -------
    Path
        ``path``.
    """
    df = schema.tidy(df)
    native.write_table(df, Path(path))
    return Path(path)
