"""Writing the report: tables through pandas' ``Styler`` (HTML) and one number format (Markdown),
figures as PNG and PDF, the pages through the Jinja2 templates in ``afdecomp/_data/report``."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from markdown_it import MarkdownIt

from ._core import Caution, Figure, Table, Text

_MD = MarkdownIt("commonmark")


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("afdecomp", "_data/report"),
                              autoescape=jinja2.select_autoescape(["html.j2"]), keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ----------------------------------------------------------------------------- numbers
def _formatter(col: pd.Series):
    """How to print one column: counts as integers with thousands separators, p-values with
    two significant digits, other numbers with 3 decimals (1 beyond 100 in magnitude)."""
    if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
        return lambda v: "" if _isna(v) else str(v)
    vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    finite = vals[np.isfinite(vals)]
    if pd.api.types.is_integer_dtype(col) or (len(finite) and np.all(finite == np.round(finite))
                                               and 1 <= np.abs(finite).max() < 1e12):
        return lambda v: "" if _isna(v) else (f"{int(round(float(v))):,}" if np.isfinite(float(v)) else str(v))
    if "p_value" in str(col.name):
        return lambda v: "" if _isna(v) else f"{float(v):.2g}"
    big = len(finite) and np.abs(finite).max() >= 100
    return lambda v: "" if _isna(v) else _number(float(v), big)


def _number(v: float, big: bool) -> str:
    if not np.isfinite(v) or abs(v) >= 1e6:
        return f"{v:.3g}"
    return f"{v:,.1f}" if big else f"{v:.3f}"


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as strings, each column in its format."""
    return pd.DataFrame({c: frame[c].map(_formatter(frame[c])) for c in frame.columns}, index=frame.index)


def table_html(frame: pd.DataFrame) -> str:
    fmt = {c: _formatter(frame[c]) for c in frame.columns}
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    styler = (frame.reset_index(drop=True).style.format(fmt, na_rep="").hide(axis="index")
              .set_table_attributes('class="data"'))
    if numeric:
        styler = styler.set_properties(subset=numeric, **{"text-align": "right"})
    return styler.to_html()


def table_md(frame: pd.DataFrame) -> str:
    t = formatted(frame)
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(esc(c) for c in t.columns) + " |", "|" + "---|" * len(t.columns)]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in t.itertuples(index=False)]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- blocks
def rendered(block, out: Path, links=None) -> dict:
    """A block as the templates read it (kind, html, md, ...); writes its CSV or figure files.
    ``links`` (a :class:`~afdecomp.report.transcripts.Links`) adds to a figure with a ``browse``
    spec its links to the transcript browser: a table and an image map over its rows."""
    if isinstance(block, Caution):
        return {"kind": "caution", "md": block.markdown, "html": _MD.render(block.markdown)}
    if isinstance(block, Text):
        text = block.markdown
        if text.startswith("```"):
            return {"kind": "pre", "md": text, "text": text.strip("`").strip("\n")}
        return {"kind": "text", "md": text, "html": _MD.render(text)}
    if isinstance(block, Table):
        frame = block.frame.reset_index(drop=True)
        frame.to_csv(out / "tables" / f"{block.name}.csv", index=False)
        shown = frame.head(block.max_rows)
        return {"kind": "table", "name": block.name, "caption": block.caption, "rows": len(frame),
                "shown": len(shown), "folded": len(frame) > block.fold, "html": table_html(shown),
                "md": table_md(frame.head(min(block.max_rows, block.fold))),
                "md_shown": min(len(frame), block.max_rows, block.fold), "csv": f"tables/{block.name}.csv"}
    if isinstance(block, Figure):
        for ext in ("png", "pdf"):
            block.figure.savefig(out / "figures" / f"{block.name}.{ext}", dpi=150, bbox_inches="tight")
        browse = {}
        if links is not None and block.browse:
            browse = {"links": links.table(block.browse),
                      "areas": links.image_map(block.figure, block.browse, dpi=150,
                                               png=out / "figures" / f"{block.name}.png")}
        plt.close(block.figure)
        return {"kind": "figure", "name": block.name, "caption": block.caption,
                "png": f"figures/{block.name}.png", "pdf": f"figures/{block.name}.pdf", **browse}
    raise TypeError(f"unknown report block {type(block).__name__}")


def write_pages(out: Path, page: dict) -> None:
    env = _environment()
    (out / "index.md").write_text(env.get_template("index.md.j2").render(**page), encoding="utf-8")
    (out / "index.html").write_text(env.get_template("index.html.j2").render(**page), encoding="utf-8")
