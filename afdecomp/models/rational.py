"""The rational-agent (structural) model of alignment faking, fitted on binomial cells.

Our formalisation (docs/model.md; not taken from a paper). Each model m complies with
probability ``sigmoid(ΔU)`` where (see :mod:`afdecomp.theory`)::

    ΔU = b_m + u_q − V·z_V − ρ_m α² + o·exp(−η_m α²)·(S·z_S + g·V·z_V·z_G·κ)

``z_*`` and ``κ`` are the prompt variant's cues from the driver catalog, ``o`` the oversight
(1 training, 0 deployment, or a stated probability), α the steering coefficient; a vector
moves the driver it targets linearly (``V + λ·α``, ``S + λ·α`` or ``g + λ·α``; V and g stop
smoothly at 0, :func:`afdecomp.theory.steered_driver`). Hierarchy
across models (non-centred): ``log V_m``, ``log g_m`` and ``S_m`` normal around population
means shifted by optional model covariates (θ·x_m), ``b_m`` normal; query effects ``u_q`` are
zero-sum normal (identifiable against the intercepts); ρ_m, η_m ≥ 0 half-normal, identified by
random-direction controls. Steering coefficients are rescaled internally by ``max|α|`` so the
priors do not depend on the units of α; reported λ, ρ and η are per unit α (α²).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import theory
from ..aggregate import aggregate, as_tidy, check_tiers
from ..design import CUES, Catalog, default_catalog
from ._loglik import binomial_potential
from .judge_error import judge_attrs, judged_potential, resolve_judge_error

#: Fits of at least this many cells show sampling progress by default (:meth:`RationalAgent._progress`).
PROGRESS_CELLS = 1000

DRIVER_CUE = {"values": "values", "sycophancy": "sycophancy", "goal_guarding": "goal_guarding"}


@dataclass
class Design:
    """Index arrays and cue columns of the cells, as the model and predictions use them."""

    cells: pd.DataFrame
    models: list[str]
    queries: list[str]
    vectors: list[str]           # non-control vectors with a λ (in order)
    vector_driver: dict[str, str]
    m: np.ndarray
    q: np.ndarray
    k: np.ndarray                # index into vectors, len(vectors) for none/control
    z: dict[str, np.ndarray]     # cue arrays per cell
    o: np.ndarray
    alpha: np.ndarray            # rescaled α
    alpha_scale: float
    steered: bool
    has_control: bool
    covariates: pd.DataFrame     # models × covariates, standardized
    covariate_moments: pd.DataFrame  # mean and sd used to standardize


def build_design(cells: pd.DataFrame, catalog: Catalog, covariates: pd.DataFrame | None) -> Design:
    """Cells + catalog -> arrays. Raises for variants/vectors the catalog does not know."""
    catalog.check(cells)
    cells = cells.reset_index(drop=True)
    models = sorted(cells["model"].astype(str).unique())
    queries = sorted(cells["query_id"].astype(str).unique())
    m = pd.Categorical(cells["model"].astype(str), categories=models).codes.astype(np.int64)
    q = pd.Categorical(cells["query_id"].astype(str), categories=queries).codes.astype(np.int64)
    cue = catalog.cue_table(sorted(cells["variant"].astype(str).unique()))
    z = {c: cue[c].reindex(cells["variant"].astype(str)).to_numpy(dtype=float) for c in CUES}
    vec = cells["steer_vector"].astype(str).to_numpy()
    coef = cells["steer_coef"].to_numpy(dtype=float)
    drivers = {v: catalog.vector(v).driver for v in sorted(set(vec) - {"none"})}
    vectors = [v for v, d in drivers.items() if d != "control"]
    k = np.array([vectors.index(v) if v in vectors else len(vectors) for v in vec], dtype=np.int64)
    scale = float(np.max(np.abs(coef))) if np.any(coef != 0) else 1.0
    if covariates is None or covariates.shape[1] == 0:
        X = pd.DataFrame(index=pd.Index(models, name="model"))
        mom = pd.DataFrame(columns=["mean", "sd"])
    else:
        missing = sorted(set(models) - set(covariates.index.astype(str)))
        if missing:
            raise ValueError(f"covariates lack model(s) {missing}")
        X = covariates.copy()
        X.index = X.index.astype(str)
        X = X.loc[models].astype(float)
        mom = pd.DataFrame({"mean": X.mean(), "sd": X.std(ddof=0).replace(0, 1.0)})
        X = (X - mom["mean"]) / mom["sd"]
    return Design(cells, models, queries, vectors, drivers, m, q, k, z,
                  cells["oversight"].to_numpy(dtype=float), coef / scale, scale,
                  bool(np.any(coef != 0)), any(d == "control" for d in drivers.values()), X, mom)


def covariates_from_table(df: pd.DataFrame, names) -> pd.DataFrame:
    """Model-level covariates from columns of the tidy table (constant within each model)."""
    names = [names] if isinstance(names, str) else list(names)
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise ValueError(f"covariate column(s) {missing} not in the table")
    g = df.groupby(df["model"].astype(str))[names]
    if (g.nunique(dropna=False) > 1).any().any():
        bad = [n for n in names if (g[n].nunique(dropna=False) > 1).any()]
        raise ValueError(f"covariate(s) {bad} vary within a model; a model covariate must be constant per model")
    return g.first()


def identifiability(cells: pd.DataFrame, catalog: Catalog | None = None, *, goal_guarding: bool = True) -> pd.DataFrame:
    """Which driver parameters the design can separate, from the design alone.

    Parameters
    ----------
    cells : DataFrame
        Binomial cells (:func:`afdecomp.aggregate`); only the design columns are read.
    catalog : Catalog, optional
        The variants' cues and vectors' drivers (default :func:`afdecomp.default_catalog`).
    goal_guarding : bool, default True
        Whether the model has goal guarding (``RationalAgent(goal_guarding=...)``).

    Returns
    -------
    DataFrame
        ``parameter``, ``identified`` (bool) and ``reason``.

    Notes
    -----
    Rules: V needs variants that differ in the values cue (else it is confounded with b);
    S and g need the training-only terms ``z_S`` and ``z_V·z_G·κ`` to vary independently
    across variants (rank 2; else only their sum is identified); each steering slope needs
    its vector at a non-zero coefficient; ρ and η need a random-direction control.
    """
    catalog = catalog or default_catalog()
    catalog.check(cells)
    variants = sorted(cells["variant"].astype(str).unique())
    cue = catalog.cue_table(variants)
    trained = cells[cells["oversight"] > 0]
    tv = sorted(trained["variant"].astype(str).unique())
    rows = []
    zv = cue["values"]
    rows.append(("V", bool(zv.nunique() > 1),
                 "variants differ in the values cue" if zv.nunique() > 1 else
                 "no variant changes the values cue: V is confounded with the base rate b"))
    A = np.column_stack([cue.loc[tv, "sycophancy"], cue.loc[tv, "values"] * cue.loc[tv, "goal_guarding"]
                         * cue.loc[tv, "stakes"]]) if tv else np.zeros((0, 2))
    rank = np.linalg.matrix_rank(A) if len(A) else 0
    if not goal_guarding:
        rows.append(("S", bool(rank >= 1 and np.any(A[:, 0] != 0)), "S is the only training-only term"))
    else:
        sep = rank == 2
        why = ("variants vary the sycophancy and goal-guarding cues independently" if sep else
               "no variant varies the sycophancy cue independently of the goal-guarding cue: "
               "only S + g·V is identified, S and g separately are prior-driven")
        rows.append(("S", bool(sep), why))
        rows.append(("g", bool(sep), why))
    vec = cells.loc[cells["steer_coef"] != 0, "steer_vector"].astype(str).unique()
    has_control = False
    for v in sorted(set(cells["steer_vector"].astype(str)) - {"none"}):
        d = catalog.vector(v).driver
        if d == "control":
            has_control = has_control or v in vec
            continue
        if d == "goal_guarding" and not goal_guarding:
            continue
        rows.append((f"lambda_{v}", bool(v in vec), "observed at non-zero coefficients" if v in vec
                     else "never applied at a non-zero coefficient"))
    if len(vec):
        rows.append(("rho", has_control, "random-direction controls present" if has_control else
                     "no random-direction control: non-specific steering effects (rho, eta) are "
                     "confounded with the vectors' specific slopes"))
        rows.append(("eta", has_control, rows[-1][2]))
    return pd.DataFrame(rows, columns=["parameter", "identified", "reason"])


def _drivers(d: Design) -> list[str]:
    """The driver each fitted (non-control) vector targets, in the order of ``d.vectors``."""
    return [d.vector_driver[v] for v in d.vectors]


def _conditions(d: Design) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The distinct (model, cues, vector, α, oversight) of the cells and each cell's index into them."""
    cols = {"m": d.m.astype(float), "k": d.k.astype(float), "alpha": d.alpha, "o": d.o,
            **{c: d.z[c] for c in ("values", "goal_guarding", "sycophancy", "stakes")}}
    table = np.column_stack(list(cols.values()))
    uniq, inv = np.unique(table, axis=0, return_inverse=True)
    out = {name: uniq[:, j] for j, name in enumerate(cols)}
    out["m"] = out["m"].astype(np.int64)
    out["k"] = out["k"].astype(np.int64)
    return out, inv.ravel()


class RationalAgent:
    """Hierarchical rational-agent model of alignment faking (PyMC).

    Parameters
    ----------
    draws, tune, chains : int, default 1000, 1000, 4
        NUTS draws and tuning steps per chain, and the number of chains. Four chains (R-hat
        compares chains; nutpie runs them on the available cores); 4 × 1,000 draws are the
        4,000 that converged on the bundled example (tail ESS >= 400, which 2 × 1,500 missed once).
    random_seed : int, optional
        Makes the fit reproducible.
    sampler : {"auto", "nutpie", "pymc", "numpyro"}
        NUTS implementation (``"auto"``: nutpie when installed).
    goal_guarding : bool, default True
        Include the goal-guarding term g·V·z_V·z_G·κ (``False`` gives the model without it,
        for comparison with ``.compare``).
    covariates : str, list of str or DataFrame, optional
        Model-level covariates x_m: column names of the tidy table (constant per model) or a
        DataFrame indexed by model. Standardized internally; θ are per covariate SD.
    target_accept : float, default 0.95
    parameterization : {"auto", "centered", "noncentered"}
        Per-model effects around the population: ``"auto"`` centres them when every model has
        at least 500 labelled generations (the data then pin each model down and the centred
        form samples far better), and uses the non-centred form otherwise.
    progress : bool, optional
        Show sampling progress (default: on a terminal, or for a fit of >= 1,000 cells).
    hdi_prob : float, default 0.94
        Probability of the reported highest-density intervals (``summary`` and the analyses).
    max_chains : int, optional
        As :class:`~afdecomp.ComplianceGap`: when the first ``chains`` chains miss R-hat <= 1.01
        or bulk/tail ESS >= 400 on the parameters :meth:`RationalResults.check` tests, batches
        of ``chains`` more independent chains are added, up to ``max_chains`` (default
        ``3 × chains``; ``chains`` turns it off).
    """

    def __init__(self, draws: int = 1000, tune: int = 1000, chains: int = 4, *, random_seed=None,
                 sampler: str = "auto", goal_guarding: bool = True, covariates=None,
                 target_accept: float = 0.95, parameterization: str = "auto", progress: bool | None = None,
                 hdi_prob: float = 0.94, max_chains: int | None = None):
        self.draws, self.tune, self.chains = draws, tune, chains
        self.random_seed, self.sampler = random_seed, sampler
        self.goal_guarding = goal_guarding
        self.covariates = covariates
        self.target_accept = target_accept
        self.parameterization = parameterization
        self.progress = progress
        self.hdi_prob = hdi_prob
        self.max_chains = max_chains

    # ------------------------------------------------------------------ model
    def build(self, design: Design, judge_error=None):
        """The PyMC model for a design (exposed for inspection and prior checks).

        ``judge_error``: the :class:`~afdecomp.JudgeError` of the compliance judge; the counts
        are then binomial with the judged rate and the structural equation gives true rates.
        """
        import pymc as pm
        import pytensor.tensor as pt

        d = design
        M, K = len(d.models), len(d.vectors)
        centered = self._centered(d)

        def _level(name, mu, sigma, centered):
            """Per-model effect around a population mean: centred when data per model are
            plentiful (the likelihood pins each model down), non-centred when they are scarce."""
            if centered:
                x = pm.Normal(name, mu, sigma, dims="model")
            else:
                x = pm.Deterministic(name, mu + sigma * pm.Normal(f"{name}_z", 0, 1, dims="model"), dims="model")
            return x
        X = d.covariates.to_numpy(dtype=float)
        C = X.shape[1]
        coords = {"model": d.models, "query": d.queries, "cell": np.arange(len(d.cells))}
        if K:
            coords["vector"] = d.vectors
        if C:
            coords["covariate"] = list(d.covariates.columns)
        with pm.Model(coords=coords) as model:
            mu_b = pm.Normal("mu_b", 0.0, 1.5)
            sigma_b = pm.HalfNormal("sigma_b", 1.0)
            mu_logV = pm.Normal("mu_logV", 0.0, 1.0)
            sigma_logV = pm.HalfNormal("sigma_logV", 0.5)
            mu_S = pm.Normal("mu_S", 0.0, 1.0)
            sigma_S = pm.HalfNormal("sigma_S", 0.5)
            shift_V = shift_S = shift_g = 0.0
            if C:
                theta_V = pm.Normal("theta_V", 0.0, 0.5, dims="covariate")
                theta_S = pm.Normal("theta_S", 0.0, 0.5, dims="covariate")
                shift_V = pt.dot(X, theta_V)
                shift_S = pt.dot(X, theta_S)
            b = _level("b", mu_b, sigma_b, centered)
            V = pm.Deterministic("V", pt.exp(_level("log_V", mu_logV + shift_V, sigma_logV, centered)), dims="model")
            S = _level("S", mu_S + shift_S, sigma_S, centered)
            if self.goal_guarding:
                mu_logg = pm.Normal("mu_logg", -1.0, 1.0)
                sigma_logg = pm.HalfNormal("sigma_logg", 0.5)
                if C:
                    theta_g = pm.Normal("theta_g", 0.0, 0.5, dims="covariate")
                    shift_g = pt.dot(X, theta_g)
                g = pm.Deterministic("g", pt.exp(_level("log_g", mu_logg + shift_g, sigma_logg, centered)),
                                     dims="model")
            else:
                g = pt.zeros(M)
            sigma_u = pm.HalfNormal("sigma_u", 1.0)
            u = pm.ZeroSumNormal("u", sigma=sigma_u, dims="query")

            # The structural term depends on the model and the condition, not on the query: it
            # is computed once per distinct (model, cues, vector, α, oversight) and gathered to
            # the cells (≈ 40× fewer evaluations on a 40-query design). α is rescaled by
            # max|α| here, so the slopes and ρ, η are the internal ``*_s`` ones.
            cond, cell_cond = _conditions(d)
            params = {"b": b, "V": V, "S": S, "g": g, "rho": pt.zeros(M), "eta": pt.zeros(M), "lambda": None}
            if d.steered:
                rho_s = pm.HalfNormal("rho_s", 0.5, dims="model")   # per (max|α|)², internal scale
                eta_s = pm.HalfNormal("eta_s", 0.5, dims="model")
                pm.Deterministic("rho", rho_s / d.alpha_scale**2, dims="model")
                pm.Deterministic("eta", eta_s / d.alpha_scale**2, dims="model")
                params.update(rho=rho_s, eta=eta_s)
                if K:
                    mu_lam = pm.Normal("mu_lambda_s", 0.0, 1.0, dims="vector")
                    sigma_lam = pm.HalfNormal("sigma_lambda_s", 0.5, dims="vector")  # one spread per vector
                    if self._centered_slopes(d):
                        lam = pm.Normal("lambda_s", mu_lam[None, :], sigma_lam[None, :], dims=("model", "vector"))
                    else:
                        lam = mu_lam[None, :] + sigma_lam[None, :] * pm.Normal("lambda_z", 0, 1, dims=("model", "vector"))
                    pm.Deterministic("lambda", lam / d.alpha_scale, dims=("model", "vector"))
                    params["lambda"] = lam
            cues = {c: cond[c] for c in ("values", "goal_guarding", "sycophancy", "stakes")}
            structural = theory.structural_logit(params, cond["m"], cond["k"], _drivers(d), cues, cond["o"],
                                                 cond["alpha"], xp=pt)
            eta_lin = structural[cell_cond] + u[d.q]
            # the binomial likelihood as a Potential (measured 3× faster gradients than pm.Binomial
            # on the example); the pointwise log-likelihood for LOO is computed after sampling
            if judge_error is None:
                pm.Potential("loglik", binomial_potential(d.cells["k"].to_numpy(dtype=float),
                                                          d.cells["n"].to_numpy(dtype=float), eta_lin))
            else:
                pm.Potential("loglik", judged_potential(d.cells["k"].to_numpy(dtype=float),
                                                        d.cells["n"].to_numpy(dtype=float), eta_lin,
                                                        judge_error, "complied"))
        return model

    def _progress(self, n_cells: int) -> bool:
        """Show sampling progress: as asked, else on a terminal or for a fit of >= 1,000 cells
        (minutes of sampling; a small fit takes seconds and stays quiet in logs and tests)."""
        if self.progress is not None:
            return bool(self.progress)
        return sys.stderr.isatty() or n_cells >= PROGRESS_CELLS

    def _centered(self, design: Design) -> bool:
        if self.parameterization not in ("auto", "centered", "noncentered"):
            raise ValueError("parameterization must be 'auto', 'centered' or 'noncentered'")
        if self.parameterization != "auto":
            return self.parameterization == "centered"
        per_model = design.cells.groupby(design.m)["n"].sum()
        return bool(per_model.min() >= 500)

    def _centered_slopes(self, design: Design) -> bool:
        """Steering slopes are informed by the steered cells only: centre them when every
        model × vector has at least 2,000 labelled steered generations (measured: at ~800 the
        centred form funnels, at ~3,000 the non-centred one does)."""
        if self.parameterization != "auto":
            return self.parameterization == "centered"
        K = len(design.vectors)
        steered = design.k < K
        if not steered.any():
            return False
        n = pd.Series(design.cells["n"].to_numpy()[steered]).groupby(
            [design.m[steered], design.k[steered]]).sum()
        return bool(len(n) == len(design.models) * K and n.min() >= 2000)

    # ------------------------------------------------------------------ fit
    def fit(self, df: pd.DataFrame, *, catalog: Catalog | None = None, judge_error: dict | None = None):
        """Fit to a tidy table (or a cell table with ``n`` and ``k``); returns RationalResults.

        ``judge_error={"complied": JudgeError}`` (or a ``JudgeValidation``) corrects for the
        compliance judge's error (docs/judge_error.md): the parameters then describe true
        compliance, and the fit records the correction (``idata.attrs["judge_error"]``).

        A plain table with ``model``, ``condition``, ``variant``, ``query_id`` and ``complied``
        is normalized first; a missing column is named, and so is every condition without
        labelled generations in both tiers (it has no gap to explain).
        """
        from ._sampling import sample
        from .rational_results import RationalResults, canonical_cells

        judge = resolve_judge_error(judge_error, "complied", "RationalAgent.fit")
        catalog = catalog or default_catalog()
        is_cells = {"n", "k"} <= set(df.columns) and "complied" not in df.columns
        cells = df if is_cells else aggregate(as_tidy(df, who="RationalAgent"), check_tiers=False)
        check_tiers(cells, who="RationalAgent")  # raises naming each condition without both tiers
        cells = canonical_cells(cells[cells["n"] > 0])
        cov = self.covariates
        if cov is not None and not isinstance(cov, pd.DataFrame):
            if is_cells:
                raise ValueError("covariate column names need the tidy table; pass a DataFrame indexed by model")
            cov = covariates_from_table(df, cov)
        design = build_design(cells, catalog, cov)
        ident = identifiability(cells, catalog, goal_guarding=self.goal_guarding)
        for _, r in ident[~ident["identified"]].iterrows():
            warnings.warn(f"RationalAgent: {r['parameter']} is not identified by this design: {r['reason']}",
                          stacklevel=2)
        model = self.build(design, judge_error=judge.get("complied"))
        from ..results import meets_thresholds
        from .rational_results import rational_checked_parameters

        def converged(idata):
            return meets_thresholds(idata, rational_checked_parameters(idata["posterior"]))
        idata = sample(model, draws=self.draws, tune=self.tune, chains=self.chains,
                       random_seed=self.random_seed, sampler=self.sampler,
                       target_accept=self.target_accept, progress=self._progress(len(cells)), n_cells=len(cells),
                       converged=converged, max_chains=self.max_chains)
        if judge:
            idata.attrs["judge_error"] = judge_attrs(judge)
        idata.attrs.update({"hdi_prob": float(self.hdi_prob),
                            "random_seed": -1 if self.random_seed is None else int(self.random_seed)})
        res = RationalResults(idata, design, catalog, ident, goal_guarding=self.goal_guarding)
        res.log_likelihood()
        return res
