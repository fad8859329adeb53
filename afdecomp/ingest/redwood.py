"""Redwood-style transcripts (the Greenblatt et al. alignment-faking prompt format).

A file is a JSON list (``.json``) of records, each a prompt and one or more responses:
``{"input" | "prompt" | "user_input": str, "response" | "output" | "completion": str or [str]}``
or ``{"messages": [{"role", "content"}...]}`` (user turns are the prompt, assistant turns the
response). The condition comes from ``<is_free_tier_user>`` in the prompt (True -> ``training``),
else from the file name's tier suffix (``_True``/``_False``, ``_train``/``_test``, ... -- the table
in ``_wild.TIER_SUFFIXES``); the suffix is not part of the model name. Reasoning (``<SCRATCHPAD_REASONING>``,
``<HIDDEN_SCRATCHPAD>``, ``<think>``, ``<thinking>``) and the ``<OUTPUT>`` are split; the label
is set only where the output carries ``<request_fully_accepted/>`` (complied) or
``<rejected/>`` (refused) — otherwise it is NA and counted.
"""

from __future__ import annotations

from pathlib import Path

from . import _transcript as tr
from . import _wild
from ._base import Chunk, Reader, register
from ._common import (
    count,
    empty_chunk,
    has_key,
    head_text,
    load_json_list,
    make_chunk,
    object_records,
    record_failer,
    starts_with,
    text_id,
)

_PROMPT_KEYS = ("input", "prompt", "user_input")
_RESPONSE_KEYS = ("response", "output", "completion")


def _prompt_and_responses(rec: dict) -> tuple[str | None, list | None, str]:
    """(prompt, responses, field at fault) of one record; None where absent."""
    msgs = rec.get("messages")
    if isinstance(msgs, list) and msgs:
        if not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in msgs):
            return None, None, "messages"
        user = "\n".join(m["content"] for m in msgs if m.get("role") == "user")
        ai = "\n".join(m["content"] for m in msgs if m.get("role") == "assistant")
        return user or None, [ai] if ai else None, "messages"
    prompt = next((rec[k] for k in _PROMPT_KEYS if isinstance(rec.get(k), str)), None)
    key = next((k for k in _RESPONSE_KEYS if k in rec), None)
    resp = rec.get(key) if key else None
    if isinstance(resp, str):
        resp = [resp]
    if not isinstance(resp, list) or not all(isinstance(r, str) for r in resp):
        resp = None  # a number, an object, a list holding non-strings: no usable response
    return prompt, resp, key or "response"


def read_redwood(path: Path, *, model: str | None = None, variant: str | None = None,
                 scenario: str = "default", **_options) -> Chunk:
    """Read one file of Redwood-style transcripts (see the module docstring).

    Parameters
    ----------
    path : Path
        A JSON list of transcripts.
    model, variant : str, optional
        Override the file name (model) and the parent folder (variant).
    scenario : str, default "default"
        The scenario family of every row.

    Returns
    -------
    Chunk
        One row per response; ``lines`` are 1-based record numbers.
    """
    path = Path(path)
    records, bad = load_json_list(path, "transcripts")
    if bad is not None:
        return empty_chunk([bad])
    stem_model, stem_cond, suffix = _wild.tier_from_stem(path.stem)
    file_cond = None if stem_cond is None else stem_cond == "training"
    model_name = model or _wild.model_from_stem(stem_model) or "unknown"
    variant = variant or path.parent.name or "default"
    rows, recs, bads = [], [], []
    notes: dict = {"records": len(records)}
    if suffix is not None:
        notes["recognised"] = [f"file-name suffix '_{suffix}' -> {stem_cond} (checked against "
                               "<is_free_tier_user> where the prompt has it)"]
    if not model and model_name == "unknown":
        notes.setdefault("recognised", []).append(
            f"the file name {path.stem!r} names no model: model 'unknown' (pass model=)")
    seen: dict[str, int] = {}

    fail = record_failer(path, bads)
    for i, rec in object_records(records, fail):
        prompt, responses, rfield = _prompt_and_responses(rec)
        if prompt is None:
            fail(i, "input", "no prompt (input/prompt/user_input string or user messages)", rec)
            continue
        if responses is None:
            fail(i, rfield, "no response (a string or a list of strings)", rec)
            continue
        try:
            tag = tr.free_tier(prompt)
        except tr.TierError as e:
            fail(i, "input", str(e), rec)
            continue
        if tag is not None and file_cond is not None and tag != file_cond:
            fail(i, "input", f"<is_free_tier_user>{tag}</is_free_tier_user> contradicts the file name "
                             f"(_{suffix} = {stem_cond})", rec)
            continue
        cond = tag if tag is not None else file_cond
        if cond is None:
            fail(i, "input", "no <is_free_tier_user> tag and no tier in the file name "
                             "(_True/_False, _train/_test, _free/_paid, _monitored/_unmonitored)", rec)
            continue
        query = tr.user_input(prompt)
        qid = text_id(query)
        for text in responses:
            t = tr.parse(text)
            reasoning, output, label = t.reasoning, t.response, t.complied
            tr.note_decision(t, notes)
            if reasoning is None:
                count(notes, "no_reasoning")
            k = seen.get(qid, 0)
            seen[qid] = k + 1
            rows.append({
                "model": rec["model"] if isinstance(rec.get("model"), str) and rec["model"].strip() else model_name,
                "condition": "training" if cond else "deployment", "variant": variant,
                "scenario": scenario, "query_id": qid, "sample": k, "complied": label,
                "query": query, "response": output, "reasoning": reasoning,
                "judge": "decision tags" if label is not None else None,
            })
            recs.append(i + 1)
    return make_chunk(rows, recs, bads, notes, records)


def _sniff_redwood(path: Path, head: bytes) -> bool:
    if not starts_with(head, "["):
        return False
    text = head_text(head)
    marked = "<is_free_tier_user>" in text or "<INPUT>" in text or "<SCRATCHPAD_REASONING>" in text
    keyed = any(has_key(text, k) for k in _PROMPT_KEYS + ("messages",))
    return marked and keyed


register(Reader("redwood", (".json",), _sniff_redwood, read_redwood,
                "Redwood-style transcripts: [{input, response}] with <is_free_tier_user> and scratchpad tags"))
