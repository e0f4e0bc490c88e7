"""simulate(): statistics against closed forms, divergence, chunk invariance, the JAX contract."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sla

from sgd_sde import Trajectory, schedules, simulate
from sgd_sde.dynamics import SGD, SVAG, EulerMaruyama
from sgd_sde.landscapes import Quadratic
from sgd_sde.noise import Dense, Isotropic

A = np.diag([1.0, 10.0])
C = np.array([[1.0, 0.5], [0.5, 2.0]])


def _second_moment_and_se(x):
    """Mean of x x^T over samples (rows) and the standard error of each entry
    (each entry is a mean of i.i.d. products x_i x_j, so SE = std(product)/sqrt(n))."""
    prod = x[:, :, None] * x[:, None, :]
    return prod.mean(0), prod.std(0) / np.sqrt(len(x))


def test_stationary_covariance_matches_discrete_lyapunov_not_continuous():
    """Mandt et al. 2017 setting: A = diag(1, 10), C = [[1, .5], [.5, 2]], B = 1, lr = 0.01.

    The discrete Lyapunov Σ = (I−εA)Σ(I−εA)^T + ε²C/B is the exact stationary covariance of SGD;
    the continuous one (AΣ + ΣA = εC/B) is 5% low on Σ_22 (0.00100 vs 0.00105). 40k particles,
    two snapshots 500 steps apart after a 2000-step burn-in (the slow mode relaxes as 0.99^k, so the
    snapshots are independent to e^-10), give 80k samples: relative SE of a variance ≈ sqrt(2/80k)
    = 0.5%, so the 5% gap is ~10 SE while the discrete solution must lie within 4 SE.
    """
    lr, B = 0.01, 1
    traj = simulate(
        jax.random.key(2017), Quadratic(A), SGD(lr=lr, batch_size=B), jnp.zeros(2), noise=Dense(C),
        n_steps=2500, n_particles=40_000, save_at=[2000, 2500], observables=("theta",),
    )
    samples = np.concatenate([traj.saved["theta"][1], traj.saved["theta"][2]]).astype(np.float64)
    emp, se = _second_moment_and_se(samples)
    eye = np.eye(2)
    discrete = sla.solve_discrete_lyapunov(eye - lr * A, lr**2 * C / B)
    continuous = sla.solve_continuous_lyapunov(A, lr * C / B)
    assert np.all(np.abs(emp - discrete) < 4 * se), (emp, discrete, se)
    assert discrete[1, 1] == pytest.approx(0.00105, abs=5e-6) and continuous[1, 1] == pytest.approx(0.00100, abs=1e-9)
    assert abs(emp[1, 1] - continuous[1, 1]) > 6 * se[1, 1]


def test_sgd_and_euler_maruyama_are_coupled():
    """With Gaussian noise and substeps = 1 they are the same map driven by the same increments."""
    q, noise = Quadratic(A), Dense(C)
    kw = dict(noise=noise, n_steps=300, n_particles=64, observables=("loss",))
    a = simulate(jax.random.key(5), q, SGD(0.01, 4), jnp.ones(2), **kw)
    b = simulate(jax.random.key(5), q, EulerMaruyama(0.01, 4), jnp.ones(2), **kw)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-5, atol=1e-6)
    c = simulate(jax.random.key(6), q, SGD(0.01, 4), jnp.ones(2), **kw)
    assert np.abs(a.theta - c.theta).max() > 1e-2  # a different key is a different path


def test_euler_maruyama_weak_order_one_on_ou():
    """OU dθ = −θ dt + dW (λ = 1, s² = lr·v/B = 1), θ0 = 0, T = 1: EM with h = 1/k has
    E θ_T² = h (1 − a^{2k}) / (1 − a²), a = 1 − h, exactly; the SDE has (1 − e^{−2})/2.

    (1) the simulated second moment matches the exact EM value within 4 SE (SE = std(θ²)/sqrt(P));
    (2) weak order 1: with nested Brownian paths (dyadic bridge, same key) the coupled differences
        D_k = E[θ_k² − θ_2k²] = b_k − b_2k halve when h halves (ratio 2 within 4 SE of the ratio,
        by the delta method, plus the O(h) deviation of the exact ratio which is < 0.1 here).
    """
    P = 100_000
    ks = [4, 8, 16, 32]
    runs = {}
    for k in ks:
        t = simulate(jax.random.key(11), Quadratic(np.eye(1)), EulerMaruyama(lr=1.0, batch_size=1, substeps=k),
                     jnp.zeros(1), noise=Isotropic(1.0), n_steps=1, n_particles=P, observables=("theta",))
        runs[k] = t.theta[:, 0].astype(np.float64) ** 2
    def exact_em(k):
        h, a = 1.0 / k, 1.0 - 1.0 / k
        return h * (1 - a ** (2 * k)) / (1 - a * a)

    for k in ks:
        assert abs(runs[k].mean() - exact_em(k)) < 4 * runs[k].std() / np.sqrt(P)
    d = {k: runs[k] - runs[2 * k] for k in ks[:-1]}
    for k in (4, 8):
        ratio = d[k].mean() / d[2 * k].mean()
        exact_ratio = (exact_em(k) - exact_em(2 * k)) / (exact_em(2 * k) - exact_em(4 * k))
        se = abs(ratio) * np.hypot(d[k].std() / d[k].mean(), d[2 * k].std() / d[2 * k].mean()) / np.sqrt(P)
        assert abs(ratio - exact_ratio) < 4 * se, (k, ratio, exact_ratio, se)
        # weak order 1: the ratio tends to 2; the O(h) remainder is 0.23 at k = 4, 0.11 at k = 8
        assert abs(ratio - 2.0) < 4 * se + abs(exact_ratio - 2.0)
    sde = (1 - np.exp(-2.0)) / 2
    errors = [exact_em(k) - sde for k in ks]
    assert errors[-2] / errors[-1] == pytest.approx(2.0, abs=0.05)


def test_svag_error_against_the_sde_shrinks_like_one_over_l():
    """Li, Malladi & Arora 2021. OU with λ = 1, per-example variance 1, B = 1, η = 0.5, T = 2.
    SVAG with amplification l takes n = T l / η steps of size η/l with per-step noise variance
    η²/l, so Var θ_n = (η²/l)(1 − a^{2n})/(1 − a²), a = 1 − η/l (exact); the SDE variance is
    (η/2)(1 − e^{−2T}). The simulated variance must match the exact SVAG value (relative SE of a
    sample variance is sqrt(2/P)) and its error against the SDE must halve with l (ratio 2)."""
    eta, T, P = 0.5, 2.0, 200_000
    sde_var = eta / 2 * (1 - np.exp(-2 * T))
    errs, ses, exact_errs = {}, {}, {}
    for l in (2, 4, 8):
        n = int(round(T * l / eta))
        t = simulate(jax.random.key(21), Quadratic(np.eye(1)), SVAG(eta, 1, l=l), jnp.ones(1), noise=Isotropic(1.0),
                     n_steps=n, n_particles=P, observables=("theta",))
        assert t.times[-1] == pytest.approx(T)
        x = t.theta[:, 0].astype(np.float64)
        var = x.var()
        a = 1 - eta / l
        exact = (eta**2 / l) * (1 - a ** (2 * n)) / (1 - a * a)
        se = var * np.sqrt(2.0 / P)
        assert abs(var - exact) < 4 * se, (l, var, exact, se)
        errs[l], ses[l], exact_errs[l] = var - sde_var, se, exact - sde_var
    for l in (2, 4):
        ratio = errs[l] / errs[2 * l]
        exact_ratio = exact_errs[l] / exact_errs[2 * l]
        se_ratio = abs(ratio) * np.hypot(ses[l] / errs[l], ses[2 * l] / errs[2 * l])
        assert abs(ratio - exact_ratio) < 4 * se_ratio, (l, ratio, exact_ratio, se_ratio)
        # 1/l convergence: the exact ratio tends to 2 (2.14 at l = 2, 2.06 at l = 4)
        assert abs(ratio - 2.0) < 4 * se_ratio + abs(exact_ratio - 2.0)


def test_divergence_is_flagged_per_particle_with_its_step():
    q = Quadratic(np.diag([1.0, 10.0]))  # GD is stable iff lr < 2/10
    kw = dict(noise=Isotropic(1e-4), n_steps=1000, n_particles=256)
    bad = simulate(jax.random.key(0), q, SGD(0.21, 1), jnp.ones(2), **kw)
    assert bad.diverged.all()
    assert np.all(bad.divergence_step > 0) and np.all(bad.divergence_step < 1000)
    assert np.all(np.isfinite(bad.theta))  # frozen at the last finite value, never NaN
    good = simulate(jax.random.key(0), q, SGD(0.19, 1), jnp.ones(2), **kw)
    assert not good.diverged.any() and np.all(good.divergence_step == -1)


def test_divergence_steps_are_exact_across_blocks():
    # Deterministic GD on lambda = 10 with lr = 0.21: theta_{k+1} = -1.1 theta_k. Particle i leaves the
    # bound b = 1e3 at the first step t with 1.1^{t+1} |theta0_i| > b and is frozen at 1.1^t |theta0_i|.
    # Starting points spread the divergence steps over ~150 steps, i.e. across many of simulate's
    # divergence blocks (a block runs fast and is re-run exactly when a particle diverges inside it),
    # with some particles diverging in the same block and others already frozen in earlier blocks.
    from sgd_sde._engine import BLOCK as _BLOCK

    q = Quadratic(np.array([[10.0]]))
    theta0 = np.geomspace(1e-4, 5e2, 40)[:, None] * np.where(np.arange(40) % 2, 1.0, -1.0)[:, None]
    t = simulate(jax.random.key(0), q, SGD(0.21, 1), theta0, n_steps=300, divergence_bound=1e3,
                 save_every=100, observables=("theta",))  # 100 = 3 blocks + 4 exact steps
    a = np.abs(theta0[:, 0])
    expected = np.ceil(np.log(1e3 / a) / np.log(1.1)).astype(int) - 1  # first t with 1.1^{t+1} a > 1e3
    margin = np.abs(np.log(1e3 / a) / np.log(1.1) - np.round(np.log(1e3 / a) / np.log(1.1)))
    assert margin.min() > 1e-3  # no particle sits on the boundary (float32 rounding cannot flip a step)
    assert t.diverged.all() and np.ptp(t.divergence_step) > 4 * _BLOCK
    np.testing.assert_array_equal(t.divergence_step, expected)
    np.testing.assert_allclose(np.abs(t.theta[:, 0]), 1.1 ** expected * a, rtol=1e-4)
    # saved snapshots after a particle's divergence show it frozen
    for i in (0, 17, 39):
        after = t.steps > expected[i]
        assert np.all(t.saved["theta"][after, i, 0] == t.theta[i, 0])


@pytest.mark.parametrize("dynamics", ["sgd_momentum", "euler_maruyama"])
def test_infinite_bound_checks_per_block_with_the_same_result(dynamics):
    """``divergence_bound=inf`` (only non-finite values diverge) checks once per block of steps,
    not every step. Non-finite values are absorbing for an update θ + Δ, so it must flag the same
    particles at the same steps, and leave the same values, as the per-step check with the largest
    finite bound, finfo(float32).max (which flags exactly the non-finite values too).

    Growth factor |1 − lr λ| = 2 per step (about 2 with momentum 0.1) from starting points
    1 … 1e30 overflows float32 (3.4e38) between steps ~28 and ~128: inside blocks, in the exact
    tail steps of an interval, in the same block for several particles; noise makes the paths
    differ from the bare recursion."""
    import math

    from sgd_sde.noise import Isotropic

    q = Quadratic(np.array([[10.0]]))
    theta0 = (np.geomspace(1.0, 1e30, 48) * np.where(np.arange(48) % 2, 1.0, -1.0))[:, None].astype(np.float32)
    dyn = SGD(0.3, 1, momentum=0.1) if dynamics == "sgd_momentum" else EulerMaruyama(0.3, 1)
    kw = dict(noise=Isotropic(1.0), n_steps=300, save_every=100, observables=("theta", "loss"))  # 3 blocks + 4
    runs = [simulate(jax.random.key(5), q, dyn, theta0, divergence_bound=b, **kw)
            for b in (math.inf, float(np.finfo(np.float32).max))]
    fast, exact = runs
    assert exact.diverged.all() and np.ptp(exact.divergence_step) > 64  # spread over several blocks
    assert np.any(exact.divergence_step % 100 >= 96)  # some in the exact tail of an interval
    np.testing.assert_array_equal(fast.divergence_step, exact.divergence_step)
    np.testing.assert_array_equal(fast.diverged, exact.diverged)
    # The two are different compiled programs (bare block vs per-step freeze), so XLA may fuse the
    # same update differently on another CPU (FMA or not): flags and steps exactly (a crossing
    # decided by the last bit of a value within one ulp of finfo.max has probability ~1e-7), the
    # floats to 4 ulp per step times the steps, relative (the maps grow errors as they grow values).
    rtol = 4 * np.finfo(np.float32).eps * 300
    np.testing.assert_allclose(fast.theta, exact.theta, rtol=rtol, atol=0)
    for name in ("theta", "loss"):
        np.testing.assert_allclose(fast.saved[name], exact.saved[name], rtol=rtol, atol=0)
    assert np.all(np.isfinite(fast.theta)) and fast.metadata["divergence_bound"] == math.inf


def test_infinite_bound_is_accepted_and_other_non_finite_bounds_are_not():
    import math

    q = Quadratic(np.eye(1))
    for bound in (math.inf, np.inf, np.float32(np.inf), np.asarray(np.inf)):
        t = simulate(jax.random.key(0), q, SGD(3.0, 1), np.ones(1), n_steps=200, divergence_bound=bound)
        assert t.diverged.all() and t.divergence_step[0] == 127  # 2^128 overflows float32
    for bad in (-math.inf, math.nan):
        with pytest.raises(ValueError, match="divergence_bound"):
            simulate(jax.random.key(0), q, SGD(0.1, 1), np.ones(1), n_steps=2, divergence_bound=bad)


def test_one_bad_particle_does_not_stop_the_ensemble():
    q = Quadratic(np.eye(1))
    theta0 = np.array([[1.0], [2e6]])  # after step 0 the second particle is at 1.8e6 > bound
    t = simulate(jax.random.key(0), q, SGD(0.1, 1), theta0, n_steps=50, divergence_bound=1e6)
    assert t.diverged.tolist() == [False, True]
    assert t.divergence_step.tolist() == [-1, 0]
    assert t.theta[1, 0] == 2e6  # frozen at its last accepted state (the start)
    t = simulate(jax.random.key(0), q, SGD(2.5, 1), np.array([[0.0], [1.0]]), n_steps=200)
    assert t.diverged.tolist() == [False, True]
    assert t.theta[0, 0] == 0.0


def test_chunking_does_not_change_results():
    q, noise = Quadratic(A), Dense(C)
    kw = dict(noise=noise, n_steps=997, n_particles=33, save_every=50, observables=("loss", "theta"))
    ref = simulate(jax.random.key(9), q, SGD(0.02, 2, momentum=0.5), jnp.ones(2), **kw)
    for chunk in (1, 100, 333):
        other = simulate(jax.random.key(9), q, SGD(0.02, 2, momentum=0.5), jnp.ones(2), chunk_size=chunk, **kw)
        np.testing.assert_array_equal(other.theta, ref.theta)
        np.testing.assert_array_equal(other.saved["theta"], ref.saved["theta"])
        np.testing.assert_array_equal(other.steps, ref.steps)


def test_no_recompilation_on_second_call():
    traces = []

    def counted(landscape, theta, theta0):
        traces.append(1)  # runs only while tracing
        return jnp.sum(theta)

    q, dyn, noise = Quadratic(A), SGD(0.01, 1), Dense(C)
    obs = {"s": counted}
    simulate(jax.random.key(0), q, dyn, jnp.ones(2), noise=noise, n_steps=20, n_particles=4, observables=obs)
    n = len(traces)
    assert n >= 1
    simulate(jax.random.key(1), q, dyn, jnp.zeros(2), noise=noise, n_steps=20, n_particles=4, observables=obs)
    assert len(traces) == n


def test_dtypes_are_preserved():
    q = Quadratic(A)
    t32 = simulate(jax.random.key(0), q, SGD(0.01, 1), np.ones(2, np.float32), noise=Dense(C), n_steps=5)
    assert t32.theta.dtype == np.float32 and t32.saved["loss"].dtype == np.float32
    with jax.enable_x64(True):
        t64 = simulate(jax.random.key(0), Quadratic(A), SGD(0.01, 1), np.ones(2), noise=Dense(C), n_steps=5)
    assert t64.theta.dtype == np.float64 and t64.saved["loss"].dtype == np.float64


def test_save_points_times_and_roundtrip(tmp_path):
    q = Quadratic(A)
    t = simulate(jax.random.key(3), q, SVAG(0.1, 1, l=4), jnp.ones(2), noise=Isotropic(1.0), n_steps=40,
                 n_particles=3, save_at=[1, 10, 10, 25], observables=("loss", "distance_from_init", "grad_norm"))
    assert t.steps.tolist() == [0, 1, 10, 25, 40]
    np.testing.assert_allclose(t.times, np.array([0, 1, 10, 25, 40]) * 0.1 / 4)
    assert t.saved["distance_from_init"][0].tolist() == [0.0, 0.0, 0.0]
    t.save(tmp_path / "run")
    back = Trajectory.load(tmp_path / "run")
    np.testing.assert_array_equal(back.theta, t.theta)
    for k in t.saved:
        np.testing.assert_array_equal(back.saved[k], t.saved[k])
    assert back.metadata["dynamics"]["type"] == "SVAG"
    assert back.metadata["key"] == t.metadata["key"]
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError):
        Trajectory.load(tmp_path / "bad")
    with pytest.raises(FileNotFoundError):
        Trajectory.load(tmp_path / "missing")


def test_core_is_clean_under_strict_dtype_promotion():
    """Equinox-style dtype discipline: no implicit promotion anywhere in the core hot loop."""
    from sgd_sde.dynamics import EMAMomentum, Langevin
    from sgd_sde.landscapes import LinearRegression
    from sgd_sde.noise import ExactMinibatch, FisherShaped, HeavyTailed, HessianShaped, LowRank

    rng = np.random.default_rng(0)
    lr_land = LinearRegression(rng.normal(size=(16, 3)), rng.normal(size=16))
    cases = [
        (SGD(0.05, 4, momentum=0.9), FisherShaped()), (EulerMaruyama(0.05, 4, substeps=4), ExactMinibatch()),
        (SVAG(0.05, 4, l=2), HessianShaped(1.0, 0.1)), (EMAMomentum(0.05, 4), LowRank(np.ones((3, 2)))),
        (Langevin(0.05, 0.1, batch_size=4), Isotropic(1.0)), (Langevin(0.05, 0.1), None),
        (EulerMaruyama(0.05, 4), HeavyTailed(1.7)),
    ]
    with jax.numpy_dtype_promotion("strict"):
        for dyn, noise in cases:
            t = simulate(jax.random.key(0), lr_land, dyn, np.zeros(3, np.float32), noise=noise, n_steps=5, n_particles=3,
                         observables=("loss", "distance_from_init", "grad_norm"))
            assert t.theta.dtype == np.float32
        # every schedule (an audit found all but constant and exponential_decay refused here: they mix
        # Python floats with the int32 step): evaluated on the host, and traced where the engine
        # calls it (jax.eval_shape: no compile), then one whole run
        from sgd_sde import _engine
        from sgd_sde.schedules import evaluate

        for sched in [schedules.step_decay(0.1, [3], 0.5), schedules.inverse_power(0.1, 1.0), schedules.cosine(0.1, 10),
                      schedules.cyclic(0.1, 0.01, 2), schedules.warmup(0.1, 2, then=schedules.cosine(0.1, 10)),
                      schedules.exponential_decay(0.1, 0.9), schedules.constant(0.1)]:
            assert evaluate(sched, 5).shape == (5,)
            config = _engine.Config(observables=(), lr_fn=sched, batch_fn=schedules.increase_batch(2, [3]), bound=1e6)
            dyn = jax.eval_shape(lambda t: _engine._at_step(SGD(0.05, 4), config, t, jnp.float32), jnp.int32(2))
            assert dyn.lr.dtype == np.float32
        t = simulate(jax.random.key(0), lr_land, SGD(0.05, 4), np.zeros(3, np.float32), noise=Isotropic(1.0), n_steps=5,
                     n_particles=3, schedule=schedules.Schedule(lr=schedules.cosine(0.1, 10),
                                                                batch_size=schedules.increase_batch(2, [3])))
        assert t.theta.dtype == np.float32


def test_new_learning_rate_or_uneven_saves_do_not_recompile_per_chunk():
    traces = []

    def counted(landscape, theta, theta0):
        traces.append(1)
        return jnp.sum(theta)

    q, noise, obs = Quadratic(A), Dense(C), {"s": counted}
    simulate(jax.random.key(0), q, SGD(0.01, 1), jnp.ones(2), noise=noise, n_steps=20, n_particles=4, observables=obs)
    n = len(traces)
    t = simulate(jax.random.key(0), q, SGD(0.02, 1), jnp.ones(2), noise=noise, n_steps=20, n_particles=4, observables=obs)
    assert len(traces) == n  # the learning rate is data, not a compile-time constant
    assert t.metadata["dynamics"]["lr"] == pytest.approx(0.02)
    # log-spaced saves in many chunks: at most a first, a middle and a padded last compilation
    traces.clear()
    simulate(jax.random.key(0), q, SGD(0.01, 1), jnp.ones(2), noise=noise, n_steps=4096, n_particles=4,
             save_at=np.unique(np.geomspace(1, 4096, 40).astype(int)), chunk_size=64, observables=obs)
    assert 1 <= len(traces) <= 3 * 2  # each compilation traces the observable at most twice


def test_metadata_tells_apart_runs_on_other_arrays_and_solvers():
    # an audit found the metadata (and so the saved provenance) equal for different Hessians,
    # covariances and diffrax solvers: only scalar fields were recorded
    import diffrax

    from sgd_sde.dynamics import DiffraxSDE

    def meta(land, dyn, noise):
        return simulate(jax.random.key(0), land, dyn, jnp.ones(2), noise=noise, n_steps=2).metadata

    base = meta(Quadratic(A), SGD(0.1, 1), Dense(C))
    assert meta(Quadratic(A), SGD(0.1, 1), Dense(C)) == base  # the same arrays: the same metadata
    assert meta(Quadratic(2 * A), SGD(0.1, 1), Dense(C))["landscape"] != base["landscape"]
    assert meta(Quadratic(A), SGD(0.1, 1), Dense(2 * C))["noise"] != base["noise"]
    assert base["landscape"]["hessian_matrix"]["shape"] == [2, 2]
    # nested modules: the solver (described as simulate describes its dynamics; running two diffrax
    # programs to read their metadata cost ~5 s)
    from sgd_sde.simulate import _describe

    heun, euler = (_describe(DiffraxSDE(0.1, 1, solver=s)) for s in (diffrax.Heun(), diffrax.Euler()))
    assert heun["solver"]["type"] == "Heun" and euler["solver"]["type"] == "Euler"
