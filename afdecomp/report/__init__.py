"""The report folder: a headline summary, then a list of sections, each a few blocks of text,
tables and figures, then a run record.

``build_report(df, out)`` runs the chosen sections on the tidy table and writes
``out/index.md`` and ``out/index.html`` (Jinja2 templates in ``afdecomp/_data/report``) plus
each table as CSV and each figure as PNG and PDF. A section is a function
``Context -> Section | None`` registered with :func:`section`, naming the fits it reads
(``needs=("gap", "rational")``); the report makes each needed fit once, with one
:class:`~afdecomp.settings.FitSettings`, whatever sections were chosen.
"""

from __future__ import annotations

import datetime
import platform
import sys
from importlib import metadata
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # the report writes files; never needs a screen

import pandas as pd  # noqa: E402

from ..settings import FitSettings  # noqa: E402
from . import sections as _sections  # noqa: E402,F401  (registers the sections)
from ._core import (  # noqa: E402
    FITS,
    SECTIONS,
    Caution,
    Context,
    Entry,
    Figure,
    FitRecord,
    Section,
    Table,
    Text,
    section,
)
from ._render import rendered, slug, write_pages  # noqa: E402
from ._summary import summary_blocks  # noqa: E402
from .sections import _loo_blocks  # noqa: E402,F401  (tests read it)
from .transcripts import write_transcripts  # noqa: E402

__all__ = ["FITS", "SECTIONS", "Caution", "Context", "Entry", "Figure", "FitRecord", "Section", "Table", "Text",
           "build_report", "section", "write_transcripts"]


def build_report(df: pd.DataFrame, out, *, load_report=None, sections=None, title: str = "afdecomp report",
                 settings: FitSettings | None = None, fits: dict | None = None, command: str | None = None,
                 progress: bool | None = None, transcripts: bool = False, **options) -> Path:
    """Write the report folder and return the path of its ``index.md``.

    Parameters
    ----------
    df : DataFrame
        The tidy table.
    out : str or Path
        Folder to write (created if needed).
    load_report : LoadReport, optional
        Shown in the Data section.
    sections : list of str, optional
        Keys of the sections to include (default: all registered, in order).
    settings : FitSettings, optional
        How to fit the models (default: ``FitSettings()``, each model's own defaults).
    fits : dict, optional
        Fits already made, ``{"gap": GapResults, "rational": RationalResults}`` (e.g. read with
        :func:`afdecomp.load_results`); the report fits only what is missing.
    command : str, optional
        The command line shown in the run record (default: this process's arguments).
    progress : bool, optional
        A progress bar over the sections (default: when stderr is a terminal).
    transcripts : bool
        Also write the transcript browser into ``out/transcripts`` (see
        :func:`afdecomp.report.transcripts.write_transcripts`; the vote stores in the option
        ``label_stores=`` show each record's votes) and link each figure's rows to it.
    **options
        Passed to the sections through ``Context.options`` (``catalog=``, ``label_runs=``,
        ``validations=``; ``draws=`` is accepted as a shorthand for ``settings.draws``).
    """
    from tqdm.auto import tqdm

    from ..settings import progress_options

    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    settings = settings or FitSettings()
    if options.get("draws") is not None:
        settings = settings.replace(draws=int(options.pop("draws")))
    options.pop("draws", None)
    ctx = Context(df, out, load_report, options, dict(fits or {}), settings)
    keys = [k for k, _ in sorted(SECTIONS.items(), key=lambda kv: kv[1].order)]
    if sections is not None:
        unknown = set(sections) - set(SECTIONS)
        if unknown:
            raise ValueError(f"unknown report section(s) {sorted(unknown)}; known: {keys}")
        keys = [k for k in keys if k in sections]
    needed = list(dict.fromkeys(n for k in keys for n in SECTIONS[k].needs))
    for name in needed:  # every declared fit, once, before any section reads it
        ctx.need(name)
    links = None
    if transcripts:
        from .transcripts import Links, write_transcripts
        write_transcripts(df, out / "transcripts", stores=options.get("label_stores"), title=f"{title}: transcripts")
        links = Links(df)
    done = []
    bar = tqdm(keys, **progress_options(desc="report sections", unit="section",
                                        disable=not (progress if progress is not None else sys.stderr.isatty())))
    for key in bar:
        bar.set_postfix_str(key)
        sec = SECTIONS[key].make(ctx)
        if sec is None:
            continue
        done.append({"key": key, "title": sec.title, "anchor": slug(sec.title),
                     "blocks": [rendered(b, out, links) for b in sec.blocks]})
    summary = [rendered(b, out, links) for b in summary_blocks(ctx)]
    toc = [{"title": "Summary", "anchor": "summary"}] + [{"title": s["title"], "anchor": s["anchor"]} for s in done]
    toc.append({"title": "Run record", "anchor": "run-record"})
    page = {"title": title, "toc": toc, "summary": summary, "sections": done,
            "record": _run_record(ctx, keys, command),
            "transcripts": "transcripts/index.html" if transcripts else None}
    write_pages(out, page)
    return out / "index.md"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _run_record(ctx: Context, keys: list[str], command: str | None) -> dict:
    """What produced this report: versions, date, command, seeds and fit settings."""
    from .. import __version__
    fitted = {n: r for n, r in ctx.records.items()}
    fits = "; ".join(f"{n}: " + ("not fitted" if r.results is None else
                                 ("given" if not r.seconds else f"{r.seconds:.0f} s"))
                     for n, r in fitted.items()) or "none"
    return {
        "afdecomp": __version__,
        "date (UTC)": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "command": command if command is not None else " ".join(["afdecomp", *sys.argv[1:]])
        if Path(sys.argv[0]).name in ("afdecomp", "__main__.py", "cli.py") else " ".join(sys.argv),
        "sections": ", ".join(keys),
        "fit settings": ctx.settings.describe(),
        "random seed": str(ctx.settings.random_seed),
        "fits": fits,
        "data": f"{len(ctx.df):,} rows",
        "python / pymc / arviz / nutpie": " / ".join([platform.python_version(), _version("pymc"),
                                                        _version("arviz"), _version("nutpie")]),
    }
