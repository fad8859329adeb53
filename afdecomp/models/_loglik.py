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
    """The gap model's linear predictor ``β + u + t·(γ + w)`` (MODEL.md §1).

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
                     chunk: int = 100) -> xr.Dataset:
    """Add ``log Binom(k | n, sigmoid(η))`` per draw and cell to ``idata`` (group ``log_likelihood``).

    ``logit(idx)`` returns η for the flat draw indices ``idx`` (chains stacked) as (draws, cells).
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
        ll[idx] = log_choose + k * eta - n * np.logaddexp(0.0, eta)
    ds = xr.Dataset({"k": (("chain", "draw", "cell"), ll.reshape(C, D, len(k)))},
                    coords={"chain": post["chain"].values, "draw": post["draw"].values})
    _arviz.set_group(idata, "log_likelihood", ds)
    return ds
