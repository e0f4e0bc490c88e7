"""The engine's index source :func:`sgd_sde.noise.uniform_below` is exact: its arithmetic against
Python's integers, its draws by χ² tests.

The sampler maps a 64-bit uniform ``W`` (both words of one threefry2x32 block) to ``⌊W·m/2⁶⁴⌋``.
That map sends ``⌊2⁶⁴/m⌋`` or ``⌈2⁶⁴/m⌉`` words to each value, so the draws are uniform to within a
relative ``m/2⁶⁴`` — provided the uint32 arithmetic computes the map exactly, which the first tests
check against arbitrary-precision integers on random words and on the words where the result steps.

The χ² tests use fixed keys; each threshold is the 99.9% quantile of its χ² distribution (a
false alarm with probability 1e-3 per test for a correct sampler, fixed by the key), and a sampler
that skews one value by 1% of its probability at 10⁶ draws is far outside it.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from sgd_sde._samplers import _floyd_subsets, _scale_words
from sgd_sde.noise import uniform_below

_scale = jax.jit(_scale_words)


def _exact(hi, lo, m):
    """``⌊(hi·2³² + lo)·m / 2⁶⁴⌋`` in Python's integers."""
    return np.array([((int(h) << 32 | int(l)) * int(k)) >> 64 for h, l, k in zip(hi, lo, m)], dtype=np.int64)


def _check(hi, lo, m):
    hi, lo, m = (np.asarray(a, np.uint32) for a in (hi, lo, m))
    got = np.asarray(_scale(jnp.asarray(hi), jnp.asarray(lo), jnp.asarray(m))).astype(np.int64)
    np.testing.assert_array_equal(got, _exact(hi, lo, m))


def test_the_multiply_shift_matches_python_integers_on_random_words():
    rng = np.random.default_rng(0)
    n = 100_000
    words = rng.integers(0, 2**32, (3, n), dtype=np.uint64)
    small = rng.integers(1, 2**16, n, dtype=np.uint64)  # the dataset sizes of practice
    _check(words[0], words[1], words[2])
    _check(words[0], words[1], small)


def test_the_multiply_shift_matches_python_integers_on_edge_words():
    edges = [0, 1, 0xFFFF, 0x10000, 0x10001, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]
    grid = np.array(np.meshgrid(edges, edges, [m for m in edges if m]), dtype=np.uint64).reshape(3, -1)
    _check(*grid)


def test_the_multiply_shift_matches_python_integers_where_the_result_steps():
    """Words ``W = ⌈k·2⁶⁴/m⌉`` (the first word of value ``k``) and ``W − 1`` (the last of ``k − 1``):
    a lost carry or a truncated limb moves exactly these."""
    rng = np.random.default_rng(1)
    hi, lo, ms = [], [], []
    for m in [3, 7, 1000, 4096, 60_000, 2**31 - 1, *rng.integers(2, 2**32, 200).tolist()]:
        for k in [1, m // 2, m - 1, *rng.integers(1, m, 5).tolist()]:
            first = -(-(k << 64) // m)
            for w in (first - 1, first):
                hi.append(w >> 32), lo.append(w & 0xFFFFFFFF), ms.append(m)
    _check(hi, lo, ms)


def _chi2(counts):
    counts = np.asarray(counts, np.float64)
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum()), counts.size - 1


def test_draws_are_uniform_in_range_and_of_int32():
    x = np.asarray(jax.jit(lambda k: uniform_below(k, (10, 100_000), 7))(jax.random.key(0)))
    assert x.dtype == np.int32 and x.shape == (10, 100_000) and x.min() == 0 and x.max() == 6
    stat, dof = _chi2(np.bincount(x.ravel(), minlength=7))
    assert stat < stats.chi2.ppf(0.999, dof)


def test_each_row_is_uniform_below_its_own_maxval():
    """Floyd's sampler draws row ``i`` below ``n − b + 1 + i``: a per-row ``maxval``."""
    tops = np.arange(1, 11, dtype=np.int32)[:, None]
    x = np.asarray(uniform_below(jax.random.key(1), (10, 200_000), tops))
    assert (x[0] == 0).all()
    for row, m in zip(x[1:], tops[1:, 0]):
        assert row.min() == 0 and row.max() == m - 1
        stat, dof = _chi2(np.bincount(row, minlength=m))
        assert stat < stats.chi2.ppf(0.999, dof), (m, stat)


@pytest.mark.parametrize("pair", ["neighbouring particles", "neighbouring rows", "consecutive fold_in keys"])
def test_pairs_of_draws_are_independent(pair):
    """The 36 cells of the joint table of two draws below 6 are equally likely (χ², 35 dof):
    neighbouring counters, the two halves of the counter grid, and the keys of consecutive steps."""
    key = jax.random.key(2)
    if pair == "consecutive fold_in keys":
        a = uniform_below(jax.random.fold_in(key, 0), (4, 250_000), 6)
        b = uniform_below(jax.random.fold_in(key, 1), (4, 250_000), 6)
    else:
        x = np.asarray(uniform_below(key, (4, 500_000), 6))
        a, b = (x[:, 0::2], x[:, 1::2]) if pair == "neighbouring particles" else (x[:2], x[2:])
    stat, dof = _chi2(np.bincount((6 * np.asarray(a) + np.asarray(b)).ravel(), minlength=36))
    assert stat < stats.chi2.ppf(0.999, dof)


def test_floyd_subsets_with_the_new_indices_are_uniform_over_all_subsets():
    """Every one of the C(7, 3) = 35 subsets equally likely (χ², 34 dof), at 350k draws."""
    s = np.sort(np.asarray(_floyd_subsets(jax.random.key(3), 7, 3, 350_000)), axis=0)
    assert (np.diff(s, axis=0) > 0).all()
    codes = (s[0] * 7 + s[1]) * 7 + s[2]
    counts = np.bincount(codes, minlength=343)
    stat, dof = _chi2(counts[counts > 0])
    assert dof == 34 and stat < stats.chi2.ppf(0.999, dof)


@pytest.mark.parametrize("loop", [True, False])
@pytest.mark.parametrize("n, b", [(33, 32), (40, 32), (4096, 32), (10, 5), (2, 2), (5, 1)])
def test_floyd_subsets_are_floyds_algorithm_run_on_the_same_draws(n, b, loop):
    """Both compiled forms (the loop of the CPU, the unrolled compares of other backends) are the
    textbook algorithm step for step: for j = n−b+i take the draw t_i ∈ [0, j], or j if t_i was
    already taken — checked against a plain Python run of it on the same draws, per particle. n
    close to b makes almost every step a collision."""
    key = jax.random.key(11)
    got = np.asarray(_floyd_subsets(key, n, b, 300, loop=loop))
    draws = np.asarray(uniform_below(key, (b, 300), np.arange(n - b + 1, n + 1, dtype=np.int32)[:, None]))
    for p in range(300):
        chosen: list[int] = []
        for i in range(b):
            t = int(draws[i, p])
            chosen.append(n - b + i if t in chosen else t)
        np.testing.assert_array_equal(got[:, p], chosen)
    assert got.dtype == np.int32


def test_other_key_implementations_fall_back_to_randint():
    key = jax.random.key(4, impl="rbg")
    x = np.asarray(uniform_below(key, (3, 1000), 5))
    np.testing.assert_array_equal(x, np.asarray(jax.random.randint(key, (3, 1000), 0, 5, dtype=jnp.int32)))


def test_draws_depend_only_on_key_shape_and_index():
    """The same call under ``jit`` and eagerly, and a raw ``uint32[2]`` key under a transformation,
    give the same integers (what lets a sharded run draw the same indices)."""
    key = jax.random.key(5)
    eager = np.asarray(uniform_below(key, (4, 64), 100))
    np.testing.assert_array_equal(eager, np.asarray(jax.jit(lambda k: uniform_below(k, (4, 64), 100))(key)))
    raw = jax.jit(lambda k: uniform_below(k, (4, 64), 100))(jax.random.key_data(key))
    np.testing.assert_array_equal(eager, np.asarray(raw))


@pytest.mark.parametrize(
    "maxval, error, match",
    [(0, ValueError, "maxval must lie in"), (2**31, ValueError, "maxval must lie in"),
     (np.array([3, 0]), ValueError, "maxval must lie in"), (2.5, TypeError, "maxval must be an integer"),
     (True, TypeError, "maxval must be an integer")],
)
def test_bad_maxval_is_refused_before_tracing(maxval, error, match):
    with pytest.raises(error, match=match):
        uniform_below(jax.random.key(0), (2, 3), maxval)


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match="shape"):
        uniform_below(jax.random.key(0), (2, -1), 3)
