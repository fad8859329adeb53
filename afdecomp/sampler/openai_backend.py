"""An OpenAI-compatible chat backend: unsteered generation on any serving engine.

One client (:class:`ChatClient`, on the official ``openai`` package) serves both the sampler's
``openai`` backend (:class:`OpenAIBackend`) and the ``openai/`` judges. It talks to any server
with a ``/v1/chat/completions`` endpoint — vLLM, SGLang, the llama.cpp server,
``transformers serve``, hosted APIs — with a concurrency limit (a thread pool), the client's own
retries with exponential backoff, a timeout per request, the API key from an environment variable
and token counts from ``usage``.

Two kinds of failure are kept apart:

- :class:`ServerUnavailable` (connection refused, timeouts, rate limits or server errors after
  the retries, a wrong key or model name): the run cannot go on; it stops, what was written
  stays written, and re-running the same command resumes.
- :class:`RequestFailed` (e.g. a 400 for one prompt that is too long): one call failed; a
  judge records it as a failed vote and goes on.

Each request carries the record's seed as ``seed``. Servers may ignore it (``transformers serve``
does; vLLM honours it per request), so reproducibility of sampled text then depends on the server.
Steering needs access to the model's layers: steered conditions stay on the transformers backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .backends import Generation, GenSettings, ModelSpec, Request

T = TypeVar("T")
R = TypeVar("R")

# Local servers (vLLM, llama.cpp, transformers serve) accept any key; the client insists on one.
_PLACEHOLDER_KEY = "not-needed"
# Status codes after which the server (or the configuration) is at fault, not one prompt.
_FATAL_STATUS = {401, 403, 404, 408, 409, 429}


class ServerUnavailable(RuntimeError):
    """The server cannot answer at all (down, too slow, rate-limited, or misconfigured)."""


class RequestFailed(RuntimeError):
    """One request was refused by a working server (e.g. 400 Bad Request)."""


@dataclass
class ChatResult:
    """One chat completion: text, token counts, finish reason, top log-probs of the first token."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    first_token_logprobs: dict[str, float] | None = None  # token -> logprob, None when not given


class ChatClient:
    """A thread-pooled OpenAI-compatible chat client.

    Parameters
    ----------
    base_url : str, optional
        The server's ``.../v1`` URL. Default: ``OPENAI_BASE_URL`` or the OpenAI API.
    api_key_env : str
        Environment variable holding the key. When it is unset and ``base_url`` is given (a
        local server), a placeholder key is sent.
    concurrency : int
        Requests in flight at once.
    timeout : float
        Seconds per request attempt.
    max_retries : int
        Retries of connection errors, timeouts, 408/409/429 and 5xx, with the client's own
        exponential backoff.
    """

    def __init__(self, base_url: str | None = None, *, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 8, timeout: float = 60.0, max_retries: int = 3):
        from openai import OpenAI

        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        key = os.environ.get(api_key_env)
        if not key:
            if base_url is None and not os.environ.get("OPENAI_BASE_URL"):
                raise ValueError(f"no API key: set {api_key_env} (or give base_url for a local server)")
            key = _PLACEHOLDER_KEY
        self.client = OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=max_retries)
        self.base_url = str(self.client.base_url).rstrip("/")
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries

    def chat(self, model: str, system: str | None, user: str, *, temperature: float, max_tokens: int,
             seed: int | None = None, top_p: float | None = None, top_logprobs: int = 0,
             extra_body: dict | None = None) -> ChatResult:
        """One chat completion.

        Raises
        ------
        ServerUnavailable
            The server is unreachable, timed out, or refused for a reason every request shares.
        RequestFailed
            The server refused this one request.
        """
        import openai

        messages = ([{"role": "system", "content": system}] if system else []) + \
            [{"role": "user", "content": user}]
        kw: dict[str, Any] = dict(model=model, messages=messages, temperature=temperature,
                                  max_tokens=max_tokens)
        if seed is not None:
            kw["seed"] = int(seed)
        if top_p is not None and top_p < 1.0:
            kw["top_p"] = top_p
        if top_logprobs:
            kw.update(logprobs=True, top_logprobs=top_logprobs)
        if extra_body:
            kw["extra_body"] = extra_body
        try:
            resp = self.client.chat.completions.create(**kw)
        except openai.APITimeoutError:
            raise ServerUnavailable(
                f"OpenAI-compatible server at {self.base_url} did not answer within {self.timeout:g} s "
                f"({self.max_retries} retries); raise the timeout or check the server") from None
        except openai.APIConnectionError as e:
            cause = e.__cause__ or e
            raise ServerUnavailable(
                f"cannot reach the OpenAI-compatible server at {self.base_url} "
                f"({type(cause).__name__}: {cause}; {self.max_retries} retries); is it running?") from None
        except openai.APIStatusError as e:
            msg = f"server at {self.base_url} answered {e.status_code} for model {model!r}: {_short(e)}"
            if e.status_code in _FATAL_STATUS or e.status_code >= 500:
                raise ServerUnavailable(msg) from None
            raise RequestFailed(msg) from None
        if not resp.choices:
            raise RequestFailed(f"server at {self.base_url} returned no choices for model {model!r}")
        choice = resp.choices[0]
        usage = resp.usage
        return ChatResult(text=choice.message.content or "",
                          prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                          completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                          finish_reason=choice.finish_reason,
                          first_token_logprobs=_first_token_logprobs(choice) if top_logprobs else None)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(x) for x in items]`` with up to ``concurrency`` calls in flight, in order.

        The first exception is raised once the calls already running have finished; calls not
        yet started are cancelled.
        """
        items = list(items)
        if self.concurrency == 1 or len(items) <= 1:
            return [fn(x) for x in items]
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(items)))
        try:
            futures = [pool.submit(fn, x) for x in items]
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self.client.close()


def _short(e: Exception, limit: int = 300) -> str:
    """The error's message on one line, cut to ``limit`` characters."""
    text = " ".join(str(getattr(e, "message", None) or e).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _first_token_logprobs(choice) -> dict[str, float] | None:
    """Top log-probs at the first generated token (token text -> logprob), None when absent."""
    lp = getattr(choice, "logprobs", None)
    content = getattr(lp, "content", None) if lp is not None else None
    if not content:
        return None
    first = content[0]
    out: dict[str, float] = {}
    for alt in (first.top_logprobs or []):
        out[alt.token] = max(out.get(alt.token, -np.inf), float(alt.logprob))
    if first.token not in out:
        out[first.token] = float(first.logprob)
    return out


# ----------------------------------------------------------------------------- sampler backend
class OpenAIBackend:
    """The sampler's ``openai`` backend: unsteered generation through an OpenAI-compatible server.

    Parameters
    ----------
    spec : ModelSpec
        ``spec.source`` is the model name the server knows (e.g. the folder path for
        ``transformers serve``, the hub id for vLLM); ``spec.base_url``, ``spec.api_key_env``,
        ``spec.concurrency`` and ``spec.timeout`` configure the client.
    device : str, optional
        Ignored (the server places the model).

    Notes
    -----
    The runner hands over ``[run] batch_size`` requests at a time and writes each batch to the
    log when it is done: set ``batch_size`` to at least ``concurrency`` (a few times it keeps the
    server busy between batches). Each request carries the record's seed; whether the text is reproducible depends on the
    server honouring ``seed``. ``top_k`` and ``min_new_tokens`` are sent as the ``top_k`` and
    ``min_tokens`` extensions of vLLM and SGLang only when set.
    """

    hidden_size = 0
    num_layers = 0

    def __init__(self, spec: ModelSpec, device: str | None = None):
        if spec.source is None:
            raise ValueError(f"model {spec.name!r}: the openai backend needs 'model' (the served model "
                             "name), not 'build'")
        self.spec = spec
        self.client = ChatClient(spec.base_url, api_key_env=spec.api_key_env or "OPENAI_API_KEY",
                                 concurrency=spec.concurrency, timeout=spec.timeout,
                                 max_retries=spec.max_retries)

    def chat_text(self, system: str, user: str) -> str:
        """The messages as sent (the server applies its own chat template)."""
        return f"{system}\n\n{user}" if system else user

    def generate(self, requests: list[Request], settings: GenSettings,
                 positions: str = "decode") -> list[Generation]:
        """One completion per request, ``concurrency`` at a time.

        Raises
        ------
        ValueError
            A request carries steering (steered conditions need the transformers backend).
        ServerUnavailable, RequestFailed
            From :class:`ChatClient`; nothing is returned for a batch with a failed request.
        """
        steered = [r for r in requests if r.steer is not None and r.steer.coef != 0]
        if steered:
            raise ValueError(f"model {self.spec.name!r} uses the openai backend, which cannot steer: "
                             "steered conditions need the transformers backend")
        extra = {}
        if settings.top_k:
            extra["top_k"] = settings.top_k
        if settings.min_new_tokens:
            extra["min_tokens"] = settings.min_new_tokens

        def one(r: Request) -> Generation:
            res = self.client.chat(self.spec.source, r.system, r.user, temperature=settings.temperature,
                                   max_tokens=settings.max_new_tokens, seed=r.seed, top_p=settings.top_p,
                                   extra_body=extra or None)
            return Generation(res.text, res.completion_tokens, res.finish_reason == "stop")

        return self.client.map(one, requests)

    def activations(self, texts: Sequence[str], layers: list[int], batch_size: int = 8) -> np.ndarray:
        raise ValueError(f"model {self.spec.name!r} uses the openai backend, which has no access to "
                         "activations: build steering vectors with the transformers backend")

    def close(self) -> None:
        self.client.close()
