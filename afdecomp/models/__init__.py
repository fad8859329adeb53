"""Estimators: the published baselines, the hierarchical gap model, the rational-agent model."""

from .baseline import rates, seed_sem_gap, wilson_interval
from .gap import ComplianceGap
from .glm import glm_gap
from .judge_error import JudgeError, apply_judge_error

__all__ = ["ComplianceGap", "JudgeError", "apply_judge_error", "glm_gap", "rates", "seed_sem_gap", "wilson_interval"]
