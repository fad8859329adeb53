"""Judges: one small interface over the engines that answer a judge prompt.

A judge is named as Inspect AI names models, ``provider/model``; the provider ends at the first
slash (so an absolute path reads ``hf//abs/path``):

- ``hf/<hub id or local path>``: local transformers, batched, on the sampler's backend code;
- ``openai/<model>``: any OpenAI-compatible server (``base_url``), concurrent, with retries;
- ``mockllm/<name>``: scripted answers for tests and dry runs (no model).

A judge turns prompts into completions (``complete``; one sampled vote per prompt, each with its
own seed) and, where the engine can, gives next-token probabilities of the answer words
(``answer_probs``; one pass, a continuous score).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Prompt:
    """One judge call: a chat (system, user) and the seed of its sampled answer."""

    system: str
    user: str
    seed: int = 0


@dataclass
class Completion:
    """What one judge call returned. ``text`` is None when the call failed (``error`` says why)."""

    text: str | None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LogprobsUnavailable(RuntimeError):
    """The engine gives no next-token probabilities (use ``scoring="votes"``)."""


class Judge(Protocol):
    """What labelling needs from an engine."""

    spec: str        # "provider/model", recorded in the ``judge`` column and the vote store
    batch_size: int  # prompts handed to one ``complete`` / ``answer_probs`` call

    def complete(self, prompts: Sequence[Prompt], *, temperature: float,
                 max_tokens: int) -> list[Completion]: ...

    def answer_probs(self, prompts: Sequence[Prompt], choices: Sequence[str]) -> list[dict[str, float] | None]:
        """Per prompt, the probability of each answer word at the first answer position,
        normalised over ``choices``; None where the call failed."""
        ...

    def close(self) -> None: ...


def split_spec(spec: str) -> tuple[str, str]:
    """``"hf//abs/path"`` -> ``("hf", "/abs/path")``; the provider ends at the first slash."""
    provider, sep, name = spec.partition("/")
    if not sep or not provider or not name:
        raise ValueError(f"judge {spec!r}: expected provider/model, e.g. hf/HuggingFaceTB/SmolLM2-135M-Instruct, "
                         "hf//abs/path/to/folder, openai/gpt-4o-mini or mockllm/yes")
    return provider, name


class MockJudge:
    """Scripted judge (``mockllm/<name>``): for tests, dry runs and examples.

    Parameters
    ----------
    respond : callable, optional
        ``respond(prompt) -> str | None`` (None = a failed call). Default: the answer named by
        the spec, e.g. ``mockllm/yes`` answers "Final answer: Yes" to everything.
    probs : callable, optional
        ``probs(prompt, choices) -> dict`` for ``answer_probs``; default: unavailable.
    """

    def __init__(self, spec: str = "mockllm/yes", respond: Callable[[Prompt], str | None] | None = None,
                 probs: Callable[[Prompt, Sequence[str]], dict[str, float]] | None = None,
                 batch_size: int = 8):
        self.spec = spec
        self.batch_size = batch_size
        _, name = split_spec(spec)
        self._respond = respond or (lambda p, name=name: f"Final answer: {name.capitalize()}")
        self._probs = probs
        self.calls = 0

    def complete(self, prompts, *, temperature, max_tokens):
        out = []
        for p in prompts:
            self.calls += 1
            text = self._respond(p)
            out.append(Completion(text, None if text is not None else "mock failure",
                                  len(p.user) // 4, 0 if text is None else len(text) // 4))
        return out

    def answer_probs(self, prompts, choices):
        if self._probs is None:
            raise LogprobsUnavailable(f"{self.spec} gives no probabilities")
        return [self._probs(p, choices) for p in prompts]

    def close(self) -> None:
        pass


def load_judge(spec: str, *, base_url: str | None = None, **options) -> Judge:
    """The judge named by ``spec`` (``hf/...``, ``openai/...``, ``mockllm/...``).

    Parameters
    ----------
    spec : str
        ``provider/model`` as in Inspect AI.
    base_url : str, optional
        For ``openai/`` judges: the server's ``.../v1`` URL (default: ``OPENAI_BASE_URL`` or the
        OpenAI API).
    **options
        Engine options: ``batch_size``, ``device``, ``dtype`` (hf); ``concurrency``, ``timeout``,
        ``max_retries``, ``api_key_env`` (openai).
    """
    provider, name = split_spec(spec)
    if provider == "mockllm":
        return MockJudge(spec, **options)
    if provider == "hf":
        return HFJudge(name, **options)
    if provider == "openai":
        return OpenAIJudge(name, base_url=base_url, **options)
    raise ValueError(f"judge {spec!r}: unknown provider {provider!r}; available: hf, openai, mockllm")


# HFJudge and OpenAIJudge follow (engine code lives in afdecomp.sampler: one loading path).
