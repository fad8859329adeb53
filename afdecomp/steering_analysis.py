"""Old import path of :mod:`afdecomp.analysis.steering` (moved there); kept so existing imports work."""

from .analysis.steering import KEYS, QUANTITIES, SteeringAnalysis, steering_analysis  # noqa: F401
