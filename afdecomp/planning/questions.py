"""The questions a plan asks of each replicate study, and the claims the fitted study makes.

- ``"gap"``: the model's compliance gap at the default prompt (unsteered) is non-zero: its
  interval excludes 0. Fitted with the method the plan names: ``"glm"`` (:func:`afdecomp.glm_gap`),
  ``"fast"`` (:func:`afdecomp.laplace_gap`, the gap model's Laplace approximation) or ``"nuts"``
  (:class:`afdecomp.ComplianceGap`).
- ``"shares"``: the goal-guarding share of the default prompt's gap exceeds the sycophancy share
  (the interval of φ_goal_guarding − φ_sycophancy, :func:`afdecomp.decompose`, excludes 0).
- ``"steering"``: a steering vector moves its driver beyond what its random-direction control
  does (the interval of the vector's slope λ excludes 0; λ is the effect net of the
  non-specific terms that the controls identify).
- ``"identified"``: S and g are separately identified: the posterior SD of S and of log g are
  each at most :data:`IDENTIFIED_RATIO` of their prior SD (posterior contraction ≥ 75%).

The last three fit the rational-agent model (:class:`afdecomp.RationalAgent`, NUTS) once per
replicate.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._arviz import hdi

QUESTIONS = ("gap", "shares", "steering", "identified")
RATIONAL_QUESTIONS = ("shares", "steering", "identified")
METHODS = ("glm", "fast", "nuts")

#: A model's S and g count as identified when each posterior SD is at most this share of the prior SD.
IDENTIFIED_RATIO = 0.5
#: Prior SD of one model's S and log g in :class:`afdecomp.RationalAgent` without covariates:
#: a population mean with SD 1 plus a spread with a HalfNormal(0.5) prior (E σ² = 0.25).
PRIOR_SD = {"S": np.sqrt(1.0 + 0.25), "log_g": np.sqrt(1.0 + 0.25)}

ROW = ["question", "model", "target", "estimate", "lo", "hi", "claim"]


def _excludes_zero(lo, hi) -> np.ndarray:
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return ((lo > 0) | (hi < 0)) & np.isfinite(lo) & np.isfinite(hi)


def _unsteered_default(cells: pd.DataFrame) -> pd.DataFrame:
    from ..results import _unsteered
    return cells[_unsteered(cells) & (cells["variant"].astype(str) == "default").to_numpy()]


def gap_claims(cells: pd.DataFrame, method: str, ci_prob: float, seed: int, kwargs: dict) -> pd.DataFrame:
    """Per model: the estimated default-prompt gap, its interval and whether it claims a gap."""
    sub = _unsteered_default(cells)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # a tier at 0% or 100%: no GLM interval (counted as no claim)
        if method == "glm":
            from ..models.glm import glm_gap
            s = glm_gap(sub, ci_prob=ci_prob)
        elif method == "fast":
            from ..models.laplace import laplace_gap
            s = laplace_gap(sub, ci_prob=ci_prob, seed=seed, **kwargs)
        else:
            from ..models.gap import ComplianceGap
            s = ComplianceGap(**{"random_seed": seed, "progress": False, "hdi_prob": ci_prob, **kwargs}).fit(sub).summary()
    s = s.groupby("model", sort=True).head(1)      # one scenario per model (the first)
    return pd.DataFrame({"question": "gap", "model": s["model"].astype(str), "target": "",
                         "estimate": s["gap"].to_numpy(float), "lo": s["gap_lo"].to_numpy(float),
                         "hi": s["gap_hi"].to_numpy(float), "claim": _excludes_zero(s["gap_lo"], s["gap_hi"])})


def _interval_rows(question, models, targets, draws, ci_prob) -> list[tuple]:
    lo, hi = hdi(draws.T, ci_prob)
    claim = _excludes_zero(lo, hi)
    return [(question, m, t, float(draws[:, i].mean()), float(lo[i]), float(hi[i]), bool(claim[i]))
            for i, (m, t) in enumerate(zip(models, targets, strict=True))]


def rational_claims(cells: pd.DataFrame, questions, catalog, ci_prob: float, seed: int, kwargs: dict) -> pd.DataFrame:
    """The rational-agent questions' claims from one NUTS fit of :class:`afdecomp.RationalAgent`."""
    from ..analysis.decomposition import decompose
    from ..models.rational import RationalAgent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # unidentified parameters are what "identified" measures
        res = RationalAgent(**{"random_seed": seed, "progress": False, "hdi_prob": ci_prob, **kwargs}).fit(
            cells, catalog=catalog)
    models = [str(m) for m in res.design.models]
    rows: list[tuple] = []
    if "shares" in questions:
        sh = decompose(res, "default").shares
        diff = (sh.sel(driver="goal_guarding") - sh.sel(driver="sycophancy")).to_numpy()   # draw × model
        rows += _interval_rows("shares", models, ["goal_guarding − sycophancy"] * len(models), diff, ci_prob)
    if "steering" in questions and res.has("lambda"):
        lam = res.draws("lambda")                                                           # draw × model × vector
        vecs = list(res.design.vectors)
        flat = lam.reshape(lam.shape[0], -1)
        rows += _interval_rows("steering", [m for m in models for _ in vecs], vecs * len(models), flat, ci_prob)
    if "identified" in questions:
        sd_S = res.draws("S").std(0) / PRIOR_SD["S"]
        log_g = np.log(res.draws("g")) if res.has("g") else np.full_like(res.draws("S"), np.nan)
        sd_g = log_g.std(0) / PRIOR_SD["log_g"]
        worse = np.maximum(sd_S, sd_g)
        rows += [("identified", m, "S, g", float(worse[i]), np.nan, np.nan, bool(worse[i] <= IDENTIFIED_RATIO))
                 for i, m in enumerate(models)]
    return pd.DataFrame(rows, columns=ROW)


def claims(replicate, questions, method: str, ci_prob: float, seed: int, fit_kwargs: dict) -> pd.DataFrame:
    """Every question's claims on one replicate, joined to its facts (truth and estimand)."""
    parts = []
    if "gap" in questions:
        parts.append(gap_claims(replicate.cells, method, ci_prob, seed, fit_kwargs.get("gap", {})))
    asked = [q for q in questions if q in RATIONAL_QUESTIONS]
    if asked:
        parts.append(rational_claims(replicate.cells, asked, replicate.catalog, ci_prob, seed,
                                     fit_kwargs.get("rational", {})))
    out = pd.concat(parts, ignore_index=True)
    facts = replicate.facts[replicate.facts["question"].isin(questions)]
    return facts.merge(out, on=["question", "model", "target"], how="left")
