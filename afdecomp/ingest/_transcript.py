"""Parse Redwood-style (Greenblatt et al.) prompts and responses.

Prompts carry ``<is_free_tier_user>True|False</is_free_tier_user>`` and ``<user_input>...``;
responses carry reasoning in ``<SCRATCHPAD_REASONING>``, ``<HIDDEN_SCRATCHPAD>``, ``<think>`` or
``<thinking>`` blocks and the final answer in ``<OUTPUT>``; in the helpful-only setting the
answer starts with ``<request_fully_accepted/>`` or ``<rejected/>``.
"""

from __future__ import annotations

import re

from .._transcript import Transcript, parse_transcript

_TIER = re.compile(r"<is_free_tier_user>\s*(.*?)\s*</is_free_tier_user>", re.S | re.I)
_USER = re.compile(r"<user_input>\s*(.*?)\s*</user_input>", re.S)
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


class TierError(ValueError):
    """The ``<is_free_tier_user>`` tag holds a value that is neither true nor false."""


def free_tier(prompt: str) -> bool | None:
    """The value of ``<is_free_tier_user>`` in a prompt: True, False or None when absent.

    Raises
    ------
    TierError
        When the tag is present but holds something else than True/False.
    """
    m = _TIER.search(prompt)
    if m is None:
        return None
    v = m.group(1).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise TierError(f"unknown <is_free_tier_user> value {m.group(1)!r} (expected True or False)")


def user_input(prompt: str) -> str:
    """The text inside ``<user_input>`` (the whole prompt when the tag is absent)."""
    m = _USER.search(prompt)
    return m.group(1).strip() if m else prompt.strip()


def parse(text: str) -> Transcript:
    """Split a transcript with the default tags (see :mod:`afdecomp._transcript`)."""
    return parse_transcript(text)


def split_response(text: str) -> tuple[str | None, str]:
    """Split a response into (reasoning, final output) (see :mod:`afdecomp._transcript`)."""
    t = parse_transcript(text)
    return t.reasoning, t.response


def decision(output: str) -> bool | None:
    """The helpful-only decision of an output: True (starts with ``<request_fully_accepted/>``),
    False (starts with ``<rejected/>``), None otherwise (no tag at the start, or both tags)."""
    return parse_transcript(output, reasoning_tags=(), output_tag="OUTPUT").complied


def note_decision(t: Transcript, notes: dict) -> None:
    """Count how a transcript's label was (or was not) decided in a reader's ``notes``."""
    from ._common import count
    if t.complied is None:
        count(notes, "conflicting_tags" if t.decision == "conflicting" else "no_decision_tag")
        if t.decision == "quoted":
            count(notes, "decision_tags_only_quoted")
    else:
        count(notes, "labelled")
    if t.bare_close:
        count(notes, "reasoning_without_opening_tag")
    if t.unclosed:
        count(notes, "unclosed_reasoning")
    if t.output_in_reasoning:
        count(notes, "output_in_reasoning")
