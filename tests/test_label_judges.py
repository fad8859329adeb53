"""Judges: spec parsing, the local transformers judge on a tiny built model and on real SmolLM2.

The exact behaviour (seeded votes, batch independence, the probability arithmetic) is tested on
a random config-built model, where it does not depend on what the model knows; the real model
shows that the same code produces real text and a probability from a real chat template.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch  # the [sampler] extra: a missing torch fails, never skips

from afdecomp.label.judges import HFJudge, MockJudge, OpenAIJudge, Prompt, load_judge, split_spec
from afdecomp.sampler.backends import Request
from tests._real_model import real_model  # noqa: F401 — the session fixture
from tests._sampler_util import TINY_BUILD

pytestmark = pytest.mark.sampler


# ----------------------------------------------------------------------------- specs
@pytest.mark.parametrize("spec, want", [
    ("hf//abs/path/to/model", ("hf", "/abs/path/to/model")),
    ("hf/HuggingFaceTB/SmolLM2-135M-Instruct", ("hf", "HuggingFaceTB/SmolLM2-135M-Instruct")),
    ("openai/gpt-4o-mini", ("openai", "gpt-4o-mini")),
    ("mockllm/yes", ("mockllm", "yes")),
])
def test_split_spec_provider_ends_at_first_slash(spec, want):
    assert split_spec(spec) == want


@pytest.mark.parametrize("bad", ["gpt-4o", "hf/", "/abs/path", ""])
def test_split_spec_rejects_names_without_provider(bad):
    with pytest.raises(ValueError, match="expected provider/model"):
        split_spec(bad)


def test_load_judge_dispatches_and_names_unknown_providers():
    assert isinstance(load_judge("mockllm/no"), MockJudge)
    j = load_judge("hf/tiny", build=dict(TINY_BUILD), device="cpu", batch_size=3)
    assert isinstance(j, HFJudge) and j.spec == "hf/tiny" and j.batch_size == 3
    j = load_judge("openai/some-model", base_url="http://127.0.0.1:9/v1", concurrency=2)
    assert isinstance(j, OpenAIJudge) and j.spec == "openai/some-model" and j.batch_size == 8
    with pytest.raises(ValueError, match="unknown provider 'anthropic'"):
        load_judge("anthropic/claude")


# ----------------------------------------------------------------------------- tiny built model
@pytest.fixture(scope="module")
def tiny():
    return HFJudge("tiny", build=dict(TINY_BUILD), device="cpu", batch_size=4)


def _prompts(n: int, seed0: int = 0) -> list[Prompt]:
    # different lengths, so batches are left-padded differently
    return [Prompt("Judge this.", "answer " + "x" * (3 * i) + f" item {i}", seed=seed0 + i) for i in range(n)]


def test_hf_votes_are_seeded_and_batch_independent(tiny):
    prompts = _prompts(5)
    one = tiny.complete(prompts, temperature=1.0, max_tokens=8)
    again = tiny.complete(prompts, temperature=1.0, max_tokens=8)
    assert [c.text for c in one] == [c.text for c in again]
    tiny.batch_size = 1
    try:
        single = tiny.complete(prompts, temperature=1.0, max_tokens=8)
    finally:
        tiny.batch_size = 4
    assert [c.text for c in single] == [c.text for c in one]
    reseeded = tiny.complete(_prompts(5, seed0=100), temperature=1.0, max_tokens=8)
    assert [c.text for c in reseeded] != [c.text for c in one]  # 5 random 8-char texts: equal by chance ~never
    assert all(c.error is None and c.text is not None for c in one)
    assert all(0 < c.completion_tokens <= 8 and c.prompt_tokens > len(p.user) for c, p in zip(one, prompts, strict=True))


def test_hf_answer_probs_is_the_normalised_first_token_mass(tiny):
    prompts = _prompts(5)
    probs = tiny.answer_probs(prompts, ["yes", "no"])
    assert all(set(p) == {"yes", "no"} and math.isclose(sum(p.values()), 1.0, rel_tol=1e-9) for p in probs)
    # by hand: the character tokenizer's first tokens are y/Y and n/N
    tok = tiny.backend.tokenizer
    ids = {c: [tok.convert_tokens_to_ids(t) for t in (c, c.upper())] for c in "yn"}
    assert tiny.choice_token_ids(["yes", "no"]) == {"yes": sorted(ids["y"]), "no": sorted(ids["n"])}
    lp = tiny.backend.next_token_logprobs([Request(p.system, p.user, p.seed) for p in prompts])
    mass = {c: np.exp(lp[:, ids[c]]).sum(axis=1) for c in "yn"}
    want = mass["y"] / (mass["y"] + mass["n"])
    np.testing.assert_allclose([p["yes"] for p in probs], want, rtol=1e-5)
    # batch independence (padding differs): agreement to float32 round-off
    tiny.batch_size = 1
    try:
        single = tiny.answer_probs(prompts, ["yes", "no"])
    finally:
        tiny.batch_size = 4
    np.testing.assert_allclose([p["yes"] for p in single], want, rtol=1e-4)


def test_hf_answer_probs_three_choices_and_clashing_words(tiny):
    probs = tiny.answer_probs(_prompts(2), ["full", "partial", "refusal"])
    assert all(math.isclose(sum(p.values()), 1.0, rel_tol=1e-9) and min(p.values()) > 0 for p in probs)
    with pytest.raises(ValueError, match="share their first token"):
        tiny.answer_probs(_prompts(1), ["no", "none"])


# ----------------------------------------------------------------------------- the real model
@pytest.fixture(scope="module")
def smol(real_model):  # noqa: F811
    torch.set_num_threads(1)
    return load_judge(f"hf/{real_model}", device="cpu", batch_size=4)  # an absolute path: hf//abs/path


def test_real_model_judge_writes_text_and_gives_probabilities(smol, real_model):  # noqa: F811
    assert smol.spec == f"hf/{real_model}" and smol.spec.startswith("hf//")
    system = "You are a helpful assistant."
    out = smol.complete([Prompt(system, "What is the capital of France?", seed=1),
                         Prompt(system, "Name one colour of the rainbow.", seed=2)],
                        temperature=0.0, max_tokens=12)
    assert "Paris" in out[0].text  # greedy answer, measured: "The capital of France is Paris."
    assert all(len(c.text.split()) >= 2 and c.prompt_tokens > 10 for c in out)
    probs = smol.answer_probs([Prompt(system, "Is the sky green? Answer Yes or No.", seed=0)], ["yes", "no"])
    p = probs[0]
    assert math.isclose(p["yes"] + p["no"], 1.0, rel_tol=1e-9) and 0 < p["yes"] < 1
    ids = smol.choice_token_ids(["yes", "no"])
    assert len(ids["yes"]) >= 2 and len(ids["no"]) >= 2  # "Yes", " Yes", "yes", ... are distinct tokens
