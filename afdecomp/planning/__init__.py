"""Plan a study before running it (docs/planning.md): power, interval width, coverage and
wrong-sign rate of candidate designs, from replicate studies simulated from an assumed truth.

- :mod:`~afdecomp.planning.worlds`: the assumed truth (reduced-form numbers, a simulated
  ``Truth``, or a pilot fit's posterior) and the replicate studies drawn from it;
- :mod:`~afdecomp.planning.questions`: the questions and the claims a fitted study makes;
- :mod:`~afdecomp.planning.sweep`: :func:`plan` (parallel, resumable) and :class:`PlanResults`.
"""

from .questions import IDENTIFIED_RATIO, METHODS, QUESTIONS
from .sweep import PlanResults, plan
from .worlds import replicate_cells, truth_table

__all__ = ["IDENTIFIED_RATIO", "METHODS", "QUESTIONS", "PlanResults", "plan", "replicate_cells", "truth_table"]
