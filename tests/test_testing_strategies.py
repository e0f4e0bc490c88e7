"""The exported Hypothesis strategies produce valid inputs, and a property test built on them."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sgd_sde import simulate
from sgd_sde.dynamics import SGD
from sgd_sde.testing import dynamics, linear_regressions, noise_models, quadratics, spd_matrices


@given(spd_matrices())
def test_spd(h):
    assert np.allclose(h, h.T) and np.linalg.eigvalsh(h)[0] > 0


@settings(max_examples=10)
@given(quadratics(max_dim=3), st.data())
def test_gradient_descent_contracts_on_any_quadratic(q, data):
    """A property a user would write: GD with lr < 2/λ_max never increases the loss on a quadratic."""
    lam_max = float(np.linalg.eigvalsh(np.asarray(q.hessian_matrix))[-1])
    lr = data.draw(st.floats(0.01, 1.9)) / lam_max
    t = simulate(jax.random.key(0), q, SGD(lr, 1), jnp.ones(q.dim), n_steps=20, save_every=1)
    loss = t.saved["loss"][:, 0]
    assert np.all(np.diff(loss) <= 1e-5 * (1 + loss[:-1]))


@settings(max_examples=10)
@given(linear_regressions(), dynamics(), st.data())
def test_strategies_build_runnable_simulations(lr_land, dyn, data):
    noise = data.draw(noise_models(lr_land.dim))
    t = simulate(jax.random.key(1), lr_land, dyn, jnp.zeros(lr_land.dim), noise=noise, n_steps=3, n_particles=2,
                 divergence_bound=1e30)
    assert t.theta.shape == (2, lr_land.dim)


@settings(max_examples=30, derandomize=True)
@given(st.integers(1, 5), st.data())
def test_noise_models_build_without_the_downcast_warning(dim, data):
    """The exported noise models are drawn in the dtype JAX computes in, so a user's property test
    built on them sees no float64-downcast warning (the warning fires once per argument name and
    process, hence the fresh record of warned names)."""
    import warnings
    from unittest import mock

    from sgd_sde import _dtype

    with mock.patch.object(_dtype, "_WARNED", set()), warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        noise = data.draw(noise_models(dim))
    for value in vars(noise).values():
        assert getattr(value, "dtype", np.float32) != np.float64
