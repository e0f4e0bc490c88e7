"""The fast divergence blocks catch a crossing at every position in a block, the last included.

:func:`sgd_sde._engine` runs blocks of ``BLOCK`` steps without the per-step freeze and re-runs a
block exactly when a live particle left the bound inside it. The fast steps check the state each
step *starts* from and the block checks its last state, so every state of a block is checked once.
Here deterministic particles (no noise; ``θ ← (1 − ηh)θ = −2θ``, so ``|θ_t| = 2^t |θ_0|``) cross
the bound ``10⁶`` after exactly ``n`` steps for ``n`` around the block boundaries; each must be
frozen at its last state inside the bound with the step of the crossing, as the per-step definition
says. Mutations tried: dropping the block's check of its last state lets the particle that crosses
on a block's last step run one step too far (its state and step are wrong) and fails the first
test; checking only each block's last state misses the excursion of the second test (the particle
is back inside at the block's end).
"""

import jax
import numpy as np
import pytest

from sgd_sde import simulate
from sgd_sde._engine import BLOCK
from sgd_sde.dynamics import SGD
from sgd_sde.landscapes import Quadratic
from sgd_sde.schedules import step_decay

BOUND = 1e6


@pytest.mark.parametrize("n_cross", [1, 2, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK - 1, 2 * BLOCK, 2 * BLOCK + 1])
def test_crossings_at_every_block_position(n_cross):
    # one crossing per run (another crossing in the same block would re-run that block exactly and
    # hide a missed check): |θ_0| = 1e6 / 2^(n − 0.5), i.e. |θ_{n−1}| = 1e6/√2 < bound < |θ_n|; a second
    # particle stays at 0 and never diverges
    theta0 = np.array([[BOUND / 2.0 ** (n_cross - 0.5)], [0.0]], np.float32)
    dyn = SGD(lr=3.0, batch_size=1)  # 1 − ηh = −2 with h = 1
    traj = simulate(jax.random.key(0), Quadratic(np.eye(1)), dyn, theta0, n_steps=4 * BLOCK, save_at=[4 * BLOCK],
                    divergence_bound=BOUND, progress=False, observables=())
    np.testing.assert_array_equal(traj.diverged, [True, False])
    # the step whose result left the bound is step n − 1 (0-based); the particle keeps θ_{n−1}
    np.testing.assert_array_equal(traj.divergence_step, [n_cross - 1, -1])
    expected = float(theta0[0, 0]) * (-2.0) ** (n_cross - 1)
    np.testing.assert_allclose(traj.theta[0, 0], expected, rtol=1e-6)
    assert abs(traj.theta[0, 0]) <= BOUND and traj.theta[1, 0] == 0.0


@pytest.mark.parametrize("n_cross", [1, BLOCK // 2, BLOCK - 2, BLOCK + 3])
def test_an_excursion_inside_a_block_is_caught(n_cross):
    # lr 3 (θ ← −2θ) for steps 0 .. n − 1, then lr 1 (θ ← 0): the particle leaves the bound at step
    # n − 1 and is back at 0, inside it, from step n on, before its block ends (n − 1 and n are in
    # the same block for these n). By the per-step definition it diverged at step n − 1 and keeps
    # θ_{n−1}; a check of the block's end state alone would see 0 and keep it running.
    theta0 = np.array([[BOUND / 2.0 ** (n_cross - 0.5)], [0.0]], np.float32)
    traj = simulate(jax.random.key(0), Quadratic(np.eye(1)), SGD(lr=3.0, batch_size=1), theta0,
                    n_steps=4 * BLOCK, save_at=[4 * BLOCK], schedule=step_decay(3.0, [n_cross], factor=1 / 3),
                    divergence_bound=BOUND, progress=False, observables=())
    np.testing.assert_array_equal(traj.diverged, [True, False])
    np.testing.assert_array_equal(traj.divergence_step, [n_cross - 1, -1])
    expected = float(theta0[0, 0]) * (-2.0) ** (n_cross - 1)
    np.testing.assert_allclose(traj.theta[0, 0], expected, rtol=1e-6)
