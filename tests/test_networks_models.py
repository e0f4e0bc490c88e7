"""Models and (ghost) batch norm."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde.networks import CNN, MLP, BNStats, ghost_batch_norm


def reference_bn(x, w, b, stats, momentum, eps):
    mu = x.mean(0)
    var = x.var(0)
    y = (x - mu) / np.sqrt(var + eps) * w + b
    n = x.shape[0]
    return y, (1 - momentum) * stats[0] + momentum * mu, (1 - momentum) * stats[1] + momentum * var * n / (n - 1)


def test_ghost_bn_with_full_ghost_equals_batch_norm():
    x = np.asarray(jax.random.normal(jax.random.key(0), (32, 5)) * 3 + 1)
    w, b = np.linspace(0.5, 2, 5), np.linspace(-1, 1, 5)
    st = BNStats(jnp.full(5, 0.2), jnp.full(5, 1.5))
    y1, s1 = ghost_batch_norm(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b), st, ghost_size=32, momentum=0.1, eps=1e-5)
    y2, s2 = ghost_batch_norm(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b), st, ghost_size=None, momentum=0.1, eps=1e-5)
    yr, mr, vr = reference_bn(x, w, b, (0.2, 1.5), 0.1, 1e-5)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_allclose(y1, yr, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s1.mean, mr, rtol=1e-5)
    np.testing.assert_allclose(s1.var, vr, rtol=1e-5)


def test_each_ghost_chunk_is_normalised():
    x = jax.random.normal(jax.random.key(1), (48, 4, 3, 3)) * jnp.arange(1.0, 5.0)[None, :, None, None] + 2.0
    st = BNStats(jnp.zeros(4), jnp.ones(4))
    y, new = ghost_batch_norm(x, jnp.ones(4), jnp.zeros(4), st, ghost_size=16, momentum=0.1, eps=0.0)
    yc = np.asarray(y).reshape(3, 16, 4, 3, 3)
    np.testing.assert_allclose(yc.mean(axis=(1, 3, 4)), 0.0, atol=1e-5)
    np.testing.assert_allclose(yc.var(axis=(1, 3, 4)), 1.0, rtol=1e-4)
    # running stats: three sequential momentum updates, one per ghost chunk (Hoffer et al.'s code)
    xc = np.asarray(x).reshape(3, 16, 4, 3, 3)
    m, v = np.zeros(4), np.ones(4)
    for j in range(3):
        m = 0.9 * m + 0.1 * xc[j].mean(axis=(0, 2, 3))
        v = 0.9 * v + 0.1 * xc[j].var(axis=(0, 2, 3)) * 144 / 143
    np.testing.assert_allclose(new.mean, m, rtol=1e-5)
    np.testing.assert_allclose(new.var, v, rtol=1e-5)
    yi, same = ghost_batch_norm(x, jnp.ones(4), jnp.zeros(4), new, ghost_size=16, train=False)
    assert same is new
    with pytest.raises(ValueError, match="ghost_size"):
        ghost_batch_norm(x, jnp.ones(4), jnp.zeros(4), st, ghost_size=10)


def test_models_shapes_dtypes_and_validation():
    m = MLP((1, 8, 8), 10, (32, 16), key=jax.random.key(0), batch_norm=True, ghost_batch_size=4)
    logits, st = eqx.filter_jit(lambda m, x, s: m(x, s, train=True))(m, jnp.zeros((8, 1, 8, 8)), m.init_state())
    assert logits.shape == (8, 10) and logits.dtype == jnp.float32 and len(st) == 2
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(m))
    c = CNN((3, 8, 8), 10, (4, 4), key=jax.random.key(0))
    assert eqx.filter_jit(lambda m, x: m(x)[0])(c, jnp.zeros((2, 3, 8, 8))).shape == (2, 10)
    with pytest.raises(ValueError, match="ghost_batch_size"):
        MLP(4, 2, key=jax.random.key(0), ghost_batch_size=2)
    with pytest.raises(ValueError, match="widths"):
        MLP(4, 2, (0,), key=jax.random.key(0))
    with pytest.raises(ValueError, match="in_shape"):
        CNN(64, 10, key=jax.random.key(0))


def test_bn_update_gives_the_data_mean_of_batch_statistics():
    from sgd_sde.networks import bn_update

    m = MLP(6, 3, (5,), key=jax.random.key(0), batch_norm=True)
    x = np.asarray(jax.random.normal(jax.random.key(1), (100, 6)) * 2 + 1)
    st = bn_update(m, m.init_state(), x, batch_size=32)  # batches 32, 32, 32, 4: momentum b/(n + b)
    h = x @ np.asarray(m.layers[0].weight).T + np.asarray(m.layers[0].bias)
    np.testing.assert_allclose(st[0].mean, h.mean(0), rtol=1e-5, atol=1e-6)  # size-weighted mean of batch means
    chunks = [h[i : i + 32] for i in range(0, 100, 32)]
    var = sum(len(c) * c.var(0, ddof=1) for c in chunks) / 100  # size-weighted unbiased batch variances
    np.testing.assert_allclose(st[0].var, var, rtol=1e-5)
