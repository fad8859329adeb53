"""The canonical tidy table: columns, dtypes, defaults, ``normalize()`` and ``validate()``.

One row is one sampled generation. Every reader produces this table and every model reads it
(the columns: docs/concepts.md, "The tidy table"). ``normalize`` fills the documented defaults and casts
to the canonical dtypes; ``validate`` checks a table and raises one :class:`SchemaError` that
lists *every* problem it found (column, number of rows, example rows), never just the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

CONDITIONS = ("training", "deployment")

#: column -> (kind, required). Kinds: category, string, boolean, float, Int64, int.
COLUMNS: dict[str, tuple[str, bool]] = {
    "model": ("category", True),
    "condition": ("category", True),
    "variant": ("category", True),
    "query_id": ("string", True),
    "complied": ("boolean", False),
    "scenario": ("category", False),
    "steer_vector": ("category", False),
    "steer_layer": ("Int64", False),
    "steer_coef": ("float", False),
    "oversight": ("float", False),
    "sample": ("int", False),
    "compliance_score": ("float", False),
    "partial": ("boolean", False),
    "af_reasoning": ("boolean", False),
    "af_score": ("float", False),
    "query": ("string", False),
    "response": ("string", False),
    "reasoning": ("string", False),
    "judge": ("string", False),
    "source": ("string", False),
    "record_id": ("string", False),  # derived when absent
}
REQUIRED = tuple(c for c, (_, req) in COLUMNS.items() if req)
LABELS = ("complied", "partial", "af_reasoning")

#: The fields that identify one generation; ``record_id`` hashes them.
ID_FIELDS = (
    "model", "scenario", "variant", "steer_vector", "steer_layer", "steer_coef",
    "oversight", "condition", "query_id", "sample",
)
#: The keys of one binomial cell (everything in ID_FIELDS except the sample index).
CELL_KEYS = tuple(c for c in ID_FIELDS if c != "sample")

DEFAULTS = {
    "scenario": "default",
    "steer_vector": "none",
    "steer_layer": pd.NA,
    "steer_coef": 0.0,
    "sample": 0,
    # oversight: 1.0 for training, 0.0 for deployment (filled per row)
}

_BOOL_TOKENS = {True: True, False: False,
                **{t: True for t in ("true", "1", "yes", "y", "t", "True")},
                **{t: False for t in ("false", "0", "no", "n", "f", "False")}}


@dataclass
class Problem:
    """One kind of problem in a table: which column, what, how many rows, examples."""

    column: str
    message: str
    count: int = 0
    examples: list = field(default_factory=list)
    rows: np.ndarray | None = None  # positional row indices, for readers that map them to lines

    def __str__(self) -> str:
        n = f" ({self.count} row{'s' if self.count != 1 else ''})" if self.count else ""
        ex = f"; e.g. {self.examples[:3]}" if self.examples else ""
        return f"{self.column}: {self.message}{n}{ex}"


class SchemaError(ValueError):
    """A table does not follow the schema. ``.problems`` lists every problem found.

    Parameters
    ----------
    problems : list of Problem
        Every problem found: column, message, number of rows and examples (kept as
        ``.problems``); the message lists them all.
    where : str, default "table"
        What was checked, for the message's first line (e.g. a file name).
    """

    def __init__(self, problems: list[Problem], where: str = "table"):
        self.problems = list(problems)
        lines = [f"{where} does not follow the afdecomp schema ({len(problems)} problem(s)):"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


# ----------------------------------------------------------------------------- coercion
def _as_boolean(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Cast to nullable boolean; return the result and a mask of values that could not be read."""
    if isinstance(s.dtype, pd.BooleanDtype):
        return s, np.zeros(len(s), bool)
    if s.dtype == bool:
        return s.astype("boolean"), np.zeros(len(s), bool)
    obj = s.astype(object)
    isna = obj.isna().to_numpy()
    mapped = obj.map(_BOOL_TOKENS)  # exact tokens (True/False/0/1/"true"/...) in one hash pass
    rest = mapped.isna().to_numpy() & ~isna
    if rest.any():  # strings with other case or spaces: "TRUE", " yes"
        low = obj[rest].map(lambda v: v.strip().lower() if isinstance(v, str) else v)
        mapped[rest] = low.map(_BOOL_TOKENS)
    # bool-like check: 1.0 and 0.0 map too (hash-equal to True/False), 2 or "maybe" do not
    bad = mapped.isna().to_numpy() & ~isna
    return mapped.astype("boolean"), bad


def _as_float(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if s.dtype == np.float64:
        return s, np.zeros(len(s), bool)
    if s.dtype == bool or isinstance(s.dtype, pd.BooleanDtype):
        return s.astype("float64"), np.zeros(len(s), bool)  # True -> 1.0 is not "wrong type"
    out = pd.to_numeric(s, errors="coerce")
    bad = (out.isna() & s.notna()).to_numpy()
    if not pd.api.types.is_numeric_dtype(s.dtype):
        # reject booleans hidden in object columns: "complied": true in a float field
        vals = s.to_numpy(dtype=object)
        bad = bad | np.array([isinstance(v, (bool, np.bool_)) for v in vals], bool)
    return out.astype("float64"), bad


def _as_int(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Cast to nullable Int64; fractional, infinite or non-numeric values are reported."""
    f, bad = _as_float(s)
    v = f.to_numpy()
    frac = np.isfinite(v) & (v != np.round(v))
    inf = np.isinf(v)
    bad = bad | frac | inf
    v = np.where(bad, np.nan, v)
    return pd.Series(v, index=s.index).astype("Int64"), bad


def _as_string(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_string_dtype(s.dtype) and not s.dtype == object:
        return s, np.zeros(len(s), bool)
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.astype(str).where(s.notna(), None).astype("str"), np.zeros(len(s), bool)
    bad = np.zeros(len(s), bool)
    if s.dtype == object:
        vals = s.to_numpy(dtype=object)
        bad = np.array([isinstance(v, (dict, list, bool)) for v in vals], bool)
    out = s.where(~bad, None)
    return out.astype("str"), bad


def _as_category(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s, np.zeros(len(s), bool)
    st, bad = _as_string(s)
    return st.astype("category"), bad


def normalize(df: pd.DataFrame, *, derive_ids: bool = True) -> tuple[pd.DataFrame, list[Problem]]:
    """Fill the schema's defaults and cast to canonical dtypes.

    Returns the new table and the list of problems found while casting (values of the wrong
    type become NA and are reported, never silently dropped). Extra columns are kept as-is.
    """
    df = df.copy()
    n = len(df)
    problems: list[Problem] = []

    def report_bad(col: str, bad: np.ndarray, raw: pd.Series, what: str) -> None:
        if bad.any():
            idx = np.flatnonzero(bad)
            problems.append(Problem(col, f"not {what}", len(idx),
                                    [repr(raw.iloc[i]) for i in idx[:3]], rows=idx))

    for col, (kind, _) in COLUMNS.items():
        if col not in df.columns:
            continue
        raw = df[col]
        if kind == "category":
            df[col], bad = _as_category(raw)
            report_bad(col, bad, raw, "a string")
        elif kind == "string":
            df[col], bad = _as_string(raw)
            report_bad(col, bad, raw, "a string")
        elif kind == "boolean":
            df[col], bad = _as_boolean(raw)
            report_bad(col, bad, raw, "a boolean (true/false)")
        elif kind == "float":
            df[col], bad = _as_float(raw)
            report_bad(col, bad, raw, "a number")
        elif kind in ("int", "Int64"):
            df[col], bad = _as_int(raw)
            report_bad(col, bad, raw, "an integer")

    # defaults
    for col, val in DEFAULTS.items():
        if col not in df.columns:
            if col == "steer_layer":
                df[col] = pd.array([pd.NA] * n, dtype="Int64")
            elif col in ("scenario", "steer_vector"):
                df[col] = pd.Categorical([val] * n)
            else:
                df[col] = val
        elif df[col].isna().any() and col != "steer_layer":
            if isinstance(df[col].dtype, pd.CategoricalDtype):
                if val not in df[col].cat.categories:
                    df[col] = df[col].cat.add_categories([val])
            df[col] = df[col].fillna(val)
    if "sample" in df.columns:
        df["sample"] = df["sample"].astype("int64")
    if "condition" in df.columns:
        cond = df["condition"]
        if "oversight" not in df.columns:
            df["oversight"] = np.where(cond.to_numpy(dtype=object) == "training", 1.0, 0.0)
        elif df["oversight"].isna().any():
            fill = np.where(cond.to_numpy(dtype=object) == "training", 1.0, 0.0)
            df["oversight"] = df["oversight"].fillna(pd.Series(fill, index=df.index))
        bad_cond = cond.notna() & ~cond.isin(CONDITIONS)
        df["condition"] = pd.Categorical(cond.astype(object).where(~bad_cond, None),
                                         categories=list(CONDITIONS))
        if bad_cond.any():
            idx = np.flatnonzero(bad_cond.to_numpy())
            problems.append(Problem("condition", f"not one of {list(CONDITIONS)}", len(idx),
                                    [repr(cond.iloc[i]) for i in idx[:3]], rows=idx))
    for col in LABELS:
        if col not in df.columns:
            df[col] = pd.array([pd.NA] * n, dtype="boolean")
    if derive_ids and all(c in df.columns for c in REQUIRED):
        fill_record_ids(df)
    return df, problems


def fill_record_ids(df: pd.DataFrame) -> pd.DataFrame:
    """Derive ``record_id`` (in place) for rows that have none; ids already given are kept."""
    if "record_id" not in df.columns:
        df["record_id"] = record_ids(df)
        return df
    missing = df["record_id"].isna()
    if missing.any():
        df.loc[missing, "record_id"] = record_ids(df.loc[missing])
    return df


def record_ids(df: pd.DataFrame) -> pd.Series:
    """Stable 16-hex-digit hash of the identifying fields (``ID_FIELDS``) of each row.

    The hash depends only on the field values (not on dtypes or row order), so the sampler,
    the readers and a re-load of the same record give the same id.
    """
    h = np.full(len(df), 0x9E3779B97F4A7C15, dtype=np.uint64)
    for c in ID_FIELDS:
        col = df[c] if c in df.columns else pd.Series(DEFAULTS.get(c), index=df.index)
        if c in ("steer_coef", "oversight", "steer_layer", "sample"):
            v = pd.to_numeric(col, errors="coerce").astype("float64").to_numpy()
            hc = pd.util.hash_array(np.where(np.isnan(v), -1.0, v) + 0.0)  # +0.0: -0.0 -> 0.0
        else:  # hash each distinct value once: codes index the hashes of the uniques
            codes, uniques = pd.factorize(col, use_na_sentinel=True)
            hu = pd.util.hash_array(np.append(np.asarray(uniques, dtype=object).astype(str), ""))
            hc = hu[codes]  # code -1 (NA) picks the hash of "" (the last entry)
        h = (h * np.uint64(1000003)) ^ hc  # wraps modulo 2**64
    hexed = np.frombuffer(h.astype(">u8").tobytes().hex().encode("ascii"), dtype="S16")
    values = pa.array(hexed, type=pa.binary(16)).cast(pa.string()).to_pandas().array
    return pd.Series(values, index=df.index).astype("str")


# ----------------------------------------------------------------------------- validation
def _examples(df: pd.DataFrame, mask: np.ndarray, col: str) -> list:
    idx = np.flatnonzero(mask)[:3]
    return [f"row {df.index[i]}: {col}={df[col].iloc[i]!r}" for i in idx]


def check(df: pd.DataFrame) -> list[Problem]:
    """Every problem of a (normalized) table as a list; empty when the table is valid."""
    problems: list[Problem] = []
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        problems.append(Problem(",".join(missing), "required column(s) missing"))
    for col in REQUIRED:
        if col in df.columns:
            na = df[col].isna().to_numpy()
            if col == "query_id":
                na = na | (df[col] == "").fillna(False).to_numpy(dtype=bool)
            if na.any():
                problems.append(Problem(col, "required field missing or empty",
                                        int(na.sum()), _examples(df, na, col), rows=np.flatnonzero(na)))
    for col, (kind, _) in COLUMNS.items():
        if col not in df.columns:
            continue
        dt = df[col].dtype
        ok = {
            "category": isinstance(dt, pd.CategoricalDtype),
            "string": pd.api.types.is_string_dtype(dt),
            "boolean": isinstance(dt, pd.BooleanDtype),
            "float": dt == np.float64,
            "Int64": isinstance(dt, pd.Int64Dtype),
            "int": dt == np.int64,
        }[kind]
        if not ok:
            problems.append(Problem(col, f"dtype is {dt}, expected {kind} (use afdecomp.schema.normalize)"))
    if "condition" in df.columns:
        bad = (df["condition"].notna() & ~df["condition"].astype(object).isin(CONDITIONS)).to_numpy()
        if bad.any():
            problems.append(Problem("condition", f"not one of {list(CONDITIONS)}", int(bad.sum()),
                                    _examples(df, bad, "condition"), rows=np.flatnonzero(bad)))
    for col, lo, hi in (("oversight", 0, 1), ("compliance_score", 0, 1), ("af_score", 0, 1)):
        if col in df.columns and df[col].dtype == np.float64:
            v = df[col].to_numpy()
            bad = ~np.isnan(v) & ((v < lo) | (v > hi))
            if col == "oversight":
                bad = bad | np.isnan(v)
            if bad.any():
                problems.append(Problem(col, f"outside [{lo}, {hi}]", int(bad.sum()),
                                        _examples(df, bad, col), rows=np.flatnonzero(bad)))
    if "steer_coef" in df.columns and df["steer_coef"].dtype == np.float64:
        bad = ~np.isfinite(df["steer_coef"].to_numpy())
        if bad.any():
            problems.append(Problem("steer_coef", "missing or non-finite coefficients", int(bad.sum()),
                                    _examples(df, bad, "steer_coef"), rows=np.flatnonzero(bad)))
    if "sample" in df.columns and pd.api.types.is_integer_dtype(df["sample"].dtype):
        bad = (df["sample"] < 0).to_numpy(dtype=bool, na_value=True)
        if bad.any():
            problems.append(Problem("sample", "negative or missing sample index", int(bad.sum()),
                                    _examples(df, bad, "sample"), rows=np.flatnonzero(bad)))
    if "steer_vector" in df.columns and "steer_coef" in df.columns and df["steer_coef"].dtype == np.float64:
        bad = ((df["steer_vector"].astype(object) == "none") & (df["steer_coef"] != 0)).to_numpy()
        if bad.any():
            problems.append(Problem("steer_coef", "non-zero coefficient with steer_vector 'none'",
                                    int(bad.sum()), _examples(df, bad, "steer_coef"), rows=np.flatnonzero(bad)))
    if "record_id" in df.columns:
        dup = df["record_id"].duplicated(keep=False).to_numpy() & df["record_id"].notna().to_numpy()
        if dup.any():
            first = df["record_id"].duplicated(keep="first").to_numpy()
            problems.append(Problem("record_id", "duplicated ids (load with dedupe=True to keep the first)",
                                    int(first.sum()), _examples(df, dup, "record_id"), rows=np.flatnonzero(first)))
    return problems


def validate(df: pd.DataFrame) -> pd.DataFrame:
    """Check a tidy table against the schema.

    Parameters
    ----------
    df : DataFrame
        A table in the canonical form (as returned by :func:`afdecomp.load_logs` or
        :func:`normalize`).

    Returns
    -------
    DataFrame
        The same table, unchanged, when it is valid.

    Raises
    ------
    SchemaError
        Listing every problem at once: column, number of rows and example rows.
    """
    problems = check(df)
    if problems:
        raise SchemaError(problems)
    return df


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    """A plain table (e.g. built by hand in a notebook) in the canonical form, checked.

    :func:`normalize` (defaults, dtypes, record ids), then :func:`validate`. Without a ``sample``
    column, rows that repeat the same identifying fields are numbered 0, 1, ... (several
    generations of one prompt). A missing required column, or a value that cannot be cast, raises
    one :class:`SchemaError` listing every problem.
    """
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise SchemaError([Problem(c, "required column is missing", len(df)) for c in missing])
    if "sample" not in df.columns:  # repeated rows of a hand-built table are several generations
        keys = [c for c in ID_FIELDS if c in df.columns and c != "sample"]
        df = df.assign(sample=df.groupby(keys, observed=True, dropna=False, sort=False).cumcount())
    out, problems = normalize(df)
    if problems:
        raise SchemaError(problems)
    return validate(out)
