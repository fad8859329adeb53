"""Any CSV or Parquet table, read through a small TOML column map.

The map names, for each schema column, the source column; optionally recodes values and sets
constants::

    [columns]            # schema column = source column (or a list: first non-missing wins)
    model = "model_name"
    condition = "tier"
    query_id = "prompt_id"
    complied = "is_compliant"

    [values.condition]   # source value = schema value (others are reported as bad records)
    free = "training"
    paid = "deployment"

    [constants]          # columns the table does not have
    variant = "default"

Pass it as ``load_logs(path, format="mapped", column_map="map.toml")`` (a dict works too), or
put it beside the table as ``<table file name>.columns.toml`` or ``columns.toml`` so that
``format="auto"`` finds it. Source columns that the map does not name are kept as they are.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from .. import schema
from ._base import BadRecord, Chunk, Reader, register
from ._common import empty_chunk


def _sidecar(path: Path) -> Path | None:
    for cand in (path.with_name(path.name + ".columns.toml"), path.with_name("columns.toml")):
        if cand.is_file():
            return cand
    return None


def load_column_map(spec) -> dict:
    """A column map from a TOML file path or a dict; checks its shape."""
    if isinstance(spec, dict):
        cmap = spec
    else:
        with open(spec, "rb") as fh:
            try:
                cmap = tomllib.load(fh)
            except tomllib.TOMLDecodeError as e:
                raise ValueError(f"{spec}: not a valid TOML column map: {e}") from e
    bad = [k for k, v in cmap.get("columns", {}).items()
           if not (isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v)))] \
        if isinstance(cmap.get("columns", {}), dict) else []
    if bad:
        raise ValueError(f"{spec}: [columns] {bad[0]} must name a source column or a list of them")
    if not isinstance(cmap.get("columns", {}), dict) or not isinstance(cmap.get("values", {}), dict) \
            or not isinstance(cmap.get("constants", {}), dict):
        raise ValueError(f"{spec}: a column map has [columns], [values.<column>] and [constants] tables")
    return cmap


def read_mapped(path: Path, *, column_map=None, **_options) -> Chunk:
    """Read a CSV/Parquet table and rename/recode its columns by the column map.

    Parameters
    ----------
    path : Path
        A ``.csv``, ``.parquet`` or ``.pq`` file.
    column_map : str, Path or dict, optional
        The map (default: ``<file name>.columns.toml`` or ``columns.toml`` beside the file).

    Returns
    -------
    Chunk
        One row per table row, columns renamed; values are cast and checked by the loader.
    """
    path = Path(path)
    spec = column_map if column_map is not None else _sidecar(path)
    if spec is None:
        return empty_chunk([BadRecord(str(path), None, "<file>", "no column map: pass column_map= or put "
                                      f"{path.name}.columns.toml beside the file", unit="row")])
    cmap = load_column_map(spec)
    unknown = set(cmap) - {"columns", "values", "constants"}
    if unknown:
        raise ValueError(f"{spec}: unknown table(s) {sorted(unknown)} in the column map "
                         "(expected [columns], [values.<column>], [constants])")
    from . import native  # imported here so that this reader registers before the native ones
    base = native.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else _read_csv_text(path)
    if base.bad:
        return base
    out, notes = apply_column_map(base.df, cmap, path)
    if isinstance(out, BadRecord):
        return empty_chunk([out])
    return Chunk(out, base.lines, unit="row", notes=notes, raw=base.raw)


#: Columns afdecomp fills itself; a log's own column of that name is kept under ``log_<name>``.
OWN_COLUMNS = ("source", "record_id")


def apply_column_map(df: pd.DataFrame, cmap: dict, path="<table>") -> tuple[pd.DataFrame | BadRecord, dict]:
    """Rename, copy, combine and recode the columns of ``df`` by a column map.

    ``[columns]`` maps each schema column to a source column or to a list of them (the first
    non-missing value per row is taken: many-to-one); one source may feed several schema
    columns (one-to-many). A source column whose name is one of afdecomp's own columns
    (``source``, ``record_id``) or a schema column filled from another source is kept under
    ``log_<name>``, and the notes say so.

    Returns
    -------
    (DataFrame, notes), or (BadRecord, {}) when the map names a column the table lacks.
    """
    cols = {dst: [src] if isinstance(src, str) else list(src) for dst, src in cmap.get("columns", {}).items()}
    missing = [src for srcs in cols.values() for src in srcs if src not in df.columns]
    if missing:
        return BadRecord(str(path), None, ",".join(missing),
                         f"column(s) named in the column map are not in the table "
                         f"(it has: {', '.join(map(str, df.columns[:20]))})", unit="row"), {}
    notes: dict = {"recognised": []}
    used = {src for srcs in cols.values() for src in srcs}
    out = pd.DataFrame(index=df.index)
    for c in df.columns:  # source columns the map does not use are kept as they are
        if c in used:
            continue
        if c in cols or c in OWN_COLUMNS:
            out[f"log_{c}"] = df[c]
            notes["recognised"].append(f"the log's own column {c!r} kept as 'log_{c}' "
                                       f"({'mapped from ' + ', '.join(cols[c]) if c in cols else 'afdecomp fills ' + repr(c)})")
        else:
            out[c] = df[c]
    for dst, srcs in cols.items():
        col = df[srcs[0]].astype(object)
        for extra in srcs[1:]:
            col = col.where(col.notna(), df[extra].astype(object))
        out[dst] = col
        if len(srcs) > 1:
            notes["recognised"].append(f"{dst!r} = first non-missing of {srcs}")
    for src in sorted(used - set(cols)):  # a used source named like a schema column: keep it too
        if src in OWN_COLUMNS:
            out[f"log_{src}"] = df[src]
            notes["recognised"].append(f"the log's own column {src!r} kept as 'log_{src}' (afdecomp fills {src!r})")
        elif src in schema.COLUMNS:
            out[src] = df[src]
    for col, mapping in cmap.get("values", {}).items():
        if col not in out.columns:
            continue
        s = out[col].astype(object)
        key = s.map(lambda v: None if pd.isna(v) else str(v))
        known = key.isin(list(mapping))
        out[col] = np.where(known, key.map(mapping), s)
        notes[f"recoded_{col}"] = int(known.sum())
    for col, val in cmap.get("constants", {}).items():
        if col not in out.columns:
            out[col] = val
    if not notes["recognised"]:
        del notes["recognised"]
    return out, notes


def column_map_from_specs(maps=(), consts=()) -> dict | None:
    """A column map from command-line ``SOURCE=FIELD`` (``--map``) and ``FIELD=VALUE`` (``--const``).

    One source may appear for several fields (``--map prompt=query_id --map prompt=query``);
    several sources for one field are combined, the first non-missing value winning.
    """
    if not maps and not consts:
        return None
    cols: dict[str, list[str]] = {}
    for spec in maps or ():
        src, sep, dst = spec.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise ValueError(f"--map {spec!r}: expected SOURCE_COLUMN=FIELD, e.g. prompt_id=query_id")
        cols.setdefault(dst.strip(), []).append(src.strip())
    constants = {}
    for spec in consts or ():
        key, sep, val = spec.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--const {spec!r}: expected FIELD=VALUE, e.g. variant=default")
        constants[key.strip()] = val
    return {"columns": {k: v[0] if len(v) == 1 else v for k, v in cols.items()}, "constants": constants}


def _read_csv_text(path: Path) -> Chunk:
    """CSV with every column as text (the schema's normalize casts and reports bad values)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=True)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
        return empty_chunk([BadRecord(str(path), None, "<file>", f"not a readable CSV file: {e}", unit="row")])
    return Chunk(df, np.arange(1, len(df) + 1, dtype=np.int64), unit="row",
                 raw=lambda j: df.iloc[j].to_json())


def _sniff_mapped(path: Path, head: bytes) -> bool:
    return _sidecar(path) is not None


register(Reader("mapped", (".csv", ".parquet", ".pq"), _sniff_mapped, read_mapped,
                "any CSV/Parquet table with a TOML column map (column_map= or <file>.columns.toml)"))
