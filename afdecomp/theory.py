"""The rational-agent (logit-choice) equation of MODEL.md §3, as plain numpy array code.

Our formalisation, not taken from a paper. The model compares the utility of complying with
that of refusing and complies with probability ``sigmoid(ΔU)``::

    ΔU = b + u − V·z_V − ρ·α² + o·exp(−η·α²)·(S·z_S + g·V·z_V·z_G·κ)

with steering moving the targeted driver linearly in α (``V + λ_V·α``, ``S + λ_S·α``,
``g + λ_G·α``; V and g kept ≥ 0 smoothly, :func:`steered_driver`). Every
argument broadcasts, so the same function serves
the simulator (true parameters), the fitted model's predictions (posterior draws) and the
theory-check figures (grids of V).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

#: Width (in units of V or g) over which a steered driver's floor at 0 is rounded off.
CLIP_WIDTH = 0.05


def softplus(x, width: float = CLIP_WIDTH):
    """``width · log(1 + exp(x / width))``: max(x, 0) with its corner rounded over ``width``."""
    return width * np.logaddexp(0.0, np.asarray(x, dtype=float) / width)


def steered_driver(x, shift, width: float = CLIP_WIDTH):
    """A non-negative driver (V or g) moved by steering: ≈ max(x + shift, 0), smoothly.

    ``x · softplus(x + shift) / softplus(x)``. It equals ``x`` (to rounding) without steering
    (``shift = 0``), never negative, 0 when ``x`` is 0, and within 0.001·(1 + |x + shift|) of
    ``max(x + shift, 0)`` whenever x ≥ 0.3 and |x + shift| > 0.2 (``width`` = 0.05). It takes
    the place of a hard ``max``, whose corner makes the likelihood non-differentiable where
    steering drives V to 0 — a point NUTS's gradient-based steps handle badly. The simulator
    and the fitted model both use this function, so simulated truth and model agree exactly.
    """
    x = np.asarray(x, dtype=float)
    return x * softplus(x + shift, width) / softplus(x, width)


def delta_utility(b, V, S, g, *, z_values=1.0, z_goal_guarding=1.0, z_sycophancy=1.0, stakes=1.0,
                  oversight=1.0, u=0.0, alpha=0.0, lambda_values=0.0, lambda_sycophancy=0.0,
                  lambda_goal_guarding=0.0, rho=0.0, eta=0.0):
    """ΔU, the utility of complying minus refusing (logit of P(comply)); arrays broadcast."""
    alpha = np.asarray(alpha, dtype=float)
    V_eff = steered_driver(V, lambda_values * alpha)
    S_eff = S + lambda_sycophancy * alpha
    g_eff = steered_driver(g, lambda_goal_guarding * alpha)
    a2 = alpha * alpha
    strategic = S_eff * z_sycophancy + g_eff * V_eff * z_values * z_goal_guarding * stakes
    return b + u - V_eff * z_values - rho * a2 + oversight * np.exp(-eta * a2) * strategic


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
