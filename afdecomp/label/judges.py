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

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


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


# ----------------------------------------------------------------------------- engines
# HFJudge and OpenAIJudge: engine code lives in afdecomp.sampler (one loading path, one client).


def _choice_spellings(choice: str) -> list[str]:
    """How an answer word may start a reply: "yes" -> yes, Yes, YES, with and without a space."""
    words = dict.fromkeys([choice, choice.lower(), choice.capitalize(), choice.upper()])
    return [pre + w for w in words for pre in ("", " ")]


def _logsumexp(values) -> float:
    """log(sum(exp(values))); -inf for no values."""
    values = np.asarray(values, dtype=float)
    return float(np.logaddexp.reduce(values)) if values.size else -math.inf


def _normalise(logmass: dict[str, float]) -> dict[str, float]:
    """Softmax of per-choice log-masses: probabilities over the choices, summing to 1."""
    m = max(logmass.values())
    w = {c: math.exp(v - m) for c, v in logmass.items()}
    total = sum(w.values())
    return {c: v / total for c, v in w.items()}


class HFJudge:
    """A local transformers judge (``hf/<hub id or path>``) on the sampler's backend.

    Parameters
    ----------
    name : str
        Hub id or local folder (``hf//abs/path`` names ``/abs/path``).
    batch_size : int
        Prompts per forward pass / ``generate`` call.
    device : str, optional
        "cpu", "cuda:0", ... (default: the first GPU, else CPU).
    dtype : str
        "auto" (bf16 on a GPU that has it, else fp32), or a torch dtype name.
    **spec_options
        Further :class:`~afdecomp.sampler.backends.ModelSpec` fields (``tokenizer``,
        ``device_map``, ``trust_remote_code``, ``chat_template_kwargs``; ``build`` for a
        config-built test model instead of ``name``).

    Notes
    -----
    ``complete`` samples one answer per prompt from the prompt's own seeded stream, so a vote
    does not depend on which other prompts share its batch — up to float round-off: padding
    changes the arithmetic slightly (next-token log-probs of SmolLM2 differ by up to 4e-5
    between batch 1 and 8), which can flip a near-tied draw (1 of 8 sampled texts diverged). ``answer_probs`` reads the first
    generated position: per choice, the probability of every first token that starts one of its
    spellings ("Yes", " Yes", "yes", ...) is summed, then normalised over the choices; a token
    that starts more than one choice counts for none.
    """

    def __init__(self, name: str, *, batch_size: int = 8, device: str | None = None, dtype: str = "auto",
                 **spec_options):
        from ..sampler.backends import ModelSpec, TransformersBackend

        source = None if "build" in spec_options else name
        self.spec = f"hf/{name}"
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"judge {self.spec}: batch_size must be >= 1, got {batch_size}")
        self.backend = TransformersBackend(ModelSpec(name=name, source=source, dtype=dtype, **spec_options),
                                           device)
        self._ids: dict[tuple[str, ...], dict[str, list[int]]] = {}

    def _chunks(self, prompts: Sequence[Prompt]):
        for i in range(0, len(prompts), self.batch_size):
            yield prompts[i:i + self.batch_size]

    def complete(self, prompts: Sequence[Prompt], *, temperature: float, max_tokens: int) -> list[Completion]:
        """One sampled answer per prompt (greedy when ``temperature`` is 0)."""
        from ..sampler.backends import GenSettings, Request

        settings = GenSettings(max_new_tokens=max_tokens, temperature=temperature)
        tok = self.backend.tokenizer
        out = []
        for chunk in self._chunks(list(prompts)):
            gens = self.backend.generate([Request(p.system, p.user, p.seed) for p in chunk], settings)
            texts = [self.backend.chat_text(p.system, p.user) for p in chunk]
            n_prompt = [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]
            out += [Completion(g.text, None, n, g.n_tokens) for g, n in zip(gens, n_prompt, strict=True)]
        return out

    def choice_token_ids(self, choices: Sequence[str]) -> dict[str, list[int]]:
        """Per choice, the ids of the first tokens of its spellings (tokens shared by choices dropped).

        Raises
        ------
        ValueError
            When a choice has no first token of its own (e.g. "no" and "none" on a character
            tokenizer): the task's answer words must start differently.
        """
        key = tuple(choices)
        if key not in self._ids:
            tok = self.backend.tokenizer
            firsts: dict[str, set[int]] = {}
            for c in choices:
                ids = set()
                for s in _choice_spellings(c):
                    enc = tok(s, add_special_tokens=False)["input_ids"]
                    if enc and tok.decode(enc[:1]).strip():  # skip a bare-space first token
                        ids.add(enc[0])
                firsts[c] = ids
            shared = {i for a in choices for b in choices if a != b for i in firsts[a] & firsts[b]}
            ids = {c: sorted(firsts[c] - shared) for c in choices}
            empty = [c for c in choices if not ids[c]]
            if empty:
                raise ValueError(f"judge {self.spec}: answer word(s) {empty} share their first token with "
                                 f"another of {list(choices)}; log-probability scoring needs answer words "
                                 "that start differently")
            self._ids[key] = ids
        return self._ids[key]

    def answer_probs(self, prompts: Sequence[Prompt], choices: Sequence[str]) -> list[dict[str, float] | None]:
        """P(choice) at the first answer position, normalised over ``choices`` (one forward pass)."""
        from ..sampler.backends import Request

        ids = self.choice_token_ids(choices)
        out = []
        for chunk in self._chunks(list(prompts)):
            lp = self.backend.next_token_logprobs([Request(p.system, p.user, p.seed) for p in chunk])
            for row in lp:
                out.append(_normalise({c: _logsumexp(row[ids[c]]) for c in choices}))
        return out

    def close(self) -> None:
        self.backend = None


class OpenAIJudge:
    """A judge on any OpenAI-compatible server (``openai/<model>``).

    Parameters
    ----------
    name : str
        The model name the server knows.
    base_url : str, optional
        The server's ``.../v1`` URL (default: ``OPENAI_BASE_URL`` or the OpenAI API).
    concurrency : int
        Requests in flight at once.
    timeout : float
        Seconds per request attempt.
    max_retries : int
        Retries (with the ``openai`` client's exponential backoff) of connection errors,
        timeouts, 408/409/429 and 5xx.
    api_key_env : str
        Environment variable with the key (a placeholder is sent to a local server without one).
    batch_size : int, optional
        Prompts per ``complete`` call, i.e. between two flushes of the vote store
        (default: 4 × ``concurrency``).

    Notes
    -----
    A request the server refuses on its own (e.g. 400 for one prompt) becomes a failed
    :class:`Completion`; a server that cannot be reached, times out after the retries or refuses
    every request (bad key, unknown model) raises
    :class:`~afdecomp.sampler.openai_backend.ServerUnavailable`, so a labelling run stops and
    resumes later. ``answer_probs`` needs ``logprobs`` (vLLM, SGLang, llama.cpp server, OpenAI);
    ``transformers serve`` ignores it, which raises :class:`LogprobsUnavailable`.
    """

    def __init__(self, name: str, *, base_url: str | None = None, concurrency: int = 8, timeout: float = 60.0,
                 max_retries: int = 3, api_key_env: str = "OPENAI_API_KEY", batch_size: int | None = None):
        from ..sampler.openai_backend import ChatClient

        self.name = name
        self.spec = f"openai/{name}"
        self.client = ChatClient(base_url, api_key_env=api_key_env, concurrency=concurrency, timeout=timeout,
                                 max_retries=max_retries)
        self.batch_size = int(batch_size or 4 * concurrency)

    def complete(self, prompts: Sequence[Prompt], *, temperature: float, max_tokens: int) -> list[Completion]:
        """One answer per prompt, ``concurrency`` at a time; the prompt's seed is sent as ``seed``."""
        from ..sampler.openai_backend import RequestFailed

        def one(p: Prompt) -> Completion:
            try:
                r = self.client.chat(self.name, p.system, p.user, temperature=temperature, max_tokens=max_tokens,
                                     seed=p.seed)
            except RequestFailed as e:
                return Completion(None, str(e))
            return Completion(r.text, None, r.prompt_tokens, r.completion_tokens)

        return self.client.map(one, prompts)

    def answer_probs(self, prompts: Sequence[Prompt], choices: Sequence[str]) -> list[dict[str, float] | None]:
        """P(choice) from the top-20 log-probs of the first answer token, normalised over ``choices``.

        A top token counts for a choice when, stripped and lower-cased, it starts that choice and
        no other. None for a prompt the server refused or whose top tokens match no choice.

        Raises
        ------
        LogprobsUnavailable
            When the server returns no log-probabilities.
        """
        from ..sampler.openai_backend import RequestFailed

        lowered = [c.lower() for c in choices]

        def one(p: Prompt) -> dict[str, float] | None:
            try:
                r = self.client.chat(self.name, p.system, p.user, temperature=0.0, max_tokens=1, seed=p.seed,
                                     top_logprobs=20)
            except RequestFailed:
                return None
            if r.first_token_logprobs is None:
                raise LogprobsUnavailable(
                    f"{self.spec} at {self.client.base_url} returned no log-probabilities (transformers serve "
                    "ignores logprobs; vLLM, SGLang, the llama.cpp server and OpenAI give them): "
                    "use scoring='votes'")
            mass: dict[str, list[float]] = {c: [] for c in choices}
            for token, logprob in r.first_token_logprobs.items():
                t = token.strip().lower()
                hits = [c for c, low in zip(choices, lowered, strict=True) if t and low.startswith(t)]
                if len(hits) == 1:
                    mass[hits[0]].append(logprob)
            if not any(mass.values()):
                return None
            return _normalise({c: _logsumexp(v) for c, v in mass.items()})

        return self.client.map(one, prompts)

    def close(self) -> None:
        self.client.close()
