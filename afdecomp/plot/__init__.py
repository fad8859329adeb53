"""Figures, one function per figure, split by subject:

- :mod:`~afdecomp.plot.rates`: ``rates``, ``seed_gaps`` (the data and the papers' estimator)
- :mod:`~afdecomp.plot.gap`: ``gaps``, ``ppc`` (a hierarchical gap fit)
- :mod:`~afdecomp.plot.rational`: ``rational_params``, ``gap_vs_values``, ``gap_vs_covariate``
- :mod:`~afdecomp.plot.decomposition`: ``decomposition``, ``ablation_forest``
- :mod:`~afdecomp.plot.steering`: ``steering``
- :mod:`~afdecomp.plot.drivers`: ``steering_bars``, ``steering_layers``, ``outcomes`` (the three-driver figures)
- :mod:`~afdecomp.plot.judge`: ``roc``, ``calibration``, ``auroc_by_votes`` (a judge validation)
- :mod:`~afdecomp.plot.joint`: ``af_bars`` (the signature figure of a joint fit)

Conventions, the same in every figure:

- A single-panel figure takes ``ax=None`` (draw there, or on a new figure) and returns its Axes.
  A figure of several panels takes ``axes=None`` (an array of Axes of the documented shape) and
  returns that array (``gaps`` also takes ``ax=`` to draw its gap panel alone).
- Posterior intervals: ``ci_prob`` (default 0.94, ArviZ's) and, where the figure computes the
  interval itself, ``ci_kind`` (``"hdi"`` or ``"eti"``); ``hdi_prob`` is accepted where it was
  the argument's name before. Data intervals (Wilson, bootstrap) say their level in the label.
- Figures read tables and fitted results and never refit anything.
"""

from __future__ import annotations

from ._style import COLUMN_WIDTHS, DRIVER_COLORS, DRIVER_LABELS, PALETTE, STYLE_SHEET, style  # noqa: F401
from .decomposition import ablation_forest, decomposition
from .drivers import outcomes, steering_bars, steering_layers
from .gap import gaps, ppc
from .joint import af_bars
from .judge import auroc_by_votes, calibration, roc
from .planning import power
from .rates import rates, seed_gaps
from .rational import gap_vs_covariate, gap_vs_values, rational_params
from .steering import QUANTITY_STYLE, steering  # noqa: F401

__all__ = ["ablation_forest", "af_bars", "auroc_by_votes", "calibration", "decomposition", "gap_vs_covariate", "gap_vs_values",
           "gaps", "outcomes", "power", "ppc", "rates", "rational_params", "roc", "seed_gaps", "steering", "steering_bars",
           "steering_layers", "style"]
