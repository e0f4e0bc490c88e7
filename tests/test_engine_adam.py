"""Adam in the engine: step for step the same as ``optax.adam`` (Kingma & Ba 2015)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sgd_sde import simulate
from sgd_sde.dynamics import Adam
from sgd_sde.landscapes import LinearRegression, Quadratic


def _optax_path(landscape, theta0, lr, n_steps, **kw):
    opt = optax.adam(lr, **kw)
    params, state, path = jnp.asarray(theta0, jnp.float32), opt.init(jnp.asarray(theta0, jnp.float32)), [theta0]
    for _ in range(n_steps):
        updates, state = opt.update(jax.grad(landscape.loss)(params), state)
        params = optax.apply_updates(params, updates)
        path.append(np.asarray(params))
    return np.stack(path)


def _landscapes():
    rng = np.random.default_rng(14)
    X = rng.normal(size=(32, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=32)).astype(np.float32)
    return {"quadratic": Quadratic(np.diag([0.5, 2.0, 8.0]).astype(np.float32)), "regression": LinearRegression(X, y)}


@pytest.mark.parametrize("name", ["quadratic", "regression"])
@pytest.mark.parametrize("kw", [{}, dict(b1=0.5, b2=0.9, eps=1e-3)])
def test_adam_matches_optax_step_for_step(name, kw):
    """With exact gradients (NoNoise) every iterate equals optax.adam's to 1e-6 (float32)."""
    land = _landscapes()[name]
    theta0 = np.array([1.0, -1.5, 2.0], np.float32)
    lr, n = 0.05, 60
    t = simulate(jax.random.key(0), land, Adam(lr, 1, **kw), theta0, n_steps=n, save_every=1,
                 observables=("theta",))
    ref = _optax_path(land, theta0, lr, n, **kw)
    np.testing.assert_allclose(t.saved["theta"][:, 0, :], ref, rtol=0, atol=1e-6)
    assert np.abs(ref[-1] - ref[0]).max() > 0.5  # the run moved: the comparison is not vacuous


def test_adam_validates_its_hyperparameters():
    with pytest.raises(ValueError, match="b1"):
        Adam(0.1, 1, b1=1.0)
    with pytest.raises(ValueError, match="b2"):
        Adam(0.1, 1, b2=-0.1)
    with pytest.raises(ValueError, match="eps"):
        Adam(0.1, 1, eps=0.0)
