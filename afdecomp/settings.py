"""The settings of a model fit as one object, shared by the command line, the report and scripts.

``FitSettings`` holds what every MCMC fit of the package takes (draws, tuning steps, chains,
seed, NUTS backend, progress) with one meaning for each, and builds the estimators from it with
their own keyword arguments::

    s = FitSettings(draws=500, random_seed=1)
    gap = s.gap().fit(df)            # ComplianceGap(draws=500, random_seed=1, ...), its own tune and chains
    ra = s.rational().fit(df)        # RationalAgent(draws=500, random_seed=1, ...)

A setting left at None is each estimator's own default (they differ: the gap model needs fewer
draws than the rational-agent model for the same ESS; docs/gap.md, docs/model.md).

``progress_options()`` gives tqdm settings that suit both a terminal and a log file.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class FitSettings:
    """How to run NUTS, the same for every model.

    Parameters
    ----------
    draws : int or None
        Posterior draws kept per chain (after tuning), for every model. None: each estimator's
        own default.
    tune : int or None
        Tuning (warm-up) steps per chain, discarded. None: each estimator's own default.
    chains : int or None
        Independent chains (run in parallel, one per core). None: each estimator's own default
        (4 for the gap, rational-agent and joint models).
    random_seed : int or None
        Seed of the sampler: the same seed and data give the same posterior. None: fresh entropy.
    sampler : str
        NUTS backend: ``"auto"`` (nutpie when installed), ``"nutpie"``, ``"pymc"`` or ``"numpyro"``.
    progress : bool or None
        Show the sampler's progress bar; None shows it only in a terminal (a log file gets one
        line before and after each fit, from the report and the CLI, instead of a table cut to
        80 columns).
    """

    draws: int | None = None
    tune: int | None = None
    chains: int | None = None
    random_seed: int | None = 0
    sampler: str = "auto"
    progress: bool | None = None

    def __post_init__(self):
        from .models._sampling import SAMPLERS
        for name in ("draws", "tune", "chains"):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name != "tune" else 0):
                raise ValueError(f"FitSettings.{name} must be a positive integer, got {v!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"FitSettings.sampler must be one of {SAMPLERS}, not {self.sampler!r}")

    @property
    def show_progress(self) -> bool:
        """Whether the sampler draws its progress bar (``progress``, or: is stderr a terminal)."""
        return bool(self.progress) if self.progress is not None else _is_terminal()

    def replace(self, **changes) -> FitSettings:
        """A copy with some settings changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One line, e.g. ``2 chains x (1000 tune + 2000 draws), seed 0, sampler auto``; a setting
        left to the estimators reads ``default``."""
        tail = f"seed {self.random_seed}, sampler {self.sampler}"
        if self.chains is None and self.tune is None and self.draws is None:
            return "each model's own chains, tune and draws, " + tail

        def show(v):
            return "default" if v is None else v
        return (f"{show(self.chains)} chains x ({show(self.tune)} tune + {show(self.draws)} draws), "
                f"seed {self.random_seed}, sampler {self.sampler}")

    def _common(self) -> dict:
        given = {k: v for k, v in (("draws", self.draws), ("tune", self.tune), ("chains", self.chains))
                 if v is not None}
        return dict(**given, random_seed=self.random_seed, sampler=self.sampler, progress=self.show_progress)

    def gap(self, **kwargs):
        """A :class:`~afdecomp.ComplianceGap` with these settings (``kwargs``: its other options)."""
        from .models.gap import ComplianceGap
        return ComplianceGap(**self._common(), **kwargs)

    def joint(self, **kwargs):
        """A :class:`~afdecomp.JointOutcome` with these settings (``kwargs``: its other options)."""
        from .models.joint import JointOutcome
        return JointOutcome(**self._common(), **kwargs)

    def rational(self, **kwargs):
        """A :class:`~afdecomp.RationalAgent` with these settings (``kwargs``: its other options)."""
        from .models.rational import RationalAgent
        return RationalAgent(**self._common(), **kwargs)


def _is_terminal() -> bool:
    """Whether both stdout and stderr are terminals: PyMC draws the sampler's progress table
    (rich) on stdout, tqdm on stderr; into a file either is printed once, cut to 80 columns."""
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress_options(**kwargs) -> dict:
    """tqdm keyword arguments that suit the output: redrawn in a terminal; in a log file, a
    line at most every 30 s, without the ANSI redraw.

    Parameters
    ----------
    **kwargs
        Passed through (e.g. ``desc``, ``total``, ``disable``); they win over the defaults.
    """
    opts = dict(file=sys.stderr, dynamic_ncols=True)
    if not _is_terminal():
        opts.update(mininterval=30.0, maxinterval=60.0, ncols=100, dynamic_ncols=False, ascii=True)
    opts.update(kwargs)
    return opts
