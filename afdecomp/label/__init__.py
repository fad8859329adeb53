"""Labelling: judges for compliance and alignment-faking reasoning, and their validation.

- :mod:`~afdecomp.label.tasks`: what a judge is asked (versioned, hashed prompts and parsers,
  package data; users add their own from TOML);
- :mod:`~afdecomp.label.judges`: who answers (``hf/...``, ``openai/...``, ``mockllm/...``);
- :mod:`~afdecomp.label.store`: the append-only vote store (resumable, never paid twice);
- :mod:`~afdecomp.label.run`: ``label`` and ``apply_labels``;
- :mod:`~afdecomp.label.validation` and :mod:`~afdecomp.label.datasets`: how good a judge is
  against human labels.

See ``docs/labelling.md``.
"""

from ..sampler.openai_backend import ServerUnavailable
from .datasets import as_records, read_labelled
from .judges import HFJudge, Judge, LogprobsUnavailable, MockJudge, OpenAIJudge, load_judge
from .run import JudgeFailed, LabelReport, aggregate_store, apply_labels, label
from .store import VoteStore
from .tasks import Task, TaskError, bundled_tasks, load_task
from .validation import JudgeValidation, validate_judge, validate_labels

__all__ = [
    "HFJudge", "Judge", "JudgeFailed", "JudgeValidation", "LabelReport", "LogprobsUnavailable", "MockJudge",
    "OpenAIJudge", "ServerUnavailable", "Task", "TaskError", "VoteStore",
    "aggregate_store", "apply_labels", "as_records", "bundled_tasks", "label", "load_judge", "load_task",
    "read_labelled", "validate_judge", "validate_labels",
]
