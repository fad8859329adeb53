"""What a plan assumes is true, and the replicate studies drawn from it.

Three kinds of truth, each a *world* that draws one simulated study for a design and a seed:

- per-model reduced-form numbers (``deployment_rate``, ``gap``, optionally ``query_sd``): binomial
  cells at those query-averaged rates; only the gap question can be asked of them;
- the :class:`~afdecomp.simulate.Truth` of :func:`afdecomp.simulate` (or any table of the
  rational-agent parameters): studies drawn by ``simulate`` with those parameters, new queries
  each time, and any prompt variants and steering sweep the design names;
- a fitted results object: each replicate first draws one posterior draw, then a study from it
  (a :class:`~afdecomp.RationalResults` gives the rational-agent world, a
  :class:`~afdecomp.GapResults` the reduced-form one), so the uncertainty about the effect sizes
  is carried into the power.

Each replicate also carries its *facts*: per question, model and target the true value (whose
sign a right claim has) and the estimand of that very study (its true value averaged over the
queries it drew, which the estimators report and the intervals should cover).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit

#: Design settings every kind of truth takes, and their defaults.
DESIGN_DEFAULTS = {"n_queries": 50, "n_samples": 5}
#: Design settings of the rational-agent worlds (prompt variants, a steering sweep, a subset of models).
STRUCTURAL_KEYS = ("variants", "steering", "models")

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(40)     # ∫ f(z) φ(z) dz ≈ Σ w f(x) / √(2π)
_GH_W = _GH_W / _GH_W.sum()


@dataclass
class Replicate:
    """One simulated study: its binomial cells and what is true of it."""

    cells: pd.DataFrame
    facts: pd.DataFrame          # question, model, target, truth, estimand
    generations: int
    catalog: object = None


def design_settings(d: dict) -> dict:
    """A design with its defaults, checked (positive integer sizes; known keys)."""
    known = set(DESIGN_DEFAULTS) | set(STRUCTURAL_KEYS)
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown design setting(s) {sorted(unknown)}; known: {sorted(known)}")
    out = {**DESIGN_DEFAULTS, **d}
    for k in DESIGN_DEFAULTS:
        v = out[k]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer)) or int(v) != v or v < 1:
            raise ValueError(f"design setting {k} = {v!r} must be a positive integer")
        out[k] = int(v)
    if "variants" in out:
        out["variants"] = [out["variants"]] if isinstance(out["variants"], str) else [str(v) for v in out["variants"]]
    if "models" in out:
        out["models"] = [str(m) for m in out["models"]]
    if "steering" in out:
        out["steering"] = [dict(s) for s in out["steering"]]
    return out


def variants(design: dict) -> list[str]:
    """The design's prompt variants (default: the default prompt alone)."""
    return design.get("variants", ["default"])


def design_label(d: dict, key: str) -> str:
    """A short text for a structural design setting (its column in the summary)."""
    v = d.get(key)
    if v is None:
        return "default" if key == "variants" else ("none" if key == "steering" else "all")
    if key == "steering":
        return "; ".join(f"{s['vector']} α={','.join(f'{a:g}' for a in s['coefs'])}" for s in v) or "none"
    return "+".join(v)


# ----------------------------------------------------------------------------- reduced form
def truth_table(truth) -> pd.DataFrame:
    """The assumed reduced-form truth as a table: one row per model with ``deployment_rate``,
    ``gap`` and ``query_sd`` (the SD of query difficulty on the logit scale, default 0).

    ``truth`` is ``{model: {"gap": ..., "deployment_rate": ...}}`` or a DataFrame with a
    ``model`` column (or index) and those columns. The rates are averages over queries (with a
    query spread, the rate of the average query differs from them). Rates outside [0, 1] in
    either tier raise, naming the model.
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
    t["query_sd"] = t["query_sd"].fillna(0.0) if "query_sd" in t.columns else 0.0
    t["model"] = t["model"].astype(str)
    for r in t.itertuples():
        for name, rate in (("deployment_rate", r.deployment_rate), ("deployment_rate + gap", r.deployment_rate + r.gap)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"truth for model {r.model!r}: {name} = {rate:g} is not a rate in [0, 1]")
        if r.query_sd < 0:
            raise ValueError(f"truth for model {r.model!r}: query_sd = {r.query_sd:g} is negative")
    return t[["model", "deployment_rate", "gap", "query_sd"]].reset_index(drop=True)


def _location(rate: float, sd: float) -> float:
    """The logit location a with E[σ(a + sd·Z)] = rate (Z standard normal); ±inf at 0 and 1."""
    if rate <= 0.0 or rate >= 1.0:
        return -np.inf if rate <= 0.0 else np.inf
    if sd == 0:
        return float(logit(rate))
    return brentq(lambda a: float(_GH_W @ expit(a + sd * _GH_X)) - rate, -40.0, 40.0, xtol=1e-12)


def replicate_cells(design: dict, truth: pd.DataFrame, seed) -> pd.DataFrame:
    """One simulated reduced-form study as binomial cells (model × query × tier, ``n`` = samples).

    Query difficulty ``u_q ~ N(0, query_sd)`` shifts both tiers of a model on the logit scale,
    around locations chosen so that the rates averaged over queries are the truth's; with
    ``query_sd`` 0 every generation is an independent Bernoulli draw at the tier's rate. The
    cells' ``attrs["estimand"]`` holds each model's true gap averaged over the queries drawn.
    """
    d = design_settings(design)
    rng = np.random.default_rng(seed)
    Q, S = d["n_queries"], d["n_samples"]
    queries = np.array([f"q{i:04d}" for i in range(Q)])
    parts, estimand = [], {}
    for r in truth.itertuples():
        u = rng.normal(0.0, r.query_sd, Q) if r.query_sd > 0 else np.zeros(Q)
        p = {}
        for condition, rate in (("deployment", r.deployment_rate), ("training", r.deployment_rate + r.gap)):
            p[condition] = expit(_location(rate, r.query_sd) + u)
            parts.append(pd.DataFrame({"model": r.model, "variant": "default", "query_id": queries,
                                       "condition": condition, "n": S, "k": rng.binomial(S, p[condition])}))
        estimand[r.model] = float(np.mean(p["training"] - p["deployment"]))
    cells = pd.concat(parts, ignore_index=True)
    cells.attrs["estimand"] = estimand
    return cells


class ReducedWorld:
    """Studies drawn from per-model reduced-form numbers (:func:`truth_table`)."""

    questions = ("gap",)

    def __init__(self, table: pd.DataFrame):
        self.table = table

    def models(self) -> list[str]:
        return list(self.table["model"])

    def fingerprint(self) -> str:
        return json.dumps({"reduced": self.table.to_dict("records")}, sort_keys=True, default=float)

    def check(self, design: dict) -> None:
        extra = [k for k in STRUCTURAL_KEYS if k in design and k != "models"]
        if extra:
            raise ValueError(f"design setting(s) {extra} need a rational-agent truth (afd.simulate's Truth or a "
                             f"RationalResults); a reduced-form truth only knows each model's gap")
        _check_models(design, self.models())

    def draw(self, design: dict, seed) -> Replicate:
        t = self.table
        if "models" in design:
            t = t.set_index("model").loc[design["models"]].reset_index()
        cells = replicate_cells(design, t, seed)
        facts = pd.DataFrame({"question": "gap", "model": t["model"], "target": "",
                              "truth": t["gap"].to_numpy(float),
                              "estimand": [cells.attrs["estimand"][m] for m in t["model"]]})
        return Replicate(cells, facts, int(cells["n"].sum()))


def _check_models(design: dict, known: list[str]) -> None:
    missing = [m for m in design.get("models", []) if m not in known]
    if missing:
        raise ValueError(f"design names model(s) {missing} that the truth does not have; it has {known}")


# ----------------------------------------------------------------------------- rational agent
class StructuralWorld:
    """Studies drawn by :func:`afdecomp.simulate` from known rational-agent parameters.

    ``params``: one row per model (index: model names) with ``b``, ``V``, ``S``, ``g`` and, for
    steered designs, ``rho``, ``eta`` and ``lambda_<vector>``; ``sigma_u`` the SD of query
    difficulty; ``catalog`` where the variants' cues and the vectors' drivers are read.
    """

    questions = ("gap", "shares", "steering", "identified")

    def __init__(self, params: pd.DataFrame, sigma_u: float, catalog, population: dict | None = None):
        from ..simulate import POPULATION
        self.params = params.copy()
        self.params.index = self.params.index.astype(str)
        self.sigma_u = float(sigma_u)
        self.catalog = catalog
        self.population = {**POPULATION, **(population or {}), "sigma_u": self.sigma_u}
        missing = [c for c in ("b", "V", "S", "g") if c not in self.params.columns]
        if missing:
            raise ValueError(f"rational-agent truth lacks parameter(s) {missing}")

    def models(self) -> list[str]:
        return list(self.params.index)

    def fingerprint(self) -> str:
        cols = [c for c in self.params.columns if not c.startswith("x_")]
        from ..models.rational_results import _catalog_json
        blob = self.params[cols].round(12).to_json(orient="split") + f"|{self.sigma_u!r}|" + _catalog_json(self.catalog)
        return "structural:" + hashlib.sha256(blob.encode()).hexdigest()

    def check(self, design: dict) -> None:
        _check_models(design, self.models())
        for v in variants(design):
            self.catalog.variant(v)                              # raises naming an unknown variant
        for spec in design.get("steering", []):
            if "vector" not in spec or "coefs" not in spec:
                raise ValueError(f"a steering entry needs 'vector' and 'coefs': {spec}")
            driver = self.catalog.vector(spec["vector"]).driver
            need = ["rho", "eta"] + ([] if driver == "control" else [f"lambda_{spec['vector']}"])
            lacking = [c for c in need if c not in self.params.columns]
            if lacking:
                raise ValueError(f"the design steers with {spec['vector']!r} but the truth has no {lacking}: "
                                 f"a truth fitted or simulated without that vector cannot say what it does")

    def draw(self, design: dict, seed) -> Replicate:
        from ..aggregate import aggregate
        from ..simulate import simulate
        models = design.get("models", self.models())
        P = self.params.loc[models]
        names = [f"model-{i + 1:02d}" for i in range(len(models))]
        back = dict(zip(names, models, strict=True))
        cols = [c for c in P.columns if c in ("b", "V", "S", "g", "rho", "eta") or c.startswith("lambda_")]
        given = P[cols].set_axis(names)
        df, truth = simulate(n_models=len(models), n_queries=design["n_queries"], n_samples=design["n_samples"],
                             variants=variants(design), steering=design.get("steering"),
                             params=given, population=self.population, catalog=self.catalog,
                             seed=int(seed % 2 ** 63))
        df["model"] = df["model"].astype(str).map(back)
        cells = aggregate(df, warn=False)
        return Replicate(cells, self._facts(design, truth, back), len(df), self.catalog)

    def _facts(self, design: dict, truth, back: dict) -> pd.DataFrame:
        from ..analysis.decomposition import theory_shares
        from ..results import resolve_cues
        rows = []
        gaps = truth.gaps
        ref = gaps[(gaps["variant"] == "default") & (gaps["steer_vector"] == "none")].set_index("model")
        cues = resolve_cues("default", self.catalog)
        u = truth.query_effects.to_numpy()
        for name, model in back.items():
            if name in ref.index:
                g = float(ref.loc[name, "gap"])
                rows.append(("gap", model, "", g, g))
            p = truth.params.loc[name]
            sh = theory_shares(p["b"], p["V"], p["S"], p["g"], u[:design["n_queries"]], cues)
            d = sh["goal_guarding"] - sh["sycophancy"]
            rows.append(("shares", model, "goal_guarding − sycophancy", d, d))
            for spec in design.get("steering", []):
                vec = spec["vector"]
                if self.catalog.vector(vec).driver != "control":
                    lam = float(p[f"lambda_{vec}"])
                    rows.append(("steering", model, vec, lam, lam))
            rows.append(("identified", model, "S, g", np.nan, np.nan))
        return pd.DataFrame(rows, columns=["question", "model", "target", "truth", "estimand"])


# ----------------------------------------------------------------------------- pilot posterior
class PosteriorWorld:
    """Each replicate draws one posterior draw of a fitted model, then a study from it."""

    def __init__(self, results):
        from ..models.rational_results import RationalResults
        from ..results import GapResults, _unsteered
        self.kind = "rational" if isinstance(results, RationalResults) else "gap"
        if isinstance(results, RationalResults):
            d = results.design
            draws = results.param_draws()
            self.models_ = [str(m) for m in d.models]
            self.vectors = list(d.vectors)
            self.steered = results.has("rho")
            self.arrays = {k: draws[k] for k in ("b", "V", "S", "g", "rho", "eta", "lambda")}
            self.arrays["sigma_u"] = results.draws("sigma_u")
            self.catalog = results.catalog
            self.questions = StructuralWorld.questions
        elif isinstance(results, GapResults):
            pairs = results.pairs()
            keep = _unsteered(pairs) & (pairs["variant"].astype(str) == "default").to_numpy()
            if not keep.any():
                raise ValueError("the gap fit has no unsteered 'default' prompt to take the truth from")
            first = pairs[keep].groupby("model", sort=True).head(1)   # one scenario per model: the first
            idx = first.index.to_numpy()
            self.models_ = list(first["model"].astype(str))
            # the midpoint coding's query effects: a tier's spread is √(σ_u² + σ_w²/4) (docs/gap.md)
            sd = results.draws("sigma_u") ** 2 + (results.draws("sigma_w") ** 2 / 4 if results.has("sigma_w") else 0)
            self.arrays = {"deployment_rate": results.draws("rate_deployment")[:, idx],
                           "gap": results.draws("gap")[:, idx], "query_sd": np.sqrt(sd)}
            self.questions = ReducedWorld.questions
        else:
            raise TypeError(f"a fitted truth must be RationalResults or GapResults, not {type(results).__name__}")

    def models(self) -> list[str]:
        return self.models_

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for k in sorted(self.arrays):
            h.update(k.encode())
            h.update(np.ascontiguousarray(self.arrays[k], dtype=float).tobytes())
        return f"posterior-{self.kind}:" + h.hexdigest()

    def world(self, seed) -> ReducedWorld | StructuralWorld:
        """The world of the posterior draw that replicate ``seed`` uses."""
        a = self.arrays
        n_draws = len(next(iter(a.values())))
        s = int(np.random.default_rng([int(seed % 2 ** 63), 7]).integers(n_draws))
        if self.kind == "gap":
            return ReducedWorld(pd.DataFrame({"model": self.models_, "deployment_rate": a["deployment_rate"][s],
                                              "gap": a["gap"][s], "query_sd": float(a["query_sd"][s])}))
        p = pd.DataFrame({k: a[k][s] for k in ("b", "V", "S", "g")}, index=self.models_)
        if self.steered:
            p["rho"], p["eta"] = a["rho"][s], a["eta"][s]
            for j, v in enumerate(self.vectors):
                p[f"lambda_{v}"] = a["lambda"][s][:, j]
        return StructuralWorld(p, float(a["sigma_u"][s]), self.catalog)

    def check(self, design: dict) -> None:
        self.world(0).check(design)

    def draw(self, design: dict, seed) -> Replicate:
        return self.world(seed).draw(design, seed)


def world(truth):
    """The world a plan draws its replicates from, for any accepted kind of ``truth``."""
    from ..results import Results
    from ..simulate import Truth
    if isinstance(truth, Truth):
        return StructuralWorld(truth.params, truth.population["sigma_u"], truth.catalog, truth.population)
    if isinstance(truth, Results):
        return PosteriorWorld(truth)
    if isinstance(truth, dict) and truth and all(isinstance(v, dict) and {"b", "V", "S", "g"} <= set(v)
                                                 for v in truth.values()):
        truth = pd.DataFrame.from_dict(truth, orient="index")
    if isinstance(truth, pd.DataFrame) and {"b", "V", "S", "g"} <= set(truth.columns):
        from ..design import default_catalog
        from ..simulate import POPULATION
        return StructuralWorld(truth, POPULATION["sigma_u"], default_catalog())
    return ReducedWorld(truth_table(truth))
