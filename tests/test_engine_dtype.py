"""float64 input without x64 is downcast to float32: say so, once per argument (issue 13, §6)."""

import warnings

import jax
import numpy as np
import pytest

from sgd_sde import _dtype, simulate
from sgd_sde.dynamics import SGD
from sgd_sde.landscapes import Quadratic
from sgd_sde.noise import Dense, Diagonal, LowRank


@pytest.fixture(autouse=True)
def fresh():
    _dtype._WARNED.clear()
    yield
    _dtype._WARNED.clear()


def _run(theta0):
    return simulate(jax.random.key(0), Quadratic(np.eye(2, dtype=np.float32)), SGD(0.1, 1), theta0, n_steps=2)


def test_float64_theta0_warns_once_naming_the_argument():
    with pytest.warns(UserWarning, match="theta0 is float64 but JAX's x64 mode is off") as rec:
        t = _run(np.ones(2))
    assert t.theta.dtype == np.float32 and len(rec) == 1 and rec[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run(np.ones(2))  # once per process
        _run(np.ones(2, np.float32))


def test_float32_python_floats_or_x64_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run(np.ones(2, np.float32))
        _run([1.0, 2.0])  # Python floats carry no precision request (as for jnp.asarray)
        Diagonal([1.0, 2.0])
        with jax.enable_x64(True):
            assert _run(np.ones(2)).theta.dtype == np.float64


@pytest.mark.parametrize("make, name", [(lambda: Dense(np.eye(2)), "cov"), (lambda: Diagonal(np.ones(2)), "variances"),
                                        (lambda: LowRank(np.ones((2, 1))), "factor")])
def test_noise_matrices_warn_naming_the_argument(make, name):
    with pytest.warns(UserWarning, match=f"^{name} is float64"):
        make()


# ------------------------------------------------------------- integer input (found by an audit)
def test_integer_arrays_are_values_not_truncated_floats():
    # the stored arrays were cast back to the input's integer dtype: Dense([[2, 0], [0, 2]]) had the
    # root I (not √2·I), an integer Quadratic truncated its float minimum, LinearRegression its targets
    from sgd_sde.landscapes import LinearRegression, LogisticRegression
    from sgd_sde.noise import HessianShaped, from_covariance

    two = np.array([[2, 0], [0, 2]])
    np.testing.assert_allclose(Dense(two).sqrt_cov, np.sqrt(2.0) * np.eye(2), rtol=1e-6)
    np.testing.assert_allclose(from_covariance(two).sqrt_cov, Dense(two).sqrt_cov, rtol=1e-6)
    q = Quadratic(np.array([[3, 0], [0, 2]]), minimum=[0.5, -0.25])
    assert q.hessian_matrix.dtype == np.float32
    np.testing.assert_array_equal(q.theta_star, [0.5, -0.25])
    np.testing.assert_allclose(HessianShaped().bind(q).sqrt_cov, np.diag(np.sqrt([3.0, 2.0])), rtol=1e-6)
    X = np.array([[1, 2], [3, 4], [5, 7]])
    np.testing.assert_array_equal(LinearRegression(X, np.array([0.5, 1.5, 2.5])).y, [0.5, 1.5, 2.5])
    assert LogisticRegression(X, np.array([0, 1, 1])).X.dtype == np.float32
    # and in a run: SGD on H = 1 with Dense(2): stationary variance ησ²/(B h (2 − ηh)) at σ² = 2
    lr, P = 0.1, 20_000
    t = simulate(jax.random.key(1), Quadratic(np.eye(1, dtype=int)), SGD(lr, 1), np.zeros(1), noise=Dense([[2]]),
                 n_steps=300, n_particles=P, observables=())
    want = lr * 2.0 / (2.0 - lr)
    # the sample variance of P independent Gaussians has SE want·√(2/P) ≈ 1% of want: 5 SE bound
    assert abs(float(np.var(t.theta)) - want) < 5 * want * np.sqrt(2.0 / P)


def test_a_bfloat16_theta0_is_kept():
    import jax.numpy as jnp

    t = _run(jnp.ones(2, jnp.bfloat16))
    assert t.theta.dtype == jnp.bfloat16
