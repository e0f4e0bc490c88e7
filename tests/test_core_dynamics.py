"""Dynamics: momentum and Langevin stationary laws, diffrax hand-off, schedules in the loop."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import schedules, simulate
from sgd_sde.dynamics import SGD, DiffraxSDE, EMAMomentum, EulerMaruyama, Langevin
from sgd_sde.landscapes import Quadratic
from sgd_sde.noise import HeavyTailed, Isotropic


def _var_se(x):
    """Sample variance and its SE, sqrt(2/n)·var for Gaussian samples."""
    v = x.var()
    return v, v * np.sqrt(2.0 / len(x))


def test_heavy_ball_stationary_variance():
    """1-D quadratic (curvature h), heavy-ball with momentum μ and noise σ²/B: the exact stationary
    variance of x is η σ² (1+μ) / (B h (1−μ)(2(1+μ) − η h)) (second moments of the AR(2)
    x_{k+1} = (1+μ−ηh) x_k − μ x_{k−1} − η ξ_k)."""
    h, lr, mu, B = 1.0, 0.05, 0.9, 2
    t = simulate(jax.random.key(1), Quadratic(np.eye(1) * h), SGD(lr, B, momentum=mu), jnp.zeros(1),
                 noise=Isotropic(1.0), n_steps=3000, n_particles=50_000, save_every=3000, observables=("theta",))
    x = t.theta[:, 0].astype(np.float64)
    v, se = _var_se(x)
    exact = lr * 1.0 * (1 + mu) / (B * h * (1 - mu) * (2 * (1 + mu) - lr * h))
    assert abs(v - exact) < 4 * se, (v, exact, se)


def test_ema_momentum_temperature_does_not_grow_with_beta():
    """EMA momentum has total weight 1 (McAllester 2023): for small η its stationary variance stays
    ≈ η σ²/(2hB), unlike heavy-ball's 1/(1−μ) amplification. With a = η(1−β) the iterates are the
    AR(2) x_{k+1} = (1+β−a h)x_k − β x_{k−1} − a ξ_k; its exact variance solves the Yule–Walker
    equations, solved here numerically as the oracle."""
    h, lr, beta, B = 1.0, 0.02, 0.9, 1
    t = simulate(jax.random.key(2), Quadratic(np.eye(1) * h), EMAMomentum(lr, B, beta=beta), jnp.zeros(1),
                 noise=Isotropic(1.0), n_steps=4000, n_particles=50_000, save_every=4000, observables=("theta",))
    x = t.theta[:, 0].astype(np.float64)
    a = lr * (1 - beta)
    phi1, phi2, s2 = 1 + beta - a * h, -beta, a * a / B
    # Yule–Walker for AR(2): γ0 = φ1 γ1 + φ2 γ2 + s2, γ1 = φ1 γ0 + φ2 γ1, γ2 = φ1 γ1 + φ2 γ0
    M = np.array([[1, -phi1, -phi2], [-phi1, 1 - phi2, 0], [-phi2, -phi1, 1]])
    gamma0 = np.linalg.solve(M, [s2, 0, 0])[0]
    v, se = _var_se(x)
    assert abs(v - gamma0) < 4 * se
    assert gamma0 == pytest.approx(lr / (2 * h * B), rel=0.05)  # the temperature η/(2hB) of plain SGD


def test_langevin_samples_the_gibbs_law():
    """Langevin at temperature T on L = x²/2: the EM chain's exact stationary variance is
    T / (1 − η/2) (→ T, the Gibbs value, as η → 0)."""
    T, lr = 0.3, 0.01
    t = simulate(jax.random.key(3), Quadratic(np.eye(1)), Langevin(lr, T), jnp.zeros(1), n_steps=2000,
                 n_particles=50_000, save_every=2000, observables=("theta",))
    v, se = _var_se(t.theta[:, 0].astype(np.float64))
    assert abs(v - T / (1 - lr / 2)) < 4 * se


def test_diffrax_heun_matches_ou_moments():
    """The same SDE handed to diffrax (Heun, one step of h = 0.1 per SGD step). For dX = −λX dt + g dW
    (additive noise) Heun's map is X' = a X + (1 − λh/2) g ΔW with a = 1 − λh + (λh)²/2, so after
    n steps Var X = (1 − λh/2)² g² h (1 − a^{2n})/(1 − a²) exactly; g² = η/B here. Euler's map
    X' = b X + g ΔW, b = 1 − λh, gives g² h (1 − b^{2n})/(1 − b²) instead: at λh = 0.2 the two are
    12% apart, 12 SE at P = 20 000 (relative SE of a Gaussian sample variance sqrt(2/P) = 1%), so
    the 4-SE check below tells them apart. Mutation kept in the test: the same check run with
    diffrax.Euler() must miss Heun's value by more than 6 SE (it did, by 11 SE)."""
    lam, lr, B = 2.0, 0.1, 1
    n_steps, P, sub = 20, 20_000, 1
    h, n, g2 = lr / sub, n_steps * sub, lr / B
    a, b = 1 - lam * h + (lam * h) ** 2 / 2, 1 - lam * h
    heun = (1 - lam * h / 2) ** 2 * g2 * h * (1 - a ** (2 * n)) / (1 - a * a)
    euler = g2 * h * (1 - b ** (2 * n)) / (1 - b * b)
    sde = g2 / (2 * lam) * (1 - np.exp(-2 * lam * n_steps * lr))
    assert heun == pytest.approx(sde, rel=0.015) and euler == pytest.approx(sde * 1.111, rel=1e-3)  # O(h²) vs O(h)
    assert (euler - heun) / (heun * np.sqrt(2 / P)) > 10  # the design separates the schemes

    def variance(solver):
        t = simulate(jax.random.key(4), Quadratic(np.eye(1) * lam), DiffraxSDE(lr, B, solver=solver, substeps=sub),
                     jnp.zeros(1), noise=Isotropic(1.0), n_steps=n_steps, n_particles=P, observables=("theta",))
        return _var_se(t.theta[:, 0].astype(np.float64))

    v, se = variance(diffrax.Heun())
    assert abs(v - heun) < 4 * se
    v_euler, se_euler = variance(diffrax.Euler())  # the wrong scheme fails the same check
    assert abs(v_euler - heun) > 6 * se_euler and abs(v_euler - euler) < 4 * se_euler
    with pytest.raises(ValueError, match="Gaussian"):
        simulate(jax.random.key(4), Quadratic(np.eye(1)), DiffraxSDE(lr, B), jnp.zeros(1),
                 noise=HeavyTailed(1.5), n_steps=2)


def test_schedules_drive_the_loop_and_the_clock():
    lr_fn = schedules.step_decay(0.1, [10], factor=0.5)
    t = simulate(jax.random.key(0), Quadratic(np.eye(1)), SGD(0.1, 1), jnp.ones(1), n_steps=20, save_every=1,
                 schedule=lr_fn, observables=("theta",))
    lrs = np.where(np.arange(20) < 10, 0.1, 0.05)
    np.testing.assert_allclose(t.times, np.concatenate([[0], np.cumsum(lrs)]), rtol=1e-6)  # optax evaluates in float32
    np.testing.assert_allclose(t.saved["theta"][:, 0, 0], np.concatenate([[1], np.cumprod(1 - lrs)]), rtol=1e-5)
    # batch-size schedule: the noise variance follows 1/B(k)
    sched = schedules.Schedule(batch_size=schedules.increase_batch(1, [1], factor=100))
    t = simulate(jax.random.key(1), Quadratic(np.eye(1) * 1e-9), SGD(1.0, 1), jnp.zeros(1), noise=Isotropic(1.0),
                 n_steps=2, n_particles=40_000, save_every=1, schedule=sched, observables=("theta",))
    steps = np.diff(t.saved["theta"][:, :, 0], axis=0)
    assert steps[0].var() == pytest.approx(1.0, rel=4 * np.sqrt(2 / 40_000))
    assert steps[1].var() == pytest.approx(0.01, rel=4 * np.sqrt(2 / 40_000))


def test_euler_maruyama_heavy_tailed_runs_and_scales():
    """α-stable increments: one EM step from 0 on a flat landscape equals (η/B)^{1−1/α} dt^{1/α} S,
    i.e. η B^{1/α−1} S for substeps = 1 — the same as SGD with HeavyTailed noise (coupled)."""
    flat = Quadratic(np.zeros((1, 1)))
    kw = dict(noise=HeavyTailed(1.5, 1.0), n_steps=1, n_particles=1000, observables=("theta",))
    a = simulate(jax.random.key(5), flat, EulerMaruyama(0.1, 4), jnp.zeros(1), **kw)
    b = simulate(jax.random.key(5), flat, SGD(0.1, 4), jnp.zeros(1), **kw)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-4, atol=1e-7)
