"""afdecomp: measure why language models fake alignment.

Load generation logs into one tidy table, label them with judges validated against human
labels, estimate the compliance gap (training vs deployment) with honest uncertainty, decompose
it into values, goal guarding and sycophancy, and report.
"""

from . import plot
from . import steering_analysis as _old_path  # noqa: F401  (loaded first: the name below is the function)
from .aggregate import aggregate
from .analysis import (
    Decomposition,
    SteeringAnalysis,
    ablation_contrasts,
    decompose,
    steering_analysis,
)
from .design import Catalog, default_catalog, load_catalog
from .ingest import LoadReport, LogFormatError, load_logs, write_logs
from .label import (
    JudgeValidation,
    apply_labels,
    bundled_tasks,
    label,
    load_judge,
    load_task,
    read_labelled,
    validate_judge,
    validate_labels,
)
from .models.baseline import rates, seed_sem_gap
from .models.gap import ComplianceGap
from .models.glm import glm_gap
from .models.joint import JointOutcome, JointRational, JointResults
from .models.judge_error import JudgeError, apply_judge_error
from .models.laplace import laplace_gap
from .models.rational import RationalAgent, identifiability
from .models.rational_results import RationalResults
from .planning import PlanResults, plan
from .results import GapResults, load_results
from .schema import SchemaError, validate
from .simulate import Truth, simulate

__version__ = "0.1.0"

__all__ = [
    "Catalog", "ComplianceGap", "Decomposition", "GapResults", "JointOutcome", "JointRational", "JointResults", "JudgeError", "JudgeValidation", "LoadReport",
    "LogFormatError", "PlanResults", "RationalAgent", "RationalResults", "SchemaError", "SteeringAnalysis", "Truth",
    "ablation_contrasts", "aggregate", "apply_judge_error", "apply_labels", "bundled_tasks", "decompose", "default_catalog",
    "glm_gap", "identifiability", "laplace_gap", "label", "load_catalog", "load_judge", "load_logs", "load_results",
    "load_task", "plan", "plot", "rates", "read_labelled", "seed_sem_gap", "simulate", "steering_analysis",
    "validate", "validate_judge", "validate_labels", "write_logs",
]


def __getattr__(name: str):
    """``afd.report`` (the report folder and the transcript browser) is imported on first use:
    it switches matplotlib to its file-only backend, which an interactive session should not get
    from ``import afdecomp``."""
    if name == "report":
        import importlib
        return importlib.import_module(".report", __name__)
    raise AttributeError(f"module 'afdecomp' has no attribute {name!r}")
