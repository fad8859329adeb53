"""The house style shared by every figure: palette and axes creation."""

import matplotlib.pyplot as plt

PALETTE = plt.get_cmap("tab10")


def _axes(ax, figsize):
    """``ax``, or new constrained-layout Axes of ``figsize`` when it is None."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax
