"""The house style shared by every figure: palette, driver colours, figure sizes, and the one
interval vocabulary (``ci_prob``, ``ci_kind``; ``hdi_prob`` accepted where it was the name).

:func:`style` is the paper style: a Matplotlib style sheet shipped with the package
(``afdecomp/_data/plot/afdecomp-paper.mplstyle``: the Okabe–Ito colour-blind-safe palette, 9 pt
fonts, constrained layout, ``bbox_inches="tight"`` and embedded TrueType text in PDF/SVG) plus
the figure width of a one- or two-column paper. Every plot function of :mod:`afdecomp.plot`
takes its colours from the active colour cycle (:data:`PALETTE`, :data:`DRIVER_COLORS`), its
font sizes relative to ``font.size`` and, inside :func:`style`, the style's figure width.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from importlib import resources
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

#: The style sheet file (``plt.style.use(STYLE_SHEET)`` applies it without the column widths).
STYLE_SHEET: Path = Path(str(resources.files("afdecomp") / "_data" / "plot" / "afdecomp-paper.mplstyle"))
#: Figure width in inches per number of paper columns: 3.4 in fits one column of the common
#: two-column formats (ICML 3.25 in, ACL 3.0 in, IEEE 3.5 in; a figure is scaled by at most a
#: few per cent), 7.0 in a full page width (ICML 6.75 in, NeurIPS 5.5 in: scale ~0.8).
COLUMN_WIDTHS = {1: 3.4, 2: 7.0}

#: The active :func:`style`'s figure (width, height); (None, None) outside it.
_SIZE: ContextVar[tuple[float | None, float | None]] = ContextVar("afdecomp_plot_size", default=(None, None))


class _Palette:
    """``PALETTE(i)``: the i-th colour of the active colour cycle (``axes.prop_cycle``), so that
    figures follow the style in force when they are drawn (Matplotlib's tab10 by default, the
    Okabe–Ito palette inside :func:`style`)."""

    def colors(self) -> list[str]:
        cyc = mpl.rcParams["axes.prop_cycle"].by_key().get("color") or ["C0"]
        return list(cyc)

    def __call__(self, i: int) -> str:
        c = self.colors()
        return c[int(i) % len(c)]

    def __len__(self) -> int:
        return len(self.colors())

    def __repr__(self) -> str:
        return f"PALETTE({self.colors()})"


PALETTE = _Palette()


class _DriverColors(Mapping):
    """Driver → colour, from the active colour cycle: values, goal guarding and sycophancy the
    cycle's first three colours, the remainder grey."""

    _ORDER = ("values", "goal_guarding", "sycophancy")

    def __getitem__(self, key: str) -> str:
        if key == "remainder":
            return "#8C8C8C"
        if key not in self._ORDER:
            raise KeyError(key)
        return PALETTE(self._ORDER.index(key))

    def __iter__(self):
        return iter((*self._ORDER, "remainder"))

    def __len__(self) -> int:
        return len(self._ORDER) + 1


DRIVER_COLORS = _DriverColors()
DRIVER_LABELS = {"values": "values", "goal_guarding": "goal guarding", "sycophancy": "sycophancy",
                 "remainder": "remainder G(∅)"}
#: Posterior intervals of every figure, by default (ArviZ's default).
CI_PROB = 0.94
CI_KINDS = ("hdi", "eti")


def style(columns: int = 1, *, width: float | None = None, height: float | None = None,
          font_size: float | None = None) -> contextlib.AbstractContextManager:
    """The paper style, as a context manager: figures drawn inside it are ready for a paper.

    Parameters
    ----------
    columns : {1, 2}
        Figure width of one column (3.4 in) or of the full page (7.0 in) of a two-column paper
        (:data:`COLUMN_WIDTHS`).
    width : float, optional
        Figure width in inches (overrides ``columns``).
    height : float, optional
        Height of new figures in inches; default: each figure's own height for its content
        (rows per model etc.), shrunk with the width down to 80%.
    font_size : float, optional
        Base font size in points (default 9; the other sizes of the sheet stay as they are).

    Returns
    -------
    context manager
        Inside it: the style sheet :data:`STYLE_SHEET` (Okabe–Ito colour cycle, fonts,
        constrained layout, ``savefig.bbox="tight"``, TrueType text in PDF and SVG), and every
        :mod:`afdecomp.plot` function that makes its own figure makes it ``width`` wide.
        Everything is restored on exit.

    Examples
    --------
    >>> with afd.plot.style(columns=1):                       # doctest: +SKIP
    ...     ax = afd.plot.seed_gaps(afd.seed_sem_gap(df))
    ...     ax.figure.savefig("gap.pdf")
    """
    if width is None:
        if columns not in COLUMN_WIDTHS:
            raise ValueError(f"columns must be one of {sorted(COLUMN_WIDTHS)}, not {columns!r}")
        width = COLUMN_WIDTHS[columns]
    if not width > 0 or (height is not None and not height > 0):
        raise ValueError(f"width and height must be positive, got width={width!r}, height={height!r}")
    return _style(float(width), height, font_size)


@contextlib.contextmanager
def _style(width: float, height: float | None, font_size: float | None) -> Iterator[None]:
    rc = dict(mpl.rc_params_from_file(STYLE_SHEET, use_default_template=False))
    rc["figure.figsize"] = (width, height or width * 0.75)
    if font_size is not None:
        rc["font.size"] = font_size
        rc["axes.titlesize"] = rc["axes.labelsize"] = font_size
    token = _SIZE.set((width, height))
    try:
        with mpl.rc_context(rc):
            yield
    finally:
        _SIZE.reset(token)


def _figsize(figsize: tuple[float, float]) -> tuple[float, float]:
    """A figure function's own size, or inside :func:`style` the style's width and its height
    (when given) or the function's height shrunk with the width (to 80% at least: a figure's
    height follows its rows of text, which do not shrink)."""
    width, height = _SIZE.get()
    if width is None:
        return figsize
    w0, h0 = figsize
    return width, height if height is not None else h0 * float(np.clip(width / w0, 0.8, 1.0))


def _axes(ax, figsize):
    """``ax``, or new constrained-layout Axes of ``figsize`` (the style's width inside
    :func:`style`) when it is None."""
    if ax is None:
        _, ax = plt.subplots(figsize=_figsize(figsize), layout="constrained")
    return ax


def ci_prob_of(ci_prob=None, hdi_prob=None, default=CI_PROB) -> float:
    """The interval probability from ``ci_prob`` or its older name ``hdi_prob`` (the package's
    one rule, :func:`afdecomp.results.interval_prob`)."""
    from ..results import interval_prob
    return interval_prob(ci_prob, hdi_prob, default)


def ci_kind_of(ci_kind: str) -> str:
    if ci_kind not in CI_KINDS:
        raise ValueError(f"ci_kind must be one of {CI_KINDS}, not {ci_kind!r}")
    return ci_kind
