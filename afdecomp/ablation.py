"""Old import path of :mod:`afdecomp.analysis.ablation` (moved there); kept so existing imports work."""

from .analysis.ablation import COLUMNS, ablation_contrasts, af_reasoning_rates  # noqa: F401
