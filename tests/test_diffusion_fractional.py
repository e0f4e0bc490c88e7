"""Langevin on 1-D fractional random potentials (Bouchaud & Georges 1990), small size.

The full-size exponent fits (500 environments, t <= 1.3e4) live in the figure recipe
``sgd_sde.figures.diffusion.fractional_figure`` and papers/hoffer-2017.md; at CI size the walk is
still pre-asymptotic, so these tests check the mechanism (trapping) and the tools.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde.diffusion import log_growth_slope, potential_diffusion
from sgd_sde.diffusion.fractional import TiledPotential

SIZE = dict(n_particles=200, n_steps=1 << 14, n_grid=2049, lr=0.05, spacing=1.0)


@pytest.fixture(scope="module")
def runs():
    return {a: potential_diffusion(jax.random.key(10 + i), a, temperature=1.0, **SIZE) for i, a in enumerate((0.5, 1.5))}


def _late_exponent(times, d):
    """Slope of log E|X| against log t over the last 2 octaves, with its walker-bootstrap SE."""
    keep = times >= times[-1] / 4
    lt = np.log(times[keep])
    rng = np.random.default_rng(0)
    def slope(m):
        return np.polyfit(lt, np.log(m), 1)[0]
    est = slope(d[keep].mean(1))
    boots = [slope(d[keep][:, rng.integers(0, d.shape[1], d.shape[1])].mean(1)) for _ in range(200)]
    return est, float(np.std(boots, ddof=1))


def test_walk_is_trapped_far_below_free_diffusion(runs):
    # free diffusion: E|X| ~ t^{1/2}. On a potential whose barriers grow like r^{alpha/2}, the late local exponent
    # falls below 1/2: one-sided test of H0 "exponent = 1/2" at 3 SE (p ~ 1e-3; SE: bootstrap over independent
    # environments, ~0.045 at this size).
    for a, (_, times, d) in runs.items():
        est, se = _late_exponent(times, d)
        assert est + 3 * se < 0.5, (a, est, se)


def test_generalised_sinai_statistic_is_linear_in_log_t(runs):
    # E|X|^{alpha/2} against log t: R^2 of the line over t in [10, t_max]
    for a, (_, times, d) in runs.items():
        fit = log_growth_slope(times, d, beta=2 / a, moment="power", window=(10, None), n_boot=200)
        assert fit.r2 > 0.98 and fit.ci[0] > 0, (a, fit)


def test_tiles_are_independent_environments():
    land = TiledPotential(jax.random.key(0), 3, 1.0, n_grid=65)
    c = land.centres()
    assert c.shape == (3, 1) and np.all(np.asarray(land.values)[:, 32] == 0)
    u = [float(land.loss(jnp.asarray(c[i] + 5.0, jnp.float32))) for i in range(3)]
    assert len(set(u)) == 3  # different realisations at the same relative position


def test_edge_is_detected():
    with pytest.raises(ValueError, match="n_grid"):
        potential_diffusion(jax.random.key(0), 0.5, n_particles=4, n_steps=4096, n_grid=9, temperature=5.0)


@pytest.mark.parametrize("alpha", [0.0, 2.5])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        potential_diffusion(jax.random.key(0), alpha, n_particles=4, n_steps=16)
