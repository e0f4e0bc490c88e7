"""Theory against the core engine: the step size that minimises the *simulated* expected loss after
one noisy SGD step on a random quadratic is McCandlish et al. 2018's ε_opt(B) = ε_max/(1 + B_noise/B).

McCandlish, Kaplan, Amodei & OpenAI Dota Team 2018, "An Empirical Model of Large-Batch Training".
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import simulate, theory
from sgd_sde.dynamics import SGD
from sgd_sde.landscapes import Quadratic
from sgd_sde.noise import Dense


@pytest.mark.parametrize("batch_size", [1, 8, 64])
def test_simulated_optimal_step_matches_eps_opt(batch_size):
    rng = np.random.default_rng(batch_size)
    d = 6
    q_, _ = np.linalg.qr(rng.normal(size=(d, d)))
    H = (q_ * np.geomspace(0.1, 10, d)) @ q_.T
    H = 0.5 * (H + H.T)
    a = rng.normal(size=(d, d))
    Sigma = a @ a.T / d
    theta = rng.normal(size=d)
    G = H @ theta
    eps_star = theory.eps_opt(batch_size, theory.eps_max(G, H), theory.b_noise(G, H, Sigma))

    # Common random numbers: every run draws the same minibatch noise ξ (step 0 of the same key),
    # so each particle's loss after the step is an exact quadratic in ε,
    # l_p(ε) = L − ε a_p + ½ ε² b_p with a_p = Gᵀ g_p and b_p = g_pᵀ H g_p (g_p = G + ξ_p).
    # Three step sizes identify (a_p, b_p); the simulated optimum is mean(a)/mean(b) and its SE
    # follows from the ratio estimator: SE² = Var(a − ε̂ b) / (P mean(b)²).
    P = 100_000
    eps_grid = eps_star * np.array([0.5, 1.0, 1.5])
    losses = []
    for eps in eps_grid:
        t = simulate(jax.random.key(42), Quadratic(H), SGD(float(eps), batch_size), jnp.asarray(theta, jnp.float32),
                     noise=Dense(Sigma), n_steps=1, n_particles=P, observables=("loss",))
        losses.append(t.saved["loss"][-1].astype(np.float64))
    V = np.stack([np.ones(3), -eps_grid, 0.5 * eps_grid**2], axis=1)
    coef = np.linalg.solve(V, np.stack(losses))  # rows: L, a_p, b_p
    a_p, b_p = coef[1], coef[2]
    eps_hat = a_p.mean() / b_p.mean()
    se = np.sqrt(np.var(a_p - eps_hat * b_p) / P) / b_p.mean()
    assert abs(eps_hat - eps_star) < 4 * se, (eps_hat, eps_star, se)
    # and the optimum moves with B as 1/(1 + B_noise/B): check the two limits' ordering
    assert theory.eps_opt(10**9, theory.eps_max(G, H), theory.b_noise(G, H, Sigma)) == pytest.approx(
        theory.eps_max(G, H), rel=1e-6)
