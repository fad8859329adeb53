"""Split a generation into ``reasoning`` and ``response`` and read decision tags.

The parsing is :func:`afdecomp._transcript.parse_transcript` (shared with the log readers):
reasoning is the text of every scratchpad block (``<SCRATCHPAD_REASONING>``, ``<think>``, or the
scenario's own tag names; a bare closing tag means the text began inside the reasoning); the
response is the text of the last ``<OUTPUT>`` block, or what is left when there is none. A
generation is *well formed* when that output block is closed. Decision tags (e.g.
``<request_fully_accepted/>`` / ``<rejected/>``) label ``complied`` only when exactly one of
them starts the response; otherwise the label stays NA for a judge to fill.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._transcript import parse_transcript


@dataclass
class Parsed:
    """One generation split into parts, with its tag-decided label (None = undecided)."""

    reasoning: str | None
    response: str
    well_formed: bool
    complied: bool | None


def parse_output(text: str, tags: dict | None = None) -> Parsed:
    """Split ``text`` into reasoning and response and read the decision tags.

    Parameters
    ----------
    text : str
        The generated text (without the prompt).
    tags : dict, optional
        The scenario's ``[tags]``: ``reasoning`` (list of tag names), ``output`` (tag name),
        ``accept`` / ``reject`` (literal decision tags; optional).
    """
    tags = tags or {}
    t = parse_transcript(text, tags.get("reasoning", ["SCRATCHPAD_REASONING", "think"]),
                         tags.get("output", "OUTPUT"), tags.get("accept"), tags.get("reject"))
    return Parsed(t.reasoning, t.response, t.well_formed, t.complied)
