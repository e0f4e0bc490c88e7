r"""Stochastic Weight Averaging (Izmailov et al. 2018).

The SWA weights are the running average of the iterates at the end of each learning-rate cycle,
``w_SWA ← (n w_SWA + w) / (n + 1)``; batch-norm statistics are then recomputed for ``w_SWA`` with
one pass over the training data (:func:`bn_update`: momentum ``b/(n + b)``, i.e. the exact
size-weighted average of the per-batch statistics for ordinary batch norm).

References:
    Izmailov, Podoprikhin, Garipov, Vetrov & Wilson 2018, "Averaging Weights Leads to Wider Optima
    and Better Generalization" (UAI), Algorithm 1.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as V

__all__ = ["SWA", "swa_update", "swa_flags", "bn_update"]


@dataclasses.dataclass(frozen=True)
class SWA:
    """When to average: at every step ``k`` (1-based count of completed steps) with
    ``k ≥ start`` and ``(k − start) % cycle == 0``. Pair it with a cyclic learning rate whose
    cycle is ``cycle`` steps (:func:`sgd_sde.schedules.cyclic`) or a constant SWA lr.

    Args:
        start: completed steps before the first average (≥ 1).
        cycle: steps between averages (≥ 1).
        bn_batch_size: batch size of the final batch-norm pass.

    References:
        Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima and Better Generalization".
    """

    start: int
    cycle: int = 1
    bn_batch_size: int = 256

    def __post_init__(self):
        V.positive_int("start", self.start)
        V.positive_int("cycle", self.cycle)
        V.positive_int("bn_batch_size", self.bn_batch_size)


def swa_update(avg, n, params):
    r"""One running-average step ``avg ← (n avg + params)/(n + 1)``; returns ``(avg, n + 1)``.

    Works on any PyTree (jit/vmap-able); ``n`` is the number of snapshots already averaged.

    Examples:
        >>> import jax.numpy as jnp
        >>> avg, n = jnp.zeros(2), 0
        >>> for w in (jnp.array([1.0, 2.0]), jnp.array([3.0, 6.0])):
        ...     avg, n = swa_update(avg, n, w)
        >>> avg.tolist(), n
        ([2.0, 4.0], 2)

    References:
        Izmailov et al. 2018, Algorithm 1.
    """
    def upd(a, p):
        nn = jnp.asarray(n, a.dtype)
        return a + (p - a) / (nn + 1)  # = (n a + p)/(n + 1), rounding-friendlier

    return jax.tree.map(upd, avg, params), n + 1


def swa_flags(swa: SWA | None, n_steps: int) -> np.ndarray:
    """Boolean ``(n_steps,)``: average after step index ``i`` (0-based) iff ``i + 1`` is a cycle end."""
    done = np.arange(1, n_steps + 1)
    if swa is None:
        return np.zeros(n_steps, bool)
    return (done >= swa.start) & ((done - swa.start) % swa.cycle == 0)


def bn_update(model, state, x, *, batch_size: int = 256):
    """Recompute batch-norm running statistics of ``model`` with one in-order pass over ``x``.

    Uses momentum ``b/(n + b)`` for the batch after ``n`` seen examples, so the result is the
    size-weighted average of the batch statistics (Izmailov et al.'s ``bn_update``). A model
    without batch norm is returned with its state unchanged.

    Returns:
        the new state.

    References:
        Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima and Better Generalization".
    """
    if not state:
        return state
    b = V.positive_int("batch_size", batch_size)
    fresh = model.init_state()
    fresh = jax.tree.map(lambda s: jnp.zeros_like(s), fresh)

    @eqx.filter_jit
    def one(m, st, xb, mom):
        return m(xb, st, train=True, bn_momentum=mom)[1]

    n = 0
    st = fresh
    ghost = [nm.ghost_size for nm in getattr(model, "norms", ()) if nm.ghost_size]
    g = max(ghost) if ghost else 1
    usable = (x.shape[0] // g) * g
    for s in range(0, usable, b):
        xb = jnp.asarray(x[s : min(s + b, usable)])
        if xb.shape[0] % g:
            xb = xb[: (xb.shape[0] // g) * g]
        if xb.shape[0] == 0:
            break
        mom = xb.shape[0] / (n + xb.shape[0])
        st = one(model, st, xb, jnp.asarray(mom, jnp.float32))
        n += xb.shape[0]
    return st
