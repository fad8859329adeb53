"""The hierarchical compliance-gap model (MODEL.md §1) on binomial cells, fitted with PyMC.

Per model × prompt variant × steering condition ("pair") a (β, γ): β the logit compliance in
deployment, γ the logit-scale gap. The pairs of one setting (variant × steering) share a
population mean μ, each model has a deviation δ shared by all its settings, and the pairs
scatter around μ + δ with an LKJ(2) covariance, so a model with little data is pulled toward
the other models (and toward its own other settings). Queries enter with a difficulty effect ``u_q`` and a
query-specific gap ``w_q``, both zero-sum (the global intercept and the mean of the query
effects are not separately identified otherwise; STACK.md measured unconstrained query effects
never converging) and non-centred::

    logit p_c = β_pair + u_q + t · (γ_pair + w_q),   t = oversight (1 training, 0 deployment)
    (β, γ)_pair = μ_setting + δ_model + L · z_pair,   L L' = diag(τ) LKJ(2) diag(τ),   z ~ N(0, 1)
    δ_model ~ ZeroSumNormal(τ_m) over models, independently for β and γ
    u = σ_u · ZeroSumNormal(1),  w = σ_w · ZeroSumNormal(1)

With graded oversight, ``t`` is the stated oversight probability and the reported training rate
is the one at t = 1. Priors (logit scale): μ_β ~ N(0, 1.5), μ_γ ~ N(0, 1) (a negative gap is as plausible as a
positive one), τ ~ HalfNormal(1), τ_m ~ HalfNormal(0.5), σ_u ~ HalfNormal(1), σ_w ~ HalfNormal(0.5).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from .. import _arviz
from ..aggregate import aggregate
from ._loglik import binomial_potential
from ._sampling import SAMPLERS, sample
from .baseline import CONDITION_KEYS, seed_sem_gap

if TYPE_CHECKING:
    from ..results import GapResults

SETTING_KEYS = [k for k in CONDITION_KEYS if k != "model"]
def as_cells(data: pd.DataFrame, label: str = "complied") -> pd.DataFrame:
    """Binomial cells from either the tidy table or a cell table (columns ``n`` and ``k``)."""
    if {"n", "k"} <= set(data.columns) and label not in data.columns:
        cells = data
    elif label in data.columns:
        cells = aggregate(data, label)
    else:
        raise ValueError(f"expected the tidy table (with a '{label}' column) or binomial cells "
                         f"(with 'n' and 'k' columns); got columns {list(data.columns)}")
    missing = [c for c in ("model", "variant", "query_id", "n", "k") if c not in cells.columns]
    if missing:
        raise ValueError(f"cell table lacks required column(s) {missing}")
    cells = cells.copy()
    for c, default in (("scenario", "default"), ("steer_vector", "none"), ("steer_coef", 0.0)):
        if c not in cells.columns:
            cells[c] = default
    if "steer_layer" not in cells.columns:
        cells["steer_layer"] = pd.array([pd.NA] * len(cells), dtype="Int64")
    if "oversight" not in cells.columns:
        if "condition" not in cells.columns:
            raise ValueError("cell table needs an 'oversight' or a 'condition' column")
        cells["oversight"] = np.where(cells["condition"].astype(str) == "training", 1.0, 0.0)
    bad = (cells["k"] < 0) | (cells["k"] > cells["n"])
    if bad.any():
        raise ValueError(f"{int(bad.sum())} cell(s) have k outside [0, n]; e.g. row {cells.index[bad][0]}")
    return cells


@dataclass
class Design:
    """Index arrays that map cells to pairs, settings and queries."""

    pairs: pd.DataFrame          # one row per pair: CONDITION_KEYS, n
    settings: pd.DataFrame       # one row per setting: SETTING_KEYS
    pair_setting: np.ndarray     # setting index of each pair
    pair_model: np.ndarray       # model index of each pair
    models: np.ndarray           # model labels
    queries: np.ndarray          # query labels ("scenario/query_id")
    cell_pair: np.ndarray
    cell_query: np.ndarray
    cell_t: np.ndarray
    cell_n: np.ndarray
    cell_k: np.ndarray


def _codes(frame: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    g = frame.groupby(keys, observed=True, dropna=False, sort=True)
    codes = g.ngroup().to_numpy()
    table = g.size().reset_index()[keys]
    return codes, table


def design(cells: pd.DataFrame) -> Design:
    """Build the index arrays of the model from a cell table (cells with n = 0 are left out)."""
    cells = cells[cells["n"] > 0].reset_index(drop=True)
    if cells.empty:
        raise ValueError("no labelled generations (every cell has n = 0)")
    pair_codes, pairs = _codes(cells, CONDITION_KEYS)
    pairs["n"] = np.bincount(pair_codes, weights=cells["n"].to_numpy(), minlength=len(pairs)).astype(np.int64)
    set_codes, settings = _codes(pairs, SETTING_KEYS)
    qkey = cells["scenario"].astype(str) + "/" + cells["query_id"].astype(str)
    q_codes, q_labels = pd.factorize(qkey, sort=True)
    m_codes, m_labels = pd.factorize(pairs["model"].astype(str), sort=True)
    return Design(pairs=pairs, settings=settings, pair_setting=set_codes, pair_model=m_codes,
                  models=np.asarray(m_labels, dtype=str), queries=np.asarray(q_labels, dtype=str),
                  cell_pair=pair_codes, cell_query=q_codes,
                  cell_t=cells["oversight"].to_numpy(dtype=float),
                  cell_n=cells["n"].to_numpy(dtype=np.int64), cell_k=cells["k"].to_numpy(dtype=np.int64))


def pair_labels(pairs: pd.DataFrame) -> list[str]:
    """Readable labels of the pairs: ``model|scenario|variant|vector|layer|coef``."""
    return ["|".join("" if pd.isna(v) else str(v) for v in row)
            for row in pairs[CONDITION_KEYS].itertuples(index=False)]


def _dense(d: Design):
    """(levels, pairs, queries) arrays of n and k when the cell grid is at least half full, else None."""
    levels, lev = np.unique(d.cell_t, return_inverse=True)
    shape = (len(levels), len(d.pairs), len(d.queries))
    if len(d.cell_n) < 0.5 * np.prod(shape):
        return None
    n = np.zeros(shape, dtype=np.int64)
    k = np.zeros(shape, dtype=np.int64)
    np.add.at(n, (lev, d.cell_pair, d.cell_query), d.cell_n)
    np.add.at(k, (lev, d.cell_pair, d.cell_query), d.cell_k)
    return levels, n, k


def build_model(d: Design, centred: bool | None = None, dense: bool | None = None):
    """The PyMC model (``pm.Model``) of the module docstring for a :class:`Design`.

    Parameterisation (measured on ``data/example`` and the ``bench_fit`` study; see
    docs/model.md): the bivariate (β, γ) of a pair is written as its β part non-centred and its γ
    part centred *given* β, ``γ ~ N(centre_γ + L₁₀ z_β, L₁₁)``, which is the same LKJ model.
    β's scatter across pairs is small (τ_β ≈ 0.1-0.15 logits) so the data barely move it
    past its prior: non-centred. γ's scatter is larger than the data's uncertainty about it, so
    centring removes the coupling between γ and its scale that made the LKJ correlation the
    slowest-mixing quantity (min bulk ESS 67-90 → 220+ on the example). The model-level
    deviations are centred (each model has thousands of generations) unless a model has fewer
    than 1,000.

    ``centred``: force the γ part of the pairs, the model deviations and the query difficulties
    ``u`` centred (True) or non-centred (False); default: γ centred when the median pair has at
    least 200 generations, model deviations when the smallest model has at least 1,000, ``u`` when
    the median query has at least 100. The query-specific gaps ``w`` are always non-centred
    (their scale is often near zero). ``dense``: evaluate the likelihood on the full (tier × pair ×
    query) grid (faster when the grid is at least half full; the default then).
    """
    import pymc as pm
    per_query = np.bincount(d.cell_query, weights=d.cell_n)
    per_model = np.bincount(d.pair_model, weights=d.pairs["n"].to_numpy(dtype=float))
    c_gamma = bool(np.median(d.pairs["n"]) >= 200) if centred is None else centred
    c_model = bool(per_model.min() >= 1000) if centred is None else centred
    c_query = bool(np.median(per_query) >= 100) if centred is None else centred
    grid = _dense(d) if dense in (None, True) else None
    coords = {"pair": pair_labels(d.pairs), "setting": np.arange(len(d.settings)), "model": d.models,
              "param": ["beta", "gamma"], "query": d.queries}
    with pm.Model(coords=coords) as model:
        mu = pm.Normal("mu", mu=0.0, sigma=np.array([1.5, 1.0]), dims=("setting", "param"))
        chol, _, _ = pm.LKJCholeskyCov("chol", n=2, eta=2.0, sd_dist=pm.HalfNormal.dist(1.0, shape=2),
                                       compute_corr=True)
        centre_b = mu[d.pair_setting, 0]
        centre_g = mu[d.pair_setting, 1]
        if len(d.models) > 1:
            # a model-level deviation shared by all of a model's settings; zero-sum over models so
            # that it does not trade off against the setting means μ
            tau_m = pm.HalfNormal("tau_model", 0.5, dims="param")
            if c_model:
                delta_b = pm.ZeroSumNormal("delta_beta", sigma=tau_m[0], dims="model")
                delta_g = pm.ZeroSumNormal("delta_gamma", sigma=tau_m[1], dims="model")
            else:
                delta_b = pm.Deterministic("delta_beta", tau_m[0] * pm.ZeroSumNormal(
                    "delta_beta_raw", sigma=1.0, dims="model"), dims="model")
                delta_g = pm.Deterministic("delta_gamma", tau_m[1] * pm.ZeroSumNormal(
                    "delta_gamma_raw", sigma=1.0, dims="model"), dims="model")
            centre_b = centre_b + delta_b[d.pair_model]
            centre_g = centre_g + delta_g[d.pair_model]
        # (β, γ) = centre + L z with L the LKJ Cholesky factor, written as β | z_β and γ | β
        z_b = pm.Normal("z_beta", 0.0, 1.0, dims="pair")
        beta = pm.Deterministic("beta", centre_b + chol[0, 0] * z_b, dims="pair")
        if c_gamma:
            gamma = pm.Normal("gamma", mu=centre_g + chol[1, 0] * z_b, sigma=chol[1, 1], dims="pair")
        else:
            z_g = pm.Normal("z_gamma", 0.0, 1.0, dims="pair")
            gamma = pm.Deterministic("gamma", centre_g + chol[1, 0] * z_b + chol[1, 1] * z_g, dims="pair")
        if len(d.queries) > 1:
            sigma_u = pm.HalfNormal("sigma_u", 1.0)
            sigma_w = pm.HalfNormal("sigma_w", 0.5)
            if c_query:
                u = pm.ZeroSumNormal("u", sigma=sigma_u, dims="query")
            else:
                u = pm.Deterministic("u", sigma_u * pm.ZeroSumNormal("u_raw", sigma=1.0, dims="query"), dims="query")
            w = pm.Deterministic("w", sigma_w * pm.ZeroSumNormal("w_raw", sigma=1.0, dims="query"), dims="query")
        else:
            u = w = np.zeros(1)
        if grid is not None:
            levels, n, k = grid
            eta_0 = beta[:, None] + u[None, :]
            eta_g = gamma[:, None] + w[None, :]
            eta = eta_0[None] + levels[:, None, None] * eta_g[None]
            pm.Potential("loglik", binomial_potential(k, n, eta))  # empty grid cells (n = 0) add nothing
        else:
            eta = beta[d.cell_pair] + u[d.cell_query] + d.cell_t * (gamma[d.cell_pair] + w[d.cell_query])
            pm.Potential("loglik", binomial_potential(d.cell_k, d.cell_n, eta))
    return model


class ComplianceGap:
    """Hierarchical compliance-gap estimator (MODEL.md §1).

    Parameters
    ----------
    draws, tune, chains : int
        NUTS draws and tuning steps per chain, number of chains.
    random_seed : int, optional
        Same seed, same data, same sampler -> the same posterior.
    sampler : {"auto", "nutpie", "pymc", "numpyro"}
        NUTS backend; ``"auto"`` is :func:`afdecomp.models._sampling.default_sampler` (nutpie when
        installed, measured fastest here). ``"numpyro"`` needs the ``[jax]`` extra.
    hdi_prob : float, default 0.94
        Probability mass of the reported highest-density intervals.
    progress : bool, optional
        Show a progress bar; default: only for fits of more than 5,000 cells.
    target_accept : float, default 0.9

    Examples
    --------
    >>> res = ComplianceGap(draws=500, random_seed=0).fit(df)   # doctest: +SKIP
    >>> res.summary()                                            # doctest: +SKIP
    """

    def __init__(self, draws: int = 1000, tune: int = 1000, chains: int = 2, random_seed: int | None = None,
                 sampler: str = "auto", hdi_prob: float = 0.94, progress: bool | None = None,
                 target_accept: float = 0.9, label: str = "complied"):
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")
        if not 0 < hdi_prob < 1:
            raise ValueError(f"hdi_prob must be in (0, 1), got {hdi_prob}")
        self.draws, self.tune, self.chains = int(draws), int(tune), int(chains)
        self.random_seed = random_seed
        self.sampler = sampler
        self.hdi_prob = hdi_prob
        self.progress = progress
        self.target_accept = target_accept
        self.label = label

    def _sample(self, model, progress: bool, n_cells: int):
        idata = sample(model, draws=self.draws, tune=self.tune, chains=self.chains,
                       random_seed=self.random_seed, sampler=self.sampler,
                       target_accept=self.target_accept, progress=progress, n_cells=n_cells)
        return idata, idata.attrs["sampler"]

    def fit(self, data: pd.DataFrame) -> GapResults:
        """Fit to the tidy table or to its binomial cells; return :class:`GapResults`.

        When the tidy table has several seeds (``sample``), the papers' seed-SEM estimate is
        kept alongside for the figures.
        """
        from ..results import GapResults
        cells = as_cells(data, self.label)
        d = design(cells)
        progress = self.progress if self.progress is not None else len(d.cell_n) > 5000
        model = build_model(d)
        t0 = time.perf_counter()
        idata, sampler = self._sample(model, progress, len(d.cell_n))
        seconds = time.perf_counter() - t0
        seed = None
        if self.label in data.columns and "sample" in data.columns and data["sample"].nunique() > 1:
            seed = seed_sem_gap(data, self.label)
        idata = attach(idata, d, hdi_prob=self.hdi_prob, seed_table=seed, random_seed=self.random_seed,
                       attrs={"sampler": sampler, "sampling_seconds": seconds, "draws": self.draws,
                              "tune": self.tune, "chains": self.chains, "label": self.label})
        return GapResults(idata)


# ----------------------------------------------------------------------------- derived quantities
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def derived_draws(beta: np.ndarray, gamma: np.ndarray, u: np.ndarray, w: np.ndarray,
                  pq_pair: np.ndarray, pq_query: np.ndarray, n_pairs: int, chunk: int = 200):
    """Per draw and pair: rates at t = 1 and t = 0 averaged over the pair's observed queries.

    ``beta, gamma`` are (S, P), ``u, w`` (S, Q); ``(pq_pair, pq_query)`` list each observed
    (pair, query) once. Returns ``rate_training, rate_deployment`` as (S, P).
    """
    from scipy import sparse
    counts = np.bincount(pq_pair, minlength=n_pairs).astype(float)
    avg = sparse.csr_matrix((1.0 / counts[pq_pair], (np.arange(len(pq_pair)), pq_pair)),
                            shape=(len(pq_pair), n_pairs))
    S = beta.shape[0]
    rt = np.empty((S, n_pairs))
    rd = np.empty((S, n_pairs))
    for s0 in range(0, S, chunk):
        sl = slice(s0, s0 + chunk)
        e0 = beta[sl][:, pq_pair] + u[sl][:, pq_query]
        e1 = e0 + gamma[sl][:, pq_pair] + w[sl][:, pq_query]
        rd[sl] = (avg.T @ _sigmoid(e0).T).T
        rt[sl] = (avg.T @ _sigmoid(e1).T).T
    return rt, rd


def _replicated_gap(d: Design, beta, gamma, u, w, rng, max_draws: int = 400):
    """Posterior-predictive pooled gap per pair (k_rep ~ Binomial(n, p) per cell), thinned draws."""
    S = beta.shape[0]
    idx = np.linspace(0, S - 1, min(S, max_draws)).round().astype(int)
    train = d.cell_t > 0
    n_tr = np.bincount(d.cell_pair[train], weights=d.cell_n[train], minlength=len(d.pairs))
    n_de = np.bincount(d.cell_pair[~train], weights=d.cell_n[~train], minlength=len(d.pairs))
    out = np.empty((len(idx), len(d.pairs)))
    for j, s in enumerate(idx):
        eta = beta[s, d.cell_pair] + u[s, d.cell_query] + d.cell_t * (gamma[s, d.cell_pair] + w[s, d.cell_query])
        k = rng.binomial(d.cell_n, _sigmoid(eta))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[j] = (np.bincount(d.cell_pair[train], weights=k[train], minlength=len(d.pairs)) / n_tr
                      - np.bincount(d.cell_pair[~train], weights=k[~train], minlength=len(d.pairs)) / n_de)
    return idx, out


def observed_gap(d: Design) -> np.ndarray:
    """Pooled observed gap per pair: k/n in training minus k/n in deployment."""
    train = d.cell_t > 0
    P = len(d.pairs)

    def rate(mask):
        with np.errstate(invalid="ignore", divide="ignore"):
            return (np.bincount(d.cell_pair[mask], weights=d.cell_k[mask], minlength=P)
                    / np.bincount(d.cell_pair[mask], weights=d.cell_n[mask], minlength=P))
    return rate(train) - rate(~train)


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def attach(idata, d: Design, *, hdi_prob: float, seed_table: pd.DataFrame | None, random_seed=None,
           attrs: dict | None = None):
    """Add the derived rates and gaps, the design and a posterior-predictive check to ``idata``."""
    post = _arviz.group(idata, "posterior")
    C, D = post.sizes["chain"], post.sizes["draw"]
    P, Q = len(d.pairs), len(d.queries)
    beta = _flat(post["beta"].values)
    gamma = _flat(post["gamma"].values)
    u = _flat(post["u"].values) if "u" in post else np.zeros((C * D, Q))
    w = _flat(post["w"].values) if "w" in post else np.zeros((C * D, Q))
    pq = np.unique(np.stack([d.cell_pair, d.cell_query], axis=1), axis=0)
    rt, rd = derived_draws(beta, gamma, u, w, pq[:, 0], pq[:, 1], P)
    dims = ("chain", "draw", "pair")
    post = post.assign(rate_training=(dims, rt.reshape(C, D, P)),
                       rate_deployment=(dims, rd.reshape(C, D, P)),
                       gap=(dims, (rt - rd).reshape(C, D, P)))
    _arviz.set_group(idata, "posterior", post)

    rng = np.random.default_rng(None if random_seed is None else [int(random_seed), 1])
    idx, rep = _replicated_gap(d, beta, gamma, u, w, rng)
    _arviz.set_group(idata, "posterior_predictive", xr.Dataset(
        {"gap_rep": (("sample", "pair"), rep)}, coords={"sample": idx, "pair": post["pair"].values}))

    pairs = d.pairs
    const = {
        "cell_pair": ("cell", d.cell_pair), "cell_query": ("cell", d.cell_query),
        "cell_t": ("cell", d.cell_t), "cell_n": ("cell", d.cell_n),
        "pair_n": ("pair", pairs["n"].to_numpy(dtype=np.int64)),
        "pair_setting": ("pair", d.pair_setting),
        "gap_obs": ("pair", observed_gap(d)),
    }
    for c in CONDITION_KEYS:
        if c == "steer_layer":
            const["key_" + c] = ("pair", pd.to_numeric(pairs[c]).astype("Float64").to_numpy(dtype=float, na_value=np.nan))
        elif c == "steer_coef":
            const["key_" + c] = ("pair", pairs[c].to_numpy(dtype=float))
        else:
            const["key_" + c] = ("pair", pairs[c].astype(str).to_numpy(dtype=str))
    if seed_table is not None:
        st = seed_table.copy()
        st["steer_layer"] = pd.to_numeric(st["steer_layer"]).astype("Float64")
        left = pairs[CONDITION_KEYS].copy()
        left["steer_layer"] = pd.to_numeric(left["steer_layer"]).astype("Float64")
        for c in CONDITION_KEYS:
            if c not in ("steer_layer", "steer_coef"):
                left[c] = left[c].astype(str)
                st[c] = st[c].astype(str)
        m = left.merge(st[CONDITION_KEYS + ["gap", "gap_sem"]], on=CONDITION_KEYS, how="left")
        const["seed_gap"] = ("pair", m["gap"].to_numpy(dtype=float))
        const["seed_gap_sem"] = ("pair", m["gap_sem"].to_numpy(dtype=float))
    _arviz.set_group(idata, "constant_data", xr.Dataset(const, coords={"pair": post["pair"].values,
                                                                        "query": d.queries}))
    _arviz.set_group(idata, "observed_data", xr.Dataset({"k": ("cell", d.cell_k)}))
    all_attrs = {"afdecomp_model": "ComplianceGap", "hdi_prob": float(hdi_prob),
                 "random_seed": -1 if random_seed is None else int(random_seed)}
    all_attrs.update({k: v for k, v in (attrs or {}).items() if v is not None})
    idata.attrs.update(all_attrs)
    return idata
