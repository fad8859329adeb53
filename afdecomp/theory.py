"""The rational-agent (logit-choice) equation of docs/model.md, written once for every array library.

Our formalisation, not taken from a paper. The model compares the utility of complying with
that of refusing and complies with probability ``sigmoid(ΔU)``::

    ΔU = b + u − V·z_V − ρ·α² + o·exp(−η·α²)·(S·z_S + g·V·z_V·z_G·κ)

with steering moving the targeted driver linearly in α (``V + λ_V·α``, ``S + λ_S·α``,
``g + λ_G·α``; V and g kept ≥ 0 smoothly, :func:`steered_driver`). Every function takes an
array namespace ``xp`` — ``numpy`` (the default) or ``pytensor.tensor`` — and uses only
arithmetic, ``xp.exp`` and ``xp.logaddexp``, so the same code builds the PyMC model
(:mod:`afdecomp.models.rational`), evaluates its draws (predictions and the pointwise
log-likelihood, :mod:`afdecomp.models.rational_results`) and draws the simulator's truth
(:mod:`afdecomp.simulate`). Arguments broadcast. :func:`driver_slopes` is the one mapping from
a condition's steering vector to the slope on each driver, and :func:`structural_logit` the
equation for conditions given by index arrays, as the model and its results use it.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

#: Width (in units of V or g) over which a steered driver's floor at 0 is rounded off.
CLIP_WIDTH = 0.05


def softplus(x, width: float = CLIP_WIDTH, xp=np):
    """``width · log(1 + exp(x / width))``: max(x, 0) with its corner rounded over ``width``."""
    if xp is np:
        x = np.asarray(x, dtype=float)
    return width * xp.logaddexp(0.0, x / width)


def steered_driver(x, shift, width: float = CLIP_WIDTH, xp=np):
    """A non-negative driver (V or g) moved by steering: ≈ max(x + shift, 0), smoothly.

    ``x · softplus(x + shift) / softplus(x)``. It equals ``x`` (to rounding) without steering
    (``shift = 0``), never negative, 0 when ``x`` is 0, and within 0.001·(1 + |x + shift|) of
    ``max(x + shift, 0)`` whenever x ≥ 0.3 and |x + shift| > 0.2 (``width`` = 0.05). It takes
    the place of a hard ``max``, whose corner makes the likelihood non-differentiable where
    steering drives V to 0 — a point NUTS's gradient-based steps handle badly. The simulator
    and the fitted model both use this function, so simulated truth and model agree exactly.
    """
    if xp is np:
        x = np.asarray(x, dtype=float)
    return x * softplus(x + shift, width, xp) / softplus(x, width, xp)


def delta_utility(b, V, S, g, *, z_values=1.0, z_goal_guarding=1.0, z_sycophancy=1.0, stakes=1.0,
                  oversight=1.0, u=0.0, alpha=0.0, lambda_values=0.0, lambda_sycophancy=0.0,
                  lambda_goal_guarding=0.0, rho=0.0, eta=0.0, xp=np):
    """ΔU, the utility of complying minus refusing (logit of P(comply)); arrays broadcast.

    ``xp`` is the array namespace: ``numpy`` or ``pytensor.tensor``.
    """
    if xp is np:
        alpha = np.asarray(alpha, dtype=float)
    V_eff = steered_driver(V, lambda_values * alpha, xp=xp)
    S_eff = S + lambda_sycophancy * alpha
    g_eff = steered_driver(g, lambda_goal_guarding * alpha, xp=xp)
    a2 = alpha * alpha
    strategic = S_eff * z_sycophancy + g_eff * V_eff * z_values * z_goal_guarding * stakes
    return b + u - V_eff * z_values - rho * a2 + oversight * xp.exp(-eta * a2) * strategic


def driver_slopes(lam, model, vector, vector_drivers, xp=np) -> dict:
    """The steering slope each condition puts on each driver: λ[model, vector] on the driver the
    vector targets, 0 on the others.

    Parameters
    ----------
    lam : array (..., models, vectors) or None
        Slopes per model and (non-control) vector; leading axes (e.g. draws) broadcast. None
        when no vector has a slope.
    model, vector : int arrays
        Per condition, its model's index and its vector's index; ``len(vector_drivers)`` (one
        past the last vector) for no vector or a random-direction control.
    vector_drivers : sequence of str
        The driver each vector targets (``values``, ``sycophancy``, ``goal_guarding``).

    Returns
    -------
    dict
        ``lambda_values``, ``lambda_sycophancy``, ``lambda_goal_guarding``: arrays (..., conditions)
        (or 0.0), the keyword arguments of :func:`delta_utility`.
    """
    names = ("values", "sycophancy", "goal_guarding")
    if lam is None or len(vector_drivers) == 0:
        return {f"lambda_{d}": 0.0 for d in names}
    vector = np.asarray(vector)
    padded = xp.concatenate([lam, 0.0 * lam[..., :1]], axis=-1)  # index K: no slope
    per = padded[..., np.asarray(model), vector]
    drv = np.asarray(list(vector_drivers) + ["none"], dtype=object)[vector]
    return {f"lambda_{d}": per * (drv == d).astype(float) for d in names}


def structural_logit(params: dict, model, vector, vector_drivers, cues: dict, oversight, alpha, xp=np):
    """ΔU without the query effect for conditions given by index arrays (the fitted model's form).

    ``params`` holds ``b, V, S, g, rho, eta`` as arrays (..., models) and ``lambda``
    (..., models, vectors) or None; ``model``/``vector`` index each condition's model and
    vector (see :func:`driver_slopes`); ``cues`` maps ``values, goal_guarding, sycophancy,
    stakes`` to per-condition arrays (or scalars); ``alpha`` is in the units of ``lambda``,
    ``rho`` and ``eta``.
    """
    m = np.asarray(model)
    at = {p: params[p][..., m] for p in ("b", "V", "S", "g", "rho", "eta")}
    slopes = driver_slopes(params.get("lambda"), m, vector, vector_drivers, xp)
    return delta_utility(at["b"], at["V"], at["S"], at["g"], z_values=cues["values"],
                         z_goal_guarding=cues["goal_guarding"], z_sycophancy=cues["sycophancy"],
                         stakes=cues["stakes"], oversight=oversight, alpha=alpha, rho=at["rho"],
                         eta=at["eta"], xp=xp, **slopes)


def p_comply(*args, **kwargs):
    """P(comply) = sigmoid(ΔU); same arguments as :func:`delta_utility`."""
    return expit(delta_utility(*args, **kwargs))


def gap(b, V, S, g, *, u=0.0, **kwargs):
    """Probability-scale compliance gap P(comply | o=1) − P(comply | o=0), averaged over ``u``.

    ``u`` may be an array of query effects along the last axis; the gap is averaged over it.
    """
    kwargs.pop("oversight", None)
    u = np.asarray(u, dtype=float)
    pt = p_comply(b, V, S, g, u=u, oversight=1.0, **kwargs)
    pd_ = p_comply(b, V, S, g, u=u, oversight=0.0, **kwargs)
    d = pt - pd_
    return d.mean(axis=-1) if u.ndim else d
