"""Logs in the wild: the known spellings of tiers, model names, summaries and column maps.

Every reader goes through these tables (see "Logs in the wild" in ``docs/formats.md``):

- :data:`TIER_VALUES`, :data:`TIER_COLUMNS`, :data:`TIER_SUFFIXES`: how other pipelines spell
  the training (free-tier, monitored) and deployment (paid-tier, unmonitored) conditions;
- :func:`model_name`: one normalisation of model names for all readers;
- :func:`is_summary_table`: a statistics table that sits beside the raw logs;
- :func:`suggest_map`: a ready-to-copy column map for a table that is not in afdecomp's schema.
"""

from __future__ import annotations

import json
import re

import pandas as pd

#: A tier *value* (lower case; ``-`` and blanks read as ``_``) -> condition.
TIER_VALUES = {
    **dict.fromkeys(("training", "train", "free", "free_tier", "freetier", "free_user", "monitored",
                     "oversight", "observed"), "training"),
    **dict.fromkeys(("deployment", "deploy", "paid", "paid_tier", "paidtier", "paid_user",
                     "unmonitored", "not_monitored", "no_oversight", "unobserved"), "deployment"),
}
#: A boolean tier *column* -> the condition its true value means.
TIER_COLUMNS = {
    **dict.fromkeys(("is_free_tier_user", "is_free_tier", "free_tier", "free_tier_user", "is_free",
                     "monitored", "is_monitored", "is_training"), "training"),
    **dict.fromkeys(("is_paid_tier_user", "is_paid_tier", "paid_tier", "paid_tier_user", "is_paid",
                     "unmonitored", "is_unmonitored", "is_deployment"), "deployment"),
}
#: Columns that hold tier *values* (``free``/``paid``, ``monitored``/``unmonitored``...).
TIER_VALUE_COLUMNS = ("condition", "tier", "user_tier", "tier_type", "monitoring")
#: A file-name suffix (``<model>_<suffix>.json``) -> condition.
TIER_SUFFIXES = {"True": "training", "False": "deployment", "train": "training", "test": "deployment",
                 "training": "training", "deployment": "deployment", "free": "training",
                 "paid": "deployment", "free_tier": "training", "paid_tier": "deployment",
                 "monitored": "training", "unmonitored": "deployment"}
_SUFFIX = re.compile(r"^(?P<model>.+?)[_-](?P<tier>" + "|".join(
    sorted(map(re.escape, TIER_SUFFIXES), key=len, reverse=True)) + r")$", re.I)
_TRUE = {"true", "1", "yes", "y", "t", "1.0"}
_FALSE = {"false", "0", "no", "n", "f", "0.0"}

#: API providers and serving engines that prefix model names (``openai:gpt-4o``, ``hf/org/m``).
PROVIDERS = frozenset((
    "openai", "anthropic", "google", "vertex", "vertexai", "gemini", "mistral", "together", "togetherai",
    "openrouter", "groq", "fireworks", "hf", "huggingface", "vllm", "ollama", "azure", "azureai",
    "bedrock", "xai", "grok", "cohere", "perplexity", "replicate", "sglang", "llama-cpp-python",
    "transformers", "local"))
#: First words of file names that name a result file, not a model.
NOT_MODEL_WORDS = frozenset(("results", "result", "scores", "scored", "output", "outputs", "generations",
                             "completions", "responses", "eval", "evals", "log", "logs", "data",
                             "transcripts", "samples", "runs", "run", "summary", "statistics", "stats"))
_SUMMARY_WORDS = frozenset(("summary", "summaries", "statistics", "stats", "descriptive", "aggregate",
                            "aggregated", "metrics", "overview"))
_STAT_WORDS = frozenset(("rate", "rates", "pct", "percent", "percentage", "mean", "avg", "average", "std",
                         "sd", "se", "ci", "ci95", "count", "counts", "n", "total", "gap", "proportion",
                         "frac", "fraction"))
_ROW_WORDS = frozenset(("response", "responses", "output", "completion", "text", "query", "prompt",
                        "user_input", "input", "query_id", "prompt_id", "id", "sample", "generation",
                        "transcript", "question"))
#: Likely source columns for each schema column (for suggested column maps).
ALIASES = {
    "model": ("model", "model_name", "model_id", "llm", "engine"),
    "condition": TIER_VALUE_COLUMNS + tuple(TIER_COLUMNS),
    "variant": ("variant", "system_prompt", "prompt_variant", "setting_name"),
    "query_id": ("query_id", "prompt_id", "question_id", "qid", "id", "idx", "prompt", "query",
                 "question", "user_input"),
    "complied": ("complied", "compliance", "is_compliant", "compliant", "label", "score"),
    "query": ("query", "prompt", "question", "user_input", "input"),
    "response": ("response", "output", "completion", "answer"),
}


def _key(v) -> str:
    return re.sub(r"[\s-]+", "_", str(v).strip().lower())


def tier_value(v) -> str | None:
    """The condition a tier value names (:data:`TIER_VALUES`), or None."""
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else TIER_VALUES.get(_key(v))


def tier_from_stem(stem: str) -> tuple[str, str | None, str | None]:
    """(model part, condition, suffix) of a file stem ``<model>_<tier suffix>``; (stem, None, None)
    when the stem has no known tier suffix."""
    m = _SUFFIX.match(stem)
    if m is None:
        return stem, None, None
    tier = next(k for k in TIER_SUFFIXES if k.lower() == m.group("tier").lower())
    return m.group("model"), TIER_SUFFIXES[tier], tier


def conditions(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Recognise the tier spellings of a raw table (in place); return it and what was used.

    A ``condition`` column whose values are known spellings is recoded; without one, the first
    boolean tier column (:data:`TIER_COLUMNS`) or tier-value column (:data:`TIER_VALUE_COLUMNS`)
    gives it. Values no table knows are left for the schema to report (see :func:`tier_hint`).
    """
    used: list[str] = []
    if "condition" in df.columns:
        s = df["condition"].astype(object)
        vals = {v for v in s.dropna().unique() if v not in ("training", "deployment")}
        rec = {v: tier_value(v) for v in vals if tier_value(v) is not None}
        if rec:
            df["condition"] = s.map(lambda v: rec.get(v, v) if isinstance(v, str) or not pd.isna(v) else v)
            used.append("condition values " + ", ".join(f"{k!r} -> {v}" for k, v in sorted(rec.items(), key=str)))
        return df, used
    for col in df.columns:
        k = _key(col)
        if k in TIER_COLUMNS:
            pos = TIER_COLUMNS[k]
            neg = "deployment" if pos == "training" else "training"
            low = df[col].astype(object).map(lambda v: None if v is None or (not isinstance(v, str) and pd.isna(v))
                                             else str(v).strip().lower())
            code = {**dict.fromkeys(_TRUE, pos), **dict.fromkeys(_FALSE, neg)}
            df["condition"] = [code.get(v, tier_value(v) or v) if v is not None else None for v in low]
            used.append(f"condition from column {col!r} (true -> {pos}, false -> {neg})")
            return df, used
        if k in TIER_VALUE_COLUMNS:
            s = df[col].astype(object)
            df["condition"] = s.map(lambda v: tier_value(v) or v)
            used.append(f"condition from column {col!r} (values {sorted(map(str, s.dropna().unique()))[:6]})")
            return df, used
    return df, used


def tier_hint(values) -> str:
    """The help for tier values no table knows: the values found and a ready-to-copy map."""
    found = sorted({str(v) for v in values if v is not None and not (not isinstance(v, str) and pd.isna(v))})
    lines = "\n".join(f'{json.dumps(v)} = "training"  # or "deployment"' for v in found[:8])
    return (f"values found: {found[:12]}; recognised spellings are free/paid, free_tier/paid_tier, "
            f"monitored/unmonitored, training/deployment (see docs/formats.md). Map the others in a "
            f"column map: [values.condition]\n{lines}")


def model_name(name, *, default: str | None = None) -> tuple[str | None, str | None]:
    """(normalised model name, provider it carried) -- the one rule every reader follows.

    ``<provider>:<model>`` and ``<provider>/<model>`` lose a known provider (:data:`PROVIDERS`;
    ``openai:gpt-4o``, ``openai/gpt-4o`` -> ``gpt-4o``; ``hf/meta-llama/X`` -> ``meta-llama/X``);
    a filesystem path names its model by its last folder (a Hugging Face cache folder
    ``models--<org>--<name>`` by ``<org>/<name>``); other ``org/name`` ids are kept.
    """
    if name is None or (not isinstance(name, str) and pd.isna(name)):
        return default, None
    s = str(name).strip()
    provider = None
    if s.startswith(("/", "./", "../", "~")) or "\\" in s or s.count("/") >= 3:
        parts = [p for p in re.split(r"[\\/]+", s) if p and p not in (".", "..", "~")]
        cache = next((p for p in reversed(parts) if p.startswith("models--")), None)
        if cache:
            return cache.removeprefix("models--").replace("--", "/"), None
        return (parts[-1] if parts else default), None
    while True:
        m = re.match(r"^([A-Za-z][\w.-]*)[:/](.+)$", s)
        if m is None or m.group(1).lower() not in PROVIDERS:
            break
        provider = provider or m.group(1).lower()
        s = m.group(2).strip()
    return s, provider


def model_from_stem(stem: str) -> str | None:
    """A file stem as a model name, or None when it names a result file (``results_scored_5Feb``)."""
    first = re.split(r"[_\-.\s]+", stem.strip().lower())[0]
    return None if not first or first in NOT_MODEL_WORDS else stem


def is_summary_table(stem: str, columns) -> bool:
    """Whether a table is a statistics summary (rates, counts, CIs per cell), not per-generation rows."""
    cols = [_key(c) for c in columns]
    words = [set(re.split(r"_+", c)) for c in cols]
    if any(c in _ROW_WORDS or w & {"response", "output", "completion", "prompt", "query"} for c, w in zip(cols, words, strict=True)):
        return False
    stats = sum(bool(w & _STAT_WORDS) for w in words)
    return bool(set(re.split(r"[_\-.\s]+", stem.lower())) & _SUMMARY_WORDS) or stats >= 2


def suggest_map(columns, path: str = "<file>", missing=("model", "condition", "variant", "query_id")) -> str:
    """A ready-to-copy ``load_logs(..., format="mapped", column_map=...)`` call and ``--map`` form."""
    cols = [str(c) for c in columns]
    low = {_key(c): c for c in cols}
    mapping: dict[str, str] = {}
    for target in ("model", "condition", "variant", "query_id", "complied", "query", "response"):
        if target in low:
            continue
        src = next((low[a] for a in ALIASES[target]  # query may share its source with query_id
                    if a in low and (low[a] not in mapping.values() or target == "query")), None)
        if src is not None:
            mapping[target] = src
    have = {_key(c) for c in cols} | set(mapping)
    constants = {t: ("default" if t == "variant" else f"<{t}>") for t in missing if t not in have}
    cmap = {"columns": mapping, **({"constants": constants} if constants else {})}
    cli = " ".join(f"--map {src}={dst}" for dst, src in mapping.items())
    cli += "".join(f" --const {k}={v}" for k, v in constants.items())
    return (f"read it with a column map, e.g. load_logs({path!r}, format='mapped', column_map={cmap!r}) "
            f"or on the command line: afdecomp ingest {path} --format mapped {cli}".rstrip())
