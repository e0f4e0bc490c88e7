"""The engine's Gaussian source :func:`sgd_sde.noise.standard_normal` is exact: moments, a KS test and
independence at 10⁷ draws — next to ``jax.random.normal`` as the control (the same checks must pass
for it).

Each source draws a ``(10, 10⁶)`` float32 block (the engine's ``(d, P)`` layout, d = 10) with a fixed
key. For independent standard normals the sample moments ``m_k = mean(z^k)`` have standard errors
``√(Var z^k / n)`` with ``Var z = 1, Var z² = 2, Var z³ = 15, Var z⁴ = 96`` (``E z⁶ = 15``,
``E z⁸ = 105``), and a correlation of ``n`` independent pairs has standard error ``1/√n``; every
check allows 5 standard errors (two-sided false-alarm probability 6e-7 each). The KS test
against Φ (scipy) must give p > 1e-4. At n = 10⁷ the KS test resolves CDF errors of ~6e-4 and
the moment checks a variance error of 0.2%, far below what a wrong transform produces and far above
float32 rounding (6e-8) or the 2⁻²³ uniform grid.

The independence checks matter for :func:`sgd_sde.noise.standard_normal`, which uses both
output words of each threefry block: the two words of one block land in rows ``i`` and ``5 + i``,
so they are correlated directly, as are neighbouring counters and consecutive steps'
``fold_in`` keys.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from sgd_sde.noise import standard_normal

SOURCES = {"jax.random.normal": jax.random.normal, "sgd_sde.noise.standard_normal": standard_normal}
TESTED = tuple(SOURCES)


def draws(name, seed, shape):
    f = SOURCES[name]
    return jax.jit(lambda k: f(k, shape, jnp.float32))(jax.random.key(seed))

SHAPE = (10, 1_000_000)
N = SHAPE[0] * SHAPE[1]
K = 5.0  # standard errors allowed


@functools.lru_cache(maxsize=len(TESTED))
def _draw(name, seed=0):
    return np.asarray(draws(name, seed, SHAPE))


def _corr(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(np.mean(a * b)), 1.0 / np.sqrt(a.size)  # E[ab] = 0, Var(ab) = 1 for independent N(0,1)


@pytest.mark.parametrize("name", TESTED)
def test_source_is_standard_normal(name):
    z = _draw(name)
    assert z.shape == SHAPE and z.dtype == np.float32 and np.isfinite(z).all()
    x = z.astype(np.float64).ravel()
    x2 = x * x
    moments = [x.mean(), x2.mean(), np.mean(x2 * x), np.mean(x2 * x2)]
    for k, (m, expected, var) in enumerate(zip(moments, (0.0, 1.0, 0.0, 3.0), (1.0, 2.0, 15.0, 96.0)), start=1):
        se = np.sqrt(var / N)
        assert abs(m - expected) < K * se, f"{name}: E z^{k} = {m:.6f}, expected {expected} ± {K * se:.2e}"
    # one-sample KS statistic against Φ (sorted float32, CDF in float64), p from the exact distribution
    cdf = special.ndtr(np.sort(z.ravel()).astype(np.float64))
    i = np.arange(1, N + 1, dtype=np.float64)
    d = max(float(np.max(i / N - cdf)), float(np.max(cdf - (i - 1) / N)))
    p = stats.kstwo.sf(d, N)
    assert p > 1e-4, f"{name}: KS D = {d:.2e}, p = {p:.2e}"


@pytest.mark.parametrize("name", TESTED)
def test_source_draws_are_independent(name):
    z = _draw(name)
    h = SHAPE[0] // 2
    pairs = {
        "rows i and i + d/2 (the two words of one threefry block)": (z[:h], z[h:]),
        "neighbouring particles": (z[:, :-1], z[:, 1:]),
        "neighbouring rows": (z[:-1], z[1:]),
    }
    # consecutive steps: the engine draws step t with fold_in(key, t)
    f = SOURCES[name]
    key = jax.random.key(3)
    step = jax.jit(lambda t: f(jax.random.fold_in(key, t), (SHAPE[0], SHAPE[1] // 10), jnp.float32))
    pairs["steps t and t + 1 (fold_in)"] = (np.asarray(step(7)), np.asarray(step(8)))
    for what, (a, b) in pairs.items():
        c, se = _corr(a, b)
        assert abs(c) < K * se, f"{name}: correlation of {what} = {c:.2e} (5 SE = {K * se:.2e})"
    # and the block is not a copy of another seed's
    c, se = _corr(z[:, :100_000], np.asarray(draws(name, 1, (SHAPE[0], 100_000))))
    assert abs(c) < K * se


def test_standard_normal_paths():
    """The fast path is the one the engine takes (float32, ``shape[0] ≥ 2``: a different stream from
    ``jax.random.normal``); other shapes and dtypes are ``jax.random.normal`` itself. The draws do
    not depend on how they are computed: jitted, vmapped over keys, from a legacy key, or odd
    ``m`` (the last row of the second half dropped)."""
    key = jax.random.key(11)
    z = standard_normal(key, (6, 50))
    assert z.dtype == jnp.float32 and z.shape == (6, 50)
    assert not np.array_equal(np.asarray(z), np.asarray(jax.random.normal(key, (6, 50))))
    for shape in [(1, 50), (1,), ()]:
        np.testing.assert_array_equal(np.asarray(standard_normal(key, shape)), np.asarray(jax.random.normal(key, shape)))
    np.testing.assert_array_equal(np.asarray(standard_normal(key, (6, 50), jnp.bfloat16)),
                                  np.asarray(jax.random.normal(key, (6, 50), jnp.bfloat16)))
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda k: standard_normal(k, (6, 50)))(key)), np.asarray(z))
    np.testing.assert_array_equal(np.asarray(standard_normal(jax.random.PRNGKey(11), (6, 50))), np.asarray(z))
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda k: standard_normal(k, (6, 50)))(jax.random.PRNGKey(11))),
                                  np.asarray(z))
    keys = jax.random.split(key, 3)
    batched = np.asarray(jax.vmap(lambda k: standard_normal(k, (6, 50)))(keys))
    for i in range(3):
        np.testing.assert_array_equal(batched[i], np.asarray(standard_normal(keys[i], (6, 50))))
    # m = 5: the pairs are rows (0, 3), (1, 4), (2, ·); the first three rows are those of m = 6
    odd = np.asarray(standard_normal(key, (5, 50)))
    np.testing.assert_array_equal(odd[:3], np.asarray(z)[:3])
    np.testing.assert_array_equal(odd[3:], np.asarray(z)[3:5])
    assert np.isfinite(np.asarray(standard_normal(key, (2, 0)))).all()


@pytest.mark.parametrize("bad, error", [(dict(shape=(3, -1)), ValueError), (dict(shape="ab"), TypeError),
                                        (dict(dtype=jnp.int32), TypeError), (dict(key=7), TypeError)])
def test_standard_normal_refuses_bad_input(bad, error):
    args = dict(key=jax.random.key(0), shape=(3, 2), dtype=jnp.float32) | bad
    with pytest.raises(error, match="key|shape|dtype"):
        standard_normal(**args)
