"""Inputs the fuzz report found hanging: refused up front, naming the argument."""

import jax
import pytest

from sgd_sde.dynamics import Langevin, SGD
from sgd_sde.landscapes import DoubleWell, Quadratic
from sgd_sde.noise import Isotropic
from sgd_sde.stability import escape_time, stability_radius


@pytest.mark.parametrize("block", [0, -1])
def test_escape_time_refuses_a_block_that_never_advances(block):
    with pytest.raises(ValueError, match="block"):
        escape_time(jax.random.key(0), DoubleWell(), Langevin(lr=0.01, temperature=0.25), -1.0, 1.0,
                    n_particles=8, max_steps=100, block=block)


def test_stability_radius_refuses_an_endless_bisection():
    import numpy as np

    with pytest.raises(ValueError, match="n_bisect must be <= 64"):
        stability_radius(jax.random.key(0), Quadratic(np.eye(2)), SGD(lr=0.1, batch_size=1), np.zeros(2),
                         noise=Isotropic(0.5), n_steps=10, delta=0.1, n_particles=8, n_bisect=10**9)
