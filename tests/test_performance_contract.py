"""Structural performance contract of the hot loop (no timings: those live in benchmarks/).

* no recompilation on a second call, and a bounded number of programs per run;
* observables memory is O(P · saves), not O(P · steps) (checked on the compiled program);
* dtype discipline: float32 in -> float32 everywhere in the loop, even with x64 enabled;
* the one-reduction divergence check flags exactly what ``isfinite & |x| <= bound`` flags;
* static and dynamic inner loops (uniform vs uneven save intervals) give the same bits;
* the automatic low-rank choice for noise with rank < d;
* the carry (state + flags) is donated to each compiled chunk, never the caller's ``theta0``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import simulate
from sgd_sde.dynamics import SGD, EulerMaruyama
from sgd_sde.landscapes import Quadratic
from sgd_sde.noise import Dense, Diagonal, Isotropic, LowRank, from_covariance, from_per_example_grads
from sgd_sde._engine import Config as _Config
from sgd_sde._engine import initial_carry as _initial_carry
from sgd_sde._engine import run_chunk as _run_chunk

A = np.diag([1.0, 10.0])
C = np.array([[1.0, 0.5], [0.5, 2.0]])


def _counting_observable(traces):
    def counted(landscape, theta, theta0):
        traces.append(1)  # runs only while tracing
        return jnp.sum(theta)

    return {"s": counted}


def test_no_retrace_for_new_key_theta0_or_particle_values():
    traces = []
    kw = dict(noise=Dense(C), n_steps=30, n_particles=8, observables=_counting_observable(traces))
    simulate(jax.random.key(0), Quadratic(A), SGD(0.01, 1), jnp.ones(2), **kw)
    n = len(traces)
    simulate(jax.random.key(1), Quadratic(A), SGD(0.01, 1), np.full((8, 2), 3.0, np.float32), **kw)
    assert len(traces) == n


def test_progress_chunking_compiles_a_bounded_number_of_programs():
    """First chunk (records the initial point), middle chunks, padded last chunk: at most 3."""
    traces = []
    kw = dict(noise=Isotropic(1.0), n_steps=1000, n_particles=4, save_every=10, observables=_counting_observable(traces))
    simulate(jax.random.key(0), Quadratic(A), SGD(0.01, 1), jnp.ones(2), chunk_size=70, **kw)
    # each program traces the observable twice at most (initial record + interval body)
    assert len(traces) <= 6


def test_observable_memory_is_per_save_not_per_step():
    """The compiled chunk's outputs are carry + (saves, P) per observable, and its scratch memory
    does not grow with the number of steps between saves."""
    d, p = 4, 256
    land, noise, dyn = Quadratic(np.eye(d)), Isotropic(1.0), SGD(0.01, 1)
    obs = (("loss", lambda l, t, t0: l.loss(t)),)
    theta = jnp.ones((d, p), jnp.float32)
    carry = (dyn.init(theta), jnp.zeros(p, bool), jnp.full(p, -1, jnp.int32))
    key = jax.random.key(0)

    def analysis(saves, every):
        cfg = _Config(obs, None, None, 1e6, None, every, True)
        starts = jnp.arange(saves, dtype=jnp.int32) * every
        compiled = _run_chunk.lower(land, dyn, noise, cfg, key, carry, theta, starts, starts + every).compile()
        return compiled.compiled.memory_analysis()  # the jax Compiled inside equinox's wrapper

    short, long = analysis(10, 10), analysis(10, 10_000)
    if short is None:
        pytest.skip("this backend gives no memory analysis")
    carry_bytes = d * p * 4 + p * 1 + p * 4
    assert short.output_size_in_bytes == long.output_size_in_bytes
    assert short.output_size_in_bytes <= carry_bytes + 11 * p * 4 + 64
    # independent of steps per save (intervals of >= 32 steps also hold the divergence block's
    # start-of-block state, so compare two long intervals)
    mid = analysis(10, 1_000)
    assert long.temp_size_in_bytes == mid.temp_size_in_bytes
    # a few copies of the carry (state + flags), never steps x state (10_000 x d x p x 4 = 41 MB)
    assert max(short.temp_size_in_bytes, long.temp_size_in_bytes) < 16 * carry_bytes


def test_saved_arrays_have_save_by_particle_shape():
    t = simulate(jax.random.key(0), Quadratic(A), EulerMaruyama(0.01, 1), jnp.ones(2), noise=Dense(C),
                 n_steps=2000, n_particles=16, save_every=100, observables=("loss", "theta"))
    assert t.saved["loss"].shape == (21, 16) and t.saved["theta"].shape == (21, 16, 2)


def test_float32_stays_float32_in_the_loop_even_with_x64():
    with jax.enable_x64(True):
        land, noise, dyn = Quadratic(A.astype(np.float32)), Dense(C.astype(np.float32)), EulerMaruyama(0.01, 4)
        theta = jnp.ones((2, 8), jnp.float32)
        carry = (dyn.init(theta), jnp.zeros(8, bool), jnp.full(8, -1, jnp.int32))
        cfg = _Config((("loss", lambda l, t, t0: l.loss(t)),), None, None, 1e6, None, 5, True)
        starts = jnp.asarray([0, 5], jnp.int32)
        text = _run_chunk.lower(land, dyn, noise, cfg, jax.random.key(0), carry, theta, starts, starts + 5).as_text()
        assert "f64" not in text
        t = simulate(jax.random.key(0), land, dyn, np.ones(2, np.float32), noise=noise, n_steps=10, n_particles=3)
        assert t.theta.dtype == np.float32 and all(v.dtype == np.float32 for v in t.saved.values())


@pytest.mark.parametrize("bound", [1e6, 1e30, 1e300])
def test_divergence_check_catches_inf_and_nan_for_any_bound(bound):
    """|x| <= min(bound, finfo.max) is the one-pass form of isfinite(x) & |x| <= bound; a bound
    beyond float32's range must still flag +-inf and NaN."""
    q = Quadratic(np.eye(1))
    theta0 = np.array([[1.0], [1.0]], np.float32)
    # lr = 3 multiplies by -2 per step: 2^128 overflows float32 after 128 steps
    t = simulate(jax.random.key(0), q, SGD(3.0, 1), theta0, n_steps=300, divergence_bound=bound, observables=())
    assert t.diverged.all() and np.all(np.isfinite(t.theta))
    expected = 20 if bound == 1e6 else (100 if bound == 1e30 else 128)  # first k with 2^k > bound (or overflow)
    assert np.all(t.divergence_step == expected - 1), t.divergence_step


def test_uneven_and_uniform_save_intervals_give_the_same_bits():
    """Uniform intervals run a static trip count, uneven ones a dynamic loop: same arithmetic."""
    q, noise = Quadratic(A), Dense(C)
    kw = dict(noise=noise, n_steps=600, n_particles=16, observables=("theta",))
    uniform = simulate(jax.random.key(3), q, SGD(0.02, 2), jnp.ones(2), save_every=100, **kw)
    uneven = simulate(jax.random.key(3), q, SGD(0.02, 2), jnp.ones(2), save_at=[1, 7, 100, 350, 500], **kw)
    chunked = simulate(jax.random.key(3), q, SGD(0.02, 2), jnp.ones(2), save_every=100, chunk_size=150, **kw)
    np.testing.assert_array_equal(uniform.theta, uneven.theta)
    np.testing.assert_array_equal(uniform.theta, chunked.theta)
    np.testing.assert_array_equal(uniform.saved["theta"], chunked.saved["theta"])
    for step in (100, 500):
        np.testing.assert_array_equal(uniform.saved["theta"][list(uniform.steps).index(step)],
                                      uneven.saved["theta"][list(uneven.steps).index(step)])


def test_low_rank_is_chosen_automatically_when_rank_below_d():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(8, 20)).astype(np.float32)
    noise = from_per_example_grads(g)
    assert isinstance(noise, LowRank) and noise.factor.shape == (20, 8) and noise.factor.dtype == np.float32
    centred = g.astype(np.float64) - g.mean(0)
    cov = centred.T @ centred / 8
    f = np.asarray(noise.factor, np.float64)
    np.testing.assert_allclose(f @ f.T, cov, rtol=1e-5, atol=1e-6)
    from_cov = from_covariance(cov)
    assert isinstance(from_cov, LowRank) and from_cov.factor.shape == (20, 7)  # centring removes one rank
    f = np.asarray(from_cov.factor)
    np.testing.assert_allclose(f @ f.T, cov, rtol=1e-5, atol=1e-6)  # stored in float32 (x64 off)
    assert isinstance(from_covariance(np.eye(3)), Dense)
    full = from_per_example_grads(rng.normal(size=(50, 4)), replace=False)
    assert isinstance(full, Dense) and full.n_population == 50


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: from_per_example_grads(np.ones((1, 3))), ValueError, "N >= 2"),
        (lambda: from_per_example_grads(np.ones(3)), ValueError, "grads"),
        (lambda: from_per_example_grads(np.ones((2, 3)), replace=1), TypeError, "replace must be a bool"),
        (lambda: from_covariance(np.array([[1.0, 2.0], [0.0, 1.0]])), ValueError, "symmetric"),
        (lambda: from_covariance(np.eye(2), rtol=2.0), ValueError, "rtol must lie in"),
    ],
)
def test_noise_constructors_validate(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_diagonal_noise_keeps_particles_on_the_minor_axis():
    """The state handed to the dynamics is (d, P): checked through a shape-recording observable."""
    shapes = []

    def record(landscape, theta, theta0):
        shapes.append(theta.shape)  # per particle, after vmap over the minor axis
        return jnp.sum(theta)

    simulate(jax.random.key(0), Quadratic(np.eye(3)), SGD(0.1, 1), jnp.ones(3), noise=Diagonal(np.ones(3)),
             n_steps=4, n_particles=5, observables={"r": record})
    assert shapes and all(s == (3,) for s in shapes)


def test_floyd_subsets_are_uniform_and_distinct():
    """ExactMinibatch without replacement draws B indices (Floyd) instead of N uniforms + top_k
    when B ≤ 64 and B² ≤ 32N. All C(6, 3) = 20 subsets must be equally likely: with 200k draws the
    chi-square statistic (19 degrees of freedom) stays below its 99.9% quantile, 43.8."""
    import collections

    from sgd_sde.noise import _floyd_subsets

    s = np.asarray(_floyd_subsets(jax.random.key(0), 6, 3, 200_000))
    assert s.shape == (3, 200_000) and all(len(set(c)) == 3 for c in s.T[:2000])
    counts = collections.Counter(map(tuple, np.sort(s, axis=0).T))
    assert len(counts) == 20
    expected = 200_000 / 20
    assert sum((v - expected) ** 2 / expected for v in counts.values()) < 43.8
    big = np.asarray(_floyd_subsets(jax.random.key(1), 4096, 32, 500))
    assert big.min() >= 0 and big.max() < 4096 and all(len(set(c)) == 32 for c in big.T)


def test_noise_constructor_docstring_examples_run():
    import doctest

    import sgd_sde.noise as noise_module

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for fn in (from_covariance, from_per_example_grads):
        for test in finder.find(fn, globs=vars(noise_module)):
            runner.run(test)
    assert runner.failures == 0 and runner.tries >= 5


def test_every_carry_leaf_is_donated_to_the_chunk():
    """Each carry leaf (state incl. momentum, diverged flags, divergence steps) aliases an output of
    the compiled chunk, so a chunk needs one copy of the state, not two."""
    import re

    d, p = 4, 64
    land, noise, dyn = Quadratic(np.eye(d)), Isotropic(1.0), SGD(0.01, 1, momentum=0.9)
    theta_dp, carry = _initial_carry(dyn, jnp.ones((p, d)), None)
    assert theta_dp.shape == (d, p) and carry[0]["theta"].shape == (d, p)
    cfg = _Config((), None, None, 1e6, None, 10, True)
    starts = np.arange(3, dtype=np.int32) * 10
    text = _run_chunk.lower(land, dyn, noise, cfg, jax.random.key(0), carry, theta_dp, starts, starts + 10)
    text = text.compile().compiled.as_text()
    alias = re.search(r"input_output_alias=\{(.*?)\}, entry", text)
    assert alias is not None, "no input/output aliasing: the carry is not donated"
    n_leaves = len(jax.tree_util.tree_leaves(carry))
    assert n_leaves == 4 and alias.group(1).count("may-alias") == n_leaves


def test_simulate_never_consumes_the_callers_arrays():
    """Donation must not reach the user's theta0 (a (P, d) device array, or a (d,) one broadcast),
    nor a sweep's: the same arrays work for a second call and give the same bits."""
    from sgd_sde.simulate import sweep

    q, noise = Quadratic(A), Dense(C)
    for theta0 in (jnp.ones((8, 2), jnp.float32), jnp.ones(2, jnp.float32)):
        runs = [simulate(jax.random.key(0), q, SGD(0.01, 1, momentum=0.5), theta0, noise=noise, n_steps=40,
                         n_particles=8, save_every=10, chunk_size=10) for _ in range(2)]
        assert not theta0.is_deleted()
        np.testing.assert_array_equal(runs[0].theta, runs[1].theta)
    theta0 = jnp.ones((4, 2), jnp.float32)
    grid = [sweep(jax.random.key(0), q, SGD(0.01, 1), theta0, noise=noise, lrs=[0.01, 0.02], n_steps=20)
            for _ in range(2)]
    assert not theta0.is_deleted()
    assert list(grid[0]) == [(0.01, 1), (0.02, 1)]
    np.testing.assert_array_equal(grid[0][(0.02, 1)].theta, grid[1][(0.02, 1)].theta)
