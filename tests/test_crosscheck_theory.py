"""The theory module's numeric exports against the core engine (simulate): one source of truth,
checked by simulation with tolerances of k standard errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import schedules, simulate, theory
from sgd_sde.dynamics import SGD, SVAG, stochastic_gradient
from sgd_sde.landscapes import LinearRegression, Quadratic
from sgd_sde.noise import Dense, ExactMinibatch, Isotropic


def test_robbins_monro_exact_second_moment_under_simulate():
    """f = x²/2, η_t = 1/(t+1), gradient noise σ²: E x_t² = σ²/t for any x0 (the first step lands
    exactly on −ξ_0, the rest average the noise). Here via the schedule machinery of simulate,
    against theory.quadratic_second_moment (exact recursion) and σ²/t. The sample second moment
    of P Gaussian-ish values has SE ≈ sqrt(2/P)·m."""
    sigma2, P, T = 0.5, 100_000, 64
    sched = lambda k: 1.0 / (k + 1.0)
    t = simulate(jax.random.key(3), Quadratic(np.eye(1)), SGD(1.0, 1), jnp.full(1, 7.0), noise=Isotropic(sigma2),
                 n_steps=T, n_particles=P, save_at=[1, 4, 16, 64], schedule=sched, observables=("theta",))
    m = (t.saved["theta"][1:, :, 0].astype(np.float64) ** 2).mean(1)
    exact = theory.quadratic_second_moment(1.0 / (np.arange(T) + 1.0), sigma2, 7.0)[[1, 4, 16, 64]]
    np.testing.assert_allclose(exact, sigma2 / np.array([1, 4, 16, 64]), rtol=1e-12)
    assert np.all(np.abs(m - exact) < 4 * np.sqrt(2.0 / P) * exact), (m, exact)
    assert theory.robbins_monro("1/(t+1)").satisfied is True


def test_exact_minibatch_covariance_matches_theory():
    rng = np.random.default_rng(4)
    lr_land = LinearRegression(rng.normal(size=(12, 2)), rng.normal(size=12))
    th = jnp.array([0.2, -0.4])
    g = np.asarray(lr_land.per_example_grads(th), np.float64)
    P, B = 200_000, 3
    for replace in (False, True):
        expect = theory.minibatch_covariance(g, B, replace)
        noise = ExactMinibatch(replace=replace)
        sample = noise.sample(jax.random.key(int(replace)), lr_land, P, B, jnp.float32)
        ghat = np.asarray(stochastic_gradient(lr_land, noise, jnp.tile(th[:, None], (1, P)), sample, B), np.float64)
        dev = ghat - g.mean(0)[:, None]
        prod = dev[:, None, :] * dev[None, :, :]
        assert np.all(np.abs(prod.mean(-1) - expect) < 4 * prod.std(-1) / np.sqrt(P))


def test_stationary_covariance_function_matches_simulation():
    H = np.diag([1.0, 4.0])
    C = np.array([[1.0, 0.3], [0.3, 0.5]])
    lr, B = 0.1, 2
    t = simulate(jax.random.key(8), Quadratic(H), SGD(lr, B), jnp.zeros(2), noise=Dense(C), n_steps=400,
                 n_particles=100_000, save_at=[400], observables=("theta",))
    x = t.theta.astype(np.float64)
    prod = x[:, :, None] * x[:, None, :]
    se = prod.std(0) / np.sqrt(len(x))
    disc = theory.stationary_covariance(H, C, lr, B, discrete=True)
    cont = theory.stationary_covariance(H, C, lr, B, discrete=False)
    assert np.all(np.abs(prod.mean(0) - disc) < 4 * se)
    assert abs(prod.mean(0)[1, 1] - cont[1, 1]) > 4 * se[1, 1]  # ηλ = 0.4: the SDE is 25% off here


def test_heavy_ball_temperature_scales_as_one_over_one_minus_m():
    """Smith & Le 2018: momentum multiplies the temperature by 1/(1−m). At small ηh the stationary
    variance of heavy-ball SGD on x²/2 over that of plain SGD is the ratio of theory.temperature
    values (up to O(ηh) corrections: the exact AR(2) ratio differs by < 1% here)."""
    lr, B, N, P = 0.005, 1, 1000, 60_000
    var = {}
    for m in (0.0, 0.75):
        t = simulate(jax.random.key(9), Quadratic(np.eye(1)), SGD(lr, B, momentum=m), jnp.zeros(1),
                     noise=Isotropic(1.0), n_steps=6000, n_particles=P, save_at=[6000], observables=("theta",))
        var[m] = t.theta[:, 0].astype(np.float64).var()
    ratio = var[0.75] / var[0.0]
    predicted = float(theory.temperature(lr, B, N, 0.75) / theory.temperature(lr, B, N, 0.0))
    se = ratio * np.sqrt(4.0 / P)  # two independent sample variances, each relative SE sqrt(2/P)
    assert predicted == pytest.approx(4.0)
    # exact discrete stationary variances (h = 1, σ²/B = 1): heavy-ball AR(2) and plain SGD AR(1)
    mu = 0.75
    exact_hb = lr * (1 + mu) / (B * (1 - mu) * (2 * (1 + mu) - lr))
    exact_sgd = lr / (B * (2 - lr))
    exact_ratio = exact_hb / exact_sgd
    assert exact_ratio == pytest.approx(predicted, rel=1e-2)  # the O(ηh) correction is 0.2% here
    assert abs(ratio - exact_ratio) < 4 * se


def test_svag_coefficients_keep_sgds_noise_per_unit_time():
    """r1 + r2 = 1 (unbiased) and r1² + r2² = l (variance × l), on what the dynamics actually uses."""
    for l in (1, 2, 5, 12.5):
        r1, r2 = SVAG(0.1, 1, l=l).coefficients
        assert r1 + r2 == pytest.approx(1.0, abs=1e-12)
        assert r1**2 + r2**2 == pytest.approx(l, rel=1e-12)


def test_schedule_noise_scale_is_theory_temperature():
    g = schedules.noise_scale(schedules.step_decay(0.1, [5]), schedules.increase_batch(10, [8], factor=2), 1000, 10)
    lrs = np.where(np.arange(10) < 5, 0.1, 0.01)
    bs = np.where(np.arange(10) < 8, 10, 20)
    np.testing.assert_allclose(g, lrs * (1000 / bs - 1), rtol=1e-6)
