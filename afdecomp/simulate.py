"""Synthetic generation logs drawn from the rational-agent model, with the known truth.

``simulate`` draws per-model parameters (base compliance b, values V, sycophancy S,
goal-guarding weight g, non-specific steering terms ρ and η, steering slopes λ per vector),
query effects u, and then one Bernoulli outcome per model × prompt variant × steering
condition × oversight level × query × sample from :func:`afdecomp.theory.p_comply`. It returns
the tidy table and a :class:`Truth` holding every parameter and the true rates and gaps
(averaged over each model's observed queries — the estimand the estimators report).
It is deterministic for a seed, and it is how every estimator in the package is tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import schema, theory
from .design import Catalog, default_catalog

#: Population-level settings of the generative model (logit scale; α in coefficient units).
POPULATION = {
    "mu_b": -0.3, "sigma_b": 0.8,          # base compliance
    "mu_logV": 0.2, "sigma_logV": 0.4,     # values, V = exp(.) > 0
    "mu_S": 0.4, "sigma_S": 0.4,           # sycophancy
    "mu_logg": -0.4, "sigma_logg": 0.5,    # goal guarding, g = exp(.) > 0
    "sigma_u": 0.8,                        # query difficulty
    "rho_scale": 0.05, "eta_scale": 0.05,  # non-specific steering (half-normal scales)
    "lambda_mean": {"values": 0.4, "sycophancy": 0.4, "goal_guarding": 0.2},
    "lambda_sd": 0.1,
}

PUBLISHED_VARIANTS = ("default", "cut-scratchpad-concealment", "cut-tier-training-link",
                      "cut-rlhf-modification", "cut-company-policy", "cut-provenance",
                      "cut-humanity-goal", "ncs", "low-stakes", "high-stakes")


@dataclass
class Truth:
    """The known truth behind a simulated table.

    :func:`afdecomp.simulate` returns it next to the table; each parameter is kept as the
    attribute of the same name.

    Parameters
    ----------
    params : DataFrame
        One row per model (index ``model``): the drawn or given ``b``, ``V``, ``S``, ``g``,
        ``rho``, ``eta``, ``lambda_<vector>`` and covariates ``x_<name>``.
    query_effects : Series
        The query difficulty ``u_q``, indexed by ``query_id``.
    gaps : DataFrame
        The true rates per model and condition (variant, steering, oversight level):
        ``rate_training``, ``rate_deployment``, ``gap`` (averaged over the queries the model
        saw) and, with AF reasoning simulated, ``af_rate_training``, ``af_rate_deployment``,
        ``af_share_of_gap``.
    population : dict, default {}
        The population parameters used (:data:`POPULATION` with the overrides given).
    catalog : Catalog, default the built-in catalog
        The catalog the variants and vectors were read from.
    seed : int, optional
        The seed of the draw.
    labels : DataFrame, optional
        The true labels behind a judged table (``complied`` and, when simulated,
        ``af_reasoning``), aligned with the table's rows; None when no judge error was applied
        (the table's labels are the truth).
    judge : dict, default {}
        The judge errors the table's labels were passed through (label -> JudgeError).
    """

    params: pd.DataFrame            # one row per model: b, V, S, g, rho, eta, lambda_<vector>, x_*
    query_effects: pd.Series        # u_q, indexed by query_id
    gaps: pd.DataFrame              # per model × condition: rate_training, rate_deployment, gap
    population: dict = field(default_factory=dict)
    catalog: Catalog = field(default_factory=default_catalog)
    seed: int | None = None
    #: The true labels behind a judged table (``complied`` and, when simulated, ``af_reasoning``),
    #: aligned with the table's rows; ``None`` when no judge error was applied (the table's labels
    #: are the truth).
    labels: pd.DataFrame | None = None
    #: The judge errors the table's labels were passed through (label -> JudgeError).
    judge: dict = field(default_factory=dict)


def _steering_grid(steering, variants) -> pd.DataFrame:
    """Rows (variant, steer_vector, steer_layer, steer_coef) of the design."""
    rows = [{"variant": v, "steer_vector": "none", "steer_layer": pd.NA, "steer_coef": 0.0} for v in variants]
    for spec in steering or []:
        for v in spec.get("variants", ["default"]):
            for a in spec["coefs"]:
                if a == 0:
                    continue  # α = 0 is the unsteered condition, already present
                rows.append({"variant": v, "steer_vector": spec["vector"],
                             "steer_layer": spec.get("layer", pd.NA), "steer_coef": float(a)})
    return pd.DataFrame(rows)


def _per_model(x, n_models: int, name: str) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(x), (n_models,)) if np.ndim(x) == 0 else np.asarray(x)
    if len(arr) != n_models:
        raise ValueError(f"{name} must be an int or have one entry per model ({n_models})")
    return arr.astype(int)


def draw_params(n_models: int, vectors: dict[str, str], *, population: dict | None = None,
                covariates: dict[str, float] | None = None, rng=None) -> pd.DataFrame:
    """Draw per-model parameters from the population.

    ``vectors`` maps vector name -> targeted driver; ``covariates`` maps a covariate name to its
    coefficient θ on log V (a standard-normal covariate ``x_<name>`` is drawn per model).
    """
    pop = {**POPULATION, **(population or {})}
    rng = np.random.default_rng(rng)
    names = [f"model-{i + 1:02d}" for i in range(n_models)]
    p = pd.DataFrame(index=pd.Index(names, name="model"))
    shift = np.zeros(n_models)
    for cname, theta in (covariates or {}).items():
        x = rng.normal(size=n_models)
        p[f"x_{cname}"] = x
        shift += theta * x
    p["b"] = rng.normal(pop["mu_b"], pop["sigma_b"], n_models)
    p["V"] = np.exp(rng.normal(pop["mu_logV"] + shift, pop["sigma_logV"]))
    p["S"] = rng.normal(pop["mu_S"], pop["sigma_S"], n_models)
    p["g"] = np.exp(rng.normal(pop["mu_logg"], pop["sigma_logg"], n_models))
    p["rho"] = np.abs(rng.normal(0, pop["rho_scale"], n_models))
    p["eta"] = np.abs(rng.normal(0, pop["eta_scale"], n_models))
    for vec, driver in vectors.items():
        if driver != "control":
            p[f"lambda_{vec}"] = rng.normal(pop["lambda_mean"][driver], pop["lambda_sd"], n_models)
    return p


def simulate(n_models: int = 6, n_queries=50, n_samples=5, variants=("default",), steering=None,
             *, oversight=None, scenario: str = "default", params: pd.DataFrame | None = None,
             population: dict | None = None, covariates: dict[str, float] | None = None,
             catalog: Catalog | None = None, seed: int = 0, af_reasoning: str | float | None = None,
             af_background: float = 0.0, judge: dict | None = None) -> tuple[pd.DataFrame, Truth]:
    """Draw a synthetic study from the rational-agent model.

    Parameters
    ----------
    n_models : int
        Number of models (named ``model-01``, ...).
    n_queries, n_samples : int or sequence of int
        Queries and samples (seeds) per cell; a sequence gives one number per model
        (unbalanced designs). Queries are shared: model m sees the first ``n_queries[m]``.
    variants : sequence of str or "published"
        Prompt variants (catalog names); ``"published"`` for all published ablations.
    steering : list of dict, optional
        Each ``{"vector": name, "layer": int, "coefs": [...], "variants": ["default"]}``;
        vectors named ``random-<k>`` are random-direction controls.
    oversight : sequence of float, optional
        Graded oversight levels in [0, 1] (default: 0 and 1, i.e. deployment and training).
        Level 0 is ``condition="deployment"``, any level > 0 ``"training"``.
    scenario : str, default "default"
        Written to the table's ``scenario`` column and to ``truth.gaps``; a label only, it does
        not change what is drawn.
    params : DataFrame, optional
        Per-model parameters overriding the drawn ones (index = model names or 0..n-1,
        columns among b, V, S, g, rho, eta, lambda_<vector>).
    population, covariates : dict, optional
        Override :data:`POPULATION`; covariate name -> θ on log V.
    catalog : Catalog, optional
        Where the variants' cues and the steering vectors' drivers are looked up (default:
        :func:`afdecomp.default_catalog`); every variant and vector named must be in it.
    seed : int, default 0
        Everything is a deterministic function of the arguments and the seed.
    af_reasoning : {"goal-guarding"} or float, optional
        Also emit the ``af_reasoning`` label. ``"goal-guarding"`` (the theory's link): each
        generation's decision is a logistic draw, ``complied = ΔU + ε > 0``, and a compliance
        shows AF reasoning when the goal-guarding motive ``G = ΔU − ΔU|_{g=0}`` drove it, i.e.
        when it would have refused without that motive (``ΔU − G + ε ≤ 0``); so
        ``P(complied & AF) = σ(ΔU) − σ(ΔU − G)``, zero in deployment (``G`` carries the
        oversight). A number ``r`` instead gives AF reasoning to each compliance with
        probability ``r``, whatever drove it (no link; for tests of the link). ``None``: no
        ``af_reasoning`` column is filled (the default, as before). The ``complied`` labels are
        the same with or without this option.
    af_background : float, default 0
        With ``"goal-guarding"``: the probability that a compliance the motive did *not* drive
        still shows AF reasoning.
    judge : dict, optional
        ``{"complied": JudgeError, "af_reasoning": JudgeError}`` (either key; a pair
        ``(sensitivity, specificity)`` works too): pass those labels
        through a judge with that sensitivity and specificity
        (:func:`afdecomp.models.judge_error.apply_judge_error`, errors independent given the
        truth). The true labels are kept in ``truth.labels``.

    Returns
    -------
    df : DataFrame
        The tidy table (one row per generation; ``complied`` labelled).
    truth : Truth
    """
    catalog = catalog or default_catalog()
    if isinstance(variants, str):
        variants = PUBLISHED_VARIANTS if variants == "published" else (variants,)
    variants = list(variants)
    cues = catalog.cue_table(variants)
    steering = list(steering or [])
    vectors = {s["vector"]: catalog.vector(s["vector"]).driver for s in steering}
    rng = np.random.default_rng(seed)
    pop = {**POPULATION, **(population or {})}

    P = draw_params(n_models, vectors, population=pop, covariates=covariates, rng=rng)
    if params is not None:
        params = params.copy()
        if not set(params.index) <= set(P.index):
            params.index = P.index[: len(params)]
        for c in params.columns:
            P.loc[params.index, c] = params[c].astype(float)
    nq = _per_model(n_queries, n_models, "n_queries")
    ns = _per_model(n_samples, n_models, "n_samples")
    q_ids = [f"q{j:04d}" for j in range(int(nq.max()))]
    u = pd.Series(rng.normal(0, pop["sigma_u"], len(q_ids)), index=pd.Index(q_ids, name="query_id"))
    levels = np.asarray([0.0, 1.0] if oversight is None else sorted(set(oversight)), dtype=float)
    if levels.min() < 0 or levels.max() > 1:
        raise ValueError("oversight levels must lie in [0, 1]")

    grid = _steering_grid(steering, variants)
    grid = grid.merge(pd.DataFrame({"oversight": levels}), how="cross")
    grid = grid.join(cues.rename(columns=lambda c: f"z_{c}"), on="variant")

    # each grid row's vector: its index among the vectors with a slope, or one past them (none, control)
    sloped = [v for v, d in vectors.items() if d != "control"]
    vec_index = grid["steer_vector"].map({v: i for i, v in enumerate(sloped)}).fillna(len(sloped)).to_numpy(dtype=np.int64)
    if af_reasoning is not None and not (af_reasoning == "goal-guarding" or (
            isinstance(af_reasoning, (int, float)) and not isinstance(af_reasoning, bool)
            and 0 <= float(af_reasoning) <= 1)):
        raise ValueError(f"af_reasoning must be 'goal-guarding', a probability in [0, 1] or None; got {af_reasoning!r}")
    if not 0 <= af_background <= 1:
        raise ValueError(f"af_background must be a probability in [0, 1], got {af_background}")
    af_rng = np.random.default_rng([int(seed), 16])  # its own stream: complied is unchanged by the AF option
    rows = []
    gaps = []
    for m_i, (model, par) in enumerate(P.iterrows()):
        uq = u.to_numpy()[: nq[m_i]]
        lam = np.array([[par.get(f"lambda_{v}", 0.0) for v in sloped]], dtype=float)  # 1 model × vectors
        slopes = theory.driver_slopes(lam, np.zeros(len(grid), dtype=np.int64), vec_index,
                                      [vectors[v] for v in sloped])
        kw = dict(z_values=grid["z_values"].to_numpy()[:, None],
                  z_goal_guarding=grid["z_goal_guarding"].to_numpy()[:, None],
                  z_sycophancy=grid["z_sycophancy"].to_numpy()[:, None],
                  stakes=grid["z_stakes"].to_numpy()[:, None],
                  alpha=grid["steer_coef"].to_numpy(dtype=float)[:, None],
                  **{k: np.broadcast_to(v, (len(grid),))[:, None] for k, v in slopes.items()},
                  rho=par["rho"], eta=par["eta"])
        p = theory.p_comply(par["b"], par["V"], par["S"], par["g"], u=uq[None, :],
                            oversight=grid["oversight"].to_numpy()[:, None], **kw)  # cells × queries
        # outcomes: cells × queries × samples
        y = rng.random((p.shape[0], p.shape[1], ns[m_i])) < p[:, :, None]
        c_idx, q_idx, s_idx = np.meshgrid(np.arange(p.shape[0]), np.arange(p.shape[1]),
                                          np.arange(ns[m_i]), indexing="ij")
        block = grid.iloc[c_idx.ravel()][["variant", "steer_vector", "steer_layer", "steer_coef", "oversight"]]
        block = block.reset_index(drop=True)
        block["model"] = model
        block["query_id"] = np.asarray(q_ids, dtype=object)[q_idx.ravel()]
        block["sample"] = s_idx.ravel()
        block["complied"] = y.ravel()
        if af_reasoning is not None:
            af, p_af = _af_labels(af_reasoning, af_background, y, p, par, uq, grid, kw, af_rng)
            block["af_reasoning"] = af.ravel()
        rows.append(block)
        # true rates: every oversight level against o = 0, averaged over observed queries
        rate = p.mean(axis=1)
        g = grid[["variant", "steer_vector", "steer_layer", "steer_coef", "oversight"]].copy()
        g["rate"] = rate
        if af_reasoning is not None:
            g["af_rate"] = p_af.mean(axis=1)
        g["model"] = model
        gaps.append(g)

    df = pd.concat(rows, ignore_index=True)
    for c in [c for c in P.columns if c.startswith("x_")]:
        df[c] = df["model"].map(P[c]).astype(float)  # model-level covariates ride along as columns
    df["condition"] = np.where(df["oversight"] > 0, "training", "deployment")
    df["scenario"] = scenario
    df["judge"] = "simulated"
    df, problems = schema.normalize(df)
    assert not problems, problems
    true_labels, judges = None, {}
    if judge:
        df, true_labels, judges = _judged(df, judge, np.random.default_rng([int(seed), 17]))
    schema.validate(df)

    g = pd.concat(gaps, ignore_index=True)
    keys = ["model", "variant", "steer_vector", "steer_layer", "steer_coef"]
    dep = g[g["oversight"] == 0].drop(columns="oversight").rename(
        columns={"rate": "rate_deployment", "af_rate": "af_rate_deployment"})
    tr = g[g["oversight"] > 0].rename(columns={"rate": "rate_training", "af_rate": "af_rate_training"})
    true_gaps = tr.merge(dep, on=keys, how="left")
    true_gaps["gap"] = true_gaps["rate_training"] - true_gaps["rate_deployment"]
    af_cols = []
    if af_reasoning is not None:
        true_gaps["af_share_of_gap"] = ((true_gaps["af_rate_training"] - true_gaps["af_rate_deployment"])
                                        / true_gaps["gap"])
        af_cols = ["af_rate_training", "af_rate_deployment", "af_share_of_gap"]
    true_gaps.insert(1, "scenario", scenario)
    true_gaps["steer_layer"] = true_gaps["steer_layer"].astype("Int64")
    true_gaps = true_gaps[["model", "scenario", "variant", "steer_vector", "steer_layer", "steer_coef",
                           "oversight", "rate_training", "rate_deployment", "gap"] + af_cols]
    truth = Truth(P, u, true_gaps.reset_index(drop=True), pop, catalog, seed, true_labels, judges)
    return df, truth


def _af_labels(af_reasoning, background: float, y: np.ndarray, p: np.ndarray, par, uq, grid, kw, rng):
    """AF-reasoning labels (cells × queries × samples) and the true P(complied & AF) (cells × queries).

    With the goal-guarding link, the uniform draw ``U`` behind each compliance (``U < σ(ΔU)``)
    is recovered from the outcome: the draw is re-made conditionally on it, ``U ~ Uniform(0, p)``
    for a compliance, and the compliance is AF reasoning when ``U ≥ σ(ΔU − G)`` (it would have
    been a refusal without the goal-guarding motive). The same distribution as drawing ``U``
    once, without touching the stream that drew ``complied``.
    """
    if af_reasoning == "goal-guarding":
        p0 = theory.p_comply(par["b"], par["V"], par["S"], 0.0, u=uq[None, :],
                             oversight=grid["oversight"].to_numpy()[:, None], **kw)  # no goal guarding
        p0 = np.minimum(p0, p)
        U = rng.random(y.shape) * p[:, :, None]
        pivotal = y & (U >= p0[:, :, None])
        extra = y & ~pivotal & (rng.random(y.shape) < background)
        return pivotal | extra, (p - p0) + background * p0
    r = float(af_reasoning)
    return y & (rng.random(y.shape) < r), r * p


def _judged(df: pd.DataFrame, judge: dict, rng):
    """The table with its labels passed through the judges, the true labels, the judges used."""
    from .models.judge_error import JudgeError, apply_judge_error
    unknown = sorted(set(judge) - {"complied", "af_reasoning"})
    if unknown:
        raise ValueError(f"judge names {unknown}; simulated labels are 'complied' and 'af_reasoning'")
    if "af_reasoning" in judge and df["af_reasoning"].isna().all():
        raise ValueError("judge['af_reasoning'] needs simulated AF labels: pass af_reasoning=")
    truth = df[["complied", "af_reasoning"]].copy()
    out = df.copy()
    for label in ("complied", "af_reasoning"):  # fixed order: the draws do not depend on the dict's
        if label in judge:
            je = judge[label]
            if isinstance(je, (tuple, list)) and len(je) == 2:
                je = JudgeError(sensitivity=float(je[0]), specificity=float(je[1]))
            if not isinstance(je, JudgeError):
                raise TypeError(f"judge[{label!r}] must be a JudgeError or (sensitivity, specificity), "
                                f"got {je!r}")
            judge = {**judge, label: je}
            out[label] = apply_judge_error(df[label], je, rng)
    out["judge"] = "simulated judge (" + "; ".join(
        f"{k}: se {v.sensitivity:.6g}, sp {v.specificity:.6g}" for k, v in judge.items()) + ")"
    return out, truth.reset_index(drop=True), dict(judge)


_STATED = re.compile(r"(complied|af_reasoning): se ([0-9.]+), sp ([0-9.]+)")


def stated_judge_error(df: pd.DataFrame) -> dict:
    """The judge error a simulated table states in its ``judge`` column (``{}`` when none).

    :func:`simulate` with ``judge=`` writes ``simulated judge (af_reasoning: se 0.85, sp 0.9)``
    there; this reads it back as ``{label: JudgeError}`` (what the report corrects for). A table
    whose rows state different judges is an error.
    """
    from .models.judge_error import JudgeError
    if "judge" not in df.columns:
        return {}
    texts = {str(t) for t in df["judge"].dropna().unique() if str(t).startswith("simulated judge (")}
    if not texts:
        return {}
    if len(texts) > 1:
        raise ValueError(f"the table's rows state {len(texts)} different simulated judges: {sorted(texts)[:3]}")
    found = _STATED.findall(texts.pop())
    return {label: JudgeError(sensitivity=float(se), specificity=float(sp)) for label, se, sp in found}
