"""Results of the rational-agent model: summary, predictions, checks, comparison.

``RationalResults`` holds the posterior (``.idata``) and the design it was fitted on.
``predict`` evaluates the structural equation (:func:`afdecomp.theory.p_comply`) for any
counterfactual cues, oversight and steering, per posterior draw, so decompositions and
theory checks are computed from the same draws.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from .. import _arviz, theory
from ..design import CUES, Catalog
from .rational import Design

MODEL_PARAMS = ("b", "V", "S", "g", "rho", "eta")
POP_PARAMS = ("mu_b", "sigma_b", "mu_logV", "sigma_logV", "mu_S", "sigma_S", "mu_logg", "sigma_logg",
              "sigma_u", "theta_V", "theta_S", "theta_g")
CONDITION = ["model", "scenario", "variant", "steer_vector", "steer_layer", "steer_coef", "oversight"]


class RationalResults:
    """A fitted :class:`~afdecomp.RationalAgent`."""

    def __init__(self, idata, design: Design, catalog: Catalog, identifiability: pd.DataFrame,
                 goal_guarding: bool = True):
        self.idata = idata
        self.design = design
        self.catalog = catalog
        self.identifiability = identifiability
        self.goal_guarding = goal_guarding
        self._warn_diagnostics()

    # ------------------------------------------------------------------ draws
    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a variable, chains stacked: shape (draw, ...)."""
        x = _arviz.posterior(self.idata, name)
        return x.reshape((-1,) + x.shape[2:])

    def has(self, name: str) -> bool:
        """Whether the posterior has a variable (e.g. ``g`` is absent without goal guarding)."""
        return name in self.idata["posterior"]

    def param_draws(self) -> dict[str, np.ndarray]:
        """Per-draw arrays of every structural parameter: b, V, S, g, rho, eta (draw × model),
        lambda (draw × model × vector) and u (draw × query); absent terms are zeros."""
        d = self.design
        M = len(d.models)
        out = {p: self.draws(p) for p in ("b", "V", "S")}
        D = out["b"].shape[0]
        out["g"] = self.draws("g") if self.has("g") else np.zeros((D, M))
        for p in ("rho", "eta"):
            out[p] = self.draws(p) if self.has(p) else np.zeros((D, M))
        out["lambda"] = self.draws("lambda") if self.has("lambda") else np.zeros((D, M, 0))
        out["u"] = self.draws("u")
        return out

    # ------------------------------------------------------------------ tables
    def summary(self, hdi_prob: float = 0.94) -> pd.DataFrame:
        """Per model and parameter (b, V, S, g, lambda_<vector>, rho, eta) and population rows.

        Returns
        -------
        DataFrame
            ``model`` (``"(population)"`` for hyperparameters), ``parameter``, ``mean``, ``sd``,
            ``lo``, ``hi`` (HDI at ``hdi_prob``).
        """
        rows = []
        d = self.design

        def add(model, name, x):
            lo, hi = _arviz.hdi(x[None, :], prob=hdi_prob)
            rows.append((model, name, float(x.mean()), float(x.std(ddof=1)), float(lo[0]), float(hi[0])))

        for p in MODEL_PARAMS:
            if not self.has(p):
                continue
            x = self.draws(p)
            for j, m in enumerate(d.models):
                add(m, p, x[:, j])
        if self.has("lambda"):
            x = self.draws("lambda")
            for j, m in enumerate(d.models):
                for i, v in enumerate(d.vectors):
                    add(m, f"lambda_{v}", x[:, j, i])
        for p in POP_PARAMS:
            if not self.has(p):
                continue
            x = self.draws(p)
            if x.ndim == 1:
                add("(population)", p, x)
            else:
                for i, c in enumerate(d.covariates.columns):
                    add("(population)", f"{p}_{c}", x[:, i])
        return pd.DataFrame(rows, columns=["model", "parameter", "mean", "sd", "lo", "hi"])

    def diagnostics(self) -> pd.DataFrame:
        """R-hat, bulk and tail ESS of every sampled parameter; ``.attrs['divergences']``."""
        names = [v for v in self.idata["posterior"].data_vars
                 if not v.endswith("_z") and v not in ("lambda",)]
        out = _arviz.diagnostics(self.idata, names)
        out.attrs["divergences"] = self.divergences
        return out

    @property
    def divergences(self) -> int:
        return _arviz.divergences(self.idata)

    def _warn_diagnostics(self) -> None:
        try:
            diag = self.diagnostics()
        except Exception:  # a degenerate fit (e.g. 1 chain) still returns results
            return
        problems = []
        if diag["r_hat"].max() > 1.01:
            problems.append(f"max R-hat {diag['r_hat'].max():.3f} > 1.01")
        if diag["ess_bulk"].min() < 400:
            problems.append(f"min bulk ESS {diag['ess_bulk'].min():.0f} < 400")
        if diag["ess_tail"].min() < 400:
            problems.append(f"min tail ESS {diag['ess_tail'].min():.0f} < 400")
        if self.divergences:
            problems.append(f"{self.divergences} divergent transition(s)")
        if problems:
            warnings.warn("RationalAgent fit may be unreliable: " + "; ".join(problems)
                          + " (see .diagnostics(); more draws/tune or a higher target_accept help)",
                          RuntimeWarning, stacklevel=3)

    # ------------------------------------------------------------------ predictions
    def resolve_cues(self, cues) -> dict[str, float]:
        """A variant name or a partial cue dict -> all four cues (omitted cues are 1)."""
        if isinstance(cues, str):
            return self.catalog.variant(cues).cues()
        unknown = set(cues) - set(CUES)
        if unknown:
            raise ValueError(f"unknown cue(s) {sorted(unknown)}; cues are {list(CUES)}")
        return {c: float(cues.get(c, 1.0)) for c in CUES}

    def query_mask(self) -> np.ndarray:
        """Boolean (model × query): which queries each model was observed on."""
        d = self.design
        mask = np.zeros((len(d.models), len(d.queries)), bool)
        mask[d.m, d.q] = True
        return mask

    def predict(self, cues="default", condition: str = "training", *, oversight: float | None = None,
                steer_vector: str | None = None, steer_coef: float = 0.0,
                queries: str = "observed", random_seed=None) -> xr.DataArray:
        """P(comply) per posterior draw and model for any (counterfactual) condition.

        Parameters
        ----------
        cues : str or dict
            A catalog variant name, or cues ``{"values": .., "goal_guarding": ..,
            "sycophancy": .., "stakes": ..}`` (omitted cues are 1).
        condition : {"training", "deployment"}
            Oversight 1 or 0; ``oversight=`` overrides with a stated probability.
        steer_vector, steer_coef : str, float
            A steering vector of the fit (or a control) at coefficient α.
        queries : {"observed", "new"}
            Average over each model's observed queries (the reported estimand) or over a
            new query drawn from N(0, σ_u) (Monte Carlo).

        Returns
        -------
        xarray.DataArray
            Dims ``("draw", "model")``.
        """
        z = self.resolve_cues(cues)
        o = (1.0 if condition == "training" else 0.0) if oversight is None else float(oversight)
        if condition not in ("training", "deployment"):
            raise ValueError("condition must be 'training' or 'deployment'")
        P = self.param_draws()
        d = self.design
        D, M = P["b"].shape
        lam = {"values": 0.0, "sycophancy": 0.0, "goal_guarding": 0.0}
        a = 0.0
        nonspec = steer_vector not in (None, "none") and steer_coef != 0
        if nonspec:
            a = float(steer_coef)
            driver = self.catalog.vector(steer_vector).driver
            if driver != "control":
                if steer_vector not in d.vectors:
                    raise ValueError(f"vector {steer_vector!r} was not in the fitted data; known: {d.vectors}")
                lam[driver] = P["lambda"][:, :, d.vectors.index(steer_vector)][:, :, None]
        if queries == "observed":
            u = P["u"][:, None, :]                       # draw × 1 × Q
            w = self.query_mask().astype(float)[None]   # 1 × M × Q
        elif queries == "new":
            rng = np.random.default_rng(random_seed)
            sig = self.draws("sigma_u")
            u = (rng.normal(size=(D, 200)) * sig[:, None])[:, None, :]
            w = np.ones((1, M, 200))
        else:
            raise ValueError("queries must be 'observed' or 'new'")
        p = theory.p_comply(
            P["b"][:, :, None], P["V"][:, :, None], P["S"][:, :, None], P["g"][:, :, None],
            z_values=z["values"], z_goal_guarding=z["goal_guarding"], z_sycophancy=z["sycophancy"],
            stakes=z["stakes"], oversight=o, u=u, alpha=a,
            lambda_values=lam["values"], lambda_sycophancy=lam["sycophancy"],
            lambda_goal_guarding=lam["goal_guarding"] if self.goal_guarding else 0.0,
            rho=P["rho"][:, :, None] if nonspec else 0.0, eta=P["eta"][:, :, None] if nonspec else 0.0)
        rate = (p * w).sum(-1) / w.sum(-1)
        return xr.DataArray(rate, dims=("draw", "model"), coords={"model": d.models})

    def predict_gap(self, cues="default", **kwargs) -> xr.DataArray:
        """P(comply | training) − P(comply | deployment) per draw and model (see :meth:`predict`)."""
        kwargs.pop("condition", None)
        return self.predict(cues, "training", **kwargs) - self.predict(cues, "deployment", **kwargs)

    # ------------------------------------------------------------------ checks
    def _cell_p(self, draw_idx: np.ndarray) -> np.ndarray:
        """P(comply) of every fitted cell for the given draws: (draws, cells)."""
        from scipy.special import expit
        return expit(self._cell_logit(draw_idx))

    def _cell_logit(self, draw_idx: np.ndarray) -> np.ndarray:
        """Logit of P(comply) (ΔU) of every fitted cell for the given draws: (draws, cells)."""
        d = self.design
        P = self.param_draws()
        sel = {k: v[draw_idx] for k, v in P.items()}
        K = len(d.vectors)
        lam_full = np.concatenate([sel["lambda"], np.zeros(sel["lambda"].shape[:2] + (1,))], axis=2)
        lam_c = lam_full[:, d.m, d.k]  # the 'lambda' draws are per unit α already
        drv = np.array([d.vector_driver[v] for v in d.vectors] + ["none"])[d.k] if K else np.array(["none"] * len(d.m))
        alpha = d.alpha * d.alpha_scale
        return theory.delta_utility(
            sel["b"][:, d.m], sel["V"][:, d.m], sel["S"][:, d.m], sel["g"][:, d.m],
            z_values=d.z["values"], z_goal_guarding=d.z["goal_guarding"], z_sycophancy=d.z["sycophancy"],
            stakes=d.z["stakes"], oversight=d.o, u=sel["u"][:, d.q], alpha=alpha,
            lambda_values=np.where(drv == "values", lam_c, 0.0),
            lambda_sycophancy=np.where(drv == "sycophancy", lam_c, 0.0),
            lambda_goal_guarding=np.where(drv == "goal_guarding", lam_c, 0.0),
            rho=sel["rho"][:, d.m], eta=sel["eta"][:, d.m])

    def log_likelihood(self, chunk: int = 100) -> xr.Dataset:
        """Pointwise binomial log-likelihood ``log Binom(k | n, p)`` per draw and cell.

        Computed from the draws (the model's likelihood is a ``pm.Potential``) and kept as the
        ``log_likelihood`` group of ``.idata`` (variable ``k``; dims chain, draw, cell), with the
        counts as ``observed_data`` — what PSIS-LOO (:meth:`compare`) needs. Returns the group.
        """
        from ._loglik import attach_pointwise
        k = self.design.cells["k"].to_numpy()
        _arviz.set_group(self.idata, "observed_data", xr.Dataset({"k": ("cell", k.astype(np.int64))}))
        return attach_pointwise(self.idata, k, self.design.cells["n"].to_numpy(), self._cell_logit, chunk)

    def ppc(self, hdi_prob: float = 0.94, max_draws: int = 400, random_seed=0) -> pd.DataFrame:
        """Posterior predictive check of the observed gap per condition.

        For each model × variant × steering condition (and oversight level > 0), the observed
        gap (pooled training rate − pooled deployment rate) against its posterior predictive
        distribution (binomial replicates of every cell). Columns: condition keys,
        ``observed``, ``predicted`` (mean), ``lo``, ``hi``, ``p_value`` (two-sided tail).
        """
        rng = np.random.default_rng(random_seed)
        d = self.design
        D = self.draws("b").shape[0]
        idx = rng.choice(D, size=min(D, max_draws), replace=False)
        p = self._cell_p(idx)
        n = d.cells["n"].to_numpy()
        k_rep = rng.binomial(n[None, :], p)
        cells = d.cells
        keys = [c for c in CONDITION if c in cells.columns and c != "oversight"]
        grp = cells.groupby(keys, observed=True, dropna=False).ngroup().to_numpy()
        G = grp.max() + 1
        tr = cells["oversight"].to_numpy() > 0

        def pooled(kk, mask):
            num = np.zeros(kk.shape[:-1] + (G,))
            den = np.zeros(G)
            np.add.at(num.T, grp[mask], kk[..., mask].T)
            np.add.at(den, grp[mask], n[mask])
            with np.errstate(invalid="ignore", divide="ignore"):
                return num / den
        obs = pooled(cells["k"].to_numpy(dtype=float), tr) - pooled(cells["k"].to_numpy(dtype=float), ~tr)
        rep = pooled(k_rep.astype(float), tr) - pooled(k_rep.astype(float), ~tr)
        lo, hi = _arviz.hdi(rep.T, prob=hdi_prob)
        first = cells.groupby(grp).first()[keys]
        out = first.reset_index(drop=True)
        out["observed"] = obs
        out["predicted"] = np.nanmean(rep, axis=0)
        out["lo"], out["hi"] = lo, hi
        tail = np.minimum((rep >= obs).mean(0), (rep <= obs).mean(0))
        out["p_value"] = np.minimum(1.0, 2 * tail)
        return out.dropna(subset=["observed"]).reset_index(drop=True)

    def theory_checks(self, variant="default") -> pd.DataFrame:
        """The theory's predictions, per model, from the posterior.

        Columns: ``gap`` (predicted, full cues), ``gap_no_strategic_cues`` (max |gap| over draws
        with z_G = z_S = 0; the theory says exactly 0), ``V``, ``V_peak`` (the V at which this
        model's predicted gap would peak, +inf when it keeps rising: g > 1 or the peak lies
        beyond the grid), ``side`` ("rising" if V < V_peak else "falling"),
        ``oversight_logit_nonlinearity`` (max deviation from linearity in o of the logit-scale
        effect of oversight at the median query; 0 by the theory).
        """
        z = self.resolve_cues(variant)
        gap = self.predict_gap(variant)
        off = self.predict_gap({**z, "goal_guarding": 0.0, "sycophancy": 0.0})
        P = self.param_draws()
        d = self.design
        grid = np.linspace(0.0, 8.0, 161)
        rows = []
        u_med = np.median(P["u"], axis=0)
        for j, m in enumerate(d.models):
            mask = self.query_mask()[j]
            b, S, g = (np.median(P[k][:, j]) for k in ("b", "S", "g"))
            curve = [theory.gap(b, v, S, g, u=u_med[mask], z_values=z["values"], z_goal_guarding=z["goal_guarding"],
                                z_sycophancy=z["sycophancy"], stakes=z["stakes"]) for v in grid]
            i = int(np.argmax(curve))
            v_peak = float(grid[i]) if i < len(grid) - 1 else np.inf
            V = float(np.median(P["V"][:, j]))
            os_ = np.linspace(0, 1, 11)
            lg = [theory.delta_utility(b, V, S, g, oversight=o, u=float(np.median(u_med[mask])),
                                       z_values=z["values"], z_goal_guarding=z["goal_guarding"],
                                       z_sycophancy=z["sycophancy"], stakes=z["stakes"]) for o in os_]
            lin = np.interp(os_, [0, 1], [lg[0], lg[-1]])
            rows.append({"model": m, "gap": float(gap[:, j].mean()),
                         "gap_no_strategic_cues": float(np.abs(off[:, j]).max()),
                         "g": float(g), "V": V, "V_peak": v_peak, "side": "rising" if V < v_peak else "falling",
                         "oversight_logit_nonlinearity": float(np.max(np.abs(np.asarray(lg) - lin)))})
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ comparison
    def compare(self, *others, names=None) -> pd.DataFrame:
        """PSIS-LOO comparison with other fits on the same cells (``arviz.compare``).

        Pass a :class:`~afdecomp.GapResults` (the reduced-form model) and/or other
        ``RationalResults`` (e.g. without goal guarding). Every fit must have been made on the
        same data, so that the cells (the observations of the LOO) are the same.
        """
        self.log_likelihood()
        fits = {"rational" if self.goal_guarding else "rational (no g)": self.idata}
        for i, o in enumerate(others):
            label = (names[i] if names else None) or (
                ("rational" if o.goal_guarding else "rational (no g)") if isinstance(o, RationalResults)
                else "reduced-form gap")
            if label in fits:
                label = f"{label} #{i + 2}"
            o.log_likelihood()  # computed from the draws once, then kept in .idata
            fits[label] = o.idata
        return _arviz.compare(fits)

    def to_netcdf(self, path):
        """Write the posterior (with the design table as a group) to NetCDF."""
        return _arviz.to_netcdf(self.idata, path)
