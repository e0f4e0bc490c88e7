"""DiffraxSDE at the diffrax boundary: solver failure is data (per particle), orders are the solver's."""

import diffrax
import jax
import numpy as np

from sgd_sde import simulate
from sgd_sde.dynamics import DiffraxSDE
from sgd_sde.landscapes import Quadratic
from sgd_sde.noise import Isotropic


class _FailsAboveOne(diffrax.Euler):
    """Euler that reports a (nonlinear-solve) failure for any state with y > 1."""

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        y1, err, dense, state, result = super().step(terms, t0, t1, y0, args, solver_state, made_jump)
        return y1, err, dense, state, diffrax.RESULTS.where(y0[0] > 1.0, diffrax.RESULTS.nonlinear_divergence, result)


def test_solver_failure_is_reported_per_particle_not_as_divergence():
    """Particles 1 and 3 start where the solver fails: they are flagged in saved["solver_failed"]
    from the first step on and keep their state; they are not "diverged"; the others run normally."""
    theta0 = np.array([[0.0], [2.0], [0.5], [3.0]], np.float32)
    t = simulate(jax.random.key(0), Quadratic(np.eye(1, dtype=np.float32)), DiffraxSDE(0.1, 1, solver=_FailsAboveOne()),
                 theta0, noise=Isotropic(0.01), n_steps=5, save_every=1, observables=("theta",))
    failed = t.saved["solver_failed"]
    assert failed.shape == (6, 4) and not failed[0].any()
    np.testing.assert_array_equal(failed[1:], np.tile([False, True, False, True], (5, 1)))
    assert not t.diverged.any()
    np.testing.assert_array_equal(t.theta[[1, 3], 0], [2.0, 3.0])
    assert np.all(np.abs(t.theta[[0, 2], 0] - theta0[[0, 2], 0]) > 1e-3)


def test_strong_order_is_the_solvers():
    assert DiffraxSDE(0.1, 1).strong_order == 0.5  # Heun, general noise
    assert DiffraxSDE(0.1, 1, solver=diffrax.ItoMilstein()).strong_order == 1.0
    assert DiffraxSDE(0.1, 1, solver=diffrax.SRA1()).strong_order == 1.5
    assert DiffraxSDE(0.1, 1, solver=diffrax.SRA1(), strong=0.75).strong_order == 0.75
    assert DiffraxSDE(0.1, 1, weak=2.0).weak_order == 2.0
