"""The planning sweep: replicate studies per design, fitted in parallel, summed up per claim.

For each candidate design, ``replicates`` studies are drawn from the assumed truth
(:mod:`afdecomp.planning.worlds`) and fitted, and each question's claims are recorded
(:mod:`afdecomp.planning.questions`). :class:`PlanResults` adds them up: per design, question,
model and target, how often the study makes the claim with the right sign (power), how wide its
interval is, how often it covers the study's true value, and how often it claims the wrong sign,
each with its Monte Carlo standard error.

Replicates run on local processes or on any executor with ``submit(fn, arg) -> future`` and
``future.result()`` (``concurrent.futures``, or a ``dask.distributed.Client``), and a sweep with
``store=`` resumes from its finished replicates. Seeds come from ``(seed, design, replicate)``,
so the numbers do not depend on the executor.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .questions import METHODS, QUESTIONS, claims
from .worlds import DESIGN_DEFAULTS, STRUCTURAL_KEYS, design_label, design_settings, variants, world

RECORD = ["question", "model", "target", "truth", "estimand", "estimate", "lo", "hi", "claim"]


def local_pool(workers: int):
    """A pool of ``workers`` local processes started by forkserver (spawn where there is none),
    not fork: the parent may run threads (numba, BLAS), and a forked child can deadlock on their
    locks. Workers import the calling script, so a script calls :func:`plan` under
    ``if __name__ == "__main__":``."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


def _seed(seed: int, design: int, replicate: int) -> int:
    return int(np.random.SeedSequence([seed, design, replicate]).generate_state(1)[0])


def _run_one(task: tuple) -> dict:
    """Draw and fit one replicate; a JSON-able record (runs in a worker)."""
    key, design, wld, questions, method, ci_prob, seed, fit_kwargs = task
    rep = wld.draw(design, seed)
    rows = claims(rep, questions, method, ci_prob, seed % (2 ** 31), fit_kwargs)
    rows["claim"] = rows["claim"].astype("boolean").fillna(False).astype(bool)
    rows = rows[RECORD].astype(object).where(rows[RECORD].notna(), None)
    return {"key": list(key), "generations": rep.generations, "rows": rows.to_dict("records")}


def _settings_hash(designs, wld, questions, method, ci_prob, seed, fit_kwargs) -> str:
    blob = json.dumps({"designs": designs, "truth": wld.fingerprint(), "questions": sorted(questions),
                       "method": method, "ci_prob": ci_prob, "seed": seed, "fit_kwargs": fit_kwargs},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read_store(path: Path, settings: str) -> dict:
    """Finished replicates of an earlier run of the same sweep; a torn last line is redone."""
    done = {}
    if not path.exists():
        return done
    lines = path.read_text().splitlines()
    if not lines:
        return done
    head = json.loads(lines[0])
    if head.get("settings") != settings:
        raise ValueError(f"{path}: written by a different sweep (designs, truth, questions, method, ci_prob, "
                         f"seed or fit settings differ); use a new store file")
    for i, line in enumerate(lines[1:], start=2):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines):     # the line a killed run was writing: drop it, redo that replicate
                path.write_text("".join(line + "\n" for line in lines[:-1]))
                break
            raise ValueError(f"{path}, line {i}: not a JSON record") from None
        done[tuple(rec["key"])] = rec
    return done


def _rate_se(p: pd.Series, n: pd.Series) -> pd.Series:
    return np.sqrt(p * (1 - p) / n)


@dataclass
class PlanResults:
    """A finished sweep: every replicate's claims and what they add up to (:meth:`summary`).

    Parameters
    ----------
    replicates : DataFrame
        One row per design, replicate, question, model and target: ``generations`` of the
        study, ``truth`` (the true value; its sign is a right claim's), ``estimand`` (the true
        value averaged over the study's own queries), ``estimate``, ``lo``, ``hi`` (NaN where
        the estimator gave no interval) and ``claim``.
    designs : list of dict
        The designs, in the order of the ``design`` index.
    method : str
        The estimator of the gap question.
    ci_prob : float
        Probability of the intervals.
    """

    replicates: pd.DataFrame
    designs: list[dict]
    method: str
    ci_prob: float

    def summary(self) -> pd.DataFrame:
        """Per design, question, model and target: power, width, coverage and wrong-sign rate.

        ``power`` is the share of replicates that make the claim with the true value's sign
        (for a true value of 0, or a question without a sign such as ``"identified"``: the
        share that make it at all, for 0 the test's size); ``wrong_sign`` the share that make it
        with the other sign (NaN where no true value has a sign); ``width`` the mean interval
        width; ``coverage`` the share of intervals that hold the study's estimand; a replicate
        without an interval makes no claim (``no_interval`` counts them). Monte Carlo standard
        errors: binomial, √(p(1 − p)/R), for the rates; SD/√R for the width. ``truth`` is the mean true value (it varies across replicates
        when the truth is a pilot fit's posterior) and ``estimate`` the mean estimate (for
        ``"identified"``: the mean of the larger posterior-to-prior SD ratio of S and log g).
        """
        r = self.replicates.copy()
        has = r["lo"].notna() & r["hi"].notna()
        claim = r["claim"].astype(bool)
        sign = np.sign(r["truth"])
        signed = sign.notna() & (sign != 0)
        right = claim & (~signed | (np.sign(r["estimate"]) == sign))
        r["power"] = right.astype(float)
        r["wrong_sign"] = np.where(signed, (claim & ~right).astype(float), np.nan)
        r["width"] = (r["hi"] - r["lo"]).where(has)
        r["no_interval"] = (~has & (r["question"] != "identified")).astype(int)   # "identified" has none to give
        r["covered"] = ((r["lo"] <= r["estimand"]) & (r["estimand"] <= r["hi"])).astype(float).where(
            has & r["estimand"].notna())
        keys = ["design", "question", "model", "target"]
        g = r.groupby(keys, sort=True)
        out = g.agg(truth=("truth", "mean"), estimate=("estimate", "mean"), power=("power", "mean"),
                    width=("width", "mean"), width_sd=("width", "std"), widths=("width", "count"),
                    coverage=("covered", "mean"), wrong_sign=("wrong_sign", "mean"),
                    replicates=("replicate", "nunique"), generations=("generations", "mean"),
                    no_interval=("no_interval", "sum")).reset_index()
        n = out["replicates"]
        out["power_se"] = _rate_se(out["power"], n)
        out["wrong_sign_se"] = _rate_se(out["wrong_sign"], n)
        out["width_se"] = out.pop("width_sd") / np.sqrt(out.pop("widths"))
        covered = r["covered"].notna().groupby([r[k] for k in keys]).sum().to_numpy()
        out["coverage_se"] = _rate_se(out["coverage"], pd.Series(covered, index=out.index).where(lambda x: x > 0))
        out["generations"] = out["generations"].round().astype(np.int64)
        d = pd.DataFrame([{k: v[k] for k in DESIGN_DEFAULTS} for v in self.designs])
        extra = [k for k in STRUCTURAL_KEYS if any(k in v for v in self.designs)]
        for k in extra:
            d[k] = [design_label(v, k) for v in self.designs]
        d["design"] = range(len(self.designs))
        out = d.merge(out, on="design")
        order = {q: i for i, q in enumerate(QUESTIONS)}
        out = out.sort_values(["design", "question", "model", "target"], key=lambda c: c.map(order) if c.name == "question" else c)
        cols = ["design", *DESIGN_DEFAULTS, *extra, "generations", "question", "model", "target", "truth", "estimate", "power",
                "power_se", "width", "width_se", "coverage", "coverage_se", "wrong_sign", "wrong_sign_se", "replicates",
                "no_interval"]
        return out[cols].reset_index(drop=True)

    def cheapest(self, target: float = 0.8, question: str | None = None) -> pd.DataFrame:
        """Per question, model and target, the summary row of the cheapest design (fewest
        generations) whose power reaches ``target``; one that no design reaches gets a row of NaN
        (a bigger design is needed). Power is the Monte Carlo estimate: read ``power_se`` next to it.

        Parameters
        ----------
        target : float, default 0.8
            The power wanted.
        question : str, optional
            Only this question's rows.

        Returns
        -------
        DataFrame
            One row per question, model and target.
        """
        s = self.summary()
        if question is not None:
            s = s[s["question"] == question]
        return _cheapest(s, target)

    def plot(self, **kwargs):
        """:func:`afdecomp.plot.power` of this plan; returns the matplotlib Axes."""
        from ..plot.planning import power
        return power(self, **kwargs)


def _cheapest(summary: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per question, model and target, the design with the fewest generations whose power reaches ``target``."""
    keys = ["question", "model", "target"]
    ok = summary[summary["power"] >= target].sort_values(["generations", "design"])
    best = ok.groupby(keys, sort=True).head(1).set_index(keys)
    every = summary[keys].drop_duplicates().sort_values(keys)
    return best.reindex(pd.MultiIndex.from_frame(every)).reset_index()[summary.columns]


def plan(designs: list[dict], truth, questions=("gap",), replicates: int = 200, method: str = "fast",
         seed: int = 0, executor=None, store: str | os.PathLike | None = None, ci_prob: float = 0.94,
         progress: bool | None = None, fit_kwargs: dict | None = None) -> PlanResults:
    """Simulate ``replicates`` studies per design from ``truth``, fit each, and collect the claims.

    Parameters
    ----------
    designs : list of dict
        Candidate designs: ``n_queries`` and ``n_samples`` (per query and tier), and with a
        rational-agent truth also ``variants`` (prompt variants, default ``["default"]``),
        ``steering`` (a sweep as :func:`afdecomp.simulate` takes it: ``[{"vector": ..., "layer":
        ..., "coefs": [...]}]``) and ``models`` (a subset of the truth's models).
    truth : dict, DataFrame, Truth or Results
        Per-model ``gap`` and ``deployment_rate`` (and optionally ``query_sd``; see
        :func:`afdecomp.planning.truth_table`); the :class:`~afdecomp.simulate.Truth` of
        :func:`afdecomp.simulate` (or a table of its parameters b, V, S, g, ...); or a fitted
        :class:`~afdecomp.RationalResults` or :class:`~afdecomp.GapResults`, whose posterior
        draws each replicate samples from.
    questions : sequence of str
        ``"gap"`` (the default prompt's gap is non-zero), ``"shares"`` (goal-guarding share
        exceeds sycophancy share), ``"steering"`` (a vector's effect beats its random control),
        ``"identified"`` (S and g separately identified); the last three need a rational-agent
        truth (docs/planning.md).
    replicates : int
        Studies simulated per design.
    method : {"fast", "glm", "nuts"}
        The estimator of the gap question: the gap model's Laplace approximation
        (:func:`afdecomp.laplace_gap`), the papers' GLM (:func:`afdecomp.glm_gap`) or NUTS
        (:class:`afdecomp.ComplianceGap`). The other questions fit :class:`afdecomp.RationalAgent`.
    seed : int
        Replicate ``r`` of design ``d`` is drawn with the seed ``(seed, d, r)``: the same numbers
        on any executor, and a resumed sweep equals an uninterrupted one.
    executor : optional
        Anything with ``submit(fn, task)`` returning a future with ``result()``
        (``concurrent.futures`` executors, a ``dask.distributed.Client``); default: local
        processes, one per core.
    store : path, optional
        A JSON-lines file that receives each finished replicate; a sweep started again with the
        same file and settings skips those (a file of another sweep raises).
    ci_prob : float
        Probability of the intervals.
    progress : bool, optional
        A progress bar (default: on a terminal).
    fit_kwargs : dict, optional
        ``{"gap": {...}, "rational": {...}}``: keyword arguments of the gap estimator and of
        :class:`afdecomp.RationalAgent` (e.g. ``{"rational": {"draws": 500}}``).

    Returns
    -------
    PlanResults
        ``.summary()``: design, question, model, power, power_se, width, coverage, wrong_sign, ...
    """
    questions = list(questions)
    bad = [q for q in questions if q not in QUESTIONS]
    if bad:
        raise ValueError(f"unknown question(s) {bad}; available: {list(QUESTIONS)}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if not designs:
        raise ValueError("designs is empty: give at least one design")
    fit_kwargs = dict(fit_kwargs or {})
    unknown = set(fit_kwargs) - {"gap", "rational"}
    if unknown:
        raise ValueError(f"fit_kwargs keys are 'gap' and 'rational', not {sorted(unknown)}")
    designs = [design_settings(d) for d in designs]
    wld = world(truth)
    cannot = [q for q in questions if q not in wld.questions]
    if cannot:
        raise ValueError(f"question(s) {cannot} need a rational-agent truth (afd.simulate's Truth, a table of "
                         f"b, V, S, g, or a RationalResults); this truth only knows each model's gap")
    for i, d in enumerate(designs):
        try:
            wld.check(d)
        except (KeyError, ValueError) as e:
            raise ValueError(f"design {i}: {e}") from None
        if "gap" in questions and "default" not in variants(d):
            raise ValueError(f"design {i}: the gap question is asked of the 'default' prompt, which it lacks")
        if "steering" in questions and not d.get("steering"):
            raise ValueError(f"design {i}: the steering question needs a steering sweep in the design")
    settings = _settings_hash(designs, wld, questions, method, ci_prob, seed, fit_kwargs)
    path = Path(store) if store is not None else None
    done = _read_store(path, settings) if path is not None else {}
    tasks = [((i, r), d, wld, questions, method, ci_prob, _seed(seed, i, r), fit_kwargs)
             for i, d in enumerate(designs) for r in range(int(replicates)) if (i, r) not in done]
    out = dict(done)
    if tasks:
        own = executor is None
        pool = executor
        if own:
            pool = local_pool(min(len(tasks), os.cpu_count() or 1))
        fh = None
        if path is not None:
            new = not path.exists() or path.stat().st_size == 0
            fh = path.open("a")
            if new:
                fh.write(json.dumps({"settings": settings}) + "\n")
        try:
            futures = [pool.submit(_run_one, task) for task in tasks]
            from tqdm.auto import tqdm
            bar = progress if progress is not None else sys.stderr.isatty()
            for fut in tqdm(futures, desc="plan replicates", disable=not bar):
                try:
                    rec = fut.result()
                except BrokenProcessPool as e:
                    raise RuntimeError(
                        "plan: a worker process died. Local processes start afresh and import the "
                        "calling script, so a script must call plan() under `if __name__ == \"__main__\":`; "
                        "or pass an executor (a ThreadPoolExecutor, a dask Client). Finished replicates "
                        "are kept when store= is given.") from e
                out[tuple(rec["key"])] = rec
                if fh is not None:
                    fh.write(json.dumps(rec) + "\n")
                    fh.flush()
        finally:
            if fh is not None:
                fh.close()
            if own:
                pool.shutdown(cancel_futures=True)
    rows = [dict(row, design=k[0], replicate=k[1], generations=rec["generations"])
            for k, rec in sorted(out.items()) for row in rec["rows"]]
    table = pd.DataFrame(rows, columns=["design", "replicate", "generations", *RECORD])
    table = table.astype({c: float for c in ("truth", "estimand", "estimate", "lo", "hi")} | {"claim": bool})
    return PlanResults(table, designs, method, ci_prob)
