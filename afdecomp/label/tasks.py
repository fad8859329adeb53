"""Judge tasks: a versioned, hashed prompt with its answer parser and the columns it fills.

A task is a TOML file (the bundled ones are in ``afdecomp/_data/tasks/``; a user writes their
own the same way and loads it with :func:`load_task`)::

    name = "my_task"
    version = 1
    column = "my_flag"                 # the boolean column it fills (any name; extra columns are kept)
    score_column = "my_score"          # optional float column: yes-fraction or P(positive)
    choices = ["yes", "no"]            # the answer words, in order
    positive = "yes"                   # the answer that means True
    reads = ["response"]               # record fields the prompt needs (records without them are skipped)
    optional = ["query"]               # fields used when present
    answer_pattern = '(?im)^final answer:(.*)$'   # optional; one group: the answer text
    [prompt]
    system = "..."                     # Jinja2 templates
    user = "... {{ response }} ... Final answer: Yes or No"
    [direct]                           # optional: one-word form for log-probability scoring
    user = "... Reply with one word, Yes or No."
    [scenarios.default]                # optional template variables, per record scenario
    objective = "..."

Parsing is strict on purpose: the last line matching ``answer_pattern`` decides, its text is
cleaned of case, markdown emphasis, quotes and trailing punctuation and must then be one of the
choices (or an ``[aliases]`` spelling); anything else is None, a failed vote, never a label.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import jinja2
import jinja2.meta
import pandas as pd

from .. import schema

#: The default answer line: "Final answer: X", also under markdown bold, quotes or list marks.
DEFAULT_PATTERN = r"(?im)^[ \t>#*_`-]*final[ \t]+answer[ \t*_`]*:(.*)$"

_TOP_KEYS = {"name", "version", "description", "column", "score_column", "choices", "positive",
             "only_missing", "reads", "optional", "max_tokens", "answer_pattern", "aliases",
             "prompt", "direct", "scenarios"}
_REQUIRED = ("name", "version", "column", "choices", "positive", "reads", "prompt")
_PROMPT_KEYS = {"system", "user"}
_EDGE = " \t\r\n*_`\"'“”‘’[](){}<>"
_TRAILING = ".,;:!?…"
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)


class TaskError(ValueError):
    """A task file is not valid; the message names the file and the key."""


@dataclass(frozen=True, eq=False)
class Task:
    """A judge task: prompts (Jinja2), answer parser, and the columns it fills.

    Build one with :func:`load_task`; ``hash`` identifies its content in the vote store.
    """

    name: str
    version: int
    column: str
    choices: tuple[str, ...]
    positive: str
    user: str
    reads: tuple[str, ...]
    system: str = ""
    direct_system: str | None = None
    direct_user: str | None = None
    score_column: str | None = None
    optional: tuple[str, ...] = ()
    only_missing: bool = False
    answer_pattern: str = DEFAULT_PATTERN
    aliases: Mapping[str, str] = field(default_factory=dict)
    scenarios: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    max_tokens: int = 512
    description: str = ""
    source: str = ""

    @cached_property
    def hash(self) -> str:
        """12 hex digits of the SHA-256 of everything that decides what is asked and how it is read."""
        content = {"name": self.name, "version": self.version, "system": self.system, "user": self.user,
                   "direct_system": self.direct_system, "direct_user": self.direct_user,
                   "choices": list(self.choices), "positive": self.positive,
                   "answer_pattern": self.answer_pattern, "aliases": dict(sorted(self.aliases.items())),
                   "scenarios": {k: dict(sorted(v.items())) for k, v in sorted(self.scenarios.items())},
                   "reads": list(self.reads), "optional": list(self.optional)}
        blob = json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def where(self) -> str:
        return self.source or f"task {self.name!r}"

    def missing(self, record: Mapping) -> list[str]:
        """The required fields (``reads``) that ``record`` lacks or holds empty."""
        return [f for f in self.reads if _value(record, f) is None]

    def variables(self, record: Mapping) -> dict:
        """Template variables for ``record``: its scenario's variables and the fields read."""
        scen = _value(record, "scenario")
        scen = scen if scen in self.scenarios else "default"
        out = {**self.scenarios.get("default", {}), **self.scenarios.get(scen, {}), "scenario": scen}
        for f in self.optional:
            out[f] = _value(record, f)
        for f in self.reads:
            v = _value(record, f)
            if v is None:
                raise ValueError(f"{self.where}: record {_value(record, 'record_id')!r} has no {f!r}, "
                                 f"which the task reads")
            out[f] = v
        return out

    def prompt(self, record: Mapping, *, direct: bool = False) -> tuple[str, str]:
        """The (system, user) messages for ``record``; ``direct`` is the one-word-answer form."""
        if direct and self.direct_user is None:
            raise ValueError(f"{self.where}: the task has no [direct] prompt, so it cannot be scored "
                             "by log-probabilities; use scoring='votes' or add a [direct] table")
        system, user = (self.direct_system or "", self.direct_user) if direct else (self.system, self.user)
        values = self.variables(record)
        return (_template(system).render(values).strip(), _template(user).render(values).strip())

    @cached_property
    def _pattern(self) -> re.Pattern:
        return re.compile(self.answer_pattern)

    @cached_property
    def _answers(self) -> dict[str, str]:
        return {**{a.casefold(): c for a, c in self.aliases.items()}, **{c: c for c in self.choices}}

    def parse(self, text: str | None) -> str | None:
        """The answer word of a judge's text, or None when it cannot be read.

        The last line matching ``answer_pattern`` decides (when its answer part is empty, the
        next non-blank line is read instead). After removing case, markdown emphasis, quotes,
        brackets and trailing punctuation, the answer must be one of ``choices`` or an alias.
        """
        if not text:
            return None
        matches = list(self._pattern.finditer(text))
        if not matches:
            return None
        m = matches[-1]
        answer = _clean(m.group(1))
        if not answer:
            following = [ln for ln in text[m.end():].splitlines() if ln.strip()]
            answer = _clean(following[0]) if following else ""
        return self._answers.get(answer)

    def __repr__(self) -> str:
        return f"Task({self.name!r}, version={self.version}, hash={self.hash!r}, column={self.column!r})"


def _clean(s: str) -> str:
    prev = None
    while s != prev:
        prev = s
        s = s.strip(_EDGE).rstrip(_TRAILING)
    return " ".join(s.split()).casefold()


def _value(record: Mapping, key: str):
    """A record field, or None when absent, NA or a blank string."""
    try:
        v = record[key]
    except (KeyError, IndexError):
        return None
    if v is None or (not isinstance(v, str) and _isna(v)):
        return None
    if isinstance(v, str) and not v.strip():
        return None
    return v


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


_TEMPLATES: dict[str, jinja2.Template] = {}


def _template(text: str) -> jinja2.Template:
    if text not in _TEMPLATES:
        _TEMPLATES[text] = _ENV.from_string(text)
    return _TEMPLATES[text]


# ----------------------------------------------------------------------------- loading
def load_task(name_or_path: str | Path | Task) -> Task:
    """A bundled task by name (``compliance``, ``af_reasoning``, ``partial_compliance``) or a
    task TOML file by path.

    Parameters
    ----------
    name_or_path : str, Path or Task
        A bundled task's name, the path of a task TOML file, or a Task (returned as it is).

    Raises
    ------
    TaskError
        When the file has an unknown key, lacks a required one, or holds a bad value; the
        message names the file and the key.
    """
    if isinstance(name_or_path, Task):
        return name_or_path
    s = str(name_or_path)
    bundled = _bundled_files()
    if s in bundled:
        return _read(bundled[s], f"afdecomp/_data/tasks/{s}.toml")
    path = Path(s)
    if path.is_file():
        return _read(path.read_bytes(), str(path))
    raise TaskError(f"{s!r} is neither a bundled task ({', '.join(sorted(bundled))}) nor a task TOML file")


def bundled_tasks() -> dict[str, Task]:
    """The tasks shipped with afdecomp, by name."""
    return {name: _read(data, f"afdecomp/_data/tasks/{name}.toml") for name, data in _bundled_files().items()}


def _bundled_files() -> dict[str, bytes]:
    folder = resources.files("afdecomp") / "_data" / "tasks"
    return {f.name.removesuffix(".toml"): f.read_bytes() for f in folder.iterdir() if f.name.endswith(".toml")}


def _read(data: bytes, where: str) -> Task:
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TaskError(f"{where}: not valid TOML: {e}") from None
    return _task_from(raw, where)


def _task_from(raw: dict, where: str) -> Task:
    def fail(key: str, msg: str):
        raise TaskError(f"{where}: {key}: {msg}")

    for k in raw:
        if k not in _TOP_KEYS:
            fail(k, f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    for k in _REQUIRED:
        if k not in raw:
            fail(k, "missing (required)")

    def text(key, v):
        if not isinstance(v, str):
            fail(key, f"expected a string, got {type(v).__name__}")
        return v

    def words(key, v):
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            fail(key, "expected a list of non-empty strings")
        return tuple(v)

    name = text("name", raw["name"])
    version = raw["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        fail("version", f"expected a positive integer, got {version!r}")
    column = text("column", raw["column"])
    choices = tuple(c.strip().casefold() for c in words("choices", raw["choices"]))
    if len(choices) < 2 or len(set(choices)) != len(choices):
        fail("choices", f"expected at least two distinct answers, got {list(choices)}")
    positive = text("positive", raw["positive"]).strip().casefold()
    if positive not in choices:
        fail("positive", f"{positive!r} is not one of the choices {list(choices)}")
    score_column = raw.get("score_column")
    if score_column is not None:
        text("score_column", score_column)
    for key, col, want in (("column", column, "boolean"), ("score_column", score_column, "float")):
        if col in schema.COLUMNS and schema.COLUMNS[col][0] != want:
            fail(key, f"{col!r} is a schema column of kind {schema.COLUMNS[col][0]}, not {want}")
    reads = words("reads", raw["reads"])
    if not reads:
        fail("reads", "list at least one record field the prompt reads")
    optional = words("optional", raw.get("optional", []))
    only_missing = raw.get("only_missing", False)
    if not isinstance(only_missing, bool):
        fail("only_missing", "expected true or false")
    max_tokens = raw.get("max_tokens", 512)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        fail("max_tokens", f"expected a positive integer, got {max_tokens!r}")
    pattern = text("answer_pattern", raw.get("answer_pattern", DEFAULT_PATTERN))
    try:
        if re.compile(pattern).groups < 1:
            fail("answer_pattern", "needs one capture group (the answer text)")
    except re.error as e:
        fail("answer_pattern", f"not a valid regular expression: {e}")
    aliases = raw.get("aliases", {})
    if not isinstance(aliases, dict):
        fail("aliases", "expected a table of spelling = choice")
    for a, c in aliases.items():
        if not isinstance(c, str) or c.casefold() not in choices:
            fail(f"aliases.{a}", f"{c!r} is not one of the choices {list(choices)}")
    aliases = {a: c.casefold() for a, c in aliases.items()}

    scenarios = raw.get("scenarios", {})
    if not isinstance(scenarios, dict):
        fail("scenarios", "expected tables [scenarios.<name>] of template variables")
    for s, vs in scenarios.items():
        if not isinstance(vs, dict):
            fail(f"scenarios.{s}", "expected a table of template variables")
        for k, v in vs.items():
            text(f"scenarios.{s}.{k}", v)
    if scenarios and "default" not in scenarios:
        fail("scenarios", "add a [scenarios.default] table (used for records of other scenarios)")
    variables = {"scenario", *reads, *optional, *scenarios.get("default", {})}
    for s, vs in scenarios.items():
        if set(vs) - set(scenarios["default"]):
            fail(f"scenarios.{s}", f"variables {sorted(set(vs) - set(scenarios['default']))} have no "
                                   "default in [scenarios.default]")

    prompts = {}
    for table in ("prompt", "direct"):
        if table not in raw:
            continue
        t = raw[table]
        if not isinstance(t, dict):
            fail(table, "expected a table with system and user")
        for k in t:
            if k not in _PROMPT_KEYS:
                fail(f"{table}.{k}", "unknown key (known: system, user)")
        if "user" not in t:
            fail(f"{table}.user", "missing (required)")
        for k, v in t.items():
            text(f"{table}.{k}", v)
            try:
                used = jinja2.meta.find_undeclared_variables(_ENV.parse(v))
            except jinja2.TemplateSyntaxError as e:
                fail(f"{table}.{k}", f"template error on its line {e.lineno}: {e.message}")
            unknown = sorted(used - variables)
            if unknown:
                fail(f"{table}.{k}", f"uses {unknown}, which are neither record fields in reads/optional "
                                     "nor variables of [scenarios.default]")
            prompts[f"{table}.{k}"] = v

    description = text("description", raw.get("description", ""))
    return Task(name=name, version=version, column=column, choices=choices, positive=positive,
                user=prompts["prompt.user"], reads=reads, system=prompts.get("prompt.system", ""),
                direct_system=prompts.get("direct.system"), direct_user=prompts.get("direct.user"),
                score_column=score_column, optional=optional, only_missing=only_missing,
                answer_pattern=pattern, aliases=aliases, scenarios=scenarios, max_tokens=max_tokens,
                description=description, source=where)
