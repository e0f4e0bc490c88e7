"""The one registry of sub-stream tags used with ``jax.random.fold_in``.

The engine gives step ``k`` the key ``key_k = fold_in(key, k)``; a dynamics that needs more than
one independent draw in a step folds one of these tags into ``key_k``. The draw every dynamics
makes first (the minibatch sample / the increment ``z``) uses ``key_k`` itself, which is what
couples SGD and its SDE. Tags only need to be distinct *within one dynamics' step*; the values are
kept as they were when each stream was introduced, so results for a key do not change.

==================  =========  ======================================================================
name                value      stream
==================  =========  ======================================================================
``BRIDGE``          1          EulerMaruyama, Gaussian: Brownian-bridge refinement of ``z`` into
                               sub-step increments (the dyadic level is folded in after it)
``levy_substep(j)`` j ≥ 1      EulerMaruyama, α-stable: the independent increment of sub-step ``j``
``SVAG_FIRST``      1          SVAG: the first of its two minibatch gradients
``SVAG_SECOND``     2          SVAG: the second one
``THERMAL``         0x7FFF     Langevin: the thermal noise ``sqrt(2ηT) ξ``
``particle(i)``     i ≥ 0      DiffraxSDE: the Brownian tree of particle ``i``
==================  =========  ======================================================================
"""

from __future__ import annotations

__all__ = ["BRIDGE", "SVAG_FIRST", "SVAG_SECOND", "THERMAL", "levy_substep", "particle"]

BRIDGE = 1
SVAG_FIRST = 1
SVAG_SECOND = 2
THERMAL = 0x7FFF


def levy_substep(j: int) -> int:
    """Tag of the α-stable increment of Euler–Maruyama sub-step ``j ≥ 1`` (sub-step 0 uses ``key_k``)."""
    return j


def particle(i):
    """Tag of particle ``i``'s Brownian tree in :class:`~sgd_sde.dynamics.DiffraxSDE`."""
    return i
