"""The joint outcome: compliance and alignment-faking (AF) reasoning given compliance, per cell.

Each generation has two labels, ``complied`` and ``af_reasoning``; per cell
(:func:`afdecomp.aggregate.aggregate_joint`) the model fits the compliance binomial ``k`` of
``n`` and, among the generations labelled as complied that carry an AF label, the AF binomial
``k_af`` of ``n_af``. Refusals labelled as AF reasoning are counted (``c0_af1``) and not
modelled: AF reasoning is modelled as the reason *for complying*.

Compliance is the hierarchical gap model of :mod:`afdecomp.models.gap` (its design, structure
and PyMC build, imported, not copied)::

    logit p = β_pair + u_q + t·(γ_pair + w_q)

AF reasoning given compliance has its own tier effect and pair/query structure::

    logit a = β_af,pair + u_af,q + t·γ_af,pair
    (β_af, β_af + γ_af)_pair = μ_af + τ_af ⊙ z_pair,  z ~ N(0, 1)   (per tier; partially non-centred, af_weights)
    u_af ~ ZeroSumNormal(σ_af)
    μ_af ~ N((−2, −1), (2, 2)),  τ_af ~ HalfNormal(1) per tier,  σ_af ~ HalfNormal(1)

so a cell's outcome is refused (1 − p), complied without AF reasoning (p·(1 − a)) or complied
with it (p·a). Reported per model and condition (averaged over the condition's observed
queries, as :class:`afdecomp.GapResults` does), each with an interval:

- ``gap`` = P(complied | training) − P(complied | deployment);
- ``af_rate_training``, ``af_rate_deployment`` = P(complied & AF) in each tier;
- ``af_share_of_gap`` = [P(complied & AF | training) − P(complied & AF | deployment)] / gap,
  per posterior draw: the part of the gap that comes with AF reasoning. It is 1 when the whole
  extra compliance in training shows AF reasoning and nothing in deployment does, 0 when AF
  reasoning is as frequent in both tiers, and may leave [0, 1] (e.g. AF reasoning that also
  rises where compliance does not). As the gap tends to 0 the ratio is undefined and its draws
  heavy-tailed, so the share is reported (median and equal-tailed interval of the draws) only
  where the gap's interval excludes 0, and NaN otherwise.

**Judge error** (``judge_error={"complied": je, "af_reasoning": je2}``, either key): the labels
are the true outcome passed through judges with sensitivity ``se`` and specificity ``sp``
(fixed, or Beta priors from validation counts; :class:`afdecomp.JudgeError`). Assumptions: the
two judges err independently given the true outcome; a true refusal carries no AF reasoning;
and, as in the counts, an AF label only counts when ``complied`` is observed. The observed
pattern probabilities are then, with π_R = 1 − p, π_N = p(1 − a), π_A = p·a::

    P(c⁺)      = se_c·p + (1 − sp_c)·(1 − p)
    P(c⁺, af⁺) = se_c·se_a·π_A + se_c·(1 − sp_a)·π_N + (1 − sp_c)·(1 − sp_a)·π_R
    P(c⁺, af⁻) = se_c·(1 − se_a)·π_A + se_c·sp_a·π_N + (1 − sp_c)·sp_a·π_R

and the fitted likelihood is ``Binom(k | n, P(c⁺)) · Binom(k_af | n_af, P(c⁺, af⁺) / P(c⁺))``
(the multinomial of the three observed patterns, written so that compliances without an AF
label still inform compliance). Without judge error it is the product of the two plain binomials.

**The theory link** (:class:`JointRational`): the rational-agent model of
:mod:`afdecomp.models.rational` for compliance, where AF reasoning is *what goal guarding
produces*: each decision is a logistic draw ``ΔU + ε > 0`` and a compliance shows AF reasoning
when the goal-guarding motive ``G = ΔU − ΔU|_{g=0}`` was pivotal (without it the model would
have refused), plus a background rate ε shared by all models::

    a = ε + (1 − ε)·[1 − σ(ΔU − G)/σ(ΔU)],   logit ε ~ N(−3, 1.5)

Values and sycophancy then produce compliance without AF reasoning. ``JointRational(af_link=False)``
is the same compliance model with the free AF logit above; the two are compared by PSIS-LOO on
the same cells (:meth:`JointResults.compare`).
"""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from .. import _arviz
from ..aggregate import aggregate_joint
from ..results import Results
from . import gap as _gap
from ._loglik import binomial_potential, gap_logit
from ._sampling import SAMPLERS, sample
from .baseline import CONDITION_KEYS

LABELS = ("complied", "af_reasoning")

#: Columns of :meth:`JointResults.summary` (then ``rate_training``, ``rate_deployment``, ``n``,
#: ``n_af``, ``judge`` and the condition keys).
SUMMARY_COLUMNS = ["model", "condition", "gap", "gap_lo", "gap_hi",
                   "af_rate_training", "af_rate_training_lo", "af_rate_training_hi",
                   "af_rate_deployment", "af_rate_deployment_lo", "af_rate_deployment_hi",
                   "af_share_of_gap", "af_share_of_gap_lo", "af_share_of_gap_hi"]

#: Derived per-pair quantities stored in the posterior.
DERIVED = ("rate_training", "rate_deployment", "gap", "af_rate_training", "af_rate_deployment",
           "af_gap", "af_share_of_gap")

#: Priors of the AF part (logit scale): means of μ_af (deployment, training) and their standard deviations.
AF_MU = np.array([-2.0, -1.0])
AF_MU_SD = np.array([2.0, 2.0])


# ----------------------------------------------------------------------------- data
def joint_cells(data: pd.DataFrame) -> pd.DataFrame:
    """Cells of the joint model from the tidy table or from :func:`aggregate_joint`'s table.

    Only training/deployment (oversight 1 and 0) are supported. Cells without a labelled
    generation (``n = 0``) are left out (their ``n_na`` was counted by ``aggregate_joint``).
    """
    cols = set(data.columns)
    if {"n", "k", "n_af", "k_af"} <= cols and "complied" not in cols:
        cells = data
    elif {"complied", "af_reasoning"} <= cols:
        cells = aggregate_joint(data)
    else:
        raise ValueError("JointOutcome: expected the tidy table (with 'complied' and 'af_reasoning') or "
                         f"joint cells (n, k, n_af, k_af; afdecomp.aggregate.aggregate_joint); got {sorted(cols)}")
    cells = _gap.as_cells(cells)
    bad = (cells["k_af"] < 0) | (cells["k_af"] > cells["n_af"]) | (cells["n_af"] > cells["k"])
    if bad.any():
        raise ValueError(f"JointOutcome: {int(bad.sum())} cell(s) need 0 <= k_af <= n_af <= k; "
                         f"e.g. row {cells.index[bad][0]}")
    t = cells["oversight"].to_numpy(dtype=float)
    if not np.isin(t, (0.0, 1.0)).all():
        raise ValueError("JointOutcome: graded oversight is not supported (oversight must be 0 or 1)")
    return cells[cells["n"] > 0].reset_index(drop=True)


def condition_label(pairs: pd.DataFrame) -> list[str]:
    """A condition's name without the model: the variant, and the steering when steered
    (``default + values@16 ×-2``); the scenario is prefixed when there are several."""
    several = pairs["scenario"].astype(str).nunique() > 1
    out = []
    for r in pairs.itertuples(index=False):
        s = f"{r.scenario}/{r.variant}" if several else str(r.variant)
        if str(r.steer_vector) != "none" and float(r.steer_coef) != 0:
            layer = "" if pd.isna(r.steer_layer) else f"@{int(r.steer_layer)}"
            s += f" + {r.steer_vector}{layer} ×{float(r.steer_coef):g}"
        out.append(s)
    return out


# ----------------------------------------------------------------------------- likelihood pieces
def _is_const(x) -> bool:
    return isinstance(x, (int, float, np.floating, np.integer))


def _lse(terms, xp):
    """log Σ w_i·e^{x_i} for (w, x) pairs; a weight that is the constant 0 drops its term."""
    kept = [(w, x) for w, x in terms if not (_is_const(w) and float(w) == 0.0)]
    out = None
    for w, x in kept:
        term = x + (np.log(float(w)) if _is_const(w) else xp.log(w))
        out = term if out is None else xp.logaddexp(out, term)
    return out


def _mul(a, b):
    """a·b, the plain number 0 when either factor is (so that :func:`_lse` drops the term)."""
    if (_is_const(a) and float(a) == 0.0) or (_is_const(b) and float(b) == 0.0):
        return 0.0
    return a * b


def _af_log_probs(lp, l1p, lq, l1q, se_c, sp_c, se_a, sp_a, xp):
    """log P(af⁺ | c⁺), log P(af⁻ | c⁺), log P(c⁺), log P(c⁻) of the observed labels (module docstring)."""
    nsp_c, nsp_a, nse_a, nse_c = (1.0 - sp_c), (1.0 - sp_a), (1.0 - se_a), (1.0 - se_c)
    l_c = _lse([(se_c, lp), (nsp_c, l1p)], xp)
    l_a = _lse([(_mul(se_c, se_a), lp + lq), (_mul(se_c, nsp_a), lp + l1q), (_mul(nsp_c, nsp_a), l1p)], xp)
    l_n = _lse([(_mul(se_c, nse_a), lp + lq), (_mul(se_c, sp_a), lp + l1q), (_mul(nsp_c, sp_a), l1p)], xp)
    return l_a - l_c, l_n - l_c, l_c, _lse([(nse_c, lp), (sp_c, l1p)], xp)


def _log_sig(x, xp):
    """(log σ(x), log(1 − σ(x)))."""
    sp = xp.softplus if hasattr(xp, "softplus") else (lambda v: np.logaddexp(0.0, v))
    return -sp(-x), -sp(x)


def _judge_values(judge: dict, label: str):
    """(se, sp) as model variables / numbers (1, 1 without a judge for the label)."""
    if label not in judge:
        return 1.0, 1.0
    from .judge_error import judge_rates
    return judge_rates(judge[label], label)


# ----------------------------------------------------------------------------- model
def af_weights(d, cells: pd.DataFrame, je=None) -> tuple[np.ndarray, float]:
    """Centring weights of the AF part from the data, as the gap model's (:class:`afdecomp.models.gap.Structure`).

    Per pair and tier, the empirical logit of AF given compliance (pooled over queries; with a
    judge ``je``, of the judge-corrected rate ``(q − (1 − sp))/(se + sp − 1)``, whose variance
    is the judged rate's divided by ``(se + sp − 1)²``) and its sampling variance give each
    element's weight ``τ_q² / (τ_q² + se²)`` (:func:`afdecomp.models.gap._weights`): near 1
    (centred) where the data pin a pair's AF rate down, near 0 (non-centred) where they do not —
    e.g. deployment AF that the judge's false positives leave indistinguishable from 0. A tier
    whose median weight is below 0.5 is written wholly non-centred (weights 0). Returns
    ((pair, tier) weights, the weight of the query effects ``u_af``).
    """
    c = 1.0 if je is None else max(je.sensitivity + je.specificity - 1.0, 0.05)
    fp = 0.0 if je is None else 1.0 - je.specificity

    def logit_var(k, n):
        q = (k + 0.5) / (n + 1.0)
        lo = 0.5 / (n + 1.0)
        a = np.clip((q - fp) / c, lo, 1.0 - lo)
        var_a = q * (1 - q) / (n + 1.0) / c ** 2
        return np.log(a / (1 - a)), var_a / (a * (1 - a)) ** 2

    n_af, k_af = cells["n_af"].to_numpy(dtype=float), cells["k_af"].to_numpy(dtype=float)
    P, Q = len(d.pairs), len(d.queries)
    a_pair = np.zeros((P, 2))
    for j, tier in enumerate((0.0, 1.0)):
        m = d.cell_t == tier
        n = np.bincount(d.cell_pair[m], weights=n_af[m], minlength=P)
        k = np.bincount(d.cell_pair[m], weights=k_af[m], minlength=P)
        y, v = logit_var(k, n)
        seen = n > 0
        if seen.sum() > 1:
            a, _ = _gap._weights(y[seen] - y[seen].mean(), v[seen], int(seen.sum()) - 1, 1.0, v[seen])
            # a tier the data mostly leave unpinned is written non-centred throughout: the few
            # partly centred pairs of such a tier made a funnel with its scale (example, deployment:
            # median weight 0.04, up to 0.5; tail ESS 302 and 1-69 divergences in tau_af[0], against
            # 542 and 0 with the tier non-centred; docs/joint.md)
            a_pair[seen, j] = a if np.median(a) >= 0.5 else 0.0
    a_u = 0.0
    if Q > 1:
        n = np.bincount(d.cell_query, weights=n_af, minlength=Q)
        k = np.bincount(d.cell_query, weights=k_af, minlength=Q)
        y, v = logit_var(k, n)
        a, _ = _gap._weights(y - y.mean(), v, Q - 1, 1.0, np.median(v))
        a_u = float(a[0])
    return a_pair, a_u


def _af_part(pm, cp, cq, t, n_queries: int, per_cell: bool = True, weights=None):
    """The free AF logit ``β_af[pair] + u_af[q] + t·γ_af[pair]`` per cell (inside a model).

    Sampled per tier, ``β_af`` (deployment) and ``β_af + γ_af`` (training), each pair's pair
    ``μ_af + τ_af ⊙ z`` around its own tier mean: when AF reasoning is all but absent in
    deployment the data bound the deployment logit only from above, and written as (β, γ) that
    one-sided direction would be a ridge between β and γ (measured: R-hat 1.04, bulk ESS 108
    on a judge-corrected fit); per tier the two directions are independent. ``weights``
    (:func:`af_weights`) write the pair and query levels partially non-centred; None: non-centred.
    ``per_cell=False`` returns the (pair, tier) logits and the query effects instead of per-cell logits.
    """
    a_pair, a_u = weights if weights is not None else (0.0, 0.0)
    mu = pm.Normal("mu_af", mu=AF_MU, sigma=AF_MU_SD, dims="tier")
    tau = pm.HalfNormal("tau_af", 1.0, dims="tier")
    logit_tier = _gap._partial(pm, "logit_af", mu[None, :], tau[None, :], a_pair, ("pair", "tier"))
    beta_af = pm.Deterministic("beta_af", logit_tier[:, 0], dims="pair")
    gamma_af = pm.Deterministic("gamma_af", logit_tier[:, 1] - logit_tier[:, 0], dims="pair")
    u_af = 0.0
    if n_queries > 1:
        sigma = pm.HalfNormal("sigma_af", 1.0)
        u_af = _gap._partial_zerosum(pm, "u_af", sigma, a_u, "query")
    if not per_cell:
        return logit_tier, (u_af if n_queries > 1 else np.zeros(1))
    return beta_af[cp] + (u_af[cq] if n_queries > 1 else 0.0) + t * gamma_af[cp]


def _judged_af_potential(k, n, eta, se, sp):
    """Σ k·log q + (n − k)·log(1 − q), q = (1 − sp) + (se + sp − 1)·σ(η): the AF binomial through
    the AF judge alone. Both ``q`` and ``1 − q = (1 − se) + (se + sp − 1)·σ(−η)`` are sums of
    non-negative terms (no cancellation), so this is written without log-sum-exps, cheaper to
    differentiate than :func:`afdecomp.models._loglik.judged_binomial_potential` (same value)."""
    import pytensor.tensor as pt
    c = se + sp - 1.0
    return pt.sum(k * pt.log((1.0 - sp) + c * pt.sigmoid(eta)) + (n - k) * pt.log((1.0 - se) + c * pt.sigmoid(-eta)))


def joint_grid(d, cells: pd.DataFrame):
    """(tiers, n, k, n_af, k_af) on the dense (tier × pair × query) grid when the cells fill at
    least half of it, else None. ``tiers`` are the oversight levels present (0 and/or 1); empty
    grid points have n = n_af = 0 and add nothing to the likelihood."""
    tiers, lev = np.unique(d.cell_t, return_inverse=True)
    shape = (len(tiers), len(d.pairs), len(d.queries))
    if len(d.cell_n) < 0.5 * np.prod(shape):
        return None
    out = []
    for col in ("n", "k", "n_af", "k_af"):
        x = np.zeros(shape)
        np.add.at(x, (lev, d.cell_pair, d.cell_query), cells[col].to_numpy(dtype=float))
        out.append(x)
    return (tiers.astype(int), *out)


def _fixed_one(rates, i: int) -> bool:
    return _is_const(rates[i]) and _is_const(rates[i + 1]) and float(rates[i]) == 1.0 == float(rates[i + 1])


def _add_likelihood(pm, pt, c, lp_l1p, lq_l1q, eta_c, eta_a, rates, compliance: bool):
    """The compliance (when ``compliance``) and AF potentials of a joint model.

    ``rates`` is ``(se_c, sp_c, se_a, sp_a)`` (numbers or model variables) for a judge-corrected
    fit, None without judge error; ``eta_c``/``eta_a`` are logits (the fast binomial form without
    judge error) and ``lp_l1p``/``lq_l1q`` the pairs (log p, log(1 − p)), (log a, log(1 − a)).
    """
    k, n, k_af, n_af = (c[x].to_numpy(dtype=float) for x in ("k", "n", "k_af", "n_af"))
    sub = n_af > 0
    idx = np.flatnonzero(sub)
    if rates is not None and _fixed_one(rates, 0) and eta_a is not None and (eta_c is not None or not compliance):
        # only the AF judge errs: P(af⁺ | c⁺) is the judged rate of a alone (the general form
        # below reduces to it), and compliance is the plain binomial
        if compliance:
            pm.Potential("loglik_complied", binomial_potential(k, n, eta_c))
        pm.Potential("loglik_af", _judged_af_potential(k_af[sub], n_af[sub], eta_a[idx], *rates[2:]))
        return
    if rates is None:
        if compliance:
            pm.Potential("loglik_complied", binomial_potential(k, n, eta_c))
        if eta_a is not None:
            pm.Potential("loglik_af", binomial_potential(k_af[sub], n_af[sub], eta_a[idx]))
        else:
            lq, l1q = lq_l1q
            pm.Potential("loglik_af", pt.sum(k_af[sub] * lq[idx] + (n_af - k_af)[sub] * l1q[idx]))
        return
    lp, l1p = lp_l1p
    lq, l1q = lq_l1q
    la, ln, lc, l_notc = _af_log_probs(lp, l1p, lq, l1q, *rates, pt)
    if compliance:
        pm.Potential("loglik_complied", pt.sum(k * lc + (n - k) * l_notc))
    pm.Potential("loglik_af", pt.sum(k_af[sub] * la[idx] + (n_af - k_af)[sub] * ln[idx]))


def _add_grid_likelihood(pm, pt, counts, eta_c, eta_a, rates) -> None:
    """:func:`_add_likelihood` on the dense grid (``counts`` = n, k, n_af, k_af; logits broadcast to it)."""
    n, k, n_af, k_af = counts
    if rates is None or _fixed_one(rates, 0):
        pm.Potential("loglik_complied", binomial_potential(k, n, eta_c))
        if rates is None or _fixed_one(rates, 2):
            pm.Potential("loglik_af", binomial_potential(k_af, n_af, eta_a))
        else:
            pm.Potential("loglik_af", _judged_af_potential(k_af, n_af, eta_a, *rates[2:]))
        return
    la, ln, lc, l_notc = _af_log_probs(*_log_sig(eta_c, pt), *_log_sig(eta_a, pt), *rates, pt)
    pm.Potential("loglik_complied", pt.sum(k * lc + (n - k) * l_notc))
    pm.Potential("loglik_af", pt.sum(k_af * la + (n_af - k_af) * ln))


class JointOutcome:
    """Hierarchical model of compliance and AF reasoning given compliance (module docstring).

    Parameters
    ----------
    draws, tune, chains : int
        NUTS settings (draws and tuning steps per chain; 4 chains as :class:`ComplianceGap`).
    random_seed : int, optional
    sampler : {"auto", "nutpie", "pymc", "numpyro"}
    hdi_prob : float, default 0.94
        Probability of the reported intervals.
    progress : bool, optional
    target_accept : float, default 0.9
    max_chains : int, optional
        When given (> ``chains``) and the first ``chains`` chains miss R-hat <= 1.01 or bulk/tail
        ESS >= 400, batches of ``chains`` more independent chains are added (one compile) up to
        ``max_chains``, as :class:`afdecomp.ComplianceGap`. Off by default: on the example,
        8 more chains met the ESS but brought 69 divergences (in ``tau_af[0]``, docs/joint.md).
    dense : bool, optional
        Evaluate the likelihood on the full (tier × pair × query) grid by broadcasting (the
        default when the cells fill at least half of it) instead of per-cell gathers; the same
        function either way.

    Examples
    --------
    >>> joint = JointOutcome(random_seed=0).fit(df, judge_error={"complied": je})  # doctest: +SKIP
    >>> joint.summary()                                                           # doctest: +SKIP
    """

    def __init__(self, draws: int = 1000, tune: int = 1000, chains: int = 4, random_seed: int | None = None,
                 sampler: str = "auto", hdi_prob: float = 0.94, progress: bool | None = None,
                 target_accept: float = 0.9, dense: bool | None = None, max_chains: int | None = None):
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")
        if not 0 < hdi_prob < 1:
            raise ValueError(f"hdi_prob must be in (0, 1), got {hdi_prob}")
        self.draws, self.tune, self.chains = int(draws), int(tune), int(chains)
        self.random_seed, self.sampler, self.hdi_prob = random_seed, sampler, hdi_prob
        self.progress, self.target_accept, self.dense = progress, target_accept, dense
        self.max_chains = max_chains

    def build(self, cells: pd.DataFrame, judge: dict | None = None):
        """(PyMC model, gap design) for joint cells (:func:`joint_cells`)."""
        import pymc as pm
        import pytensor.tensor as pt
        d = _gap.design(cells)
        st = _gap.structure(d)
        empty = np.zeros(0, dtype=np.int64)
        # the gap model's levels and priors, without its likelihood (the cells are given none)
        d0 = dataclasses.replace(d, cell_pair=empty, cell_query=empty, cell_t=np.zeros(0),
                                 cell_n=empty, cell_k=empty)
        model = _gap.build_model(d0, struct=st, dense=False)
        model.add_coord("tier", ["deployment", "training"])
        cp, cq, t = d.cell_pair, d.cell_query, d.cell_t
        grid = joint_grid(d, cells) if self.dense in (None, True) else None
        weights = af_weights(d, cells, (judge or {}).get("af_reasoning"))
        with model:
            if len(d.queries) > 1:
                u, w = model["u"], model["w"]
            else:
                u = w = pt.zeros(1)
            rates = None
            if judge:
                rates = _judge_values(judge, "complied") + _judge_values(judge, "af_reasoning")
            if grid is None:
                eta_c = gap_logit(model["beta"][cp], model["gamma"][cp], u[cq], w[cq], t)
                eta_a = _af_part(pm, cp, cq, t, len(d.queries), weights=weights)
                _add_likelihood(pm, pt, cells, _log_sig(eta_c, pt), _log_sig(eta_a, pt), eta_c, eta_a,
                                rates, compliance=True)
            else:
                # the (tier × pair × query) grid by broadcasting: no per-cell gathers, whose
                # gradients are scatter-adds (measured on the example: see docs/joint.md)
                tiers, n, k, n_af, k_af = grid
                eta_c = gap_logit(model["beta"][None, :, None], model["gamma"][None, :, None],
                                  u[None, None, :], w[None, None, :], tiers.astype(float)[:, None, None])
                logit_tier, u_af = _af_part(pm, cp, cq, t, len(d.queries), per_cell=False, weights=weights)
                eta_a = logit_tier.T[tiers][:, :, None] + u_af[None, None, :]
                _add_grid_likelihood(pm, pt, (n, k, n_af, k_af), eta_c, eta_a, rates)
        return model, d, st

    def fit(self, data: pd.DataFrame, judge_error: dict | None = None) -> JointResults:
        """Fit to the tidy table (``complied`` and ``af_reasoning``) or to joint cells.

        Parameters
        ----------
        data : DataFrame
        judge_error : dict, optional
            ``{"complied": JudgeError, "af_reasoning": JudgeError}`` (either key; a
            ``JudgeValidation`` converts): the fit then estimates the true rates.

        Returns
        -------
        JointResults
        """
        from .judge_error import judge_attrs, resolve_judge_error
        judge = resolve_judge_error(judge_error, LABELS, "JointOutcome")
        cells = joint_cells(data)
        model, d, st = self.build(cells, judge)
        progress = self.progress if self.progress is not None else sys.stderr.isatty() or len(cells) >= 1000
        t0 = time.perf_counter()
        from ..results import meets_thresholds
        names = JointResults.CHECKED
        idata = sample(model, draws=self.draws, tune=self.tune, chains=self.chains, random_seed=self.random_seed,
                       sampler=self.sampler, target_accept=self.target_accept, progress=progress,
                       n_cells=len(cells), converged=lambda idata: meets_thresholds(idata, names),
                       max_chains=self.chains if self.max_chains is None else self.max_chains)
        attrs = {"sampling_seconds": time.perf_counter() - t0, "hdi_prob": float(self.hdi_prob),
                 "random_seed": -1 if self.random_seed is None else int(self.random_seed),
                 "afdecomp_model": JointResults.kind,
                 "levels": "+".join(["setting"] + ["model"] * st.model_level + ["pair"] * st.pair_level)}
        if judge:
            attrs["judge_error"] = judge_attrs(judge)
        idata.attrs.update(attrs)
        _store_cells(idata, d, cells)
        res = JointResults(idata, check=False)
        res._attach_derived()
        res.check()
        return res


def _store_cells(idata, d, cells: pd.DataFrame) -> None:
    """The design and counts of the fit as ``constant_data`` / ``observed_data``."""
    pairs = d.pairs
    const = {"cell_pair": ("cell", d.cell_pair), "cell_query": ("cell", d.cell_query),
             "cell_t": ("cell", d.cell_t), "cell_n": ("cell", d.cell_n),
             "cell_n_af": ("cell", cells["n_af"].to_numpy(dtype=np.int64)),
             "pair_n": ("pair", pairs["n"].to_numpy(dtype=np.int64))}
    for c in CONDITION_KEYS:
        if c == "steer_layer":
            const["key_" + c] = ("pair", pd.to_numeric(pairs[c]).astype("Float64").to_numpy(dtype=float, na_value=np.nan))
        elif c == "steer_coef":
            const["key_" + c] = ("pair", pairs[c].to_numpy(dtype=float))
        else:
            const["key_" + c] = ("pair", pairs[c].astype(str).to_numpy(dtype=str))
    for name in ("c0_af0", "c0_af1", "c1_af0", "c1_af1", "c0_af_na", "c1_af_na", "n_na"):
        if name in cells:
            const["cell_" + name] = ("cell", cells[name].to_numpy(dtype=np.int64))
    _arviz.set_group(idata, "constant_data", xr.Dataset(const, coords={"query": d.queries}))
    # ``k`` encodes both counts of a cell in one integer (k_c·100003 + k_af): compare() checks that
    # fits were made on the same observations by comparing it
    _arviz.set_group(idata, "observed_data", xr.Dataset(
        {"k": ("cell", d.cell_k * 100003 + cells["k_af"].to_numpy(dtype=np.int64)),
         "k_c": ("cell", d.cell_k), "k_af": ("cell", cells["k_af"].to_numpy(dtype=np.int64))}))


# ----------------------------------------------------------------------------- results
class JointResults(Results):
    """Posterior of :class:`JointOutcome` (and base of :class:`JointRationalResults`).

    ``idata`` holds the parameters and, per pair (condition), the derived ``rate_training``,
    ``rate_deployment``, ``gap``, ``af_rate_training``, ``af_rate_deployment``, ``af_gap`` and
    ``af_share_of_gap``; ``constant_data`` the cells (``cell_*``) and condition keys;
    ``attrs["judge_error"]`` the judge correction applied (absent: none).

    Parameters
    ----------
    idata : xarray.DataTree
        The fit's posterior with those groups (kept as ``.idata``);
        :meth:`afdecomp.JointOutcome.fit` builds it.
    check : bool, default True
        Test convergence at once (:meth:`check`: R-hat, bulk and tail ESS, divergences) and warn
        with a :class:`ConvergenceWarning` naming what failed. :meth:`from_idata` (a fit read
        back from a file) passes False.
    """

    kind = "JointOutcome"
    name = "joint outcome"

    #: The parameters whose R-hat and ESS are checked (and extended toward, :func:`~afdecomp.models._sampling.sample`).
    CHECKED = ("mu", "chol_stds", "tau_model", "delta_midpoint", "delta_gamma", "beta", "gamma", "sigma_u",
               "sigma_w", "u", "w", "mu_af", "tau_af", "beta_af", "gamma_af", "sigma_af", "u_af",
               "se_complied", "sp_complied", "se_af_reasoning", "sp_af_reasoning")

    def checked_parameters(self) -> list[str]:
        return [v for v in self.CHECKED if v in self.idata["posterior"]]

    # ------------------------------------------------------------------ tables
    def pairs(self) -> pd.DataFrame:
        """The condition keys of each pair, in the order of the ``pair`` dimension (and ``n``)."""
        const = _arviz.group(self.idata, "constant_data")
        out = pd.DataFrame({c: const["key_" + c].values for c in CONDITION_KEYS})
        for c in ("model", "scenario", "variant", "steer_vector"):
            out[c] = out[c].astype(str)
        out["steer_layer"] = pd.array(out["steer_layer"].to_numpy(dtype=float), dtype="Float64").astype("Int64")
        out["steer_coef"] = out["steer_coef"].astype(float)
        out["n"] = const["pair_n"].values.astype(np.int64)
        cp = const["cell_pair"].values
        out["n_af"] = np.bincount(cp, weights=const["cell_n_af"].values, minlength=len(out)).astype(np.int64)
        return out

    def _cells(self):
        const = _arviz.group(self.idata, "constant_data")
        obs = _arviz.group(self.idata, "observed_data")
        return (const["cell_pair"].values, const["cell_query"].values, const["cell_t"].values,
                const["cell_n"].values, obs["k_c"].values, const["cell_n_af"].values, obs["k_af"].values)

    def _probs(self, idx: np.ndarray, pair: np.ndarray, query: np.ndarray, t: np.ndarray):
        """True P(comply) and P(AF | comply) for the flat draws ``idx`` at (pair, query, t): (draws, rows)."""
        from scipy.special import expit
        post = self.idata["posterior"]
        Q = self.idata["constant_data"].sizes.get("query", 1)

        def get(name, shape):
            return self.draws(name)[idx] if name in post else np.zeros((len(idx),) + shape)
        beta, gamma, beta_af, gamma_af = (self.draws(n)[idx] for n in ("beta", "gamma", "beta_af", "gamma_af"))
        u, w, u_af = get("u", (Q,)), get("w", (Q,)), get("u_af", (Q,))
        p = expit(gap_logit(beta[:, pair], gamma[:, pair], u[:, query], w[:, query], t))
        a = expit(beta_af[:, pair] + u_af[:, query] + t * gamma_af[:, pair])
        return p, a

    def _attach_derived(self, chunk: int = 250) -> None:
        """Add the per-pair derived quantities (:data:`DERIVED`) to the posterior."""
        from scipy import sparse
        cp, cq, *_ = self._cells()
        P = int(_arviz.group(self.idata, "constant_data")["pair_n"].size)
        pq = np.unique(np.stack([cp, cq], axis=1), axis=0)
        counts = np.bincount(pq[:, 0], minlength=P).astype(float)
        avg = sparse.csr_matrix((1.0 / counts[pq[:, 0]], (pq[:, 0], np.arange(len(pq)))), shape=(P, len(pq)))
        S = self.n_draws
        out = {k: np.empty((S, P)) for k in ("rate_training", "rate_deployment", "af_rate_training",
                                             "af_rate_deployment")}
        for s0 in range(0, S, chunk):
            idx = np.arange(s0, min(S, s0 + chunk))
            for tier, t in (("training", 1.0), ("deployment", 0.0)):
                p, a = self._probs(idx, pq[:, 0], pq[:, 1], np.full(len(pq), t))
                out[f"rate_{tier}"][idx] = (avg @ p.T).T
                out[f"af_rate_{tier}"][idx] = (avg @ (p * a).T).T
        out["gap"] = out["rate_training"] - out["rate_deployment"]
        out["af_gap"] = out["af_rate_training"] - out["af_rate_deployment"]
        with np.errstate(divide="ignore", invalid="ignore"):
            out["af_share_of_gap"] = out["af_gap"] / out["gap"]
        post = _arviz.group(self.idata, "posterior")
        C, D = post.sizes["chain"], post.sizes["draw"]
        post = post.assign({k: (("chain", "draw", "pair"), v.reshape(C, D, P)) for k, v in out.items()})
        _arviz.set_group(self.idata, "posterior", post)

    def summary(self, ci_prob: float | None = None, *, hdi_prob: float | None = None) -> pd.DataFrame:
        """Per model and condition: the gap, P(complied & AF) per tier and the AF share of the gap.

        Columns :data:`SUMMARY_COLUMNS` (means and HDIs; the share: median and equal-tailed
        interval of its draws, NaN where the gap's HDI contains 0 — module docstring), then
        ``rate_training``, ``rate_deployment``, ``n``, ``n_af``, ``judge`` (the correction
        applied) and the condition keys (scenario, variant, steer_vector, steer_layer, steer_coef).
        """
        prob = self._prob(ci_prob, hdi_prob)
        pairs = self.pairs()
        out = pd.DataFrame({"model": pairs["model"], "condition": condition_label(pairs)})
        for name in ("gap", "af_rate_training", "af_rate_deployment"):
            x = self.draws(name)
            out[name] = x.mean(axis=0)
            out[f"{name}_lo"], out[f"{name}_hi"] = _arviz.hdi(x.T, prob)
        share = self.draws("af_share_of_gap")
        q = np.nanquantile(share, [0.5, (1 - prob) / 2, (1 + prob) / 2], axis=0)
        defined = (out["gap_lo"] > 0) | (out["gap_hi"] < 0)
        for j, suffix in enumerate(("", "_lo", "_hi")):
            out["af_share_of_gap" + suffix] = np.where(defined, q[j], np.nan)
        out = out[SUMMARY_COLUMNS]
        out["rate_training"] = self.draws("rate_training").mean(axis=0)
        out["rate_deployment"] = self.draws("rate_deployment").mean(axis=0)
        out["n"], out["n_af"] = pairs["n"], pairs["n_af"]
        out["judge"] = self.judge_note()
        for c in CONDITION_KEYS[1:]:
            out[c] = pairs[c]
        out.attrs["judge_error"] = self.judge_note()
        return out

    def segments(self, ci_prob: float | None = None, *, hdi_prob: float | None = None) -> pd.DataFrame:
        """Per model, condition and tier: the shares refused / complied without AF / complied with
        AF (means) and intervals of the compliance rate and the AF rate — the signature figure's data.

        Columns: model, condition, tier, refused, complied_no_af, complied_af, complied_lo,
        complied_hi, af_lo, af_hi, plus the condition keys.
        """
        prob = self._prob(ci_prob, hdi_prob)
        pairs = self.pairs()
        rows = []
        for tier in ("training", "deployment"):
            r, a = self.draws(f"rate_{tier}"), self.draws(f"af_rate_{tier}")
            rl, rh = _arviz.hdi(r.T, prob)
            al, ah = _arviz.hdi(a.T, prob)
            f = pd.DataFrame({"model": pairs["model"], "condition": condition_label(pairs), "tier": tier,
                              "refused": 1 - r.mean(axis=0), "complied_no_af": (r - a).mean(axis=0),
                              "complied_af": a.mean(axis=0), "complied_lo": rl, "complied_hi": rh,
                              "af_lo": al, "af_hi": ah})
            for c in CONDITION_KEYS[1:]:
                f[c] = pairs[c].to_numpy()
            rows.append(f)
        return pd.concat(rows, ignore_index=True)

    # ------------------------------------------------------------------ analyses
    def gap_draws(self, cues="default", *, queries: str = "observed", scenario=None, random_seed=0):
        from ..results import PairGaps
        return PairGaps(self, getattr(self, "catalog", None)).gap_draws(cues, queries=queries, scenario=scenario)

    def fitted_variants(self) -> list[str]:
        from ..results import PairGaps
        return PairGaps(self).fitted_variants()

    # ------------------------------------------------------------------ likelihood
    def _judge_draws(self, idx: np.ndarray, label: str):
        je = self.judge_error.get(label)
        if je is None:
            return 1.0, 1.0
        out = []
        for short, val in (("se", je.sensitivity), ("sp", je.specificity)):
            name = f"{short}_{label}"
            out.append(self.draws(name)[idx][:, None] if self.has(name) else val)
        return tuple(out)

    def log_likelihood(self, chunk: int = 100) -> xr.Dataset:
        """Pointwise log-likelihood per draw and cell: compliance binomial + AF binomial (with
        their constants, through the judges when corrected), as the ``log_likelihood`` group."""
        from scipy.special import gammaln
        if _arviz.has_group(self.idata, "log_likelihood"):
            return _arviz.group(self.idata, "log_likelihood")
        cp, cq, t, n, k, n_af, k_af = self._cells()
        n, k, n_af, k_af = (x.astype(float) for x in (n, k, n_af, k_af))

        def lchoose(nn, kk):
            return gammaln(nn + 1) - gammaln(kk + 1) - gammaln(nn - kk + 1)
        const = lchoose(n, k) + lchoose(n_af, k_af)
        post = self.idata["posterior"]
        C, D = post.sizes["chain"], post.sizes["draw"]
        ll = np.empty((C * D, len(n)))
        for s0 in range(0, C * D, chunk):
            idx = np.arange(s0, min(s0 + chunk, C * D))
            p, a = self._probs(idx, cp, cq, t)
            lp, l1p = np.log(np.clip(p, 1e-300, None)), np.log(np.clip(1 - p, 1e-300, None))
            lq, l1q = np.log(np.clip(a, 1e-300, None)), np.log(np.clip(1 - a, 1e-300, None))
            se_c, sp_c = self._judge_draws(idx, "complied")
            se_a, sp_a = self._judge_draws(idx, "af_reasoning")
            la, ln_, lc, lnc = _af_log_probs(lp, l1p, lq, l1q, se_c, sp_c, se_a, sp_a, np)
            ll[idx] = const + k * lc + (n - k) * lnc + k_af * la + (n_af - k_af) * ln_
        ds = xr.Dataset({"k": (("chain", "draw", "cell"), ll.reshape(C, D, len(n)))},
                        coords={"chain": post["chain"].values, "draw": post["draw"].values})
        _arviz.set_group(self.idata, "log_likelihood", ds)
        return ds

    def _repr_parts(self) -> list[str]:
        return [f"{len(self.pairs())} condition(s)"]


# ----------------------------------------------------------------------------- theory link
class JointRational:
    """The rational-agent model of compliance with AF reasoning, linked to goal guarding or free.

    ``af_link=True``: AF reasoning is what the goal-guarding motive produces (module docstring;
    a compliance shows AF reasoning when goal guarding was pivotal, plus a shared background
    rate). With ``judge_error=`` the compliance judge enters the rational model's likelihood
    (:meth:`afdecomp.RationalAgent.build`) and both judges the AF likelihood, as in
    :class:`JointOutcome`. ``af_link=False``: the same compliance model with the free AF logit of
    :class:`JointOutcome`. Fit both to the same data and compare with
    ``linked.compare(free)`` (PSIS-LOO over the cells' joint log-likelihood).

    Parameters
    ----------
    af_link : bool, default True
    draws, tune, chains, random_seed, sampler, target_accept, hdi_prob, progress
        As :class:`afdecomp.RationalAgent` (whose model is used for compliance).
    """

    def __init__(self, af_link: bool = True, draws: int = 1000, tune: int = 1000, chains: int = 2, *,
                 random_seed=None, sampler: str = "auto", target_accept: float = 0.95,
                 hdi_prob: float = 0.94, progress: bool | None = None):
        self.af_link = bool(af_link)
        self.draws, self.tune, self.chains = draws, tune, chains
        self.random_seed, self.sampler, self.target_accept = random_seed, sampler, target_accept
        self.hdi_prob, self.progress = hdi_prob, progress

    def fit(self, data: pd.DataFrame, *, catalog=None, judge_error: dict | None = None) -> JointRationalResults:
        """Fit to the tidy table or joint cells; returns :class:`JointRationalResults`."""
        import pymc as pm
        import pytensor.tensor as pt

        from .. import theory
        from ..design import default_catalog
        from .judge_error import judge_attrs, resolve_judge_error
        from .rational import RationalAgent, _drivers, build_design
        from .rational_results import canonical_cells
        judge = resolve_judge_error(judge_error, LABELS, "JointRational")
        catalog = catalog or default_catalog()
        cells = joint_cells(data)
        d = _gap.design(cells)
        rcells = canonical_cells(cells)
        rd = build_design(rcells, catalog, None)
        agent = RationalAgent(self.draws, self.tune, self.chains, random_seed=self.random_seed,
                              sampler=self.sampler, target_accept=self.target_accept, goal_guarding=True)
        model = agent.build(rd, judge_error=judge.get("complied"))  # compliance: its own (judged) likelihood
        cp, cq, t = d.cell_pair, d.cell_query, d.cell_t
        with model:
            M = len(rd.models)
            params = {"b": model["b"], "V": model["V"], "S": model["S"], "g": model["g"],
                      "rho": pt.zeros(M), "eta": pt.zeros(M), "lambda": None}
            if rd.steered:
                params.update(rho=model["rho_s"], eta=model["eta_s"])
                if rd.vectors:
                    params["lambda"] = model["lambda"] * rd.alpha_scale
            du = theory.structural_logit(params, rd.m, rd.k, _drivers(rd), rd.z, rd.o, rd.alpha, xp=pt) + model["u"][rd.q]
            rates = None
            if judge:
                rates = _model_rates(model, judge.get("complied"), "complied") + _judge_values(judge, "af_reasoning")
            lp_l1p = _log_sig(du, pt)
            if self.af_link:
                no_g = dict(params, g=pt.zeros(M))
                du0 = theory.structural_logit(no_g, rd.m, rd.k, _drivers(rd), rd.z, rd.o, rd.alpha, xp=pt) + model["u"][rd.q]
                eps = pm.Deterministic("eps_af", pm.math.sigmoid(pm.Normal("logit_eps_af", -3.0, 1.5)))
                a = _linked_af(du, du0, eps, pt)
                lq, l1q = pt.log(pt.clip(a, 1e-12, 1.0)), pt.log(pt.clip(1.0 - a, 1e-12, 1.0))
                _add_likelihood(pm, pt, cells, lp_l1p, (lq, l1q), None, None, rates, compliance=False)
            else:
                model.add_coord("tier", ["deployment", "training"])
                model.add_coord("pair", _gap.pair_labels(d.pairs))
                # the rational model's "query" coordinate is the query ids; the AF part uses it too
                eta_a = _af_part(pm, cp, _query_map(d.queries, rd.queries)[cq], t, len(d.queries),
                                 weights=af_weights(d, cells, judge.get("af_reasoning")))
                _add_likelihood(pm, pt, cells, lp_l1p, _log_sig(eta_a, pt), None, eta_a, rates, compliance=False)
        progress = self.progress if self.progress is not None else sys.stderr.isatty() or len(cells) >= 1000
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            idata = sample(model, draws=self.draws, tune=self.tune, chains=self.chains,
                           random_seed=self.random_seed, sampler=self.sampler,
                           target_accept=self.target_accept, progress=progress, n_cells=len(cells))
        if judge:
            idata.attrs["judge_error"] = judge_attrs(judge)
        idata.attrs.update({"hdi_prob": float(self.hdi_prob), "af_link": int(self.af_link),
                            "random_seed": -1 if self.random_seed is None else int(self.random_seed),
                            "afdecomp_model": JointRationalResults.kind})
        _store_cells(idata, d, cells)
        from .rational_results import store_design
        store_design(idata, rd, catalog, True)
        idata.attrs["afdecomp_model"] = JointRationalResults.kind
        res = JointRationalResults(idata, check=False)
        res._attach_derived()
        res.check()
        return res


def _model_rates(model, je, label: str):
    """(se, sp) of a judge that a model built already (its ``se_<label>``/``sp_<label>`` variables,
    or the fixed numbers); (1, 1) without one."""
    if je is None:
        return 1.0, 1.0
    out = []
    for short, name in (("se", "sensitivity"), ("sp", "specificity")):
        var = f"{short}_{label}"
        out.append(model[var] if var in model.named_vars else getattr(je, name))
    return tuple(out)


def _linked_af(du, du0, eps, xp):
    """P(AF | comply) under the link: ε + (1 − ε)·[1 − σ(ΔU − G)/σ(ΔU)], G = ΔU − du0."""
    lp, _ = _log_sig(du, xp)
    lp0, _ = _log_sig(du0, xp)
    ratio = xp.exp(xp.minimum(lp0 - lp, 0.0))
    return eps + (1.0 - eps) * (1.0 - ratio)


def _query_map(gap_queries, rational_queries) -> np.ndarray:
    """Index of each gap-design query (``scenario/query_id``) among the rational design's query ids."""
    pos = {q: i for i, q in enumerate(rational_queries)}
    return np.array([pos[q.split("/", 1)[1]] for q in gap_queries], dtype=np.int64)


class JointRationalResults(JointResults):
    """Posterior of :class:`JointRational`: the same tables as :class:`JointResults`."""

    kind = "JointRational"

    @property
    def name(self) -> str:
        return "rational + AF link" if self.af_link else "rational + free AF"

    @property
    def af_link(self) -> bool:
        return bool(int(self.idata.attrs.get("af_link", 1)))

    def checked_parameters(self) -> list[str]:
        names = ("b", "V", "S", "g", "mu_b", "sigma_b", "mu_logV", "sigma_logV", "mu_S", "sigma_S",
                 "mu_logg", "sigma_logg", "sigma_u", "u", "rho", "eta", "lambda", "eps_af", "mu_af", "tau_af", "beta_af", "gamma_af", "sigma_af", "u_af")
        return [v for v in names if v in self.idata["posterior"]]

    def _rational(self):
        if not hasattr(self, "_rd"):
            from .rational_results import design_from_idata
            self._rd, self.catalog, _ = design_from_idata(self.idata)
            const = _arviz.group(self.idata, "constant_data")
            self._qmap = _query_map([str(q) for q in const["query"].values], self._rd.queries)
            # per pair: the rational design's index arrays of its first cell
            cp = const["cell_pair"].values
            first = np.unique(cp, return_index=True)[1]
            rd = self._rd
            self._pair_cond = {"m": rd.m[first], "k": rd.k[first], "alpha": rd.alpha[first],
                               "z": {c: v[first] for c, v in rd.z.items()}}
        return self._rd

    def _probs(self, idx, pair, query, t):
        from scipy.special import expit

        from .. import theory
        from .rational import _drivers
        rd = self._rational()
        pc = self._pair_cond
        P = {name: (self.draws(name)[idx] if self.has(name) else np.zeros((len(idx), len(rd.models))))
             for name in ("b", "V", "S", "g")}
        for name, internal in (("rho", 2), ("eta", 2)):
            P[name] = (self.draws(name)[idx] * rd.alpha_scale ** internal if self.has(name)
                       else np.zeros((len(idx), len(rd.models))))
        P["lambda"] = self.draws("lambda")[idx] * rd.alpha_scale if self.has("lambda") else None
        m, k, alpha = pc["m"][pair], pc["k"][pair], pc["alpha"][pair]
        z = {c: v[pair] for c, v in pc["z"].items()}
        uq = self.draws("u")[idx][:, self._qmap[query]]
        du = theory.structural_logit(P, m, k, _drivers(rd), z, t, alpha) + uq
        p = expit(du)
        if self.af_link:
            du0 = theory.structural_logit(dict(P, g=np.zeros_like(P["g"])), m, k, _drivers(rd), z, t, alpha) + uq
            a = _linked_af(du, du0, self.draws("eps_af")[idx][:, None], np)
        else:
            post = self.idata["posterior"]
            u_af = self.draws("u_af")[idx][:, self._qmap[query]] if "u_af" in post else 0.0
            a = expit(self.draws("beta_af")[idx][:, pair] + u_af + t * self.draws("gamma_af")[idx][:, pair])
        return p, a
