"""Noise models: covariances exactly (the diffusion is linear in z) and by enumeration."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from sgd_sde.dynamics import stochastic_gradient
from sgd_sde.landscapes import DoubleWell, LinearRegression, Quadratic
from sgd_sde.noise import (
    Dense,
    Diagonal,
    ExactMinibatch,
    FisherShaped,
    HeavyTailed,
    HessianShaped,
    Isotropic,
    LowRank,
    symmetric_stable,
)


def _diffusion_matrix(noise, landscape, theta):
    """``M`` with ``diffusion(θ, z) = M z`` (every Gaussian model is linear in z)."""
    noise = noise.bind(landscape)
    m = noise.noise_dim(landscape)
    return np.asarray(jax.jacfwd(lambda z: noise.diffusion(landscape, theta, z))(jnp.zeros(m, theta.dtype)))


@pytest.fixture
def regression(rng):
    X = rng.normal(size=(20, 3))
    y = rng.normal(size=20)
    return LinearRegression(X, y)


def test_gaussian_models_have_the_stated_covariance(rng, regression):
    with jax.enable_x64(True):
        th = jnp.asarray(rng.normal(size=3))
        a = rng.normal(size=(3, 3))
        cov = a @ a.T
        f = rng.normal(size=(3, 2))
        cases = [
            (Isotropic(0.7), 0.7 * np.eye(3)),
            (Diagonal([1.0, 2.0, 3.0]), np.diag([1.0, 2.0, 3.0])),
            (Dense(cov), cov),
            (LowRank(f), f @ f.T),
            (FisherShaped(scale=2.0), 2.0 * np.asarray(regression.gradient_covariance(th))),
            (HessianShaped(0.5, shift=0.1), 0.5 * (np.asarray(regression.hessian(th)) + 0.1 * np.eye(3))),
        ]
        for noise, expect in cases:
            M = _diffusion_matrix(noise, regression, th)
            np.testing.assert_allclose(M @ M.T, expect, rtol=1e-10, atol=1e-12, err_msg=type(noise).__name__)


def test_hessian_shaped_uses_absolute_curvature_and_precomputes_on_quadratics():
    with jax.enable_x64(True):
        dw = DoubleWell()
        M = _diffusion_matrix(HessianShaped(2.0, shift=0.3), dw, jnp.array([0.0]))  # V''(0) = -1
        assert M[0, 0] ** 2 == pytest.approx(2.0 * (1.0 + 0.3))
        q = Quadratic(np.diag([4.0, 1.0]))
        bound = HessianShaped(1.0).bind(q)
        assert bound.sqrt_cov is not None
        np.testing.assert_allclose(np.asarray(bound.sqrt_cov), np.diag([2.0, 1.0]), atol=1e-12)


def _enumerated_covariance(g, batch_size):
    """Exact covariance of the minibatch mean over all C(N, B) subsets (float64)."""
    means = np.array([g[list(s)].mean(0) for s in itertools.combinations(range(len(g)), batch_size)])
    centred = means - means.mean(0)
    return centred.T @ centred / len(means), len(means)


def test_exact_minibatch_without_replacement_matches_enumeration(regression):
    """N = 20 examples in R^3, B = 5: all C(20, 5) = 15504 batches."""
    N, B = 20, 5
    th = jnp.array([0.3, -0.1, 0.2], jnp.float32)
    g = np.asarray(regression.per_example_grads(th), np.float64)
    C = np.cov(g.T, bias=True)
    exact, count = _enumerated_covariance(g, B)
    assert count == 15504
    np.testing.assert_allclose(exact, (N - B) / (B * (N - 1)) * C, rtol=1e-12, atol=1e-14)

    P = 200_000
    noise = ExactMinibatch(replace=False)
    sample = noise.sample(jax.random.key(7), regression, P, B, jnp.float32)
    assert sample.shape == (B, P)
    s = np.asarray(sample)
    assert all(len(set(col)) == B for col in s[:, :1000].T)  # distinct examples within a batch
    ghat = np.asarray(stochastic_gradient(regression, noise, jnp.tile(th[:, None], (1, P)), sample, B), np.float64)
    dev = ghat - g.mean(0)[:, None]
    emp = dev @ dev.T / P
    # each entry is a mean of P i.i.d. products; its standard error is std(product)/sqrt(P)
    se = np.sqrt(np.var(dev[:, None, :] * dev[None, :, :], axis=-1) / P)
    assert np.all(np.abs(emp - exact) < 4 * se), (emp, exact, se)
    assert np.all(np.abs(dev.mean(1)) < 4 * np.sqrt(np.diag(emp) / P))  # unbiased


def test_exact_minibatch_with_replacement_is_C_over_B(regression):
    B, P = 5, 200_000
    th = jnp.array([0.3, -0.1, 0.2], jnp.float32)
    g = np.asarray(regression.per_example_grads(th), np.float64)
    expect = np.cov(g.T, bias=True) / B
    noise = ExactMinibatch(replace=True)
    sample = noise.sample(jax.random.key(8), regression, P, B, jnp.float32)
    ghat = np.asarray(stochastic_gradient(regression, noise, jnp.tile(th[:, None], (1, P)), sample, B), np.float64)
    dev = ghat - g.mean(0)[:, None]
    emp = dev @ dev.T / P
    se = np.sqrt(np.var(dev[:, None, :] * dev[None, :, :], axis=-1) / P)
    assert np.all(np.abs(emp - expect) < 4 * se)


def test_gaussian_without_replacement_factor(regression):
    """Dense(C, n_population=N) and FisherShaped(replace=False) give (N-B)/(B(N-1)) C exactly."""
    with jax.enable_x64(True):
        th = jnp.asarray([0.3, -0.1, 0.2])
        N, B = 20, 5
        C = np.asarray(regression.gradient_covariance(th))
        factor = (N - B) / (B * (N - 1))
        for noise in (Dense(C, n_population=N), FisherShaped(replace=False)):
            noise = noise.bind(regression)
            m = noise.noise_dim(regression)
            M = np.asarray(
                jax.jacfwd(lambda z: noise.stochastic_gradient(regression, th, z, B))(jnp.zeros(m))
            )
            np.testing.assert_allclose(M @ M.T, factor * C, rtol=1e-10, atol=1e-13)
        with pytest.raises(ValueError, match="batch_size must be <= 20"):
            Dense(C, n_population=N).check_batch_size(regression, 21)


@pytest.mark.parametrize("alpha", [1.2, 1.5, 2.0])
def test_symmetric_stable_matches_scipy(alpha):
    """KS test against scipy's levy_stable(alpha, 0) CDF; fixed key, 20k samples."""
    x = np.asarray(symmetric_stable(jax.random.key(3), alpha, (20_000,)), np.float64)
    res = stats.kstest(x, stats.levy_stable(alpha, 0.0).cdf)
    assert res.pvalue > 1e-3, res


def test_heavy_tailed_minibatch_scaling():
    """The mean of B alpha-stable examples has scale B^(1/alpha - 1): exact in the draw."""
    q = Quadratic(np.eye(2))
    noise = HeavyTailed(alpha=1.5, scale=2.0)
    z = jnp.array([1.0, -2.0])
    g = noise.stochastic_gradient(q, jnp.zeros(2), z, 8)
    np.testing.assert_allclose(g, 2.0 * 8 ** (1 / 1.5 - 1) * np.array([1.0, -2.0]), rtol=1e-6)
    with pytest.raises(ValueError, match="alpha must lie in"):
        HeavyTailed(alpha=2.5)


@pytest.mark.parametrize(
    "make",
    [
        lambda r: FisherShaped(scale=0.7),
        lambda r: FisherShaped(replace=False),
        lambda r: Dense(np.cov(r.normal(size=(3, 40)))),
        lambda r: LowRank(r.normal(size=(3, 2))),
        lambda r: Diagonal(np.array([0.5, 1.0, 2.0])),
        lambda r: Isotropic(0.3),
        lambda r: HeavyTailed(1.5, scale=0.2),
        lambda r: ExactMinibatch(replace=False),
    ],
)
def test_ensemble_kernels_equal_the_per_particle_kernels(rng, make):
    # The simulator calls the ensemble forms (one matmul per ensemble on linear models); they must
    # equal the per-particle methods column by column. float64: agreement to rounding.
    X, y = rng.normal(size=(12, 3)), rng.normal(size=12)
    p = 5
    with jax.enable_x64(True):
        land = LinearRegression(X, y)
        noise = make(rng).bind(land)
        theta = jnp.asarray(rng.normal(size=(3, p)))
        sample = noise.sample(jax.random.key(1), land, p, 4, theta.dtype)
        per_sg = jax.vmap(lambda th, s: noise.stochastic_gradient(land, th, s, 4), in_axes=(1, 1), out_axes=1)(theta, sample)
        np.testing.assert_allclose(noise.ensemble_stochastic_gradient(land, theta, sample, 4), per_sg, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(land.ensemble_grad(theta), jax.vmap(land.grad, in_axes=1, out_axes=1)(theta), rtol=1e-10, atol=1e-12)
        if not isinstance(noise, ExactMinibatch):
            z = noise.increment(jax.random.key(2), land, p, theta.dtype)
            per_d = jax.vmap(lambda th, zz: noise.diffusion(land, th, zz), in_axes=(1, 1), out_axes=1)(theta, z)
            np.testing.assert_allclose(noise.ensemble_diffusion(land, theta, z), per_d, rtol=1e-10, atol=1e-12)
        w = jnp.asarray(rng.normal(size=(12, p)))
        per_w = jax.vmap(land.weighted_grad, in_axes=(1, 1), out_axes=1)(theta, w)
        np.testing.assert_allclose(land.ensemble_weighted_grad(theta, w), per_w, rtol=1e-10, atol=1e-12)
