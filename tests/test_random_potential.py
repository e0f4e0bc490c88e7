"""RandomPotential: power-law Gaussian fields (Bouchaud & Georges 1990; Hoffer et al. 2017)."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import simulate
from sgd_sde.dynamics import SGD, EulerMaruyama, Langevin
from sgd_sde.landscapes import RandomPotential
from sgd_sde.landscapes.random_potential import RandomPotentialSum, fgn_circulant_eigenvalues
from sgd_sde.noise import ExactMinibatch, FisherShaped, Isotropic


@pytest.mark.parametrize("alpha", [0.3, 0.5, 1.0, 1.5, 1.9, 2.0])
def test_circulant_embedding_is_nonnegative(alpha):
    lam = fgn_circulant_eigenvalues(alpha, 4096)
    assert lam.min() > -1e-9 * lam.max()


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.5])
def test_grid_structure_function_is_exact(alpha):
    # D(r) = A^2 r^alpha at grid lags. Estimate: mean over 40 independent realisations of the spatial average
    # of (U(x+r) - U(x))^2; the realisations are independent, so SE = std over realisations / sqrt(40). 4 SE.
    amp, h = 1.7, 0.5
    lags = np.array([1, 8, 64])
    per_key = []
    for s in range(40):
        v = np.asarray(RandomPotential(jax.random.key(s), 1, alpha, amplitude=amp, spacing=h, n_grid=2049).values,
                       np.float64)
        per_key.append([np.mean((v[k:] - v[:-k]) ** 2) for k in lags])
    per_key = np.array(per_key) / (amp**2 * (lags * h) ** alpha)
    mean, se = per_key.mean(0), per_key.std(0, ddof=1) / math.sqrt(len(per_key))
    assert np.all(np.abs(mean - 1.0) < 4 * se + 1e-3), (mean, se)


def test_grid_interpolates_and_walls():
    u = RandomPotential(jax.random.key(0), 1, 1.0, spacing=0.5, n_grid=101)
    lo, hi = u.extent
    assert (lo, hi) == (-25.0, 25.0) and float(u.loss(jnp.zeros(1))) == 0.0
    v = np.asarray(u.values)
    x = lo + 3.25 * 0.5
    assert float(u.loss(jnp.array([x]))) == pytest.approx(v[3] + 0.25 * (v[4] - v[3]), abs=1e-5)
    # outside the grid the confining ramp pushes back towards the grid
    assert float(u.grad(jnp.array([hi + 1.0]))[0]) > 0 > float(u.grad(jnp.array([lo - 1.0]))[0])


def test_alpha_two_is_a_random_linear_potential():
    v = np.asarray(RandomPotential(jax.random.key(1), 1, 2.0, n_grid=257).values, np.float64)
    inc = np.diff(v)
    np.testing.assert_allclose(inc, inc[0], rtol=1e-4, atol=1e-5)
    f = RandomPotential(jax.random.key(1), 5, 2.0)
    th = jnp.arange(5.0)
    assert float(f.loss(2 * th)) == pytest.approx(2 * float(f.loss(th)), rel=1e-5)
    assert f.power_law_range() == (0.0, math.inf)


@pytest.mark.parametrize("dim, alpha, decades", [(1, 1.0, 1.5), (3, 1.0, 1.3), (4, 1.5, 0.6)])
def test_fourier_expected_structure_function_follows_the_power_law(dim, alpha, decades):
    # the documented 10 % ranges for k in [1e-3, 1] (module docstring)
    u = RandomPotential(jax.random.key(0), dim, alpha, method="fourier")
    lo, hi = u.power_law_range(0.1)
    assert math.log10(hi / lo) > decades
    r = np.geomspace(lo, hi, 7)
    ratio = u.expected_structure_function(r) / r**alpha
    assert np.all(np.abs(ratio - 1) <= 0.1 + 1e-9)


def test_fourier_near_alpha_two_has_no_clean_power_law():
    # documented limitation: the large-scale deficit decays like (k_min r)^{2 - alpha}
    lo, hi = RandomPotential(jax.random.key(0), 16, 1.8, method="fourier").power_law_range(0.1)
    assert math.isnan(lo) and math.isnan(hi)


def test_fourier_empirical_structure_function_matches_expectation():
    # D(r) over 64 realisations x 64 random pairs at separation r in random directions (d = 4, alpha = 1).
    # Realisations are independent; SE from the spread of per-realisation means. 4 SE.
    d, alpha, rs = 4, 1.0, jnp.array([10.0, 40.0])

    @eqx.filter_jit
    def msd(u, key):
        k1, k2 = jax.random.split(key)
        x = 50.0 * jax.random.normal(k1, (64, d))
        e = jax.random.normal(k2, (64, d))
        e = e / jnp.linalg.norm(e, axis=1, keepdims=True)
        loss = jax.vmap(u.loss)
        return jnp.stack([jnp.mean((loss(x + r * e) - loss(x)) ** 2) for r in rs])

    per = np.array([msd(RandomPotential(jax.random.key(100 + s), d, alpha, method="fourier", n_features=256),
                        jax.random.key(s)) for s in range(64)])
    expect = RandomPotential(jax.random.key(0), d, alpha, method="fourier").expected_structure_function(np.asarray(rs))
    mean, se = per.mean(0), per.std(0, ddof=1) / math.sqrt(len(per))
    assert np.all(np.abs(mean - expect) < 4 * se), (mean, expect, se)


def test_closed_form_gradient_matches_autodiff():
    u = RandomPotential(jax.random.key(3), 6, 1.2, method="fourier", n_features=64)
    th = jnp.linspace(-3.0, 5.0, 6)
    np.testing.assert_allclose(u.grad(th), jax.grad(u.loss)(th), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "dynamics, noise",
    [
        (SGD(lr=0.05, batch_size=4), Isotropic(1.0)),
        (Langevin(lr=0.05, temperature=0.5), None),
        (EulerMaruyama(lr=0.05, batch_size=2), FisherShaped()),
        (SGD(lr=0.05, batch_size=2), ExactMinibatch()),
    ],
)
def test_works_with_the_core_engine(dynamics, noise):
    land = RandomPotentialSum(jax.random.key(0), 3, 1.5, n_examples=6, n_features=32)
    traj = simulate(jax.random.key(1), land, dynamics, jnp.zeros(3), noise=noise, n_steps=50, n_particles=8)
    assert np.all(np.isfinite(traj.saved["loss"])) and not traj.diverged.any()
    assert traj.saved["distance_from_init"][-1].mean() > 0


def test_finite_sum_is_shared_plus_examples():
    s = RandomPotentialSum(jax.random.key(0), 2, 1.0, n_examples=3, n_features=16, example_amplitude=0.5)
    th = jnp.array([0.3, -1.0])
    per = s.example_losses(th)
    assert s.n_examples == 3 and per.shape == (3,)
    assert float(s.loss(th)) == pytest.approx(float(s.shared.loss(th) + jnp.mean(per - s.shared.loss(th))), rel=1e-5)
    assert float(jnp.std(per)) > 0  # the examples differ: Fisher noise is not zero


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(dim=1, alpha=0.0), "alpha"),
        (dict(dim=1, alpha=-1.0), "alpha"),
        (dict(dim=1, alpha=2.5), "alpha"),
        (dict(dim=0, alpha=1.0), "dim"),
        (dict(dim=2, alpha=1.0, method="grid"), "method"),
        (dict(dim=1, alpha=1.0, n_grid=2), "n_grid"),
        (dict(dim=1, alpha=1.0, amplitude=0.0), "amplitude"),
        (dict(dim=3, alpha=1.0, k_min=2.0, k_max=1.0), "k_min"),
        (dict(dim=3, alpha=1.0, method="spline"), "method"),
    ],
)
def test_bad_input_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RandomPotential(jax.random.key(0), **kwargs)


def test_bad_finite_sum_and_key():
    with pytest.raises(ValueError, match="n_examples"):
        RandomPotentialSum(jax.random.key(0), 2, 1.0, n_examples=1)
    with pytest.raises(TypeError, match="key"):
        RandomPotential(0, 1, 1.0)
