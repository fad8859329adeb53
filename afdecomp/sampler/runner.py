"""The resumable runner: the grid, batches, workers and the append-only JSONL log.

The grid is models × scenarios × variants × steering (unsteered, then each vector × coefficient)
× queries × conditions × samples. Each grid point has a stable ``record_id``
(:func:`afdecomp.schema.record_ids` of the identifying fields), so a run that is stopped —
even killed — resumes by skipping the ids already in the log: nothing is lost or written twice.
Only the parent process writes the log, one batch at a time (one write, then flush and fsync);
a final line cut short by a kill is removed before appending. Workers (one per device; several
on the CPU for testing) generate batches and send records back.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import schema
from .._jsonl import JsonlWriter, cut_torn_tail, numbered_lines
from .config import RunConfig, SteeringSpec
from .openai_backend import ServerUnavailable
from .parse import parse_output
from .scenarios import prompt_hash


@dataclass
class Point:
    """One grid point: what to generate (identifying fields plus the query text)."""

    model: str
    scenario: str
    variant: str
    steer: SteeringSpec | None
    steer_coef: float
    condition: str
    query_id: str
    query: str
    sample: int
    record_id: str = ""
    settings_hash: str = ""

    def ids(self) -> dict:
        return {"model": self.model, "scenario": self.scenario, "variant": self.variant,
                "steer_vector": self.steer.vector if self.steer else "none",
                "steer_layer": self.steer.layer if self.steer else None,
                "steer_coef": float(self.steer_coef),
                "oversight": 1.0 if self.condition == "training" else 0.0,
                "condition": self.condition, "query_id": self.query_id, "sample": int(self.sample)}


@dataclass
class RunSummary:
    """What a run did."""

    planned: int
    already_done: int
    written: int = 0
    retries: int = 0
    malformed: int = 0
    labelled_by_tags: int = 0
    tokens: int = 0
    seconds: float = 0.0
    truncated_tail: bool = False
    out: str = ""
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        rate = f"{self.written / self.seconds:.2f} gen/s, {self.tokens / self.seconds:.0f} tok/s" \
            if self.seconds > 0 and self.written else "-"
        lines = [f"grid: {self.planned:,} generations; already in the log: {self.already_done:,}; "
                 f"written now: {self.written:,} ({rate}) -> {self.out}",
                 f"retries for malformed outputs: {self.retries:,}; still malformed: {self.malformed:,}; "
                 f"labelled by output tags: {self.labelled_by_tags:,} (the rest stay unlabelled for a judge)"]
        if self.truncated_tail:
            lines.append("removed a final log line cut short by an earlier interruption")
        return "\n".join(lines + self.notes)


# ----------------------------------------------------------------------------- the grid
def plan(cfg: RunConfig) -> list[Point]:
    """Every grid point of the configuration, in a fixed order, with record ids."""
    steer_opts: list[tuple[SteeringSpec | None, float]] = [(None, 0.0)] if cfg.unsteered else []
    steer_opts += [(s, c) for s in cfg.steering for c in s.coefs]
    hashes = {}
    points = []
    for m in cfg.models:
        for scen in cfg.scenarios:
            for v in cfg.variants:
                for steer, coef in steer_opts:
                    key = (m.name, id(steer))
                    if key not in hashes:
                        hashes[key] = cfg.settings_hash(m, steer)
                    for q in cfg.queries[scen.name]:
                        for cond in cfg.conditions:
                            for k in range(cfg.samples):
                                points.append(Point(m.name, scen.name, v, steer, coef, cond, q.query_id,
                                                    q.text, k, settings_hash=hashes[key]))
    if not points:
        raise ValueError(f"{cfg.path}: the grid is empty (unsteered = false and no [[steering]])")
    ids = schema.record_ids(pd.DataFrame([p.ids() for p in points]))
    for p, rid in zip(points, ids, strict=True):
        p.record_id = rid
    dup = ids[ids.duplicated()]
    if len(dup):
        raise ValueError(f"{cfg.path}: {len(dup)} grid points share a record id (the same query twice, or a "
                         "steering entry repeated?)")
    return points


def record_seed(run_seed: int, record_id: str, attempt: int) -> int:
    """The sampling seed of one attempt at one record (63 bits of a SHA-256)."""
    h = hashlib.sha256(f"{run_seed}|{record_id}|{attempt}".encode()).hexdigest()
    return int(h[:15], 16)


def random_seed_of(name: str) -> int:
    """The seed of a random-control vector name: ``random`` -> 0, ``random-7`` / ``random_7`` -> 7."""
    tail = name[len("random"):].lstrip("-_")
    if not tail:
        return 0
    if not tail.isdigit():
        raise ValueError(f"random control {name!r}: expected random-<integer seed>")
    return int(tail)


# ----------------------------------------------------------------------------- the log
def read_done(path: Path) -> tuple[dict[str, str], bool]:
    """Record ids already in the log (id -> settings hash) and whether a cut-short tail was removed.

    A final line without its newline, or that is not valid JSON, is the trace of a kill during a
    write: it is cut off. A bad line anywhere else is an error naming the line.
    """
    if not path.exists():
        return {}, False
    truncated = cut_torn_tail(path)
    done = {}
    for i, raw in numbered_lines(path):  # streamed: logs can be large
        try:
            rec = json.loads(raw)
            rid = rec["record_id"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}: line {i} is not a sampler record (no JSON object with "
                             "'record_id'); refusing to append to it") from None
        done[rid] = rec.get("settings_hash", "")
    return done, truncated


LogWriter = JsonlWriter  # append-only JSONL: one write per batch, then flush and fsync


# ----------------------------------------------------------------------------- generation
class _Generator:
    """Turns batches of points into records, with one backend per model (loaded on first use)."""

    def __init__(self, cfg: RunConfig, device: str | None):
        self.cfg = cfg
        self.device = device
        self.backend = None
        self.backend_name = None
        self.vectors: dict = {}
        self.scen = {s.name: s for s in cfg.scenarios}
        self.prompts: dict = {}

    def _backend(self, name: str):
        if self.backend_name != name:
            from .backends import load_backend
            self.backend = None  # free the previous model first
            self.vectors = {}
            spec = self.cfg.model(name)
            self.backend = load_backend(spec, self.device, spec.backend)
            self.backend_name = name
        return self.backend

    def _vector(self, steer: SteeringSpec, backend):
        key = (steer.vector, steer.path, steer.layer)
        if key not in self.vectors:
            from .steering import load_vector, random_vector
            if steer.path:
                sv = load_vector(steer.path)
                want = backend.spec.identity() if hasattr(backend, "spec") else None
                if sv.meta.get("model") and want and sv.meta["model"] != want:
                    raise ValueError(f"{steer.path}: built for model {sv.meta['model']!r}, "
                                     f"not {want!r} ({self.backend_name})")
            else:
                sv = random_vector(backend.hidden_size, [steer.layer], random_seed_of(steer.vector),
                                   name=steer.vector)
            vec = sv.at(steer.layer)
            if vec.shape != (backend.hidden_size,):
                raise ValueError(f"steering vector {steer.vector!r} has size {vec.shape[0]}, "
                                 f"model {self.backend_name!r} has hidden size {backend.hidden_size}")
            self.vectors[key] = (vec, sv.content_hash())
        return self.vectors[key]

    def _system(self, scenario: str, variant: str) -> tuple[str, str]:
        key = (scenario, variant)
        if key not in self.prompts:
            text = self.scen[scenario].system_prompt(variant)
            self.prompts[key] = (text, prompt_hash(text))
        return self.prompts[key]

    def run_batch(self, points: list[Point], positions: str) -> list[dict]:
        from .backends import Request, Steer
        cfg = self.cfg
        backend = self._backend(points[0].model)
        reqs, extras = [], []
        for p in points:
            system, phash = self._system(p.scenario, p.variant)
            steer, vhash = None, None
            if p.steer is not None:
                vec, vhash = self._vector(p.steer, backend)
                steer = Steer(p.steer.layer, vec, p.steer_coef)
            user = self.scen[p.scenario].user_message(p.query, p.condition)
            reqs.append(Request(system, user, record_seed(cfg.seed, p.record_id, 0), steer))
            extras.append((phash, vhash))
        attempts = [0] * len(points)
        gens = backend.generate(reqs, cfg.decoding, positions)
        parsed = [parse_output(g.text, self.scen[p.scenario].tags) for g, p in zip(gens, points, strict=True)]
        can_retry = cfg.decoding.temperature > 0  # greedy decoding would repeat the same output
        for attempt in range(1, cfg.retries + 1 if can_retry else 1):
            todo = [i for i, pr in enumerate(parsed) if not pr.well_formed]
            if not todo:
                break
            sub = []
            for i in todo:
                r = reqs[i]
                sub.append(Request(r.system, r.user, record_seed(cfg.seed, points[i].record_id, attempt), r.steer))
            for i, g in zip(todo, backend.generate(sub, cfg.decoding, positions), strict=True):
                gens[i], attempts[i] = g, attempt
                parsed[i] = parse_output(g.text, self.scen[points[i].scenario].tags)
        out = []
        for p, g, pr, a, (phash, vhash) in zip(points, gens, parsed, attempts, extras, strict=True):
            rec = p.ids()
            rec.update(record_id=p.record_id, complied=pr.complied,
                       judge="tags" if pr.complied is not None else None,
                       query=p.query, reasoning=pr.reasoning, response=pr.response, output=g.text,
                       prompt_hash=phash, settings_hash=p.settings_hash, vector_hash=vhash,
                       steer_positions=p.steer.positions if p.steer else None,
                       gen_seed=record_seed(cfg.seed, p.record_id, a), retries=a,
                       malformed=not pr.well_formed, n_tokens=g.n_tokens, stopped=g.stopped)
            out.append(rec)
        return out


def _batches(points: list[Point], batch_size: int) -> list[tuple[str, list[Point]]]:
    """Group by model and steering positions (sorted by prompt size within a group), then chunk."""
    groups: dict[tuple, list[Point]] = {}
    for p in points:
        groups.setdefault((p.model, p.steer.positions if p.steer else "decode"), []).append(p)
    out = []
    for (_, positions), pts in groups.items():
        pts = sorted(pts, key=lambda p: (p.scenario, p.variant, len(p.query)))
        out += [(positions, pts[i:i + batch_size]) for i in range(0, len(pts), batch_size)]
    return out


def _devices(cfg: RunConfig, workers: int) -> list[str]:
    if cfg.devices:
        if len(cfg.devices) < workers:
            raise ValueError(f"{cfg.path}: {workers} workers but only {len(cfg.devices)} devices listed")
        return cfg.devices[:workers]
    import torch
    n = torch.cuda.device_count()
    if n == 0:
        return ["cpu"] * workers
    if workers > n:
        raise ValueError(f"{workers} workers but {n} visible GPU(s): use one worker per GPU")
    return [f"cuda:{i}" for i in range(workers)]


def _worker(cfg: RunConfig, device: str, threads: int | None, tasks, results) -> None:
    """Worker process: take (index, positions, points) tasks until None; send records back."""
    parent = os.getppid()
    try:
        import torch
        if threads:
            torch.set_num_threads(threads)
        gen = _Generator(cfg, device)
        while True:
            task = tasks.get()
            if task is None or os.getppid() != parent:
                break
            idx, positions, pts = task
            results.put(("ok", idx, gen.run_batch(pts, positions)))
    except BaseException:  # noqa: BLE001 — the parent reports it
        results.put(("error", device, traceback.format_exc()))


# ----------------------------------------------------------------------------- the run
def run(cfg: RunConfig, out: str | Path, *, workers: int | None = None, progress: bool = True) -> RunSummary:
    """Generate every grid point not yet in ``out`` and append the records.

    Parameters
    ----------
    cfg : RunConfig
        From :func:`afdecomp.sampler.load_config`.
    out : str or Path
        The JSONL log (created, or resumed when it exists).
    workers : int, optional
        Worker processes, one per device (default: ``cfg.workers``). With one worker the
        generation runs in this process.
    progress : bool
        Show a progress bar with generations/s and tokens/s.

    Raises
    ------
    ValueError
        When the log holds records of this grid made with other settings (model, decoding,
        retries or steering vector changed): write to a new log instead.
    ServerUnavailable
        When the server of an ``openai`` model stops answering: the batches written stay in
        the log, and running the same command again resumes.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    points = plan(cfg)
    done, truncated = read_done(out)
    changed = [p for p in points if p.record_id in done and done[p.record_id] != p.settings_hash]
    if changed:
        raise ValueError(f"{out}: {len(changed)} record(s) of this grid were written with other settings "
                         f"(e.g. {changed[0].record_id}: model/decoding/retries/vector changed); "
                         "write to a new --out")
    pending = [p for p in points if p.record_id not in done]
    summary = RunSummary(planned=len(points), already_done=len(points) - len(pending),
                         truncated_tail=truncated, out=str(out))
    extra = len(set(done) - {p.record_id for p in points})
    if extra:
        summary.notes.append(f"the log also holds {extra:,} record(s) from outside this grid (kept)")
    if not pending:
        return summary
    batches = _batches(pending, cfg.batch_size)
    workers = workers or cfg.workers
    writer = LogWriter(out)
    t0 = time.perf_counter()
    bar = tqdm(total=len(pending), unit="gen", desc="generating", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)

    def record(recs: list[dict]) -> None:
        writer.write(recs)
        summary.written += len(recs)
        summary.tokens += sum(r["n_tokens"] for r in recs)
        summary.retries += sum(r["retries"] for r in recs)
        summary.malformed += sum(bool(r["malformed"]) for r in recs)
        summary.labelled_by_tags += sum(r["complied"] is not None for r in recs)
        dt = time.perf_counter() - t0
        bar.update(len(recs))
        bar.set_postfix_str(f"{summary.written / dt:.2f} gen/s, {summary.tokens / dt:.0f} tok/s")

    try:
        if workers == 1:
            gen = _Generator(cfg, cfg.devices[0] if cfg.devices else None)
            for positions, pts in batches:
                record(gen.run_batch(pts, positions))
        else:
            _run_parallel(cfg, batches, workers, record)
    except ServerUnavailable as e:
        kept = summary.already_done + summary.written
        raise ServerUnavailable(f"{e}; {kept:,} of {summary.planned:,} records are in {out} and stay there: "
                                "re-run the same command to resume") from None
    finally:
        bar.close()
        writer.close()
        summary.seconds = time.perf_counter() - t0
    return summary


def _run_parallel(cfg: RunConfig, batches, workers: int, record) -> None:
    import multiprocessing as mp
    import queue

    devices = _devices(cfg, workers)
    threads = max(1, (os.cpu_count() or 1) // workers) if devices[0] == "cpu" else None
    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for i, (positions, pts) in enumerate(batches):
        tasks.put((i, positions, pts))
    for _ in range(workers):
        tasks.put(None)
    procs = [ctx.Process(target=_worker, args=(cfg, d, threads, tasks, results), daemon=True) for d in devices]
    for p in procs:
        p.start()
    try:
        remaining = len(batches)
        while remaining:
            try:
                msg = results.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a worker process died (exit code {dead[0].exitcode})") from None
                continue
            if msg[0] == "error":
                raise RuntimeError(f"worker on {msg[1]} failed:\n{msg[2]}")
            record(msg[2])
            remaining -= 1
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=10)
