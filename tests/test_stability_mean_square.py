"""Wu, Ma & E 2018 mean-square stability, and Zhu et al. 2019's OU escape indicator, by simulation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import simulate
from sgd_sde.dynamics import SGD, EulerMaruyama
from sgd_sde.landscapes import LinearRegression, Quadratic
from sgd_sde.noise import Dense, ExactMinibatch
from sgd_sde.stability import (
    exact_factor_1d,
    matched_trace_covariances,
    second_moment_growth,
    stability_map,
    threshold_bracket,
)

H = np.array([0.5, 1, 1, 1.5, 2, 2, 3, 4, 6, 9])
WME = LinearRegression(np.sqrt(H)[:, None], np.zeros(10))  # ℓ_i = h_i x²/2, all zero at x* = 0


def test_exact_factor_matches_anchor_and_theory():
    assert exact_factor_1d(0.1, H, 2) == pytest.approx(0.51867, abs=5e-6)
    assert exact_factor_1d(0.55, H, 2) == pytest.approx(1.290, abs=5e-4)
    theory = pytest.importorskip("sgd_sde.theory")
    for lr in (0.1, 0.3, 0.55):
        for b in (1, 2, 5):
            assert exact_factor_1d(lr, H, b) == pytest.approx(theory.mean_square_factor(lr, H, b), rel=1e-12)


def test_gd_converges_but_sgd_second_moment_grows_at_lr_055():
    """η = 0.55 < 2/a = 0.667: GD contracts by (1 − 0.55·3)² = 0.4225 per step, but the SGD factor
    is 1.2897. Over T = 3 steps E x² = 1.2897³ = 2.145; the relative variance of the sample mean of
    x_3² is (E f²/F²)³/P ≈ 3.50³/10⁵ (exact enumeration over the 45 batches), i.e. SE ≈ 2.1%.
    We require the simulated m_3 within 4 SE, and the CI on the factor entirely above 1.
    """
    P, T = 100_000, 3
    sgd = second_moment_growth(jax.random.key(0), WME, SGD(lr=0.55, batch_size=2), np.zeros(1),
                               noise=ExactMinibatch(replace=False), n_steps=T, n_particles=P)
    exact = exact_factor_1d(0.55, H, 2)
    rel_se = np.sqrt(3.50**T / P)
    assert abs(sgd.moments[-1] / exact**T - 1) < 4 * rel_se
    assert sgd.ci[0] > 1.0
    # ... while a typical path still converges: E log (1 − ηĥ)² = −1.42 < 0 (mean square ≠ almost sure)
    assert sgd.lyapunov < -1.0
    gd = second_moment_growth(jax.random.key(0), WME, SGD(lr=0.55, batch_size=2), np.zeros(1), noise=None,
                              n_steps=T, n_particles=16)
    assert gd.factor == pytest.approx(0.4225, rel=1e-4)


def test_simulated_threshold_brackets_0_50562():
    """One step, 10⁵ particles: the factor's relative SE is sqrt((3.57 − 1)/10⁵) = 0.5%, and
    F(0.50) = 0.967, F(0.51) = 1.027 are ≥ 5 SE from 1, so the bracket is [0.50, 0.51] ∋ 0.50562
    (GD's threshold 2/a = 0.667 is far outside it)."""
    lrs = [0.48, 0.49, 0.50, 0.51, 0.52]
    grid = stability_map(jax.random.key(1), WME, SGD(lr=0.1, batch_size=2), np.zeros(1),
                         noise=ExactMinibatch(replace=False), lrs=lrs, batch_sizes=[2], n_steps=1,
                         n_particles=100_000)
    lo, hi = threshold_bracket(grid["lrs"], grid["lo"][0], grid["hi"][0])
    assert (lo, hi) == (0.50, 0.51)
    assert lo < 0.50562 < hi < 2 / 3
    for j, lr in enumerate(lrs):
        f, se = grid["factor"][0, j], (grid["hi"][0, j] - grid["lo"][0, j]) / (2 * 1.96)
        assert abs(f - exact_factor_1d(lr, H, 2)) < 4 * se


def test_zhu_ou_expected_loss_matches_exact_within_3_percent():
    """Zhu et al. 2019: D = 10, H = diag(100, 1, …, 1), tr Σ = 1, start at the minimum.

    dθ = −Hθ dt + Σ^{1/2} dW is simulated as the SGD SDE with lr = dt = 10⁻⁴, B = 1 and per-example
    covariance Σ/dt (so (lr/B)·C = Σ). Exact: E L_t = ¼ Σ_i Σ_ii (1 − e^{−2λ_i t}). At t = 0.02 the
    sharp direction dominates (Σ∝H: 0.2299 of 0.2307), so L ≈ χ²₁-distributed: relative SE ≈ √2/√P
    = 0.9% for P = 25 000; the Euler bias is λ·dt/2 = 0.5%. 3% ≥ 2.5 SE beyond the bias.
    """
    Hm = np.diag([100.0] + [1.0] * 9)
    covs = matched_trace_covariances(Hm, 1.0)
    assert {k: round(float(np.sum(Hm * S)), 2) for k, S in covs.items()} == {
        "hessian": 91.83, "top_eigenvector": 100.0, "isotropic": 10.9}
    dt, n_steps, P = 1e-4, 200, 25_000
    lam = np.diag(Hm)
    # every shape of the note's table is simulated, isotropic included (Σ = I/10: the sharp direction
    # still carries 0.0158 of E L = 0.0180 at t = 0.005, relative SE ≈ 1.2·√2/√P < 1%)
    for name in ("hessian", "top_eigenvector", "isotropic"):
        S = covs[name]
        traj = simulate(jax.random.key(19), Quadratic(Hm), EulerMaruyama(lr=dt, batch_size=1), jnp.zeros(10),
                        noise=Dense(S / dt), n_steps=n_steps, n_particles=P, save_at=[50, 100, 200],
                        observables=("loss",), progress=False)
        t = traj.times[1:]
        exact = 0.25 * np.sum(np.diag(S)[None] * -np.expm1(-2 * lam[None] * t[:, None]), axis=1)
        sim = traj.saved["loss"][1:].mean(axis=1)
        assert np.all(np.abs(sim / exact - 1) < 0.03), (name, sim, exact)
    # the initial slope is ½ tr(HΣ): anisotropic noise aligned with H escapes 8.4x faster
    assert np.sum(Hm * covs["hessian"]) / np.sum(Hm * covs["isotropic"]) == pytest.approx(8.42, abs=0.01)


def test_mean_square_bad_input():
    with pytest.raises(ValueError, match="minimum"):
        second_moment_growth(0, WME, SGD(0.1, 2), np.ones(1), noise=ExactMinibatch(), n_steps=1, n_particles=8)
    with pytest.raises(ValueError, match="n_steps"):
        second_moment_growth(0, WME, SGD(0.1, 2), np.zeros(1), noise=ExactMinibatch(), n_steps=0, n_particles=8)
    with pytest.raises(ValueError, match="batch_size"):
        second_moment_growth(0, WME, SGD(0.1, 20), np.zeros(1), noise=ExactMinibatch(), n_steps=1, n_particles=8)
    with pytest.raises(ValueError, match="diverged"):
        second_moment_growth(0, WME, SGD(0.1, 2), np.zeros(1), noise=ExactMinibatch(), n_steps=1, n_particles=8,
                             diverged="drop")


def _wme_products(rng, n_particles, n_steps, lr=0.55):
    """Exact draws of x_T²/x_0² for Wu–Ma–E's 1-D problem: a product of T i.i.d. factors
    (1 − η ĥ)², ĥ the mean curvature of a uniformly drawn 2-subset of the 10 examples."""
    import itertools

    f = np.array([(1 - lr * (H[i] + H[j]) / 2) ** 2 for i, j in itertools.combinations(range(10), 2)])
    return np.prod(rng.choice(f, (n_particles, n_steps)), axis=1), f.mean() ** n_steps


def test_second_moment_interval_covers_under_heavy_tails():
    """Coverage of the factor's interval on the heavy-tailed product x_T² (T = 4, P = 2000:
    relative variance (E f²/F²)^T/P = 3.5⁴/2000 = 7.5%), 200 repetitions with a fixed seed.
    Nominal 0.95; the coverage estimate has SE √(0.95·0.05/200) = 0.0154, so it must be ≥ 0.95 −
    3 SE = 0.904. The old interval (mean ± 1.96 sd/√P) covers 0.84 here and fails this test (a
    mutation tried: _stats.mean_ci in place of heavy_mean_ci); the studentized bootstrap covers 0.92.
    """
    from sgd_sde.stability._stats import heavy_mean_ci, mean_ci

    rng = np.random.default_rng(2018)
    reps, hit, hit_normal = 200, 0, 0
    for r in range(reps):
        x, truth = _wme_products(rng, 2000, 4)
        lo, hi = heavy_mean_ci(x, 0.95, seed=r)
        hit += lo <= truth <= hi
        lo, hi = mean_ci(x, 0.95)
        hit_normal += lo <= truth <= hi
    se = np.sqrt(0.95 * 0.05 / reps)
    assert hit / reps >= 0.95 - 3 * se, hit / reps
    assert hit_normal / reps < 0.95 - 3 * se  # the test can tell the two intervals apart
    assert hit / reps <= 0.95 + 3 * se  # not trivially wide either


def test_diverged_particles_are_counted_and_either_included_or_excluded():
    """At η = 1.5 the per-step factors (1 − 1.5ĥ)² reach 105, and over 10 steps ≈ 4.6 % of the
    products exceed 10¹² (exact draws, numpy), i.e. |x| passes the divergence bound 10⁶: those
    particles are counted, included by default (the factor then a lower bound), and dropped with
    diverged="exclude"."""
    kw = dict(noise=ExactMinibatch(replace=False), n_steps=10, n_particles=4000)
    inc = second_moment_growth(jax.random.key(3), WME, SGD(lr=1.5, batch_size=2), np.zeros(1), **kw)
    exc = second_moment_growth(jax.random.key(3), WME, SGD(lr=1.5, batch_size=2), np.zeros(1), diverged="exclude", **kw)
    assert inc.n_diverged == exc.n_diverged > 0
    assert inc.diverged == "included" and inc.n_used == 4000 and inc.factor_is_lower_bound
    assert exc.diverged == "excluded" and exc.n_used == 4000 - exc.n_diverged
    assert exc.factor < inc.factor
    grid = stability_map(jax.random.key(3), WME, SGD(lr=0.1, batch_size=2), np.zeros(1), lrs=[0.3, 1.5],
                         batch_sizes=[2], **kw)
    assert grid["diverged"] == "included" and grid["n_diverged"][0, 0] == 0 and grid["n_diverged"][0, 1] > 0


def test_map_agreement_is_two_sided():
    """The figure's map check: the exact factor must lie inside [lo, hi] (or within 2%). The old
    check, exact >= lo, passed an exact factor far above the simulated interval."""
    from sgd_sde.figures.stability import map_agreement

    inside, near = map_agreement([1.0, 2.0, 0.5, 1.015], [0.9, 0.9, 0.9, 0.9], [1.1, 1.1, 1.1, 1.0], [1.0, 1.0, 1.0, 1.0])
    assert inside.tolist() == [True, False, False, False]
    assert near.tolist() == [True, False, False, True]
