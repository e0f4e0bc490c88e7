"""The grid front door (``simulate.sweep``): common random numbers by default, independent keys on
request, and the result says which."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import simulate
from sgd_sde.dynamics import SGD
from sgd_sde.landscapes import LinearRegression, Quadratic
from sgd_sde.noise import ExactMinibatch, Isotropic
from sgd_sde.simulate import sweep

EPS = float(np.finfo(np.float32).eps)


def _close(a, b, n_steps):
    """Flags exactly; floats to 4 ulp per step (a batched mat-vec may round differently)."""
    np.testing.assert_array_equal(a.diverged, b.diverged)
    tol = 4 * EPS * n_steps
    np.testing.assert_allclose(a.theta, b.theta, rtol=tol, atol=tol * float(np.abs(a.theta).max()))


@pytest.mark.parametrize("exact", [False, True])
def test_independent_keys_equal_separate_runs_keyed_by_grid_index(exact):
    """Grid point i (grid order) with keys="independent" is the simulate run with fold_in(key, i);
    also when ExactMinibatch splits the grid into one program per batch size."""
    if exact:
        rng = np.random.default_rng(0)
        land = LinearRegression(rng.normal(size=(20, 2)).astype(np.float32), rng.normal(size=20).astype(np.float32))
        noise = ExactMinibatch()
    else:
        land, noise = Quadratic(np.diag([1.0, 3.0]).astype(np.float32)), Isotropic(1.0)
    kw = dict(noise=noise, n_steps=40, n_particles=16, observables=("loss",))
    key = jax.random.key(3)
    runs = sweep(key, land, SGD(0.1, 1), jnp.ones(2), lrs=[0.05, 0.1], batch_sizes=[2, 4], keys="independent", **kw)
    for i, ((lr, b), t) in enumerate(runs.items()):
        assert t.metadata["grid_keys"] == "independent" and t.metadata["grid_index"] == i
        _close(t, simulate(jax.random.fold_in(key, i), land, SGD(lr, b), jnp.ones(2), **kw), 40)
    # the points are not common random numbers any more: same lr and B=2 vs 4 do not share a path
    common = sweep(key, land, SGD(0.1, 1), jnp.ones(2), lrs=[0.05], batch_sizes=[2], **kw)[(0.05, 2)]
    assert common.metadata["grid_keys"] == "common"
    _close(common, simulate(key, land, SGD(0.05, 2), jnp.ones(2), **kw), 40)
    assert np.abs(common.theta - runs[(0.05, 2)].theta).max() > 1e-3


def test_keys_must_be_common_or_independent():
    with pytest.raises(ValueError, match="keys must be 'common' or 'independent'"):
        sweep(0, Quadratic(np.eye(2)), SGD(0.1, 1), jnp.ones(2), lrs=[0.1], n_steps=2, keys="fresh")
