"""Scale-out: particles sharded over devices (same draws, same flags, floats to rounding), and
vmapped (lr, B) sweeps.

Several CPU devices exist only if ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` is set
before jax is imported, so the multi-device checks run in a fresh interpreter.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import simulate
from sgd_sde.dynamics import SGD, EulerMaruyama
from sgd_sde.landscapes import LinearRegression, Quadratic
from sgd_sde.noise import Dense, ExactMinibatch, Isotropic
from sgd_sde.sharding import particle_sharding
from sgd_sde.simulate import sweep

ROOT = Path(__file__).resolve().parents[1]
A = np.diag([1.0, 10.0])
C = np.array([[1.0, 0.5], [0.5, 2.0]])

_MULTI_DEVICE = textwrap.dedent(
    """
    import math
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec
    assert len(jax.devices()) == 4, jax.devices()
    from sgd_sde import simulate
    from sgd_sde.dynamics import SGD, EulerMaruyama
    from sgd_sde.landscapes import LinearRegression, Quadratic
    from sgd_sde.noise import Dense, ExactMinibatch, FisherShaped
    from sgd_sde.sharding import particle_sharding
    from sgd_sde.simulate import sweep

    EPS = float(np.finfo(np.float32).eps)

    def close(a, b, n_steps):
        # What is invariant across shard shapes: flags and divergence steps exactly. The floats are
        # not: XLA:CPU picks its matmul kernel by shape, so the reduction order (and FMA use) of a
        # mat-vec changes with the shard's particle count (measured: 1 ulp on 36 of 1952 elements,
        # AMD EPYC, 1 vs 4 devices). Each step adds at most a few ulp of rounding per element, and
        # the maps here grow an error by at most their own growth (which the relative tolerance
        # follows), so the runs agree to 4 ulp per step times the steps, relative to the values' scale.
        tol = 4 * EPS * n_steps
        np.testing.assert_array_equal(a.diverged, b.diverged)
        np.testing.assert_array_equal(a.divergence_step, b.divergence_step)
        pairs = [(a.theta, b.theta)] + [(a.saved[k], b.saved[k]) for k in a.saved]
        for x, y in pairs:
            scale = float(np.max(np.abs(x))) if x.size else 0.0
            np.testing.assert_allclose(x, y, rtol=tol, atol=tol * scale)

    def sharded_draws(noise, land, batch_size, n_particles, sharding, key, steps):
        # the draws the given steps consume, computed with the particle axis split over devices (one
        # compiled body looped over the steps: the step enters only through fold_in, as in the engine)
        noise = noise.bind(land)
        def draw(k):
            return jax.lax.map(lambda t: noise.sample(jax.random.fold_in(k, t), land, n_particles, batch_size,
                                                      jnp.float32), jnp.asarray(list(steps), jnp.int32))
        if sharding is None:
            return np.asarray(jax.jit(draw)(key))
        spec = NamedSharding(sharding.mesh, PartitionSpec(None, None, sharding.spec[-1]))
        return np.asarray(jax.jit(draw, out_shardings=spec)(key))

    A = np.diag([1.0, 10.0]); C = np.array([[1.0, 0.5], [0.5, 2.0]])
    rng = np.random.default_rng(0)
    land = LinearRegression(rng.normal(size=(64, 5)), rng.normal(size=64))

    # 1. the random draws themselves are bit-identical (counter-based threefry, partitionable)
    meshes = (particle_sharding(devices=4), particle_sharding(devices=jax.devices()[:2]),
              particle_sharding(mesh=jax.make_mesh((2, 2), ("x", "y"))))
    for noise, l, b in ((Dense(C), Quadratic(A), 2), (FisherShaped(), land, 8), (ExactMinibatch(replace=True), land, 8),
                        (ExactMinibatch(replace=False), land, 8)):
        ref = sharded_draws(noise, l, b, 64, None, jax.random.key(5), range(0, 400, 37))
        for sh in meshes:
            out = sharded_draws(noise, l, b, 64, sh, jax.random.key(5), range(0, 400, 37))
            assert out.dtype == ref.dtype and out.shape == ref.shape
            np.testing.assert_array_equal(out, ref)

    # 2. whole runs: flags and steps exactly, floats to the rounding tolerance
    kw = dict(noise=Dense(C), n_steps=120, n_particles=64, save_every=25, observables=("loss", "theta"))
    ref = simulate(jax.random.key(1), Quadratic(A), SGD(0.05, 2, momentum=0.5), jnp.ones(2), **kw)
    for sh in (dict(devices=4), dict(devices=jax.devices()[:2]), dict(mesh=jax.make_mesh((2, 2), ("x", "y")))):
        out = simulate(jax.random.key(1), Quadratic(A), SGD(0.05, 2, momentum=0.5), jnp.ones(2), chunk_size=40, **sh, **kw)
        close(ref, out, 120)
        assert len(out.metadata["devices"]) == (2 if sh.get("devices") is not None and sh["devices"] != 4 else 4)

    # 3. divergence flags and steps are per particle, also across shards. |1 - 0.21*10| = 1.1 on the
    # second axis, and the noise is negligible, so particle j grows as 1.1**(k + u_j): with
    # u_j = j + c it crosses the bound 1e6 at a known step, by a factor 1.1**0.5 (4.9%, far above
    # any rounding) on either side of the bound -- the crossing step cannot depend on rounding.
    L = math.log(1e6) / math.log(1.1)
    c = (L - math.floor(L)) - 0.5
    j = np.arange(64)
    theta0 = np.stack([np.ones(64), 1.1 ** (j + c) * np.where(j % 2, 1.0, -1.0)], axis=1).astype(np.float32)
    bad = dict(noise=Dense(1e-12 * C), n_steps=300, observables=("loss",))
    one = simulate(jax.random.key(0), Quadratic(A), SGD(0.21, 1), theta0, **bad)
    four = simulate(jax.random.key(0), Quadratic(A), SGD(0.21, 1), theta0, devices=4, **bad)
    close(one, four, 300)
    # theta_{t+1} = 1.1**(t + 1 + u_j) first exceeds 1e6 after step t = floor(L - u_j) = floor(L - c) - j
    np.testing.assert_array_equal(one.divergence_step, math.floor(L - c) - j)
    assert one.diverged.all()

    for noise, dyn in ((ExactMinibatch(), SGD(0.05, 8)), (FisherShaped(), EulerMaruyama(0.05, 8, substeps=2))):
        kw = dict(noise=noise, n_steps=60, n_particles=32, observables=("loss",))
        close(simulate(jax.random.key(3), land, dyn, jnp.zeros(5), **kw),
              simulate(jax.random.key(3), land, dyn, jnp.zeros(5), devices=4, **kw), 60)

    # 4. a sweep sharded over devices equals the unsharded sweep
    kw = dict(lrs=[0.02, 0.05], batch_sizes=[1, 4], noise=Dense(C), n_steps=50, n_particles=16, observables=("loss",))
    a = sweep(jax.random.key(2), Quadratic(A), SGD(0.1, 1), jnp.ones(2), **kw)
    b = sweep(jax.random.key(2), Quadratic(A), SGD(0.1, 1), jnp.ones(2), devices=4, **kw)
    for g in a:
        close(a[g], b[g], 50)

    try:
        simulate(jax.random.key(0), Quadratic(A), SGD(0.1, 1), jnp.ones(2), n_steps=2, n_particles=6, devices=4)
    except ValueError as e:
        assert "n_particles = 6 must be a multiple" in str(e), e
    else:
        raise AssertionError("expected ValueError")
    print("OK")
    """
)


@pytest.mark.parametrize("isa", [None, "SSE4_2"])
def test_sharded_runs_match_one_device(isa):
    """Draws bit-identical, divergence flags/steps identical, floats to a float32 rounding bound.

    Run on this CPU's own code, and again with XLA's code generation limited to SSE4.2 — another
    CPU as far as the kernels go. Under SSE4.2 (and AVX) the earlier bit-identity assertion failed
    on a Zen 4 host where the native AVX-512 code passed it (8 of 32 elements, 1 ulp).
    """
    flags = "--xla_force_host_platform_device_count=4" + ("" if isa is None else f" --xla_cpu_max_isa={isa}")
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-c", _MULTI_DEVICE], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr[-3000:]


def test_single_device_sharding_is_a_no_op():
    kw = dict(noise=Dense(C), n_steps=40, n_particles=8, observables=("loss",))
    a = simulate(jax.random.key(4), Quadratic(A), SGD(0.05, 1), jnp.ones(2), **kw)
    b = simulate(jax.random.key(4), Quadratic(A), SGD(0.05, 1), jnp.ones(2), devices=jax.devices()[:1], **kw)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.saved["loss"], b.saved["loss"])


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(), ValueError, "exactly one of devices= and mesh="),
        (dict(devices=1, mesh=object()), ValueError, "exactly one of devices= and mesh="),
        (dict(devices=[]), ValueError, "devices must be non-empty"),
        (dict(devices=10_000), ValueError, "devices=10000 but only"),
        (dict(devices=0), ValueError, "devices must be"),
        (dict(devices=["cpu"]), TypeError, "jax.Device"),
        (dict(devices="cpu"), TypeError, "devices must be a sequence"),
        (dict(mesh="mesh"), TypeError, "mesh must be a jax.sharding.Mesh"),
    ],
)
def test_particle_sharding_validates_eagerly(kwargs, err, match):
    with pytest.raises(err, match=match):
        particle_sharding(**kwargs)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the hint is for CPU devices")
def test_too_many_cpu_devices_says_how_to_get_them():
    n = len(jax.devices()) + 1
    seen = "1 device is" if n == 2 else f"{n - 1} devices are"
    with pytest.raises(ValueError, match=f"only {seen} visible: .*xla_force_host_platform_device_count={n}$"):
        particle_sharding(devices=n)


def test_repeated_devices_are_rejected():
    dev = jax.devices()[0]
    with pytest.raises(ValueError, match="distinct"):
        particle_sharding(devices=[dev, dev])


def test_sweep_matches_separate_runs_with_common_random_numbers():
    q = Quadratic(A)
    kw = dict(noise=Dense(C), n_steps=200, n_particles=32, save_every=50, observables=("loss", "theta"))
    lrs, bss = [0.01, 0.05], [1, 8]
    runs = sweep(jax.random.key(7), q, SGD(0.1, 1, momentum=0.5), jnp.ones(2), lrs=lrs, batch_sizes=bss, **kw)
    assert list(runs) == [(0.01, 1), (0.01, 8), (0.05, 1), (0.05, 8)]
    for (lr, b), t in runs.items():
        ref = simulate(jax.random.key(7), q, SGD(lr, b, momentum=0.5), jnp.ones(2), **kw)
        # batched mat-vecs may round differently from unbatched ones: float32 rounding, not noise
        np.testing.assert_allclose(t.theta, ref.theta, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(t.saved["loss"], ref.saved["loss"], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(t.times, ref.times)
        assert t.metadata["dynamics"]["lr"] == lr and t.metadata["dynamics"]["batch_size"] == b
        assert t.theta.dtype == np.float32


@pytest.mark.parametrize("bound", [1e3, float("inf")])
def test_sweep_flags_divergence_like_separate_runs(bound):
    """A sweep runs divergence blocks over the whole grid (one lax.cond for all grid points): grid
    points that diverge at different steps, in the same or different blocks, must be flagged at
    the same steps and frozen at the same states as in separate runs. |1 − lr λ| = 0.5, 1.1, 1.5,
    2, 3 for λ = 10; starting points 1e-9 … 1e3 spread the divergence steps over many 32-step
    blocks (tiny noise, so the growth is nearly deterministic)."""
    q = Quadratic(np.array([[10.0]]))
    theta0 = (np.geomspace(1e-9, 1e3, 24) * np.where(np.arange(24) % 2, 1.0, -1.0))[:, None].astype(np.float32)
    lrs = [0.05, 0.21, 0.25, 0.3, 0.4]
    kw = dict(noise=Isotropic(1e-20), n_steps=400, save_every=100, observables=("theta",), divergence_bound=bound)
    runs = sweep(jax.random.key(3), q, SGD(0.1, 1), theta0, lrs=lrs, **kw)
    for lr in lrs:
        t, ref = runs[(lr, 1)], simulate(jax.random.key(3), q, SGD(lr, 1), theta0, **kw)
        np.testing.assert_array_equal(t.diverged, ref.diverged)
        np.testing.assert_array_equal(t.divergence_step, ref.divergence_step)
        np.testing.assert_allclose(t.theta, ref.theta, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(t.saved["theta"], ref.saved["theta"], rtol=1e-5, atol=1e-6)
    assert not runs[(0.05, 1)].diverged.any() and all(runs[(lr, 1)].diverged.all() for lr in lrs[2:])
    steps = np.concatenate([runs[(lr, 1)].divergence_step for lr in lrs[1:]])
    steps = steps[steps >= 0]
    assert np.ptp(steps) > 4 * 32 and len(np.unique(steps // 32)) > 5


def test_sweep_groups_exact_minibatch_by_batch_size():
    rng = np.random.default_rng(1)
    land = LinearRegression(rng.normal(size=(40, 3)), rng.normal(size=40))
    kw = dict(noise=ExactMinibatch(), n_steps=30, n_particles=8, observables=("loss",))
    runs = sweep(jax.random.key(0), land, SGD(0.1, 2), jnp.zeros(3), lrs=[0.05, 0.1], batch_sizes=[2, 5], **kw)
    assert list(runs) == [(0.05, 2), (0.05, 5), (0.1, 2), (0.1, 5)]
    ref = simulate(jax.random.key(0), land, SGD(0.1, 5), jnp.zeros(3), **kw)
    np.testing.assert_allclose(runs[(0.1, 5)].theta, ref.theta, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size must be <= N = 40"):
        sweep(jax.random.key(0), land, SGD(0.1, 2), jnp.zeros(3), lrs=[0.1], batch_sizes=[41], **kw)


def test_sweep_compiles_once_per_grid_shape():
    traces = []

    def counted(landscape, theta, theta0):
        traces.append(1)  # runs only while tracing
        return jnp.sum(theta)

    kw = dict(noise=Isotropic(1.0), n_steps=20, n_particles=4, observables={"s": counted})
    sweep(jax.random.key(0), Quadratic(A), SGD(0.1, 1), jnp.ones(2), lrs=[0.01, 0.02], batch_sizes=[1, 2], **kw)
    n = len(traces)
    sweep(jax.random.key(1), Quadratic(A), SGD(0.1, 1), jnp.ones(2), lrs=[0.03, 0.04], batch_sizes=[3, 4], **kw)
    assert len(traces) == n  # new values, same grid shape: no retrace


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(lrs=[]), ValueError, "lrs must hold"),
        (dict(lrs=[0.1, -1.0]), ValueError, "lrs must be > 0"),
        (dict(lrs=[0.1], batch_sizes=[0]), ValueError, "batch_sizes must be"),
        (dict(lrs=[0.1], batch_sizes=[1.5]), TypeError, "batch_sizes must be an integer"),
        (dict(lrs=[0.1], noise="x"), TypeError, "noise must be an AbstractNoise"),  # was an AttributeError
    ],
)
def test_sweep_validates_eagerly(kwargs, err, match):
    with pytest.raises(err, match=match):
        sweep(jax.random.key(0), Quadratic(A), SGD(0.1, 1), jnp.ones(2), n_steps=5, **kwargs)


def test_sweep_rejects_non_dynamics():
    with pytest.raises(TypeError, match="dynamics must be an AbstractDynamics"):
        sweep(jax.random.key(0), Quadratic(A), "sgd", jnp.ones(2), lrs=[0.1], n_steps=5)


def test_sweep_works_for_sde_dynamics():
    runs = sweep(jax.random.key(0), Quadratic(A), EulerMaruyama(0.1, 1, substeps=2), jnp.ones(2), lrs=[0.01, 0.02],
                 noise=Dense(C), n_steps=10, n_particles=4)
    assert [t.times[-1] for t in runs.values()] == pytest.approx([0.1, 0.2])
    assert eqx.tree_equal(list(runs), [(0.01, 1), (0.02, 1)])


def test_sharding_docstring_examples_run():
    import doctest
    import importlib

    module = importlib.import_module("sgd_sde.sharding")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 5
