"""The house style shared by every figure: palette, driver colours, axes creation, and the one
interval vocabulary (``ci_prob``, ``ci_kind``; ``hdi_prob`` accepted where it was the name)."""

import matplotlib.pyplot as plt

PALETTE = plt.get_cmap("tab10")
DRIVER_COLORS = {"values": "#4C72B0", "goal_guarding": "#DD8452", "sycophancy": "#55A868", "remainder": "#8C8C8C"}
DRIVER_LABELS = {"values": "values", "goal_guarding": "goal guarding", "sycophancy": "sycophancy",
                 "remainder": "remainder G(∅)"}
#: Posterior intervals of every figure, by default (ArviZ's default).
CI_PROB = 0.94
CI_KINDS = ("hdi", "eti")


def _axes(ax, figsize):
    """``ax``, or new constrained-layout Axes of ``figsize`` when it is None."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
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
