"""Keskar sharpness against its closed form on a quadratic."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import measure

H = np.array([1.0, 4.0, 10.0])
C = 0.5
EXPECTED = 100 * (1e-3**2 / 2) * H.sum() / (1 + C)  # = 5e-4: the max is at a corner of the box


def quad(p, x, t):
    return 0.5 * jnp.sum(jnp.asarray(H, p.dtype) * p**2) + C


@pytest.mark.parametrize("method", ["lbfgsb", "pga"])
def test_keskar_quadratic_closed_form(method):
    assert np.isclose(EXPECTED, 5e-4)
    with jax.enable_x64(True):
        X, y = jnp.zeros((1, 1)), jnp.zeros(1)
        s = measure.keskar_sharpness(quad, jnp.zeros(3), X, y, eps=1e-3, method=method, max_iter=200)
    # the box is |z_i| ≤ ε(|x_i| + 1) = ε at x = 0; the solver reaches the corner to its tolerance
    np.testing.assert_allclose(float(s), EXPECTED, rtol=1e-8)
    np.testing.assert_allclose(np.abs(s.perturbation), 1e-3, rtol=1e-8)


def test_keskar_subspace_box_uses_pseudoinverse():
    with jax.enable_x64(True):
        x = jnp.array([0.3, -0.2, 0.5])
        A = np.eye(3)[:, :2]  # subspace = first two coordinates; A⁺x = x[:2]
        s = measure.keskar_sharpness(quad, x, jnp.zeros((1, 1)), jnp.zeros(1), eps=1e-3, subspace=A)
        f0 = float(quad(x, None, None))
        box = 1e-3 * (np.abs(np.asarray(x[:2])) + 1)
        z = np.asarray(x).copy()
        z[:2] += np.sign(np.asarray(x[:2])) * box  # the max of a convex quadratic: the outward corner
        fmax = float(quad(jnp.asarray(z), None, None))
        np.testing.assert_allclose(float(s), 100 * (fmax - f0) / (1 + f0), rtol=1e-8)
        r = measure.keskar_sharpness(quad, x, jnp.zeros((1, 1)), jnp.zeros(1), eps=1e-3, subspace=2, key=jax.random.key(1))
        assert r.perturbation.shape == (2,) and float(r) > 0


def test_bad_arguments():
    X, y = jnp.zeros((1, 1)), jnp.zeros(1)
    with pytest.raises(ValueError, match="eps"):
        measure.keskar_sharpness(quad, jnp.zeros(3), X, y, eps=0.0)
    with pytest.raises(ValueError, match="subspace"):
        measure.keskar_sharpness(quad, jnp.zeros(3), X, y, subspace=np.ones((4, 2)))
    with pytest.raises(ValueError, match="method"):
        measure.keskar_sharpness(quad, jnp.zeros(3), X, y, method="adam")
