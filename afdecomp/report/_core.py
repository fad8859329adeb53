"""The report's parts: blocks (text, tables, figures, warnings), sections, the registry, and the
context that sections read, which fits each declared model once (memoized)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import matplotlib.figure
import pandas as pd

from ..settings import FitSettings


# ----------------------------------------------------------------------------- blocks
@dataclass
class Text:
    """A paragraph in Markdown (a fenced ```` ``` ```` block is shown verbatim)."""

    markdown: str


@dataclass
class Table:
    """A table, written as CSV; shown whole up to ``max_rows`` rows, folded beyond ``fold``."""

    name: str
    frame: pd.DataFrame
    caption: str = ""
    max_rows: int = 40
    fold: int = 15


@dataclass
class Figure:
    """A figure, written as PNG and PDF. ``browse`` (optional) names its rows for the transcript
    browser: ``{"by": ("model", "variant"), "where": {"steer": "none"}}`` (see
    :class:`afdecomp.report.transcripts.Links`)."""

    name: str
    figure: matplotlib.figure.Figure
    caption: str = ""
    browse: dict | None = None


@dataclass
class Caution:
    """A problem the reader must know about: what happened, what it means, what to do."""

    what: str
    meaning: str = ""
    action: str = ""

    @property
    def markdown(self) -> str:
        parts = [f"**Warning:** {self.what.rstrip('.')}."]
        if self.meaning:
            parts.append(f"*What it means:* {self.meaning}")
        if self.action:
            parts.append(f"*What to do:* {self.action}")
        return " ".join(parts)


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)
    key: str = ""


# ----------------------------------------------------------------------------- fits
@dataclass
class FitRecord:
    """What happened when the report fitted a model: the results, or why not; the warnings
    raised while fitting and the wall time."""

    name: str
    results: object | None = None
    why_not: str | None = None
    warnings: list = field(default_factory=list)
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


@dataclass
class Context:
    """What sections read: the table, the load report, options, fit settings, and a cache shared
    between them (the fits are ``cache["gap"]`` and ``cache["rational"]``)."""

    df: pd.DataFrame
    out: Path
    load_report: object | None = None
    options: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)
    settings: FitSettings | None = None
    records: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.settings is None:
            self.settings = self.options.get("settings") or FitSettings()

    @property
    def gap_df(self) -> pd.DataFrame:
        """The rows of the conditions that have labelled generations in both tiers: the table every
        gap and model of the report uses (the others have no gap; :attr:`one_tier` names them)."""
        if "gap_df" not in self.cache:
            from ..aggregate import CONDITION_KEYS, tier_coverage
            df = self.df
            keys = [c for c in CONDITION_KEYS if c in df.columns]
            per = tier_coverage(df.assign(n=df["complied"].notna().to_numpy(int)), keys, who="report")
            both = per["training"] & per["deployment"]
            keep = df[keys].join(both.rename("_both"), on=keys)["_both"].to_numpy(bool)
            self.cache["gap_df"] = df[keep]
            self.cache["one_tier"] = per[~both].reset_index()[keys]
        return self.cache["gap_df"]

    @property
    def one_tier(self) -> pd.DataFrame:
        """The conditions left out of every gap: no labelled generation in one tier (or in both)."""
        _ = self.gap_df  # fills the cache
        return self.cache["one_tier"]

    def cached(self, key: str, make: Callable[[], object]):
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def need(self, name: str) -> FitRecord:
        """The fit ``name`` (``"gap"`` or ``"rational"``), made once: reused when the cache holds
        it (from another section, or given to :func:`build_report` as ``fits=``)."""
        if name in self.records:
            return self.records[name]
        if name in self.cache:
            rec = FitRecord(name, self.cache[name])
        else:
            rec = FITS[name](self)
            if rec.results is not None:
                self.cache[name] = rec.results
        self.records[name] = rec
        return rec


class Entry(NamedTuple):
    """A registered section: its place, the function making it, the fits it needs."""

    order: int
    make: Callable[[Context], Section | None]
    needs: tuple[str, ...] = ()


SECTIONS: dict[str, Entry] = {}
FITS: dict[str, Callable[[Context], FitRecord]] = {}


def section(key: str, order: int, needs: tuple[str, ...] = ()):
    """Register a report section under ``key``; ``order`` decides its place and ``needs`` names
    the fits (``"gap"``, ``"rational"``) it reads, which the report makes before it runs."""
    def deco(fn):
        unknown = set(needs) - set(FITS)
        if unknown:
            raise ValueError(f"section {key!r} needs unknown fit(s) {sorted(unknown)}; known: {sorted(FITS)}")
        SECTIONS[key] = Entry(order, fn, tuple(needs))
        return fn
    return deco


def fit(name: str):
    """Register how the report makes the fit ``name`` (a function ``Context -> FitRecord``)."""
    def deco(fn):
        FITS[name] = fn
        return fn
    return deco


def run_fit(name: str, ctx: Context, make: Callable[[], object], **extra) -> FitRecord:
    """Run ``make()`` with a line on stderr before and after, keeping its warnings."""
    import sys
    print(f"report: fitting the {name} model ({ctx.settings.describe()}) ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = make()
    secs = time.perf_counter() - t0
    print(f"report: {name} model fitted in {secs:.0f} s", file=sys.stderr, flush=True)
    kept = [w for w in caught if issubclass(w.category, UserWarning) and not issubclass(
        w.category, (DeprecationWarning, FutureWarning))]
    return FitRecord(name, res, warnings=kept, seconds=secs, extra=extra)
