"""Plan a study before running it (docs/planning.md): power, interval width and wrong-sign rate.

For each candidate design, replicate studies are simulated from an assumed truth, each is fitted,
and for each question and model the sweep reports how often the study would make the claim
(power), how wide its interval would be, and how often the claim would have the wrong sign, each
with its Monte Carlo standard error.

This is the first part of issue #18: the truth is given per model as reduced-form numbers
(deployment rate and gap, optionally a query spread), the question is ``"gap"`` (is the model's
gap non-zero: its interval excludes 0), the estimators are ``"glm"`` (the statsmodels
cluster-robust GLM of :func:`afdecomp.glm_gap`, milliseconds per replicate) and ``"nuts"``
(:class:`afdecomp.ComplianceGap`). Replicates run on local processes or on any executor with
``submit(fn, arg) -> future`` and ``future.result()`` (``concurrent.futures``, or a
``dask.distributed.Client``), and a sweep with ``store=`` resumes from its finished replicates.
Seeds come from ``(seed, design, replicate)``, so the numbers do not depend on the executor.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit

#: Questions a plan can answer.
QUESTIONS = ("gap",)

#: Estimators a replicate can be fitted with.
METHODS = ("glm", "nuts")

#: Design settings and their defaults.
DESIGN_DEFAULTS = {"n_queries": 50, "n_samples": 5}


def truth_table(truth) -> pd.DataFrame:
    """The assumed truth as a table: one row per model with ``deployment_rate``, ``gap`` and
    ``query_sd`` (the SD of query difficulty on the logit scale, default 0).

    ``truth`` is ``{model: {"gap": ..., "deployment_rate": ...}}`` or a DataFrame with a
    ``model`` column (or index) and those columns. Rates outside [0, 1] in either tier raise,
    naming the model.
    """
    if isinstance(truth, dict):
        t = pd.DataFrame.from_dict(truth, orient="index")
        t.index.name = "model"
        t = t.reset_index()
    elif isinstance(truth, pd.DataFrame):
        t = truth.reset_index() if "model" not in truth.columns else truth.copy()
    else:
        raise TypeError(f"truth must be a dict of per-model numbers or a DataFrame, not {type(truth).__name__}")
    missing = [c for c in ("model", "gap", "deployment_rate") if c not in t.columns]
    if missing:
        raise ValueError(f"truth lacks {missing}; give each model its 'gap' and 'deployment_rate'")
    if "query_sd" not in t.columns:
        t["query_sd"] = 0.0
    t["model"] = t["model"].astype(str)
    for r in t.itertuples():
        for name, rate in (("deployment_rate", r.deployment_rate), ("deployment_rate + gap", r.deployment_rate + r.gap)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"truth for model {r.model!r}: {name} = {rate:g} is not a rate in [0, 1]")
        if r.query_sd < 0:
            raise ValueError(f"truth for model {r.model!r}: query_sd = {r.query_sd:g} is negative")
    return t[["model", "deployment_rate", "gap", "query_sd"]].reset_index(drop=True)


def _design(d: dict) -> dict:
    unknown = set(d) - set(DESIGN_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown design setting(s) {sorted(unknown)}; known: {sorted(DESIGN_DEFAULTS)}")
    out = {**DESIGN_DEFAULTS, **d}
    for k, v in out.items():
        if int(v) != v or v < 1:
            raise ValueError(f"design setting {k} = {v!r} must be a positive integer")
        out[k] = int(v)
    return out


def replicate_cells(design: dict, truth: pd.DataFrame, seed) -> pd.DataFrame:
    """One simulated study as binomial cells (model × query × tier, ``n`` = samples per query).

    Query difficulty ``u_q ~ N(0, query_sd)`` shifts both tiers of a model on the logit scale
    (with ``query_sd`` 0 every generation is an independent Bernoulli draw at the tier's rate).
    """
    d = _design(design)
    rng = np.random.default_rng(seed)
    Q, S = d["n_queries"], d["n_samples"]
    queries = np.array([f"q{i:04d}" for i in range(Q)])
    parts = []
    for r in truth.itertuples():
        u = rng.normal(0.0, r.query_sd, Q) if r.query_sd > 0 else np.zeros(Q)
        for condition, rate in (("deployment", r.deployment_rate), ("training", r.deployment_rate + r.gap)):
            p = expit(logit(rate) + u) if r.query_sd > 0 else np.full(Q, rate)
            parts.append(pd.DataFrame({"model": r.model, "variant": "default", "query_id": queries,
                                       "condition": condition, "n": S, "k": rng.binomial(S, p)}))
    return pd.concat(parts, ignore_index=True)


def _fit(cells: pd.DataFrame, method: str, ci_prob: float, seed: int) -> pd.DataFrame:
    """Per model: the estimated gap and its interval (NaN where the estimator gives none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # a tier at 0% or 100%: no GLM interval (counted as no claim)
        if method == "glm":
            from .models.glm import glm_gap
            s = glm_gap(cells, ci_prob=ci_prob)
        else:
            from .models.gap import ComplianceGap
            s = ComplianceGap(random_seed=seed, progress=False, hdi_prob=ci_prob).fit(cells).summary()
    return s[["model", "gap", "gap_lo", "gap_hi"]].astype({"model": str})


def _seed(seed: int, design: int, replicate: int) -> int:
    return int(np.random.SeedSequence([seed, design, replicate]).generate_state(1)[0])


def _run_one(task: tuple) -> dict:
    """Simulate and fit one replicate; a JSON-able record (runs in a worker)."""
    key, design, truth_records, method, ci_prob, seed = task
    truth = pd.DataFrame.from_records(truth_records)
    fit = _fit(replicate_cells(design, truth, seed), method, ci_prob, seed % (2 ** 31))
    rows = truth[["model", "gap"]].rename(columns={"gap": "true_gap"}).merge(fit, on="model", how="left")
    return {"key": list(key), "rows": rows.replace({np.nan: None}).to_dict("records")}


def _settings_hash(designs, truth: pd.DataFrame, method, ci_prob, seed) -> str:
    blob = json.dumps({"designs": designs, "truth": truth.to_dict("records"), "method": method,
                       "ci_prob": ci_prob, "seed": seed}, sort_keys=True, default=float)
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
        raise ValueError(f"{path}: written by a different sweep (designs, truth, method, ci_prob or seed "
                         f"differ); use a new store file")
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


@dataclass
class PlanResults:
    """A finished sweep: every replicate's estimates and what they add up to (:meth:`summary`).

    Parameters
    ----------
    replicates : DataFrame
        One row per design, replicate and model: design, replicate, model, true_gap, gap,
        gap_lo, gap_hi (NaN where the estimator gave no interval).
    designs : list of dict
        The designs, in the order of the ``design`` index.
    method : str
        The estimator fitted to each replicate.
    ci_prob : float
        Probability of the intervals.
    """

    replicates: pd.DataFrame
    designs: list[dict]
    method: str
    ci_prob: float

    def summary(self) -> pd.DataFrame:
        """Per design, question and model: power, power_se, width, wrong_sign, wrong_sign_se.

        A claim is an interval that excludes 0. ``power`` is the share of replicates that make
        it with the true gap's sign (for a true gap of 0: the share that make it at all, the
        test's size); ``wrong_sign`` the share that make it with the other sign (NaN for a true
        gap of 0); ``width`` the mean interval width; a replicate without an interval (a tier at
        0% or 100% under the GLM) makes no claim. Standard errors are binomial, √(p(1 − p)/R).
        """
        r = self.replicates.copy()
        has = r["gap_lo"].notna() & r["gap_hi"].notna()
        claim = has & ((r["gap_lo"] > 0) | (r["gap_hi"] < 0))
        sign = np.sign(r["true_gap"])
        right = claim & ((sign == 0) | (np.sign(r["gap"]) == sign))
        r["power"] = right.astype(float)
        r["wrong_sign"] = np.where(sign == 0, np.nan, (claim & ~right).astype(float))
        r["width"] = (r["gap_hi"] - r["gap_lo"]).where(has)
        g = r.groupby(["design", "model"], sort=True)
        out = g.agg(true_gap=("true_gap", "first"), power=("power", "mean"), width=("width", "mean"),
                    wrong_sign=("wrong_sign", "mean"), replicates=("replicate", "nunique"),
                    no_interval=("width", lambda x: int(x.isna().sum()))).reset_index()
        n = out["replicates"]
        out["power_se"] = np.sqrt(out["power"] * (1 - out["power"]) / n)
        out["wrong_sign_se"] = np.sqrt(out["wrong_sign"] * (1 - out["wrong_sign"]) / n)
        designs = pd.DataFrame(self.designs).assign(design=range(len(self.designs)))
        designs["generations"] = 2 * self.replicates["model"].nunique() * designs["n_queries"] * designs["n_samples"]
        out = designs.merge(out, on="design")
        out["question"] = "gap"
        cols = ["design", *DESIGN_DEFAULTS, "generations", "question", "model", "true_gap", "power", "power_se", "width",
                "wrong_sign", "wrong_sign_se", "replicates", "no_interval"]
        return out[cols]

    def cheapest(self, target: float = 0.8) -> pd.DataFrame:
        """Per model, the summary row of the cheapest design (fewest generations) whose power
        reaches ``target``; a model no design reaches gets a row of NaN (a bigger design is needed).
        Power is the Monte Carlo estimate: read ``power_se`` next to it."""
        return _cheapest(self.summary(), target)

    def plot(self, **kwargs):
        """:func:`afdecomp.plot.power` of this plan; returns the matplotlib Axes."""
        from .plot.planning import power
        return power(self, **kwargs)


def _cheapest(summary: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per model, the design with the fewest generations whose power reaches ``target``."""
    ok = summary[summary["power"] >= target].sort_values(["generations", "design"])
    best = ok.groupby("model", sort=True).head(1).set_index("model")
    return best.reindex(sorted(summary["model"].unique())).reset_index()


def plan(designs: list[dict], truth, questions=("gap",), replicates: int = 200, method: str = "glm",
         seed: int = 0, executor=None, store: str | os.PathLike | None = None, ci_prob: float = 0.94,
         progress: bool | None = None) -> PlanResults:
    """Simulate ``replicates`` studies per design from ``truth``, fit each, and collect the claims.

    Parameters
    ----------
    designs : list of dict
        Candidate designs, each with ``n_queries`` and ``n_samples`` (per query and tier).
    truth : dict or DataFrame
        Per model ``gap`` and ``deployment_rate`` (and optionally ``query_sd``); see :func:`truth_table`.
    questions : sequence of str
        What to ask of each replicate; ``"gap"`` (is the model's gap non-zero).
    replicates : int
        Studies simulated per design.
    method : {"glm", "nuts"}
        The estimator fitted to each replicate.
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

    Returns
    -------
    PlanResults
        ``.summary()``: design, question, model, power, power_se, width, wrong_sign, ...
    """
    bad = [q for q in questions if q not in QUESTIONS]
    if bad:
        raise ValueError(f"unknown question(s) {bad}; available: {list(QUESTIONS)}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if not designs:
        raise ValueError("designs is empty: give at least one design")
    designs = [_design(d) for d in designs]
    t = truth_table(truth)
    records = t.to_dict("records")
    settings = _settings_hash(designs, t, method, ci_prob, seed)
    path = Path(store) if store is not None else None
    done = _read_store(path, settings) if path is not None else {}
    tasks = [((i, r), d, records, method, ci_prob, _seed(seed, i, r))
             for i, d in enumerate(designs) for r in range(int(replicates)) if (i, r) not in done]
    out = dict(done)
    if tasks:
        own = executor is None
        pool = executor
        if own:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor
            # not fork: the parent may run threads (numba, BLAS), and a forked child can deadlock on their locks
            ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
            pool = ProcessPoolExecutor(max_workers=min(len(tasks), os.cpu_count() or 1), mp_context=ctx)
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
    rows = [dict(row, design=k[0], replicate=k[1]) for k, rec in sorted(out.items()) for row in rec["rows"]]
    table = pd.DataFrame(rows, columns=["design", "replicate", "model", "true_gap", "gap", "gap_lo", "gap_hi"])
    table = table.astype({"gap": float, "gap_lo": float, "gap_hi": float})
    return PlanResults(table, designs, method, ci_prob)
