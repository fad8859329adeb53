"""afdecomp.theory: the structural equation's steered drivers and the theory's predictions."""

from __future__ import annotations

import numpy as np

from afdecomp import theory


def test_steered_driver_is_a_smooth_floor_at_zero():
    """Unchanged without steering (to rounding), never negative, close to max(x + shift, 0) away from 0."""
    x = np.linspace(0.0, 3.0, 61)[:, None]
    shift = np.linspace(-3.0, 3.0, 121)[None, :]
    y = theory.steered_driver(x, shift)
    np.testing.assert_allclose(theory.steered_driver(x, 0.0), x, rtol=1e-15)
    assert (y >= 0).all() and (theory.steered_driver(0.0, shift) == 0).all()
    far = (x >= 0.3) & (np.abs(x + shift) > 0.2)
    assert (np.abs(y - np.maximum(x + shift, 0.0)) < 1e-3 * (1 + np.abs(x + shift)))[far].all()
    # smooth: the slope in the shift changes gradually through the corner (a hard max jumps 0 -> 1)
    s = np.linspace(-1.3, -0.7, 601)
    slope = np.diff(theory.steered_driver(1.0, s)) / np.diff(s)
    assert np.abs(np.diff(slope)).max() < 0.01


def test_values_steering_moves_both_tiers_and_stops_at_zero():
    """Steering V far below 0 leaves no values cost: the deployment logit is then b (ρ = 0)."""
    du = theory.delta_utility(-0.3, 1.0, 0.5, 0.7, oversight=0.0, alpha=-10.0, lambda_values=0.4)
    assert abs(du - (-0.3)) < 1e-9
    lo, hi = (theory.delta_utility(-0.3, 1.0, 0.5, 0.7, oversight=0.0, alpha=a, lambda_values=0.4)
              for a in (-1.0, 1.0))
    assert lo > hi  # less value conflict -> more compliance


def test_one_equation_for_numpy_and_pytensor():
    """The model's graph (PyTensor) and the draws' evaluation (numpy) are one function: equal to 1e-12."""
    import pytensor.tensor as pt
    rng = np.random.default_rng(0)
    M, K, C = 3, 2, 7
    params = {"b": rng.normal(size=M), "V": rng.gamma(2.0, size=M), "S": rng.normal(size=M),
              "g": rng.gamma(2.0, size=M), "rho": rng.gamma(1.0, size=M), "eta": rng.gamma(1.0, size=M),
              "lambda": rng.normal(size=(M, K))}
    m, k = rng.integers(0, M, C), rng.integers(0, K + 1, C)   # k == K: no vector
    cues = {c: rng.uniform(size=C) for c in ("values", "goal_guarding", "sycophancy", "stakes")}
    o, alpha = rng.uniform(size=C), rng.normal(size=C)
    drivers = ["values", "goal_guarding"]
    ref = theory.structural_logit(params, m, k, drivers, cues, o, alpha)
    sym = {p: pt.as_tensor(v) for p, v in params.items()}
    np.testing.assert_allclose(theory.structural_logit(sym, m, k, drivers, cues, o, alpha, xp=pt).eval(), ref,
                               rtol=1e-12)
    # and the index form is delta_utility with each condition's slope on the driver its vector targets
    lam_v = np.where(k == 0, params["lambda"][m, np.minimum(k, K - 1)], 0.0)
    lam_g = np.where(k == 1, params["lambda"][m, np.minimum(k, K - 1)], 0.0)
    direct = theory.delta_utility(params["b"][m], params["V"][m], params["S"][m], params["g"][m],
                                  z_values=cues["values"], z_goal_guarding=cues["goal_guarding"],
                                  z_sycophancy=cues["sycophancy"], stakes=cues["stakes"], oversight=o,
                                  alpha=alpha, lambda_values=lam_v, lambda_goal_guarding=lam_g,
                                  rho=params["rho"][m], eta=params["eta"][m])
    np.testing.assert_allclose(ref, direct, rtol=1e-14)
