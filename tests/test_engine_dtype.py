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
