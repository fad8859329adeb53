"""The binomial likelihood of the cell models: a fast Potential for sampling, pointwise values for LOO.

Both models write ``Σ k·η − n·log(1 + e^η)`` (logit scale, without the constant ``log C(n, k)``)
as a ``pm.Potential``, several times faster to differentiate than ``pm.Binomial``. PSIS-LOO
needs the pointwise log-likelihood with the constant; :func:`attach_pointwise` computes it from
the posterior draws and stores it as the ``log_likelihood`` group (variable ``k``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr

from .. import _arviz


def gap_logit(beta, gamma, u, w, t):
    """The gap model's linear predictor ``β + u + t·(γ + w)`` (docs/concepts.md, "The hierarchical gap model").

    Written with ``+`` and ``*`` only, so the same function builds the PyMC model (PyTensor
    tensors) and evaluates draws (numpy arrays, which broadcast): ``beta, gamma`` per cell's
    pair, ``u, w`` per cell's query, ``t`` the oversight (1 training, 0 deployment).
    """
    return beta + u + t * (gamma + w)


def binomial_potential(k, n, eta):
    """Σ k·η − n·log(1 + e^η) as a PyTensor expression (cells with n = 0 add nothing)."""
    import pytensor.tensor as pt
    return pt.sum(k * eta - n * pt.softplus(eta))


def attach_pointwise(idata, k: np.ndarray, n: np.ndarray, logit: Callable[[np.ndarray], np.ndarray],
                     chunk: int = 100, judge: Callable[[np.ndarray], tuple] | None = None) -> xr.Dataset:
    """Add ``log Binom(k | n, sigmoid(η))`` per draw and cell to ``idata`` (group ``log_likelihood``).

    ``logit(idx)`` returns η for the flat draw indices ``idx`` (chains stacked) as (draws, cells).
    ``judge(idx)``, for a fit corrected for judge error, returns the judge's ``(se, sp)`` for
    those draws (numbers, or arrays of shape (draws, 1)): the counts are then binomial with the
    judged rate of :func:`observed_log_probs`, as in the fitted model.
    Kept once: a second call returns the stored group.
    """
    from scipy.special import gammaln
    if _arviz.has_group(idata, "log_likelihood"):
        return _arviz.group(idata, "log_likelihood")
    post = _arviz.group(idata, "posterior")
    C, D = post.sizes["chain"], post.sizes["draw"]
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    log_choose = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    ll = np.empty((C * D, len(k)))
    for s0 in range(0, C * D, chunk):
        idx = np.arange(s0, min(s0 + chunk, C * D))
        eta = logit(idx)
        if judge is None:
            ll[idx] = log_choose + k * eta - n * np.logaddexp(0.0, eta)
        else:
            log_q, log_1mq = observed_log_probs(eta, *judge(idx))
            ll[idx] = log_choose + k * log_q + (n - k) * log_1mq
    ds = xr.Dataset({"k": (("chain", "draw", "cell"), ll.reshape(C, D, len(k)))},
                    coords={"chain": post["chain"].values, "draw": post["draw"].values})
    _arviz.set_group(idata, "log_likelihood", ds)
    return ds


# ----------------------------------------------------------------------------- judge error
def _softplus(x, xp):
    return xp.softplus(x) if hasattr(xp, "softplus") else np.logaddexp(0.0, x)


def _is_zero(w) -> bool:
    """A weight that is the plain number 0 (its term is dropped, not written as log 0 = -inf)."""
    return isinstance(w, (int, float, np.floating, np.integer)) and float(w) == 0.0


def _log_mix(w1, x1, w2, x2, xp):
    """``log(w1·e^x1 + w2·e^x2)`` for weights in [0, 1]; a weight that is the constant 0 drops its term."""
    with np.errstate(divide="ignore"):  # numpy: a weight of exactly 0 in an array -> log 0 = -inf, dropped by logaddexp
        terms = [xp.log(w) + x for w, x in ((w1, x1), (w2, x2)) if not _is_zero(w)]
    if not terms:
        raise ValueError("both weights of the mixture are 0")
    return terms[0] if len(terms) == 1 else xp.logaddexp(terms[0], terms[1])


def _complement(w):
    """``1 − w``, a plain number when ``w`` is one (so that ``_is_zero`` sees an exact 0)."""
    return 1.0 - float(w) if isinstance(w, (int, float, np.floating, np.integer)) else 1.0 - w


def observed_log_probs(eta, se, sp, xp=np):
    """``log q`` and ``log(1 − q)`` for the judged rate ``q = se·p + (1 − sp)·(1 − p)``, ``p = sigmoid(η)``.

    The one place where judge error enters a likelihood: a judge with sensitivity ``se`` and
    specificity ``sp`` labels a truly positive generation positive with probability ``se`` and
    a truly negative one positive with probability ``1 − sp``, so the observed positive rate is
    ``q`` above and ``1 − q = (1 − se)·p + sp·(1 − p)``. Both are computed as log-sum-exps of
    ``log p = −softplus(−η)`` and ``log(1 − p) = −softplus(η)`` (no ``log`` of a rounded
    probability near 0 or 1). ``se``/``sp`` that are the plain number 1 drop the vanishing term,
    so ``se = sp = 1`` gives exactly the uncorrected ``log p``, ``log(1 − p)``. ``xp`` is
    ``numpy`` (draws; arrays broadcast) or ``pytensor.tensor`` (inside a PyMC model).
    """
    log_p = -_softplus(-eta, xp)
    log_1mp = -_softplus(eta, xp)
    log_q = _log_mix(se, log_p, _complement(sp), log_1mp, xp)
    log_1mq = _log_mix(_complement(se), log_p, sp, log_1mp, xp)
    return log_q, log_1mq


def judged_binomial_potential(k, n, eta, se, sp):
    """Σ k·log q + (n − k)·log(1 − q) with the judged rate ``q`` of :func:`observed_log_probs` (PyTensor).

    The binomial log-likelihood of judged counts ``k`` of ``n`` when the true rate is
    ``sigmoid(η)`` (without the constant ``log C(n, k)``, as :func:`binomial_potential`).
    """
    import pytensor.tensor as pt
    log_q, log_1mq = observed_log_probs(eta, se, sp, xp=pt)
    return pt.sum(k * log_q + (n - k) * log_1mq)
