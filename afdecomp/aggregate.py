"""Rows -> binomial cells: the sufficient statistics every model in the package uses.

A cell is one (model, scenario, variant, steer_vector, steer_layer, steer_coef, oversight,
condition, query_id). ``n`` counts the labelled generations, ``k`` the positive ones and
``n_na`` the generations whose label is missing (NA), which are excluded from ``n`` but
counted, never silently dropped.

Two checks every estimator shares live here: :func:`as_tidy` takes a plain table (e.g. built
by hand in a notebook) to the canonical form, naming any missing column in one line, and
:func:`check_tiers` raises naming every condition that lacks a labelled tier (a gap needs
both training and deployment).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from . import schema
from .schema import CELL_KEYS

#: How a condition is identified (the keys of one compliance gap).
CONDITION_KEYS = ["model", "scenario", "variant", "steer_vector", "steer_layer", "steer_coef"]

#: Columns ``schema.normalize`` fills with defaults; a table with all of them is taken as canonical.
_DEFAULTED = ("scenario", "steer_vector", "steer_layer", "steer_coef", "oversight", "sample")


def as_tidy(df: pd.DataFrame, label: str = "complied", *, who: str = "afdecomp") -> pd.DataFrame:
    """The table in the canonical form, normalized first when it is not (a hand-built table).

    Parameters
    ----------
    df : DataFrame
        The tidy table, or a plain one with at least ``model``, ``condition``, ``variant``,
        ``query_id`` and the ``label`` column (e.g. ``complied``).
    label : str
        The label column the caller counts.
    who : str
        Named in the error message (the estimator's name).

    Raises
    ------
    ValueError
        One line naming every missing required column.
    afdecomp.SchemaError
        Values that cannot be cast (e.g. ``condition`` not training/deployment), every one listed.
    """
    need = list(schema.REQUIRED) + [label]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"{who}: the table lacks the required column(s) {', '.join(map(repr, missing))} "
                         f"(a tidy table has {', '.join(need)}; see afdecomp.schema)")
    if all(c in df.columns for c in _DEFAULTED):
        return df
    out, problems = schema.normalize(df, derive_ids=False)  # repeated rows are repeated samples, not duplicates
    problems += [p for p in schema.check(out) if p.column != "record_id"]
    if problems:
        raise schema.SchemaError(problems, where=f"{who}: the table")
    return out


def _condition_text(frame: pd.DataFrame, keys: list[str], among: pd.DataFrame) -> list[str]:
    """``key=value`` of the keys that tell the conditions of ``among`` apart (and the model)."""
    show = [k for k in keys if k == "model" or among[k].nunique(dropna=False) > 1]
    return [", ".join(f"{k}={v}" for k, v in zip(show, row, strict=True))
            for row in frame[show].astype(object).itertuples(index=False)]


def tier_coverage(cells: pd.DataFrame, keys=None, *, who: str = "afdecomp") -> pd.DataFrame:
    """Per condition (one combination of ``keys``), whether it has labelled generations
    (``n > 0``) in training and in deployment: boolean columns ``training`` and ``deployment``,
    indexed by ``keys``. ``cells`` may also be rows with ``n`` = 1 where labelled."""
    keys = [c for c in (CONDITION_KEYS if keys is None else keys) if c in cells.columns]
    if "condition" in cells.columns:
        train = (cells["condition"].astype(str) == "training").to_numpy()
    elif "oversight" in cells.columns:
        train = (cells["oversight"].to_numpy(dtype=float) > 0)
    else:
        raise ValueError(f"{who}: the cells have neither a 'condition' nor an 'oversight' column")
    lab = cells["n"].to_numpy() > 0
    flags = cells[keys].copy()
    flags["training"], flags["deployment"] = train & lab, ~train & lab
    return flags.groupby(keys, observed=True, dropna=False, sort=True)[["training", "deployment"]].any()


def check_tiers(cells: pd.DataFrame, keys=None, *, who: str = "afdecomp") -> None:
    """Raise naming every condition without labelled generations in both tiers.

    ``cells`` are binomial cells (columns ``n`` and ``condition`` or ``oversight``); a
    condition is one combination of ``keys`` (default: model, scenario, variant and steering).
    A condition with training but no deployment (or the reverse, or no labels at all) has no
    gap; an estimator that kept it would report a rate as a gap, or drop it silently.
    """
    keys = [c for c in (CONDITION_KEYS if keys is None else keys) if c in cells.columns]
    per = tier_coverage(cells, keys, who=who)
    bad = per[~(per["training"] & per["deployment"])].reset_index()
    if bad.empty:
        return
    text = _condition_text(bad, keys, per.reset_index())
    why = ["no labelled generation" if not (t or d) else f"no labelled {'deployment' if t else 'training'} generation"
           for t, d in zip(bad["training"], bad["deployment"], strict=True)]
    listed = "; ".join(f"{c} ({w})" for c, w in zip(text[:5], why[:5], strict=True))
    raise ValueError(f"{who}: {len(bad)} of {len(per)} condition(s) lack a labelled tier, so they have no "
                     f"gap: {listed}{' ...' if len(bad) > 5 else ''}. Label or add the missing tier, or "
                     f"leave those conditions out of the table")


def aggregate(df: pd.DataFrame, label: str = "complied", *, by=CELL_KEYS, warn: bool = True,
              check_tiers: bool = True) -> pd.DataFrame:
    """Binomial cells from the tidy table.

    Parameters
    ----------
    df : DataFrame
        The tidy table (``afdecomp.load_logs`` or ``afdecomp.simulate``), or a plain table
        with ``model``, ``condition``, ``variant``, ``query_id`` and the label (normalized
        first, :func:`as_tidy`).
    label : str, default "complied"
        The boolean column to count (``"af_reasoning"``, ``"partial"``, ... work too).
    by : sequence of str
        Cell keys; the default is the schema's full cell definition.
    warn : bool
        Warn when some labels are NA (their count is always in ``n_na``).
    check_tiers : bool, default True
        Raise (:func:`check_tiers`) when a condition lacks a labelled tier — the cells are what
        the gap models fit. ``False`` aggregates anyway (e.g. one tier's AF-reasoning labels).

    Returns
    -------
    DataFrame
        One row per cell with the key columns and ``n``, ``k``, ``n_na`` (int64).
        Cells whose generations are all unlabelled are kept with ``n = 0``.
    """
    df = as_tidy(df, label, who="aggregate")
    by = [c for c in by if c in df.columns]
    y = df[label]
    labelled = y.notna().to_numpy()
    work = df[by].copy()
    work["n"] = labelled.astype(np.int64)
    work["k"] = (y.fillna(False).astype(bool).to_numpy() & labelled).astype(np.int64)
    work["n_na"] = (~labelled).astype(np.int64)
    cells = work.groupby(by, observed=True, dropna=False, sort=True)[["n", "k", "n_na"]].sum().reset_index()
    for c in by:
        if isinstance(df[c].dtype, pd.CategoricalDtype) and c != "condition":
            cells[c] = cells[c].cat.remove_unused_categories()
    n_na = int(cells["n_na"].sum())
    if warn and n_na:
        warnings.warn(f"aggregate: {n_na} generation(s) have no '{label}' label (NA); they are "
                      f"excluded from n and counted in n_na", stacklevel=2)
    if check_tiers and ("condition" in by or "oversight" in by):
        _check_tiers(cells, [c for c in CONDITION_KEYS if c in by], who="aggregate")
    return cells


_check_tiers = check_tiers


#: The count columns of :func:`aggregate_joint`: the four (complied, af_reasoning) combinations,
#: the generations with one label missing, and the binomial counts the joint model fits.
JOINT_COUNTS = ["c0_af0", "c0_af1", "c1_af0", "c1_af1", "c0_af_na", "c1_af_na", "n_na",
                "n", "k", "n_af", "k_af"]


def aggregate_joint(df: pd.DataFrame, *, by=CELL_KEYS, warn: bool = True,
                    check_tiers: bool = True) -> pd.DataFrame:
    """Per cell, the counts of the four (complied, af_reasoning) combinations, NA counted.

    Parameters
    ----------
    df : DataFrame
        The tidy table with ``complied`` and ``af_reasoning`` (plain tables are normalized
        first, :func:`as_tidy`).
    by : sequence of str
        Cell keys (default: the schema's cell definition, as :func:`aggregate`).
    warn : bool
        Warn when labels are missing (they are always counted).
    check_tiers : bool, default True
        Raise when a condition lacks a labelled (``complied``) tier, as :func:`aggregate`.

    Returns
    -------
    DataFrame
        One row per cell: the keys and the int64 counts of :data:`JOINT_COUNTS`:

        - ``c0_af0``, ``c0_af1``, ``c1_af0``, ``c1_af1``: both labels present (``c1`` = complied);
        - ``c0_af_na``, ``c1_af_na``: ``complied`` labelled, ``af_reasoning`` missing;
        - ``n_na``: ``complied`` missing (whatever ``af_reasoning`` says);
        - ``n``, ``k``: the compliance binomial (labelled generations, complied ones), as
          :func:`aggregate` gives them;
        - ``n_af``, ``k_af``: AF reasoning among the complied generations with an AF label
          (``c1_af0 + c1_af1`` and ``c1_af1``) — what the joint model fits. An AF label on a
          refusal (``c0_af1``) is counted but not modelled: AF reasoning is the reason for
          *complying*.
    """
    df = as_tidy(df, "complied", who="aggregate_joint")
    if "af_reasoning" not in df.columns:
        raise ValueError("aggregate_joint: the table lacks the 'af_reasoning' column (label it with "
                         "afdecomp.label(..., 'af_reasoning') or simulate(af_reasoning=...))")
    by = [c for c in by if c in df.columns]
    c, a = df["complied"], df["af_reasoning"]
    c_ok, a_ok = c.notna().to_numpy(), a.notna().to_numpy()
    c1 = c.fillna(False).astype(bool).to_numpy() & c_ok
    a1 = a.fillna(False).astype(bool).to_numpy() & a_ok
    c0 = c_ok & ~c1
    work = df[by].copy()
    cols = {"c0_af0": c0 & a_ok & ~a1, "c0_af1": c0 & a1, "c1_af0": c1 & a_ok & ~a1, "c1_af1": c1 & a1,
            "c0_af_na": c0 & ~a_ok, "c1_af_na": c1 & ~a_ok, "n_na": ~c_ok}
    for name, x in cols.items():
        work[name] = x.astype(np.int64)
    cells = work.groupby(by, observed=True, dropna=False, sort=True)[list(cols)].sum().reset_index()
    for col in by:
        if isinstance(df[col].dtype, pd.CategoricalDtype) and col != "condition":
            cells[col] = cells[col].cat.remove_unused_categories()
    cells["n"] = cells[["c0_af0", "c0_af1", "c1_af0", "c1_af1", "c0_af_na", "c1_af_na"]].sum(axis=1)
    cells["k"] = cells[["c1_af0", "c1_af1", "c1_af_na"]].sum(axis=1)
    cells["n_af"] = cells["c1_af0"] + cells["c1_af1"]
    cells["k_af"] = cells["c1_af1"].copy()
    if warn:
        n_na, af_na = int(cells["n_na"].sum()), int(cells["c0_af_na"].sum() + cells["c1_af_na"].sum())
        if n_na or af_na:
            warnings.warn(f"aggregate_joint: {n_na} generation(s) have no 'complied' label and {af_na} "
                          f"labelled one(s) no 'af_reasoning' label; they are counted (n_na, c*_af_na), "
                          f"not modelled", stacklevel=2)
        refused_af = int(cells["c0_af1"].sum())
        if refused_af:
            warnings.warn(f"aggregate_joint: {refused_af} refusal(s) carry an AF-reasoning label; they are "
                          f"counted in c0_af1 and not modelled (AF reasoning is modelled given compliance)",
                          stacklevel=2)
    if check_tiers and ("condition" in by or "oversight" in by):
        _check_tiers(cells, [col for col in CONDITION_KEYS if col in by], who="aggregate_joint")
    return cells
