"""Escape from a region in any dimension (``stability.escape_time`` with ``radius=``/``exited=``),
and numerical blow-ups reported apart from escapes."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde.dynamics import SGD, Langevin
from sgd_sde.landscapes import DoubleWell, Quadratic
from sgd_sde.landscapes.wrap import from_fn
from sgd_sde.stability import escape_time


def test_langevin_leaves_the_unit_ball_in_the_brownian_mean_time():
    """Flat landscape, d = 3, Langevin at temperature T: θ is Brownian motion with generator TΔ,
    whose mean exit time from the ball of radius R around its start is R²/(2dT) (solve TΔu = −1,
    u(R) = 0: u(0) = R²/(2dT)). On a flat landscape the Langevin update is the exact Brownian
    increment, so the only bias is discrete monitoring (an exit between two steps is missed). Near
    the sphere the radial motion is locally 1-D Brownian with per-step sd σ√dt, σ = √(2T); the
    Broadie–Glasserman–Kou continuity correction moves the monitored boundary in by
    β σ√dt, β = −ζ(1/2)/√(2π) = 0.5826, which removes the O(√dt) bias (here +3.7% of the mean);
    the remainder is O(dt)/E τ ≈ 0.3% (curvature of the sphere, next term of the expansion),
    below 0.3 SE. n = 4000 exit times, SE = sd/√n (≈ 1% of the mean); tolerance 4 SE."""
    d, T, R, dt, n = 3, 0.5, 1.0, 1e-3, 4000
    r_sim = R - 0.5826 * math.sqrt(2 * T * dt)
    res = escape_time(jax.random.key(12), Quadratic(np.zeros((d, d))), Langevin(dt, T), np.zeros(d),
                      radius=r_sim, n_particles=n, max_steps=20_000)
    assert res.fraction_escaped == 1.0 and res.n_blowups == 0
    exact = R**2 / (2 * d * T)
    assert abs(res.mean - exact) < 4 * res.standard_error, (res.mean, exact, res.standard_error)
    assert res.standard_error < 0.015 * exact  # the test has the resolution it claims


def test_tilted_double_well_in_2d_reduces_to_the_1d_escape():
    """L(x, y) = V(x) + y²/2 with V the tilted double well: under Langevin x evolves exactly as the
    1-D Langevin chain on V (the landscape is separable and the noise isotropic), so the time to
    reach x ≥ 1 from (−1, 0) has the law of the 1-D escape from −1 to 1. Independent draws:
    |mean₂ − mean₁| < 4 sqrt(SE₁² + SE₂²). The criterion is a user callable (traceable)."""
    well = DoubleWell(tilt=0.05)
    plane = from_fn(lambda th: well.loss(th[:1]) + 0.5 * th[1] ** 2, 2)
    dyn, kw = Langevin(0.01, 0.3), dict(n_particles=1000, max_steps=50_000)
    one = escape_time(jax.random.key(1), well, dyn, -1.0, 1.0, **kw)
    two = escape_time(jax.random.key(2), plane, dyn, [-1.0, 0.0], exited=lambda th: th[0] >= 1.0, **kw)
    assert one.fraction_escaped == two.fraction_escaped == 1.0
    assert abs(one.mean - two.mean) < 4 * math.hypot(one.standard_error, two.standard_error), (one.mean, two.mean)
    assert two.standard_error < 0.05 * two.mean


def test_blowups_are_counted_apart_and_never_as_escapes():
    """SGD at lr = 2.5 on L = θ²/2 multiplies θ by −1.5 each step: it passes |θ| = 10⁶ after 35
    steps. A ball of radius 10⁷ is never reached before a divergence bound of 10⁶: every particle
    is a blow-up, none escaped, no mean. With a ball of radius 10³ (inside the bound) every
    particle escapes at step 18 (1.5^17 < 10³ ≤ 1.5^18) and none blew up. With the default bound
    (inf) only the float32 overflow is a blow-up."""
    q, dyn = Quadratic(np.eye(1)), SGD(2.5, 1)
    kw = dict(n_particles=8, max_steps=200, divergence_bound=1e6)
    res = escape_time(0, q, dyn, [1.0], radius=1e7, **kw)
    assert res.n_blowups == 8 and res.fraction_escaped == 0.0 and math.isnan(res.mean)
    assert np.all(np.isnan(res.times)) and np.all(res.blowup_steps == 34)  # |θ| = 1.5^35 > 1e6 after step index 34
    res = escape_time(0, q, dyn, [1.0], radius=1e3, **kw)
    assert res.n_blowups == 0 and res.fraction_escaped == 1.0
    np.testing.assert_allclose(res.times, 18 * 2.5)
    # default bound inf: only an overflow is a blow-up. |θ| = 1.5^k overflows float32 (3.4e38) at
    # k = 219, or at 218 when η·g = 2.5·1.5^217 overflows first (without an FMA): machine-dependent
    # by one step, so the step is checked to that range. 1.5^211 ≥ 1e37 exits well before.
    res = escape_time(0, q, dyn, [1.0], radius=1e37, n_particles=8, max_steps=400)
    assert res.n_blowups == 0 and res.fraction_escaped == 1.0
    np.testing.assert_allclose(res.times, 211 * 2.5)
    res = escape_time(0, q, dyn, [1.0], exited=lambda th: False, n_particles=8, max_steps=400)
    assert res.n_blowups == 8 and res.fraction_escaped == 0.0 and math.isnan(res.mean)
    assert np.all(res.blowup_steps == res.blowup_steps[0]) and 216 <= res.blowup_steps[0] <= 218


def test_region_arguments_are_validated():
    q = Quadratic(np.eye(2))
    with pytest.raises(ValueError, match="exactly one of end=, exited=, radius="):
        escape_time(0, q, Langevin(0.01, 0.1), np.zeros(2), n_particles=2, max_steps=5)
    with pytest.raises(ValueError, match="exactly one of"):
        escape_time(0, q, Langevin(0.01, 0.1), np.zeros(2), radius=1.0, exited=lambda th: True, n_particles=2,
                    max_steps=5)
    with pytest.raises(ValueError, match="1-D landscape"):
        escape_time(0, q, Langevin(0.01, 0.1), 0.0, 1.0, n_particles=2, max_steps=5)
    with pytest.raises(ValueError, match=r"start must have shape \(d,\)"):
        escape_time(0, q, Langevin(0.01, 0.1), np.zeros(3), radius=1.0, n_particles=2, max_steps=5)
    with pytest.raises(ValueError, match="radius"):
        escape_time(0, q, Langevin(0.01, 0.1), np.zeros(2), radius=-1.0, n_particles=2, max_steps=5)
    with pytest.raises(TypeError, match="exited must be a callable"):
        escape_time(0, q, Langevin(0.01, 0.1), np.zeros(2), exited=3.0, n_particles=2, max_steps=5)
    res = escape_time(0, q, Langevin(0.01, 0.1), jnp.zeros(2), exited=lambda th: th[0] < 1.0, n_particles=2,
                      max_steps=5)
    assert np.all(res.times == 0.0)  # started outside: exit after 0 steps
