"""Results of the rational-agent model: summary, predictions, checks, comparison.

``RationalResults`` extends :class:`afdecomp.results.Results`: it holds the posterior
(``.idata``) and the design it was fitted on, kept in ``.idata`` too (group ``design``: the
cells; attributes: the catalog and the model's settings), so that ``to_netcdf`` and
:func:`afdecomp.load_results` round-trip. ``predict`` evaluates the structural equation
(:func:`afdecomp.theory.delta_utility`) for any counterfactual cues, oversight and steering,
per posterior draw, so decompositions and theory checks are computed from the same draws.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from .. import _arviz, theory
from ..design import Catalog, Variant, Vector
from ..results import Results
from ..schema import CONDITIONS
from ._loglik import observed_log_probs
from .judge_error import judge_draws
from .rational import Design, _drivers, build_design, identifiability

MODEL_PARAMS = ("b", "V", "S", "g", "rho", "eta")
POP_PARAMS = ("mu_b", "sigma_b", "mu_logV", "sigma_logV", "mu_S", "sigma_S", "mu_logg", "sigma_logg",
              "sigma_u", "theta_V", "theta_S", "theta_g")
CONDITION = ["model", "scenario", "variant", "steer_vector", "steer_layer", "steer_coef", "oversight"]


def rational_checked_parameters(posterior) -> list[str]:
    """The rational-agent variables whose convergence is checked: every posterior variable but
    the standardized ``*_z`` and the rescaled ``lambda``."""
    return [v for v in posterior.data_vars if not v.endswith("_z") and v != "lambda"]


class RationalResults(Results):
    """A fitted :class:`~afdecomp.RationalAgent`.

    :meth:`afdecomp.RationalAgent.fit` and :func:`afdecomp.load_results`
    build it; each parameter but ``check`` is kept as the attribute of the same name.

    Parameters
    ----------
    idata : xarray.DataTree
        Posterior, sample stats, the pointwise log-likelihood and the design (group ``design``).
    design : Design, optional
        The cells and index arrays the model was fitted on; it is then stored in ``idata``
        (with ``catalog`` and ``goal_guarding``). None: all three are read back from ``idata``
        (a fit loaded from a file).
    catalog : Catalog, optional
        The driver catalog of the fit; required with ``design``.
    identifiability : DataFrame, optional
        What the design identifies (:func:`afdecomp.identifiability`); None: computed from the
        design when first asked for.
    goal_guarding : bool, optional
        Whether the model has the goal-guarding term (default True when ``design`` is given).
    check : bool, default True
        Test convergence at once (:meth:`check`: R-hat, bulk and tail ESS, divergences) and warn
        with a :class:`ConvergenceWarning` naming what failed. :meth:`from_idata` (a fit read
        back from a file) passes False.
    """

    kind = "RationalAgent"
    structural = True

    def __init__(self, idata, design: Design | None = None, catalog: Catalog | None = None,
                 identifiability: pd.DataFrame | None = None, goal_guarding: bool | None = None,
                 *, check: bool = True):
        if design is None:
            design, catalog, goal_guarding = design_from_idata(idata)
        else:
            if catalog is None:
                raise ValueError("RationalResults needs the catalog of the fit with its design")
            goal_guarding = True if goal_guarding is None else bool(goal_guarding)
            store_design(idata, design, catalog, goal_guarding)
        self.design = design
        self.catalog = catalog
        self.goal_guarding = goal_guarding
        self._ident = identifiability
        super().__init__(idata, check=check)

    @property
    def identifiability(self) -> pd.DataFrame:
        """Which parameters the design identifies (recomputed from the design after loading)."""
        if self._ident is None:
            self._ident = identifiability(self.design.cells, self.catalog, goal_guarding=self.goal_guarding)
        return self._ident

    @property
    def name(self) -> str:
        return "rational" if self.goal_guarding else "rational (no g)"

    # ------------------------------------------------------------------ draws
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
    def summary(self, ci_prob: float | None = None, *, hdi_prob: float | None = None) -> pd.DataFrame:
        """Per model and parameter (b, V, S, g, lambda_<vector>, rho, eta) and population rows.

        Returns
        -------
        DataFrame
            ``model`` (``"(population)"`` for hyperparameters), ``parameter``, ``mean``, ``sd``,
            ``lo``, ``hi`` (HDI at ``ci_prob``, default the fit's ``hdi_prob``, 0.94;
            ``hdi_prob=`` is the older name). A judge-corrected fit adds rows ``"(judge)"``,
            ``se_complied`` / ``sp_complied`` (the judge's rates used; sd 0 when fixed), and
            ``.attrs["judge_error"]`` names the correction ("no judge correction" otherwise).
        """
        prob = self._prob(ci_prob, hdi_prob)
        rows = []
        d = self.design

        def add(model, name, x):
            lo, hi = _arviz.hdi(x[None, :], prob=prob)
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
        rows += [("(judge)", f"{short}_{label}", *vals) for label, short, *vals in self._judge_summary_rows(prob)]
        out = pd.DataFrame(rows, columns=["model", "parameter", "mean", "sd", "lo", "hi"])
        out.attrs["judge_error"] = self.judge_note()
        return out

    def checked_parameters(self) -> list[str]:
        return rational_checked_parameters(self.idata["posterior"])

    # ------------------------------------------------------------------ analyses
    def gap_draws(self, cues="default", *, queries: str = "observed", scenario: str | None = None,
                  random_seed=0) -> xr.DataArray:
        """:meth:`predict_gap` (see :meth:`afdecomp.results.Results.gap_draws`); the structural
        model does not separate scenarios, so ``scenario`` is not used."""
        return self.predict_gap(cues, queries=queries, random_seed=random_seed)

    def fitted_variants(self) -> list[str]:
        return sorted(set(self.design.cells["variant"].astype(str)))

    def by_condition(self, name: str = "gap") -> xr.DataArray:
        """Predicted ``gap``, ``rate_training`` or ``rate_deployment`` of every fitted condition.

        Dims ``draw``, ``model``, ``variant`` and, with steering, ``steer_vector`` and
        ``steer_coef`` (the unsteered condition is ``steer_vector="none"``, ``steer_coef=0``);
        NaN where the data have no such condition. The same layout as
        :meth:`afdecomp.GapResults.by_condition`, e.g. ``res.by_condition().sel(model=m)``.
        """
        what = {"gap": None, "rate_training": "training", "rate_deployment": "deployment"}
        if name not in what:
            raise ValueError(f"name must be one of {list(what)}, not {name!r}")
        cells = self.design.cells
        conds = cells[["variant", "steer_vector", "steer_coef"]].astype({"variant": str, "steer_vector": str})
        conds = conds.drop_duplicates().sort_values(["variant", "steer_vector", "steer_coef"])
        models = list(self.design.models)
        seen = cells.groupby([cells["variant"].astype(str), cells["steer_vector"].astype(str), "steer_coef",
                              cells["model"].astype(str)], observed=True).size()
        arrays = []
        for v, vec, a in conds.itertuples(index=False):
            kw = {"steer_vector": vec, "steer_coef": float(a)}
            x = (self.predict_gap(v, **kw) if what[name] is None else self.predict(v, what[name], **kw)).to_numpy()
            has = np.array([(v, vec, a, m) in seen.index for m in models])
            arrays.append(np.where(has[None, :], x, np.nan))
        index = pd.MultiIndex.from_frame(conds.reset_index(drop=True))
        da = xr.DataArray(np.stack(arrays, axis=-1), dims=("draw", "model", "condition"), coords={"model": models})
        da = da.assign_coords(xr.Coordinates.from_pandas_multiindex(index, "condition")).unstack("condition")
        if not self.design.steered:
            da = da.squeeze(["steer_vector", "steer_coef"], drop=True)
        return da.rename(name)

    def _repr_parts(self) -> list[str]:
        d = self.design
        return [f"{len(d.models)} model(s)", f"{len(self.fitted_variants())} variant(s)",
                f"{len(d.vectors)} steering vector(s)", f"{len(d.cells)} cells",
                "goal guarding" if self.goal_guarding else "no goal guarding"]

    # ------------------------------------------------------------------ predictions
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
        K = len(d.vectors)
        vector, a = K, 0.0                              # no vector, or a control: no slope
        if steer_vector not in (None, "none") and steer_coef != 0:
            a = float(steer_coef)
            if self.catalog.vector(steer_vector).driver != "control":
                if steer_vector not in d.vectors:
                    raise ValueError(f"vector {steer_vector!r} was not in the fitted data; known: {d.vectors}")
                vector = d.vectors.index(steer_vector)
        # ΔU per draw and model (the lambda, rho, eta draws are per unit α already)
        du = theory.structural_logit(P, np.arange(M), np.full(M, vector), _drivers(d), z, o, a)
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
        p = expit(du[:, :, None] + u)
        rate = (p * w).sum(-1) / w.sum(-1)
        return xr.DataArray(rate, dims=("draw", "model"), coords={"model": d.models})

    def predict_gap(self, cues="default", **kwargs) -> xr.DataArray:
        """P(comply | training) − P(comply | deployment) per draw and model (see :meth:`predict`)."""
        kwargs.pop("condition", None)
        return self.predict(cues, "training", **kwargs) - self.predict(cues, "deployment", **kwargs)

    # ------------------------------------------------------------------ checks
    def _cell_p(self, draw_idx: np.ndarray) -> np.ndarray:
        """P(comply) of every fitted cell for the given draws: (draws, cells)."""
        return expit(self._cell_logit(draw_idx))

    def _cell_logit(self, draw_idx: np.ndarray) -> np.ndarray:
        """Logit of P(comply) (ΔU) of every fitted cell for the given draws: (draws, cells)."""
        d = self.design
        P = self.param_draws()
        sel = {k: v[draw_idx] for k, v in P.items()}
        du = theory.structural_logit(sel, d.m, d.k, _drivers(d), d.z, d.o, d.alpha * d.alpha_scale)
        return du + sel["u"][:, d.q]

    def _cell_counts(self):
        return self.design.cells["k"].to_numpy(), self.design.cells["n"].to_numpy()

    def ppc(self, ci_prob: float | None = None, max_draws: int = 400, random_seed=0, *,
            hdi_prob: float | None = None) -> pd.DataFrame:
        """Posterior predictive check of the observed gap per condition.

        For each model × variant × steering condition (and oversight level > 0), the observed
        gap (pooled training rate − pooled deployment rate) against its posterior predictive
        distribution (binomial replicates of every cell; judged counts for a judge-corrected
        fit). Columns: condition keys,
        ``observed``, ``predicted`` (mean), ``lo``, ``hi``, ``p_value`` (two-sided tail).
        """
        rng = np.random.default_rng(random_seed)
        d = self.design
        D = self.draws("b").shape[0]
        idx = rng.choice(D, size=min(D, max_draws), replace=False)
        p = self._cell_p(idx)
        jd = judge_draws(self.idata.attrs, self.idata["posterior"])
        if jd is not None:  # judge-corrected fit: replicate judged counts, comparable with the observed ones
            p = np.exp(observed_log_probs(self._cell_logit(idx), jd[0][idx, None], jd[1][idx, None])[0])
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
        lo, hi = _arviz.hdi(rep.T, prob=self._prob(ci_prob, hdi_prob))
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


# ----------------------------------------------------------------------------- the design in .idata
def _catalog_json(catalog: Catalog) -> str:
    return json.dumps({"variants": {n: {**v.cues(), "description": v.description} for n, v in catalog.variants.items()},
                       "vectors": {n: {"driver": v.driver, "description": v.description}
                                   for n, v in catalog.vectors.items()}})


def _catalog_from_json(text: str) -> Catalog:
    data = json.loads(text)
    return Catalog({n: Variant(n, **spec) for n, spec in data["variants"].items()},
                   {n: Vector(n, **spec) for n, spec in data["vectors"].items()})


def _cells_dataset(cells: pd.DataFrame) -> xr.Dataset:
    out = {}
    for c in cells.columns:
        s = cells[c]
        if c == "steer_layer":
            out[c] = ("cell", pd.to_numeric(s).astype("Float64").to_numpy(dtype=float, na_value=np.nan))
        elif pd.api.types.is_integer_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            out[c] = ("cell", s.to_numpy(dtype=np.int64))
        elif pd.api.types.is_float_dtype(s.dtype):
            out[c] = ("cell", s.to_numpy(dtype=float))
        else:
            out[c] = ("cell", s.astype(str).to_numpy(dtype=str))
    return xr.Dataset(out)


def _cells_frame(ds: xr.Dataset) -> pd.DataFrame:
    out = {}
    for c, v in ds.data_vars.items():
        if v.dims != ("cell",):
            continue
        x = v.values
        if c == "steer_layer":
            out[c] = pd.array(x, dtype="Float64").astype("Int64")
        elif x.dtype.kind in "iuf":
            out[c] = x
        elif c == "condition":
            out[c] = pd.Categorical(x.astype(str), categories=list(CONDITIONS))
        else:
            out[c] = pd.Categorical(x.astype(str))
    return pd.DataFrame(out)


def canonical_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The cell table as it is stored and read back (categories, Int64 layer): fit and load agree."""
    return _cells_frame(_cells_dataset(cells.reset_index(drop=True)))


def store_design(idata, design: Design, catalog: Catalog, goal_guarding: bool) -> None:
    """Keep the design (cells, standardized covariates), the catalog and the settings in ``idata``."""
    ds = _cells_dataset(design.cells)
    if design.covariates.shape[1]:
        cov = design.covariates
        # own dimension name: the cell table already holds a variable "model" (one per cell)
        ds = ds.assign(covariates=(("covariate_model", "covariate"), cov.to_numpy(dtype=float)),
                       covariate_mean=("covariate", design.covariate_moments["mean"].to_numpy(dtype=float)),
                       covariate_sd=("covariate", design.covariate_moments["sd"].to_numpy(dtype=float)))
        ds = ds.assign_coords(covariate_model=list(cov.index.astype(str)), covariate=list(cov.columns))
    _arviz.set_group(idata, "design", ds)
    idata.attrs.update({"afdecomp_model": RationalResults.kind, "catalog": _catalog_json(catalog),
                        "goal_guarding": int(goal_guarding)})


def design_from_idata(idata) -> tuple[Design, Catalog, bool]:
    """The design, catalog and goal-guarding setting stored by :func:`store_design`."""
    if not _arviz.has_group(idata, "design") or "catalog" not in idata.attrs:
        raise ValueError("this rational-agent posterior has no stored design; refit it with this version")
    ds = _arviz.group(idata, "design")
    catalog = _catalog_from_json(idata.attrs["catalog"])
    design = build_design(_cells_frame(ds), catalog, None)
    if "covariates" in ds:
        cols = [str(c) for c in ds["covariate"].values]
        models = [str(m) for m in ds["covariate_model"].values]
        design.covariates = pd.DataFrame(ds["covariates"].values, index=pd.Index(models, name="model"), columns=cols)
        design.covariate_moments = pd.DataFrame({"mean": ds["covariate_mean"].values, "sd": ds["covariate_sd"].values},
                                                index=cols)
    return design, catalog, bool(int(idata.attrs.get("goal_guarding", 1)))
