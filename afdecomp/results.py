"""Results objects: the fitted posterior (a DataTree) with summary tables, diagnostics and I/O.

:class:`GapResults` wraps what :class:`afdecomp.ComplianceGap` returns. Everything it shows is
computed from ``.idata``, so ``afdecomp.load_results(path)`` gives back the same object after
``.to_netcdf(path)``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import _arviz
from .models.baseline import CONDITION_KEYS

#: Thresholds of MODEL.md §5: warn when any is crossed.
RHAT_MAX = 1.01
ESS_MIN = 400

#: The sampled parameters whose convergence is checked (derived quantities follow from them).
CHECKED = ("mu", "chol_stds", "chol_corr", "tau_model", "delta_beta", "delta_gamma", "beta", "gamma", "sigma_u", "sigma_w", "u", "w")

SUMMARY_COLUMNS = CONDITION_KEYS + ["rate_training", "rate_deployment", "gap", "gap_lo", "gap_hi", "n"]


class ConvergenceWarning(UserWarning):
    """The sampler did not converge well enough: R-hat, ESS or divergences out of bounds."""


class GapResults:
    """Posterior of the hierarchical compliance-gap model.

    Attributes
    ----------
    idata : xarray.DataTree
        Groups ``posterior`` (parameters and, per pair, ``rate_training``, ``rate_deployment``
        and ``gap``), ``posterior_predictive`` (replicated pooled gap ``gap_rep``),
        ``observed_data`` (``k`` per cell), ``constant_data`` (the design) and ``sample_stats``.
    divergences : int
        Divergent transitions after tuning.
    """

    def __init__(self, idata, *, check: bool = True):
        self.idata = idata
        self.hdi_prob = float(idata.attrs.get("hdi_prob", 0.94))
        self.divergences = _arviz.divergences(idata)
        self._diag: pd.DataFrame | None = None
        if check:
            self.check()

    # ------------------------------------------------------------------ tables
    def pairs(self) -> pd.DataFrame:
        """The condition keys of each (β, γ) pair, in the order of the ``pair`` dimension."""
        const = _arviz.group(self.idata, "constant_data")
        out = pd.DataFrame({c: const["key_" + c].values for c in CONDITION_KEYS})
        for c in ("model", "scenario", "variant", "steer_vector"):
            out[c] = out[c].astype(str)
        out["steer_layer"] = pd.array(np.where(np.isnan(out["steer_layer"].to_numpy(dtype=float)), np.nan,
                                               out["steer_layer"].to_numpy(dtype=float)), dtype="Float64").astype("Int64")
        out["steer_coef"] = out["steer_coef"].astype(float)
        out["n"] = const["pair_n"].values.astype(np.int64)
        return out

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a per-pair quantity as (draws, pairs), chains stacked."""
        x = _arviz.posterior(self.idata, name)
        return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])

    def summary(self, hdi_prob: float | None = None) -> pd.DataFrame:
        """Per condition: posterior mean rates, the probability-scale gap and its HDI.

        The rates and the gap are averaged over the queries observed in each condition (the
        estimand the papers report). Columns: model, scenario, variant, steer_vector,
        steer_layer, steer_coef, rate_training, rate_deployment, gap, gap_lo, gap_hi, n.
        """
        prob = self.hdi_prob if hdi_prob is None else hdi_prob
        out = self.pairs()
        n = out.pop("n")
        gap = self.draws("gap")
        out["rate_training"] = self.draws("rate_training").mean(axis=0)
        out["rate_deployment"] = self.draws("rate_deployment").mean(axis=0)
        out["gap"] = gap.mean(axis=0)
        out["gap_lo"], out["gap_hi"] = _arviz.hdi(gap.T, prob)
        out["n"] = n
        return out[SUMMARY_COLUMNS]

    def population_gap(self, hdi_prob: float | None = None, n_mc: int = 200,
                       random_seed: int | None = 0) -> pd.DataFrame:
        """The gap per condition for a *new* query: E over u ~ N(0, σ_u), w ~ N(0, σ_w).

        Integrated by Monte Carlo (``n_mc`` draws of (u, w) per posterior draw). Returns the
        condition keys, ``gap``, ``gap_lo``, ``gap_hi``.
        """
        prob = self.hdi_prob if hdi_prob is None else hdi_prob
        rng = np.random.default_rng(random_seed)
        beta, gamma = self.draws("beta"), self.draws("gamma")
        post = _arviz.group(self.idata, "posterior")
        S, P = beta.shape
        su = self.draws("sigma_u") if "sigma_u" in post else np.zeros(S)
        sw = self.draws("sigma_w") if "sigma_w" in post else np.zeros(S)
        gap = np.empty((S, P))
        for s0 in range(0, S, 100):
            sl = slice(s0, s0 + 100)
            e = rng.standard_normal((2, len(beta[sl]), 1, n_mc))
            u = su[sl, None, None] * e[0]
            w = sw[sl, None, None] * e[1]
            e0 = beta[sl][:, :, None] + u
            gap[sl] = (_sig(e0 + gamma[sl][:, :, None] + w) - _sig(e0)).mean(axis=-1)
        out = self.pairs().drop(columns="n")
        out["gap"] = gap.mean(axis=0)
        out["gap_lo"], out["gap_hi"] = _arviz.hdi(gap.T, prob)
        return out

    def ppc(self, hdi_prob: float | None = None) -> pd.DataFrame:
        """Observed pooled gap per condition against its posterior-predictive distribution.

        Columns: the condition keys, ``observed``, ``predicted`` (mean of the replicated gap),
        ``lo``, ``hi`` (HDI of the replicated gap) and ``covered``.
        """
        prob = self.hdi_prob if hdi_prob is None else hdi_prob
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

    def log_likelihood(self, chunk: int = 100):
        """Pointwise binomial log-likelihood per posterior draw and cell, ``log Binom(k | n, p)``.

        The model's likelihood is a ``pm.Potential`` (without the constant ``log C(n, k)``) for
        speed, so the pointwise values are computed here from the draws, with the constant, and
        kept as the ``log_likelihood`` group of ``.idata`` (variable ``k``, dims chain, draw,
        cell) — what PSIS-LOO (``RationalResults.compare``) needs. Returns that Dataset.
        """
        from .models._loglik import attach_pointwise
        const = _arviz.group(self.idata, "constant_data")
        post = _arviz.group(self.idata, "posterior")
        cp, cq, t = const["cell_pair"].values, const["cell_query"].values, const["cell_t"].values
        S = post.sizes["chain"] * post.sizes["draw"]
        beta, gamma = self.draws("beta"), self.draws("gamma")
        Q = const.sizes.get("query", int(cq.max()) + 1)
        u = self.draws("u") if "u" in post else np.zeros((S, Q))
        w = self.draws("w") if "w" in post else np.zeros((S, Q))

        def logit(idx):
            return beta[idx][:, cp] + u[idx][:, cq] + t * (gamma[idx][:, cp] + w[idx][:, cq])
        k = _arviz.group(self.idata, "observed_data")["k"].values
        return attach_pointwise(self.idata, k, const["cell_n"].values, logit, chunk)

    # ------------------------------------------------------------------ checks
    def diagnostics(self) -> pd.DataFrame:
        """R-hat, bulk and tail ESS of every sampled parameter (``.divergences`` counts divergences).

        Columns: parameter, r_hat, ess_bulk, ess_tail.
        """
        if self._diag is None:
            post = _arviz.group(self.idata, "posterior")
            names = [v for v in CHECKED if v in post]
            diag = _arviz.diagnostics(self.idata, names)
            # the correlation matrix has constant diagonal entries (r_hat NaN): not parameters
            self._diag = diag[~(diag["parameter"].str.contains("_corr")
                                & diag["r_hat"].isna())].reset_index(drop=True)
        return self._diag

    def check(self) -> list[str]:
        """Warn (:class:`ConvergenceWarning`) for each failed check; return the messages."""
        d = self.diagnostics()
        msgs = []
        rmax = d["r_hat"].max()
        if not rmax <= RHAT_MAX:
            worst = d.loc[d["r_hat"].idxmax(), "parameter"] if d["r_hat"].notna().any() else "?"
            msgs.append(f"max R-hat {rmax:.3f} > {RHAT_MAX} (worst: {worst})")
        for col in ("ess_bulk", "ess_tail"):
            emin = d[col].min()
            if not emin >= ESS_MIN:
                msgs.append(f"min {col.replace('_', ' ')} ESS {emin:.0f} < {ESS_MIN} "
                            f"(worst: {d.loc[d[col].idxmin(), 'parameter']})")
        if self.divergences:
            msgs.append(f"{self.divergences} divergent transition(s)")
        for m in msgs:
            warnings.warn(f"ComplianceGap: {m}; do not trust the intervals — run more draws/tune "
                          f"or raise target_accept", ConvergenceWarning, stacklevel=4)
        return msgs

    # ------------------------------------------------------------------ I/O
    def to_netcdf(self, path) -> Path:
        """Write the posterior and the design to a NetCDF file (read back with :func:`load_results`)."""
        return _arviz.to_netcdf(self.idata, path)

    def __repr__(self) -> str:
        a = self.idata.attrs
        return (f"<GapResults: {len(self.pairs())} condition(s), sampler {a.get('sampler')}, "
                f"{a.get('chains')}x{a.get('draws')} draws, {self.divergences} divergence(s)>")


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def load_results(path) -> GapResults:
    """Read results written by ``.to_netcdf(path)``."""
    idata = _arviz.from_netcdf(path)
    kind = idata.attrs.get("afdecomp_model")
    if kind != "ComplianceGap":
        raise ValueError(f"{path}: not an afdecomp results file (afdecomp_model={kind!r})")
    return GapResults(idata, check=False)
