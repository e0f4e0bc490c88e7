"""Loss-landscape slices, covariance/Fisher/Hessian alignment and parameter distances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import measure
from sgd_sde.networks import CNN, MLP, example_accuracy, example_loss, load_dataset


def test_filter_normalisation_per_filter_and_1d_leaves():
    model = CNN((1, 8, 8), 10, (4,), key=jax.random.key(0))
    _, params = example_loss(model)
    d = measure.filter_normalized_direction(jax.random.key(1), params)
    for w, v in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(d)):
        if w.ndim <= 1:
            assert np.all(np.asarray(v) == 0)
        else:
            axes = tuple(range(1, w.ndim))
            np.testing.assert_allclose(np.linalg.norm(np.asarray(v).reshape(v.shape[0], -1), axis=1),
                                       np.linalg.norm(np.asarray(w).reshape(w.shape[0], -1), axis=1), rtol=1e-5)
    d2 = measure.filter_normalized_direction(jax.random.key(1), params, ignore_1d=False)
    b = [x for x in jax.tree_util.tree_leaves(params) if x.ndim == 1]
    b2 = [x for x in jax.tree_util.tree_leaves(d2) if x.ndim == 1]
    assert all(np.array_equal(x, y) for x, y in zip(b, b2))


def test_line_plane_and_interpolation_on_a_quadratic():
    f = lambda p, x, t: 0.5 * jnp.sum((p - x) ** 2)
    X = jnp.array([[1.0, 2.0], [3.0, 0.0]])  # mean loss = ½|p − m|² + const, m = (2, 1)
    y = jnp.zeros(2)
    p0 = jnp.zeros(2)
    d = jnp.array([1.0, 0.0])
    alphas = np.array([-1.0, 0.0, 2.0])
    line = measure.loss_along_line(f, p0, X, y, d, alphas)
    const = 0.5 * np.mean(np.sum((np.asarray(X) - [2.0, 1.0]) ** 2, 1))
    np.testing.assert_allclose(line, 0.5 * ((alphas - 2.0) ** 2 + 1.0) + const, rtol=1e-6)
    plane = measure.loss_on_plane(f, p0, X, y, d, jnp.array([0.0, 1.0]), alphas, alphas)
    np.testing.assert_allclose(plane, 0.5 * ((alphas[:, None] - 2) ** 2 + (alphas[None, :] - 1) ** 2) + const, rtol=1e-6)
    out = measure.interpolate(f, p0, jnp.array([2.0, 1.0]), X, y)
    assert out["alpha"].size == 25 and out["alpha"][0] == -1.0 and out["alpha"][-1] == 2.0
    assert np.argmin(out["loss"]) == 16  # α = 1 (index 16 of linspace(−1, 2, 25)) is the minimum
    with pytest.raises(ValueError, match="direction"):
        measure.loss_along_line(f, p0, X, y, jnp.zeros(3))


def test_keskar_parametric_plot_with_accuracy_metric():
    data = load_dataset("digits").subset(200, 100)
    ma = MLP(data.input_shape, 10, (16,), key=jax.random.key(0))
    mb = MLP(data.input_shape, 10, (16,), key=jax.random.key(1))
    loss_fn, pa = example_loss(ma)
    acc_fn, _ = example_accuracy(ma)
    _, pb = example_loss(mb)
    out = measure.interpolate(loss_fn, pa, pb, data.x_test, data.y_test, [0.0, 1.0], metric_fn=acc_fn)
    assert np.all((out["metric"] >= 0) & (out["metric"] <= 1))
    _, pb_direct = example_loss(mb)
    np.testing.assert_allclose(out["loss"][1], measure.loss_along_line(loss_fn, pb_direct, data.x_test, data.y_test,
                                                                       jax.tree.map(jnp.zeros_like, pb_direct), [0.0])[0], rtol=1e-5)


def test_distance_and_weight_norm():
    a = {"w": jnp.ones((2, 2)), "b": jnp.zeros(2)}
    b = {"w": jnp.zeros((2, 2)), "b": jnp.zeros(2)}
    assert float(measure.distance_from_init(a, b)) == 2.0
    assert float(measure.weight_norm(a)) == 2.0
    with pytest.raises(ValueError, match="structure"):
        measure.distance_from_init(a, [jnp.ones(2)])
