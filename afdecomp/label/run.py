"""Label a table with a judge: ask the votes not yet in the store, aggregate, apply to the table.

``label`` asks a judge every (record, vote) of a task that its vote store does not already
answer, appending each batch to the store as it comes back, and returns one row per record:
the yes-fraction of the parsed votes (or, with ``scoring="logprob"``, the probability of the
positive answer), the label (score >= threshold) and the counts. ``apply_labels`` writes those
into the schema columns the task fills and records the judge in ``judge``.

An answer that cannot be parsed is a failed vote: it is stored and counted, and asked again on
the next run; it is never a label. A record whose votes all failed stays NA.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import schema
from .judges import Judge, LogprobsUnavailable, Prompt, load_judge
from .store import GROUP, VoteStore
from .tasks import Task, TaskError, load_task

SCORINGS = ("votes", "logprob")


@dataclass
class LabelReport:
    """What one ``label`` run read, asked, reused and could not label."""

    task: str
    task_hash: str
    judge: str
    scoring: str
    votes: int
    store: str | None = None
    records: int = 0
    labelled: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    asked: int = 0
    reused: int = 0
    failed: int = 0
    failed_now: int = 0
    all_failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    truncated_tail: bool = False

    def __str__(self) -> str:
        per = "1 log-probability call" if self.scoring == "logprob" else f"{self.votes} vote(s)"
        lines = [f"task {self.task} ({self.task_hash}), judge {self.judge}, {per} per record",
                 f"records: {self.records:,} read, {self.labelled:,} labelled, "
                 f"{self.all_failed:,} left NA (every vote failed)"]
        for why, n in self.skipped.items():
            lines.append(f"  skipped {n:,}: {why}")
        lines.append(f"votes: {self.asked:,} asked now ({self.failed_now:,} failed), {self.reused:,} reused "
                     f"from the store; {self.failed:,} failed vote(s) in the result")
        lines.append(f"tokens: {self.prompt_tokens:,} prompt, {self.completion_tokens:,} completion; "
                     f"{self.seconds:.1f} s")
        lines.append(f"store: {self.store or 'in memory (nothing kept; pass store= to resume later)'}"
                     + (" (a torn final line from an interrupted run was cut)" if self.truncated_tail else ""))
        return "\n".join(lines)


class JudgeFailed(RuntimeError):
    """The judge raised during a run; the votes written before it are kept in the store."""


def vote_seed(record_id: str, task_hash: str, vote: int, attempt: int = 0) -> int:
    """The sampling seed of one vote (63 bits of a SHA-256); a retry of a failed vote gets a new one."""
    key = f"{record_id}|{task_hash}|{vote}" + (f"|{attempt}" if attempt else "")
    return int(hashlib.sha256(key.encode()).hexdigest()[:15], 16)


# ----------------------------------------------------------------------------- label
def label(df, task: str | Path | Task, judge: str | Judge, *, votes: int = 20,
          store: str | os.PathLike | None = None, scoring: str = "votes", temperature: float = 1.0,
          max_tokens: int | None = None, threshold: float = 0.5, base_url: str | None = None,
          only_missing: bool | None = None, retry_failed: bool = True, progress: bool = True,
          **judge_options) -> pd.DataFrame:
    """Ask a judge the votes of ``task`` for every record that needs them; return per-record labels.

    Parameters
    ----------
    df : DataFrame, str or Path
        A table with ``record_id`` (or the schema's id columns, from which it is derived) and
        the fields the task reads, or a log path (read with :func:`afdecomp.load_logs`).
    task : str, Path or Task
        A bundled task name (``compliance``, ``af_reasoning``, ``partial_compliance``), a task
        TOML file, or a :class:`~afdecomp.label.tasks.Task`.
    judge : str or Judge
        ``provider/model`` (``hf/...``, ``openai/...``, ``mockllm/...``), loaded with
        :func:`~afdecomp.label.judges.load_judge` (``base_url`` and ``**judge_options`` go there
        and the judge is closed at the end), or a judge object.
    votes : int
        Sampled votes per record (``scoring="votes"``).
    store : str or Path, optional
        The vote store (JSONL). Votes already in it are not asked again; new ones are appended
        after every batch, so a killed run resumes. Default: ``<log>.labels.jsonl`` beside a
        log given by path; in memory (nothing kept) for a DataFrame.
    scoring : {"votes", "logprob"}
        ``votes``: ``votes`` sampled answers at ``temperature``, score = share of the positive
        answer among the parsed ones. ``logprob``: one call per record with the task's direct
        (one-word) prompt, score = P(positive answer) normalised over the choices.
    temperature : float, default 1.0
        Sampling temperature of the votes (``scoring="votes"``; log-prob scoring does not
        sample). It is stored with each vote, and a store holding votes of this task and judge
        asked at another temperature or ``max_tokens`` is refused rather than mixed.
    max_tokens : int, optional
        Judge answer length (default: the task's ``max_tokens``).
    threshold : float, default 0.5
        ``label = score >= threshold``.
    base_url : str, optional
        For an ``openai/...`` judge given by name: the server's ``.../v1`` URL (default:
        ``OPENAI_BASE_URL`` or the OpenAI API). An error with a judge object.
    only_missing : bool, optional
        Skip records whose ``task.column`` is already set (default: the task's setting; true for
        ``compliance``, whose decision tags are the first source).
    retry_failed : bool
        Ask failed votes (engine error or unparseable answer) of earlier runs again.
    progress : bool
        Show a progress bar (stderr).
    **judge_options
        Engine options for a judge given by name (:func:`~afdecomp.label.judges.load_judge`:
        ``batch_size``, ``device``, ``dtype`` for hf; ``concurrency``, ``timeout``,
        ``max_retries``, ``api_key_env`` for openai). An error with a judge object.

    Returns
    -------
    DataFrame
        One row per labelled record: ``record_id``, ``task``, ``task_hash``, ``judge``,
        ``scoring``, ``n_votes`` (parsed), ``n_failed``, ``score``, ``label`` (boolean; NA when
        every vote failed), ``answers`` (per vote, None where it failed). ``.attrs["report"]`` is
        a :class:`LabelReport`.

    Raises
    ------
    JudgeFailed
        When the judge raises mid-run (a dead server); every vote answered before is in the
        store, and re-running the same call resumes.
    """
    t0 = time.perf_counter()
    task = load_task(task)
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {SCORINGS}, not {scoring!r}")
    if scoring == "votes" and (not isinstance(votes, int) or votes < 1):
        raise ValueError(f"votes must be a positive integer, not {votes!r}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], not {threshold}")
    if isinstance(df, (str, os.PathLike)):
        from ..ingest import load_logs
        if store is None:
            store = Path(str(df).rstrip("/\\") + ".labels.jsonl")
        df = load_logs(df)
    table = _with_ids(df)
    n_votes = 1 if scoring == "logprob" else votes
    only_missing = task.only_missing if only_missing is None else only_missing

    owned = isinstance(judge, str)
    if not owned and (judge_options or base_url):
        raise ValueError("base_url and judge options apply to a judge given by name; this judge is "
                         "already built")
    vs = VoteStore(store)  # a damaged store fails here, before a model is loaded
    if owned:
        try:
            judge = load_judge(judge, base_url=base_url, **judge_options)
        except BaseException:
            vs.close()
            raise
    report = LabelReport(task.name, task.hash, judge.spec, scoring, n_votes,
                         store=str(vs.path) if vs.path else None, records=len(table),
                         truncated_tail=vs.truncated)
    try:
        rows, report.skipped = _eligible(table, task, only_missing)
        todo, reused = [], []
        for r in rows:
            for v in range(n_votes):
                key = (r["record_id"], task.name, task.hash, judge.spec, scoring, v)
                got = vs.get(key)
                if got is not None:
                    reused.append(got)
                if got is not None and (got["ok"] or not retry_failed):
                    report.reused += 1
                else:
                    todo.append((r, key, vs.attempts(key)))
        _check_settings(reused, _settings(scoring, temperature, max_tokens or task.max_tokens), vs.path)
        _ask(todo, task, judge, vs, report, scoring=scoring, temperature=temperature,
             max_tokens=max_tokens or task.max_tokens, progress=progress)
        out = _aggregate(vs.table(task=task.name, task_hash=task.hash, judge=judge.spec, scoring=scoring),
                         [r["record_id"] for r in rows], task, n_votes, threshold)
    finally:
        vs.close()
        if owned:
            judge.close()
    report.labelled = int(out["label"].notna().sum())
    report.all_failed = int(out["label"].isna().sum())
    report.failed = int(out["n_failed"].sum())
    report.seconds = time.perf_counter() - t0
    out.attrs["report"] = report
    out.attrs["task"] = task
    return out


def _with_ids(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a ``record_id`` for every row (derived from the id columns where missing)."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a DataFrame or a log path, got {type(df).__name__}")
    has_ids = "record_id" in df.columns and not df["record_id"].isna().any()
    if not has_ids:
        lacking = [c for c in schema.REQUIRED if c not in df.columns]
        if lacking:
            raise ValueError("the table needs a record_id column, or the schema's id columns to derive it "
                             f"from (missing: {', '.join(lacking)})")
        df = schema.fill_record_ids(df.copy())
    ids = df["record_id"].astype(str)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise ValueError(f"record_id is not unique ({len(dup)} duplicate(s), e.g. {list(dup.unique()[:3])}): "
                         "votes are keyed by record, so each record must appear once")
    if not ids.equals(df["record_id"]):
        df = df.assign(record_id=ids)
    return df


def _blank(s: pd.Series) -> np.ndarray:
    """True where a field is NA or a blank string."""
    na = s.isna().to_numpy()
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        text = s.astype(object).where(~na, "")
        na = na | text.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    return na


def _eligible(table: pd.DataFrame, task: Task, only_missing: bool) -> tuple[list[dict], dict[str, int]]:
    """The records to label (as dicts of the fields the prompt uses) and why others are skipped."""
    n = len(table)
    skip = np.zeros(n, bool)
    skipped: dict[str, int] = {}
    if only_missing and task.column in table.columns:
        done = table[task.column].notna().to_numpy()
        if done.any():
            skipped[f"{task.column} already set (only_missing)"] = int(done.sum())
        skip |= done
    for f in task.reads:
        gone = _blank(table[f]) if f in table.columns else np.ones(n, bool)
        new = gone & ~skip
        if new.any():
            skipped[f"no {f}"] = int(new.sum())
        skip |= gone
    cols = ["record_id", *(c for c in ("scenario", *task.reads, *task.optional) if c in table.columns)]
    sub = table.loc[~skip, list(dict.fromkeys(cols))]
    for c in sub.columns:
        if isinstance(sub[c].dtype, pd.CategoricalDtype):
            sub = sub.assign(**{c: sub[c].astype(object)})
    return sub.to_dict("records"), skipped


def _ask(todo: list, task: Task, judge: Judge, vs: VoteStore, report: LabelReport, *, scoring: str,
         temperature: float, max_tokens: int, progress: bool) -> None:
    """Send the pending votes to the judge in batches; append each batch to the store."""
    if not todo:
        return
    bs = max(1, int(getattr(judge, "batch_size", 1) or 1))
    settings = _settings(scoring, temperature, max_tokens)
    bar = tqdm(total=len(todo), unit="vote" if scoring == "votes" else "record", file=sys.stderr,
               desc=f"labelling {task.name}", disable=not progress, dynamic_ncols=True)
    try:
        for start in range(0, len(todo), bs):
            chunk = todo[start:start + bs]
            prompts = []
            for rec, key, attempt in chunk:
                system, user = task.prompt(rec, direct=scoring == "logprob")
                prompts.append(Prompt(system, user, vote_seed(key[0], task.hash, key[5], attempt)))
            try:
                if scoring == "votes":
                    results = judge.complete(prompts, temperature=temperature, max_tokens=max_tokens)
                else:
                    results = judge.answer_probs(prompts, list(task.choices))
            except LogprobsUnavailable as e:
                raise LogprobsUnavailable(f"{judge.spec} gives no answer probabilities ({e}); use "
                                          "scoring='votes'") from e
            except Exception as e:
                where = (f"the {report.asked:,} vote(s) answered in this run are kept in {vs.path}; re-running "
                         "the same command resumes from there" if vs.path else
                         "no store was given, so nothing is kept; pass store= to make runs resumable")
                raise JudgeFailed(f"judge {judge.spec} failed: {type(e).__name__}: {e}\n{where}") from e
            if len(results) != len(prompts):
                raise JudgeFailed(f"judge {judge.spec} returned {len(results)} answers for {len(prompts)} prompts")
            now = datetime.now(UTC).isoformat(timespec="seconds")
            lines = [_vote_line(task, key, p.seed, res, scoring, now) | settings
                     for (_, key, _), p, res in zip(chunk, prompts, results, strict=True)]
            vs.append(lines)
            report.asked += len(lines)
            report.failed_now += sum(not ln["ok"] for ln in lines)
            report.prompt_tokens += sum(ln["prompt_tokens"] for ln in lines)
            report.completion_tokens += sum(ln["completion_tokens"] for ln in lines)
            bar.update(len(lines))
            bar.set_postfix_str(f"{report.failed_now} failed")
    finally:
        bar.close()


def _settings(scoring: str, temperature: float, max_tokens: int) -> dict:
    """The sampling settings a vote was asked with (stored on its line; log-prob scoring has none)."""
    if scoring != "votes":
        return {"temperature": None, "max_tokens": None}
    return {"temperature": float(temperature), "max_tokens": int(max_tokens)}


def _check_settings(reused: list[dict], want: dict, store) -> None:
    """Refuse to mix votes asked with other sampling settings (they answer another question)."""
    seen = {(v.get("temperature"), v.get("max_tokens")) for v in reused} - {(None, None)}
    other = sorted(seen - {(want["temperature"], want["max_tokens"])}, key=str)
    if other:
        t, m = other[0]
        raise ValueError(f"{store}: holds votes of this task and judge asked with temperature={t}, "
                         f"max_tokens={m}, not temperature={want['temperature']}, max_tokens={want['max_tokens']}; "
                         "re-run with those settings, or write to a new store")


def _vote_line(task: Task, key: tuple, seed: int, res, scoring: str, now: str) -> dict:
    line = dict(zip(("record_id", "task", "task_hash", "judge", "scoring", "vote"), key, strict=True))
    line["seed"] = seed
    if scoring == "votes":
        answer = task.parse(res.text)
        error = res.error if res.text is None else (None if answer is not None else "unparseable answer")
        line.update(answer=answer, prob=None, ok=answer is not None, raw=res.text, error=error,
                    prompt_tokens=int(res.prompt_tokens or 0), completion_tokens=int(res.completion_tokens or 0))
    else:
        prob = _normalised(res, task.choices)
        answer = max(prob, key=prob.get) if prob else None
        line.update(answer=answer, prob=prob, ok=prob is not None, raw=None,
                    error=None if prob is not None else "no answer probabilities",
                    prompt_tokens=0, completion_tokens=0)
    line["time"] = now
    return line


def _normalised(prob: dict | None, choices: Sequence[str]) -> dict[str, float] | None:
    """Probabilities over ``choices`` summing to one, or None when missing or all zero."""
    if not prob:
        return None
    p = {c: float(prob.get(c, 0.0)) for c in choices}
    total = sum(p.values())
    if not np.isfinite(total) or total <= 0:
        return None
    return {c: v / total for c, v in p.items()}


# ----------------------------------------------------------------------------- aggregation
def _aggregate(votes: pd.DataFrame, record_ids: list[str], task: Task, n_votes: int | None,
               threshold: float) -> pd.DataFrame:
    """Per-record labels from the answer of each vote key of one labelling (task, hash, judge, scoring).

    ``n_votes``: use votes 0..n-1 (None: every vote the table holds). A vote never asked counts
    as neither parsed nor failed; records without any vote are left out.
    """
    cols = ["record_id", "task", "task_hash", "judge", "scoring", "n_votes", "n_failed", "score",
            "label", "answers"]
    if n_votes is not None:
        votes = votes[votes["vote"] < n_votes]
    votes = votes[votes["record_id"].isin(record_ids)]
    if votes.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(cols, (
            "str", "str", "str", "str", "str", "int64", "int64", "float64", "boolean", "object"), strict=True)})
    votes = votes.sort_values(["record_id", "vote"], kind="stable")
    ok = votes["ok"].to_numpy(dtype=bool)
    if votes["scoring"].iloc[0] == "logprob":
        hit = np.array([p[task.positive] if o else 0.0 for p, o in zip(votes["prob"], ok, strict=True)])
    else:
        hit = (votes["answer"].to_numpy(dtype=object) == task.positive) & ok
    rid = votes["record_id"].to_numpy(dtype=object)
    starts = np.r_[0, np.flatnonzero(rid[1:] != rid[:-1]) + 1]  # sorted: one run of rows per record
    ends = np.r_[starts[1:], len(rid)]
    answers = [a if o else None for a, o in zip(votes["answer"].tolist(), ok, strict=True)]
    per = pd.DataFrame({"n_votes": np.add.reduceat(ok.astype("int64"), starts),
                        "n_total": ends - starts, "hits": np.add.reduceat(hit.astype(float), starts),
                        "answers": [answers[a:b] for a, b in zip(starts, ends, strict=True)]},
                       index=pd.Index(rid[starts], dtype=object))
    per = per.reindex([r for r in dict.fromkeys(record_ids) if r in per.index])
    n_ok = per["n_votes"].to_numpy(dtype="int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(n_ok > 0, per["hits"].to_numpy(dtype=float) / n_ok, np.nan)
    first = votes.iloc[0]
    out = pd.DataFrame({"record_id": per.index.astype(str), "task": task.name, "task_hash": first["task_hash"],
                        "judge": first["judge"], "scoring": first["scoring"], "n_votes": n_ok,
                        "n_failed": per["n_total"].to_numpy(dtype="int64") - n_ok, "score": score,
                        "label": pd.array(np.where(np.isnan(score), None, score >= threshold), dtype="boolean"),
                        "answers": per["answers"].to_numpy()})
    return out[cols].reset_index(drop=True)


def aggregate_store(store: str | os.PathLike | VoteStore, *, task: str | Path | Task | None = None,
                    judge: str | None = None, scoring: str | None = None, threshold: float = 0.5,
                    votes: int | None = None) -> pd.DataFrame:
    """Per-record labels from a vote store (the same table ``label`` returns).

    A store holding several tasks, prompt versions (hashes), judges or scorings needs ``task=``,
    ``judge=`` and ``scoring=`` to pick one; otherwise the error lists what it holds.
    ``votes`` uses the first ``votes`` vote indices only (default: all).
    """
    vs = store if isinstance(store, VoteStore) else VoteStore(store, readonly=True)
    held = vs.holdings()
    if held.empty:
        raise ValueError(f"{vs.path}: the vote store holds no votes")
    sel = held
    want = None
    if task is not None:
        if not isinstance(task, Task):
            try:
                task = load_task(task)  # a bundled name or a task file: select by its name, then hash
            except TaskError:
                if str(task) not in set(held["task"]):
                    raise
        sel = sel[sel["task"] == (task.name if isinstance(task, Task) else str(task))]
        want = task
    if judge is not None:
        sel = sel[sel["judge"] == judge]
    if scoring is not None:
        sel = sel[sel["scoring"] == scoring]
    if isinstance(want, Task) and sel["task_hash"].nunique() > 1 and want.hash in set(sel["task_hash"]):
        sel = sel[sel["task_hash"] == want.hash]  # several prompt versions: the one named wins
    if len(sel) != 1:
        listing = "\n".join(f"  task={r.task} (hash {r.task_hash}) judge={r.judge} scoring={r.scoring}: "
                            f"{r.records:,} records, {r.votes:,} votes" for r in held.itertuples())
        what = "none matches" if sel.empty else f"{len(sel)} match"
        raise ValueError(f"{vs.path}: the store holds several labellings and {what} the selection "
                         f"(task={task if task is None or isinstance(task, str) else task.name}, judge={judge}, "
                         f"scoring={scoring}); pick one with task=, judge=, scoring= (and for an older "
                         f"prompt version, task=<that task file>):\n{listing}")
    g = sel.iloc[0]
    if not isinstance(want, Task):
        try:
            want = load_task(g["task"])
        except TaskError:
            raise TaskError(f"{vs.path}: the votes are for task {g['task']!r}, which is not bundled; pass "
                            "task=<its TOML file>") from None
    table = vs.table(**{k: g[k] for k in GROUP})
    rids = list(dict.fromkeys(table["record_id"]))
    out = _aggregate(table, rids, want, votes, threshold)
    out.attrs["task"] = want
    return out


# ----------------------------------------------------------------------------- apply
def apply_labels(df: pd.DataFrame, labels, *, task: str | Path | Task | None = None,
                 judge: str | None = None, scoring: str | None = None, threshold: float = 0.5,
                 votes: int | None = None) -> pd.DataFrame:
    """Fill a task's columns of ``df`` from a label table or a vote store, and record the judge.

    Parameters
    ----------
    df : DataFrame
        The table to fill (``record_id``, or the schema's id columns to derive it from).
    labels : DataFrame, str or Path
        What :func:`label` returned, or a vote store path (aggregated with ``threshold`` and
        ``votes``; see :func:`aggregate_store` for ``task``, ``judge``, ``scoring``).
    task : str, Path or Task, optional
        The task the labels are for (default: read from the labels).
    judge, scoring : str, optional
        With a vote store: only the votes of this judge spec / scoring (``"votes"`` or
        ``"logprob"``).
    threshold : float, default 0.5
        With a vote store: a record is labelled positive when its score is at least this.
    votes : int, optional
        With a vote store: use the first ``votes`` votes of each record (default: all).

    Returns
    -------
    DataFrame
        A copy of ``df`` with ``task.column`` (boolean), ``task.score_column`` (float) and
        ``judge`` (e.g. ``af_reasoning=openai/x (20 votes)``; entries of several tasks are kept,
        ``;``-separated) filled for every labelled record. A task with ``only_missing`` never
        overwrites a value already set; a record whose votes all failed is left as it was.
    """
    if isinstance(labels, (str, os.PathLike)):
        labels = aggregate_store(labels, task=task, judge=judge, scoring=scoring, threshold=threshold,
                                 votes=votes)
    if not isinstance(labels, pd.DataFrame):
        raise TypeError(f"labels must be a label table or a vote store path, not {type(labels).__name__}")
    names = sorted(set(labels["task"])) if len(labels) else []
    if len(names) > 1:
        raise ValueError(f"the label table mixes tasks {names}: apply one task at a time")
    if task is not None:
        task = load_task(task)
    else:
        task = labels.attrs.get("task") or (load_task(names[0]) if names else None)
        if task is None:
            raise ValueError("the label table is empty and no task= was given")
    if names and names[0] != task.name:
        raise ValueError(f"the labels are for task {names[0]!r}, not {task.name!r}")

    out = _with_ids(df).copy()
    n = len(out)
    lab = labels.set_index("record_id")
    pos = pd.Index(out["record_id"]).get_indexer(lab.index)
    unknown = int((pos < 0).sum())
    if len(lab) and unknown == len(lab):
        raise ValueError(f"none of the {len(lab):,} labelled records is in the table (is this the log that "
                         "was labelled?)")
    if unknown:
        warnings.warn(f"apply_labels: {unknown:,} labelled record(s) are not in the table (ignored)", stacklevel=2)
    lab, pos = lab[pos >= 0], pos[pos >= 0]

    if task.column not in out.columns:
        out[task.column] = pd.array([pd.NA] * n, dtype="boolean")
    else:
        out[task.column] = out[task.column].astype("boolean")
    col = out[task.column].array.copy()
    take = np.array(lab["label"].notna(), dtype=bool)
    if task.only_missing and len(pos):
        take &= np.asarray(pd.isna(col[pos]), dtype=bool)
    rows, lab = pos[take], lab[take]
    col[rows] = lab["label"].to_numpy(dtype=bool)
    out[task.column] = col
    if task.score_column:
        score = (out[task.score_column].astype("float64").to_numpy(copy=True) if task.score_column in out.columns
                 else np.full(n, np.nan))
        score[rows] = lab["score"].to_numpy(dtype=float)
        out[task.score_column] = score
    judges = (out["judge"].astype(object).where(out["judge"].notna(), None).tolist() if "judge" in out.columns
              else [None] * n)
    for r, entry in zip(rows, _judge_entries(task, lab), strict=True):
        judges[r] = _with_entry(judges[r], task.name, entry)
    out["judge"] = pd.array(judges, dtype="str")
    return out


def _judge_entries(task: Task, lab: pd.DataFrame) -> list[str]:
    out = []
    for spec, scoring, k, f in zip(lab["judge"], lab["scoring"], lab["n_votes"], lab["n_failed"], strict=True):
        how = "logprob" if scoring == "logprob" else f"{k + f} votes"
        out.append(f"{task.name}={spec} ({how})")
    return out


def _with_entry(current: str | None, name: str, entry: str) -> str:
    """``current`` judge string with ``name``'s entry replaced in place by ``entry``, or appended."""
    parts = [p.strip() for p in (current or "").split(";") if p.strip()]
    mine = [i for i, p in enumerate(parts) if p.startswith(f"{name}=")]
    if mine:
        parts = [entry if i == mine[0] else p for i, p in enumerate(parts) if i not in mine[1:]]
    else:
        parts.append(entry)
    return "; ".join(parts)


__all__ = ["label", "apply_labels", "aggregate_store", "vote_seed", "LabelReport", "JudgeFailed", "SCORINGS"]
