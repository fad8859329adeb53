"""Results objects: a fitted posterior (a DataTree) with its draws, diagnostics, tables and I/O.

:class:`Results` is the base of every fitted model of the package (as statsmodels' ``Results``
is of its models): it holds ``.idata``, gives ``draws``, ``diagnostics``, one convergence
check (:class:`ConvergenceWarning`, thresholds :data:`RHAT_MAX` and :data:`ESS_MIN`),
``summary``, the pointwise log-likelihood and PSIS-LOO ``compare``, ``to_netcdf`` and the
method the analyses need, :meth:`Results.gap_draws` (the gap per draw and model for a prompt
variant or a set of cues). Everything is computed from ``.idata``, which records the kind of
fit (``attrs["afdecomp_model"]``), so :func:`load_results` gives back the same object.

:class:`GapResults` wraps what :class:`afdecomp.ComplianceGap` returns;
:class:`afdecomp.RationalResults` (``models/rational_results.py``) extends the same base.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from . import _arviz
from .design import CUES, Catalog, default_catalog
from .models._loglik import attach_pointwise, gap_logit
from .models.baseline import CONDITION_KEYS
from .models.judge_error import describe_judge, judge_draws, judge_from_attrs

#: Convergence thresholds for every fit (docs/concepts.md, "Checks every fit reports"): warn when any is crossed.
RHAT_MAX = 1.01
ESS_MIN = 400

#: The gap model's sampled parameters whose convergence is checked (derived ones follow from them).
CHECKED = ("mu", "chol_stds", "chol_corr", "tau_model", "delta_midpoint", "delta_gamma", "beta", "gamma",
           "sigma_u", "sigma_w", "u", "w")

SUMMARY_COLUMNS = CONDITION_KEYS + ["rate_training", "rate_deployment", "gap", "gap_lo", "gap_hi", "n"]

#: kind (``idata.attrs["afdecomp_model"]``) -> results class; filled by subclasses.
KINDS: dict[str, type[Results]] = {}


def interval_prob(ci_prob: float | None, hdi_prob: float | None, default: float = 0.94) -> float:
    """The interval probability of a call: ``ci_prob`` (ArviZ 1.x's name), or the older
    ``hdi_prob`` where the API named it, else ``default``; checked to lie in (0, 1)."""
    if ci_prob is not None and hdi_prob is not None and float(ci_prob) != float(hdi_prob):
        raise ValueError(f"ci_prob={ci_prob} and hdi_prob={hdi_prob} disagree; pass one (ci_prob)")
    prob = float(ci_prob if ci_prob is not None else hdi_prob if hdi_prob is not None else default)
    if not 0 < prob < 1:
        raise ValueError(f"the interval probability must lie in (0, 1), got {prob}")
    return prob


def _parameter_diagnostics(idata, names: list[str]) -> pd.DataFrame:
    """R-hat, bulk and tail ESS of ``names``, without a correlation matrix's constant diagonal."""
    diag = _arviz.diagnostics(idata, names)
    return diag[~(diag["parameter"].str.contains("_corr") & diag["r_hat"].isna())].reset_index(drop=True)


def _within_thresholds(d: pd.DataFrame) -> bool:
    """Max R-hat <= :data:`RHAT_MAX` and min bulk and tail ESS >= :data:`ESS_MIN` in a diagnostics table."""
    return bool(d["r_hat"].max() <= RHAT_MAX and d["ess_bulk"].min() >= ESS_MIN and d["ess_tail"].min() >= ESS_MIN)


def meets_thresholds(idata, names: list[str]) -> tuple[bool, float]:
    """Whether the draws of ``names`` meet R-hat <= :data:`RHAT_MAX` and bulk and tail ESS >=
    :data:`ESS_MIN` (the thresholds of :meth:`Results.check`; divergences are not a matter of
    more draws and are not tested here), and the smallest bulk or tail ESS."""
    names = [n for n in names if n in idata["posterior"]]
    if not names:
        return True, float("inf")
    d = _parameter_diagnostics(idata, names)
    return _within_thresholds(d), float(d[["ess_bulk", "ess_tail"]].min().min())


def gap_checked_parameters(posterior, labels) -> list[str]:
    """The gap model's variables whose convergence is checked: :data:`CHECKED`, then the judge's
    sensitivity and specificity of each corrected label, those present in ``posterior``."""
    judge = [f"{x}_{label}" for label in labels for x in ("se", "sp")]
    return [v for v in CHECKED if v in posterior] + [v for v in judge if v in posterior]


class ConvergenceWarning(UserWarning):
    """The sampler did not converge well enough: R-hat, ESS or divergences out of bounds."""


class Results:
    """Base of the fitted models: the posterior ``.idata`` and what every fit offers.

    Subclasses set ``kind`` (recorded in the file) and ``name`` (their label in comparisons)
    and implement :meth:`summary`, :meth:`checked_parameters`, :meth:`gap_draws`,
    :meth:`fitted_variants` and the pair ``_cell_counts`` / ``_cell_logit`` behind the
    pointwise log-likelihood.

    Attributes
    ----------
    idata : xarray.DataTree
        The posterior and everything needed to rebuild the object from a file.
    hdi_prob : float
        Default probability of the reported highest-density intervals.
    """

    kind: ClassVar[str] = ""
    name: str = "fit"
    #: True for a structural model, which predicts any cues; False for a per-condition fit.
    structural: ClassVar[bool] = False
    catalog: Catalog

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.kind:
            KINDS[cls.kind] = cls

    def __init__(self, idata, *, check: bool = True):
        self.idata = idata
        self.idata.attrs.setdefault("afdecomp_model", self.kind)
        self.hdi_prob = float(idata.attrs.get("hdi_prob", 0.94))
        self._diag: pd.DataFrame | None = None
        if check:
            self.check()

    @classmethod
    def from_idata(cls, idata):
        """The results object of a DataTree read from a file (no convergence warnings repeated)."""
        return cls(idata, check=False)

    # ------------------------------------------------------------------ draws
    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a variable, chains stacked: shape (draws, ...)."""
        x = _arviz.posterior(self.idata, name)
        return x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])

    def has(self, name: str) -> bool:
        """Whether the posterior has a variable (e.g. ``g`` is absent without goal guarding)."""
        return name in self.idata["posterior"]

    @property
    def n_draws(self) -> int:
        post = self.idata["posterior"]
        return int(post.sizes["chain"] * post.sizes["draw"])

    @property
    def divergences(self) -> int:
        """Divergent transitions after tuning."""
        return _arviz.divergences(self.idata)

    # ------------------------------------------------------------------ checks
    def checked_parameters(self) -> list[str]:
        """The posterior variables whose convergence :meth:`check` tests."""
        raise NotImplementedError

    def diagnostics(self) -> pd.DataFrame:
        """R-hat, bulk and tail ESS of every checked parameter (``.divergences`` counts divergences).

        Columns: parameter, r_hat, ess_bulk, ess_tail. ``.attrs['divergences']`` repeats the count.
        """
        if self._diag is None:
            self._diag = _parameter_diagnostics(self.idata, self.checked_parameters())
        out = self._diag.copy()
        out.attrs["divergences"] = self.divergences
        return out

    def check(self) -> list[str]:
        """Warn (:class:`ConvergenceWarning`) once per fit for the failed checks; return the messages.

        Checks: max R-hat <= :data:`RHAT_MAX`, min bulk and tail ESS >= :data:`ESS_MIN`, no
        divergent transitions.
        """
        d = self.diagnostics()
        msgs = []
        if self.idata["posterior"].sizes["chain"] < 2:
            msgs.append("one chain: R-hat cannot be computed")
        else:
            rmax = d["r_hat"].max()
            if not rmax <= RHAT_MAX:
                worst = d.loc[d["r_hat"].idxmax(), "parameter"] if d["r_hat"].notna().any() else "?"
                msgs.append(f"max R-hat {rmax:.3f} > {RHAT_MAX} (worst: {worst})")
        for col in ("ess_bulk", "ess_tail"):
            emin = d[col].min()
            if not emin >= ESS_MIN:
                worst = d.loc[d[col].idxmin(), "parameter"] if d[col].notna().any() else "?"
                msgs.append(f"min {col[4:]} ESS {emin:.0f} < {ESS_MIN} (worst: {worst})")
        if self.divergences:
            msgs.append(f"{self.divergences} divergent transition(s)")
        if msgs:
            warnings.warn(f"{self.kind}: {'; '.join(msgs)}. Do not trust the intervals yet: run more "
                          f"draws/tune or raise target_accept (see .diagnostics())",
                          ConvergenceWarning, stacklevel=4)
        return msgs

    def diagnostics_line(self) -> str:
        """One line: max R-hat, min bulk/tail ESS, divergences, and whether they pass."""
        d = self.diagnostics()
        ok = _within_thresholds(d) and not self.divergences
        return (f"max R-hat {d['r_hat'].max():.3f}, min bulk ESS {d['ess_bulk'].min():.0f}, "
                f"min tail ESS {d['ess_tail'].min():.0f}, {self.divergences} divergence(s): "
                + ("converged" if ok else "NOT converged"))

    # ------------------------------------------------------------------ tables
    def summary(self, ci_prob: float | None = None, *, hdi_prob: float | None = None) -> pd.DataFrame:
        """The fit's main table (see the subclass); intervals are HDIs at ``ci_prob``."""
        raise NotImplementedError

    def _prob(self, ci_prob: float | None, hdi_prob: float | None = None) -> float:
        return interval_prob(ci_prob, hdi_prob, self.hdi_prob)

    # ------------------------------------------------------------------ analyses
    def gap_draws(self, cues="default", *, queries: str = "observed", scenario: str | None = None,
                  random_seed=0) -> xr.DataArray:
        """The probability-scale gap per posterior draw and model for a prompt variant or cues.

        Parameters
        ----------
        cues : str or dict
            A prompt variant's name, or its driver cues ``{"values": .., "goal_guarding": ..,
            "sycophancy": .., "stakes": ..}`` (omitted cues are 1).
        queries : {"observed", "new"}
            Average over each model's observed queries, or over a new query (where the model can).
        scenario : str, optional
            Fits with several scenarios: which one.

        Returns
        -------
        xarray.DataArray
            Dims ``("draw", "model")``; NaN for a model the fit cannot give this gap for.
        """
        raise NotImplementedError

    def fitted_variants(self) -> list[str]:
        """The prompt variants the fit can give an unsteered gap for."""
        raise NotImplementedError

    def resolve_cues(self, cues) -> dict[str, float]:
        """A variant name (of :attr:`catalog`) or a partial cue dict -> all four cues (omitted: 1)."""
        return resolve_cues(cues, self.catalog)

    # ------------------------------------------------------------------ judge error
    @property
    def judge_error(self) -> dict:
        """The judge correction of the fit, ``{label: JudgeError}`` (``{}``: none; rates are judged rates)."""
        return judge_from_attrs(self.idata.attrs)

    def judge_note(self) -> str:
        """One line naming the judge correction applied (or ``"no judge correction"``)."""
        return describe_judge(self.judge_error)

    def _judge_summary_rows(self, prob: float) -> list[tuple]:
        """(label, "se"/"sp", mean, sd, lo, hi) of each corrected label: the posterior where
        sampled, else the fixed value (sd 0)."""
        rows = []
        post = self.idata["posterior"]
        for label in self.judge_error:
            se, sp = judge_draws(self.idata.attrs, post, label)
            for short, x in (("se", se), ("sp", sp)):
                lo, hi = _arviz.hdi(x[None, :], prob=prob)
                rows.append((label, short, float(x.mean()), float(x.std(ddof=1)) if np.ptp(x) else 0.0,
                             float(lo[0]), float(hi[0])))
        return rows

    # ------------------------------------------------------------------ likelihood
    def _cell_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(k, n) per fitted cell."""
        raise NotImplementedError

    def _cell_logit(self, draw_idx: np.ndarray) -> np.ndarray:
        """Logit of P(comply) of every fitted cell for the given flat draws: (draws, cells)."""
        raise NotImplementedError

    def log_likelihood(self, chunk: int = 100) -> xr.Dataset:
        """Pointwise binomial log-likelihood ``log Binom(k | n, p)`` per draw and cell.

        The models' likelihood is a ``pm.Potential`` (without the constant ``log C(n, k)``) for
        speed, so the pointwise values are computed here from the draws, with the constant, and
        kept as the ``log_likelihood`` group of ``.idata`` (variable ``k``, dims chain, draw,
        cell), with the counts as ``observed_data`` — what PSIS-LOO (:meth:`compare`) needs.
        A judge-corrected fit's counts are binomial with the judged rate, per draw's ``se``/``sp``.
        """
        k, n = self._cell_counts()
        if not _arviz.has_group(self.idata, "observed_data") or "k" not in self.idata["observed_data"]:
            _arviz.set_group(self.idata, "observed_data",
                             xr.Dataset({"k": ("cell", np.asarray(k, dtype=np.int64))}))
        jd = judge_draws(self.idata.attrs, self.idata["posterior"])
        judge = None if jd is None else (lambda idx: (jd[0][idx][:, None], jd[1][idx][:, None]))
        return attach_pointwise(self.idata, k, n, self._cell_logit, chunk, judge=judge)

    def compare(self, *others: Results, names=None) -> pd.DataFrame:
        """PSIS-LOO comparison with other fits of the same cells (``arviz.compare``).

        E.g. a rational-agent fit against the reduced-form :class:`GapResults`, or against a
        rational fit without goal guarding. Every fit must have been made on the same data.
        """
        fits = {}
        for i, res in enumerate((self,) + others):
            label = (names[i - 1] if names and i else None) or res.name
            if label in fits:
                label = f"{label} #{i + 1}"
            res.log_likelihood()  # computed from the draws once, then kept in .idata
            fits[label] = res.idata
        return _arviz.compare(fits)

    # ------------------------------------------------------------------ I/O
    def to_netcdf(self, path) -> Path:
        """Write the fit to a NetCDF file (read back with :func:`load_results`)."""
        return _arviz.to_netcdf(self.idata, path)

    def _repr_parts(self) -> list[str]:
        return []

    def __repr__(self) -> str:
        a = self.idata.attrs
        post = self.idata["posterior"]
        parts = self._repr_parts() + [
            f"sampler {a.get('sampler', '?')}",
            f"{post.sizes['chain']} chain(s) x {post.sizes['draw']} draws",
            f"{self.divergences} divergence(s)", self.judge_note()]
        return f"<{type(self).__name__}: {', '.join(parts)}>"


def load_results(path) -> Results:
    """Read a fit written by ``.to_netcdf(path)``: a :class:`GapResults` or a ``RationalResults``.

    The kind of fit is recorded in the file. Loading does not repeat the fit's convergence
    warnings (:meth:`Results.check` shows them again on request).

    Parameters
    ----------
    path : str or Path
        A NetCDF file written by ``.to_netcdf`` or ``afdecomp fit``.

    Raises
    ------
    ValueError
        When the file is not an afdecomp results file.
    """
    from .models import rational_results  # noqa: F401  (registers RationalResults)
    idata = _arviz.from_netcdf(path)
    kind = idata.attrs.get("afdecomp_model")
    if kind not in KINDS:
        raise ValueError(f"{path}: not an afdecomp results file (afdecomp_model={kind!r}; "
                         f"known: {sorted(KINDS)})")
    return KINDS[kind].from_idata(idata)


# ----------------------------------------------------------------------------- reduced form
def pair_gap_draws(pairs: pd.DataFrame, gap: np.ndarray, cues, *, catalog: Catalog | None = None,
                   scenario: str | None = None) -> xr.DataArray:
    """Per draw and model, the gap of the unsteered condition(s) with a variant's name or cues.

    ``pairs`` lists fitted conditions (at least ``model``, ``variant``; ``steer_vector``,
    ``steer_coef`` and ``scenario`` optional) and ``gap`` their per-draw gaps (draws, pairs).
    Several matching conditions of a model are averaged; a model without one gets NaN. A cue
    dict is matched against the catalog's cues of each variant.
    """
    pairs = pairs.reset_index(drop=True)
    gap = np.asarray(gap, dtype=float)
    if gap.ndim != 2 or gap.shape[1] != len(pairs):
        raise ValueError(f"draws('gap') must have shape (draws, {len(pairs)}), got {gap.shape}")
    keep = _unsteered(pairs)
    if "scenario" in pairs:
        scen = sorted(pairs.loc[keep, "scenario"].astype(str).unique())
        if scenario is None and len(scen) > 1:
            raise ValueError(f"the fit has several scenarios {scen}; pass scenario= to choose one")
        if scenario is not None:
            keep &= (pairs["scenario"].astype(str) == scenario).to_numpy()
    models = sorted(pairs["model"].astype(str).unique())
    variants = pairs["variant"].astype(str).to_numpy()
    if isinstance(cues, str):
        match = keep & (variants == cues)
    else:
        catalog = catalog or default_catalog()
        catalog.check(pairs[keep].assign(steer_vector="none"))
        want = _full_cues(cues)
        table = catalog.cue_table(sorted(set(variants[keep])))
        ok = {v: all(np.isclose(table.loc[v, c], want[c]) for c in CUES) for v in table.index}
        match = keep & np.array([ok.get(v, False) for v in variants])
    model_of = pairs["model"].astype(str).to_numpy()
    out = np.full((gap.shape[0], len(models)), np.nan)
    for j, m in enumerate(models):
        hit = np.flatnonzero(match & (model_of == m))
        if len(hit):
            out[:, j] = gap[:, hit].mean(axis=1)
    return xr.DataArray(out, dims=("draw", "model"), coords={"model": models})


def resolve_cues(cues, catalog: Catalog) -> dict[str, float]:
    """A variant name (looked up in ``catalog``) or a partial cue dict -> all four cues (omitted: 1)."""
    if isinstance(cues, str):
        return catalog.variant(cues).cues()
    return _full_cues(cues)


def as_fit(results, catalog: Catalog | None = None):
    """What the analyses read: a :class:`Results`, or a :class:`PairGaps` view of any object with
    ``pairs()`` and ``draws("gap")`` (also of a :class:`GapResults` read with another ``catalog``)."""
    if hasattr(results, "pairs") and (catalog is not None or not hasattr(results, "gap_draws")):
        return PairGaps(results, catalog)
    if hasattr(results, "gap_draws"):
        return results
    return PairGaps(results, catalog)  # raises TypeError naming what is expected


def _full_cues(cues) -> dict[str, float]:
    unknown = set(cues) - set(CUES)
    if unknown:
        raise ValueError(f"unknown cue(s) {sorted(unknown)}; cues are {list(CUES)}")
    return {c: float(cues.get(c, 1.0)) for c in CUES}


def _unsteered(pairs: pd.DataFrame) -> np.ndarray:
    keep = np.ones(len(pairs), bool)
    if "steer_vector" in pairs:
        keep &= (pairs["steer_vector"].astype(str) == "none").to_numpy()
    if "steer_coef" in pairs:
        keep &= (pairs["steer_coef"].astype(float).fillna(0.0) == 0).to_numpy()
    return keep


class PairGaps:
    """Any object with ``pairs()`` and ``draws("gap")`` (per-condition gap draws) seen as a fit
    that gives :meth:`Results.gap_draws` — how the analyses read a reduced-form fit."""

    name = "reduced-form gap"
    structural = False

    def __init__(self, fit, catalog: Catalog | None = None):
        if not (callable(getattr(fit, "pairs", None)) and callable(getattr(fit, "draws", None))):
            raise TypeError(f"expected RationalResults, GapResults or an object with .pairs() and "
                            f".draws('gap'); got {type(fit).__name__}")
        self.fit = fit
        self.catalog = catalog or getattr(fit, "catalog", None) or default_catalog()

    def gap_draws(self, cues="default", *, queries: str = "observed", scenario=None, random_seed=0):
        if queries != "observed":
            raise ValueError("a reduced-form fit gives gaps over the observed queries only (queries='observed')")
        return pair_gap_draws(self.fit.pairs(), self.fit.draws("gap"), cues, catalog=self.catalog,
                              scenario=scenario)

    def resolve_cues(self, cues) -> dict[str, float]:
        return resolve_cues(cues, self.catalog)

    def fitted_variants(self) -> list[str]:
        pairs = self.fit.pairs()
        return sorted(pairs.loc[_unsteered(pairs), "variant"].astype(str).unique())


# ----------------------------------------------------------------------------- gap model
class GapResults(Results):
    """Posterior of the hierarchical compliance-gap model (:class:`afdecomp.ComplianceGap`).

    :meth:`afdecomp.ComplianceGap.fit` and :func:`afdecomp.load_results`
    build it. ``idata`` and ``catalog`` are kept as the attributes of the same name.

    Parameters
    ----------
    idata : xarray.DataTree
        Groups ``posterior`` (parameters and, per pair, ``rate_training``, ``rate_deployment``
        and ``gap``), ``posterior_predictive`` (replicated pooled gap ``gap_rep``),
        ``observed_data`` (``k`` per cell), ``constant_data`` (the design) and ``sample_stats``.
    check : bool, default True
        Test convergence at once (:meth:`check`: R-hat, bulk and tail ESS, divergences) and warn
        with a :class:`ConvergenceWarning` naming what failed. :meth:`from_idata` (a fit read
        back from a file) passes False.
    catalog : Catalog, optional
        Says which cues each variant carries, for :meth:`gap_draws` with a cue dict (default:
        :func:`afdecomp.default_catalog`; set it for variants of your own).
    """

    kind = "ComplianceGap"
    name = "reduced-form gap"

    def __init__(self, idata, *, check: bool = True, catalog: Catalog | None = None):
        self.catalog = catalog or default_catalog()
        super().__init__(idata, check=check)

    def checked_parameters(self) -> list[str]:
        return gap_checked_parameters(self.idata["posterior"], self.judge_error)

    # ------------------------------------------------------------------ tables
    def pairs(self) -> pd.DataFrame:
        """The condition keys of each (β, γ) pair, in the order of the ``pair`` dimension."""
        const = _arviz.group(self.idata, "constant_data")
        out = pd.DataFrame({c: const["key_" + c].values for c in CONDITION_KEYS})
        for c in ("model", "scenario", "variant", "steer_vector"):
            out[c] = out[c].astype(str)
        layer = out["steer_layer"].to_numpy(dtype=float)
        out["steer_layer"] = pd.array(layer, dtype="Float64").astype("Int64")
        out["steer_coef"] = out["steer_coef"].astype(float)
        out["n"] = const["pair_n"].values.astype(np.int64)
        return out

    def by_condition(self, name: str = "gap") -> xr.DataArray:
        """A per-pair posterior quantity with the condition keys as real dimensions.

        Dims ``draw`` and each condition key that varies (model, scenario, variant,
        steer_vector, steer_layer, steer_coef); NaN where the design has no such condition.
        E.g. ``res.by_condition("gap").sel(model="model-01", variant="ncs")``.
        """
        pairs = self.pairs()
        keys = [c for c in CONDITION_KEYS if pairs[c].nunique(dropna=False) > 1] or ["model"]
        index = pd.MultiIndex.from_frame(pairs[keys].astype(
            {"steer_layer": float} if "steer_layer" in keys else {}))
        da = xr.DataArray(self.draws(name), dims=("draw", "pair"))
        da = da.assign_coords(xr.Coordinates.from_pandas_multiindex(index, "pair"))
        return da.unstack("pair")

    def summary(self, ci_prob: float | None = None, *, hdi_prob: float | None = None) -> pd.DataFrame:
        """Per condition: posterior mean rates, the probability-scale gap and its HDI.

        The rates and the gap are averaged over the queries observed in each condition (the
        estimand the papers report). Columns: model, scenario, variant, steer_vector,
        steer_layer, steer_coef, rate_training, rate_deployment, gap, gap_lo, gap_hi, n; for a
        judge-corrected fit (true rates) also ``judge``, naming the correction, which
        ``.attrs["judge_error"]`` repeats (also for an uncorrected fit: "no judge correction").
        """
        prob = self._prob(ci_prob, hdi_prob)
        out = self.pairs()
        n = out.pop("n")
        gap = self.draws("gap")
        out["rate_training"] = self.draws("rate_training").mean(axis=0)
        out["rate_deployment"] = self.draws("rate_deployment").mean(axis=0)
        out["gap"] = gap.mean(axis=0)
        out["gap_lo"], out["gap_hi"] = _arviz.hdi(gap.T, prob)
        out["n"] = n
        out = out[SUMMARY_COLUMNS]
        if self.judge_error:
            out = out.assign(judge=self.judge_note())
        out.attrs["judge_error"] = self.judge_note()
        return out

    def _query_effects(self, S: int) -> tuple[np.ndarray, np.ndarray]:
        const = _arviz.group(self.idata, "constant_data")
        Q = const.sizes.get("query", int(const["cell_query"].values.max()) + 1)
        u = self.draws("u") if self.has("u") else np.zeros((S, Q))
        w = self.draws("w") if self.has("w") else np.zeros((S, Q))
        return u, w

    def population_gap(self, ci_prob: float | None = None, n_mc: int = 200,
                       random_seed: int | None = 0, *, hdi_prob: float | None = None) -> pd.DataFrame:
        """The gap per condition for a *new* query: E over u ~ N(0, σ_u), w ~ N(0, σ_w).

        Integrated by Monte Carlo (``n_mc`` draws of (u, w) per posterior draw). Returns the
        condition keys, ``gap``, ``gap_lo``, ``gap_hi``.
        """
        from scipy.special import expit
        prob = self._prob(ci_prob, hdi_prob)
        rng = np.random.default_rng(random_seed)
        beta, gamma = self.draws("beta"), self.draws("gamma")
        S, P = beta.shape
        su = self.draws("sigma_u") if self.has("sigma_u") else np.zeros(S)
        sw = self.draws("sigma_w") if self.has("sigma_w") else np.zeros(S)
        gap = np.empty((S, P))
        for s0 in range(0, S, 100):
            sl = slice(s0, s0 + 100)
            e = rng.standard_normal((2, len(beta[sl]), 1, n_mc))
            u = su[sl, None, None] * e[0]
            w = sw[sl, None, None] * e[1]
            b, g = beta[sl][:, :, None], gamma[sl][:, :, None]
            gap[sl] = (expit(gap_logit(b, g, u, w, 1.0)) - expit(gap_logit(b, g, u, w, 0.0))).mean(axis=-1)
        out = self.pairs().drop(columns="n")
        out["gap"] = gap.mean(axis=0)
        out["gap_lo"], out["gap_hi"] = _arviz.hdi(gap.T, prob)
        return out

    def ppc(self, ci_prob: float | None = None, *, hdi_prob: float | None = None) -> pd.DataFrame:
        """Observed pooled gap per condition against its posterior-predictive distribution.

        Columns: the condition keys, ``observed``, ``predicted`` (mean of the replicated gap),
        ``lo``, ``hi`` (HDI of the replicated gap) and ``covered``.
        """
        prob = self._prob(ci_prob, hdi_prob)
        rep = _arviz.posterior(self.idata, "gap_rep", group="posterior_predictive")
        out = self.pairs().drop(columns="n")
        out["observed"] = _arviz.group(self.idata, "constant_data")["gap_obs"].values
        out["predicted"] = np.nanmean(rep, axis=0)
        lo, hi = _arviz.hdi(np.nan_to_num(rep.T), prob)
        out["lo"], out["hi"] = lo, hi
        out["covered"] = (out["observed"] >= lo) & (out["observed"] <= hi)
        return out

    def seed_sem(self) -> pd.DataFrame | None:
        """The papers' seed-SEM gap per condition, when the fitted table had several seeds."""
        const = _arviz.group(self.idata, "constant_data")
        if "seed_gap" not in const:
            return None
        out = self.pairs().drop(columns="n")
        out["gap"] = const["seed_gap"].values
        out["gap_sem"] = const["seed_gap_sem"].values
        return out

    # ------------------------------------------------------------------ analyses
    def gap_draws(self, cues="default", *, queries: str = "observed", scenario: str | None = None,
                  random_seed=0) -> xr.DataArray:
        """Per draw and model, the gap of the unsteered condition with this variant (or cues).

        See :meth:`Results.gap_draws`; a cue dict is matched against :attr:`catalog`. Only the
        observed queries (``population_gap`` gives a new query's gap per condition).
        """
        return PairGaps(self, self.catalog).gap_draws(cues, queries=queries, scenario=scenario)

    def fitted_variants(self) -> list[str]:
        return PairGaps(self, self.catalog).fitted_variants()

    # ------------------------------------------------------------------ likelihood
    def _cell_counts(self):
        const = _arviz.group(self.idata, "constant_data")
        return _arviz.group(self.idata, "observed_data")["k"].values, const["cell_n"].values

    def _cell_logit(self, draw_idx: np.ndarray) -> np.ndarray:
        const = _arviz.group(self.idata, "constant_data")
        cp, cq, t = const["cell_pair"].values, const["cell_query"].values, const["cell_t"].values
        beta, gamma = self.draws("beta")[draw_idx], self.draws("gamma")[draw_idx]
        u, w = self._query_effects(self.n_draws)
        return gap_logit(beta[:, cp], gamma[:, cp], u[draw_idx][:, cq], w[draw_idx][:, cq], t)

    def _repr_parts(self) -> list[str]:
        return [f"{len(self.pairs())} condition(s)"]
