"""First-exit driver: the step at which each particle first leaves a region.

:func:`sgd_sde.simulate` records observables only at save points; a first-passage time needs the
step of the first crossing for every particle. This driver reuses the core update rule
(:meth:`sgd_sde.dynamics.AbstractDynamics.step` with ``key_k = fold_in(key, k)``, exactly as
``simulate`` does, so a particle's path is the one ``simulate`` would produce for the same key),
checks the exit condition after every step, freezes particles that have left, and stops as soon
as every particle has left (a ``lax.while_loop`` over blocks of ``block`` steps; a
``fori_loop`` inside).
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as V
from ..noise import AbstractNoise

__all__ = ["first_exit_steps", "check_key", "check_common"]


def check_key(key) -> jax.Array:
    """A typed PRNG key from ``key`` (typed key, legacy ``uint32[2]`` key, or an ``int`` seed)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key(int(key))
    from .._keys import check_key

    return check_key(key)


def check_common(landscape, dynamics, noise) -> AbstractNoise:
    """Type checks shared by every estimator; returns ``noise`` bound to ``landscape``."""
    from ..simulate import check_components

    noise = check_components(landscape, dynamics, noise).bind(landscape)
    if dynamics.batch_size is not None:
        noise.check_batch_size(landscape, int(dynamics.batch_size))
    return noise


@eqx.filter_jit
def _run(landscape, dynamics, noise, outside: Callable, params, key, state, exit_step, k0, max_steps, stop_at,
         block: int):
    """Advance ``state`` (leaves ``(d, S)``) from step ``k0`` until ``max_steps`` or until at most
    ``stop_at`` particles are still inside. ``exit_step``: ``-1`` inside, ``≥ 0`` exited, ``-2`` padding.
    """
    lr, bs = dynamics.lr, dynamics.batch_size

    def out_of(theta):
        finite = jnp.all(jnp.isfinite(theta), axis=0)
        return ~finite | jax.vmap(lambda th: outside(landscape, params, th), in_axes=1)(theta)

    def one(i, carry):
        k, state, exit_step = carry
        t = k + i
        new = dynamics.step(landscape, noise, state, jax.random.fold_in(key, t), lr, bs)
        alive = exit_step == -1
        new = jax.tree_util.tree_map(lambda n, o: jnp.where(alive, n, o), new, state)
        newly = alive & out_of(new["theta"]) & (t < max_steps)
        return k, new, jnp.where(newly, t + 1, exit_step)

    def body(carry):
        k, state, exit_step = jax.lax.fori_loop(0, block, one, carry)
        return k + block, state, exit_step

    def cond(carry):
        k, _, exit_step = carry
        return (k < max_steps) & (jnp.sum(exit_step == -1) > stop_at)

    exit_step = jnp.where((exit_step == -1) & out_of(state["theta"]), k0, exit_step)
    return jax.lax.while_loop(cond, body, (k0, state, exit_step))


def _next_pow2(n: int, floor: int) -> int:
    return max(floor, 1 << max(0, int(n - 1).bit_length()))


def first_exit_steps(key, landscape, dynamics, noise, theta0, outside: Callable, params, *, max_steps: int,
                     block: int = 64, min_size: int = 64) -> np.ndarray:
    """Run ``dynamics`` until every particle has left the region, or for ``max_steps`` steps.

    Work is proportional to the total time particles spend inside, not to the slowest one: when
    at most a quarter of the (padded) ensemble is still inside, the survivors are compacted into
    an ensemble of the next power of two (at least ``min_size``) and the run goes on. Step ``k``
    draws its noise from ``fold_in(key, k)`` as in :func:`sgd_sde.simulate`; after a compaction a
    survivor reads a different column of that draw, which keeps its increments i.i.d. (so the
    statistics are exact) but not bit-equal to the ``simulate`` path. Deterministic for a key.

    Args:
        key: typed PRNG key.
        landscape, dynamics, noise: the core objects (``noise`` already bound).
        theta0: ``(P, d)`` starting points.
        outside: ``outside(landscape, params, theta (d,)) -> bool``, a module-level function
            (static under jit: pass data through ``params`` so new values do not recompile).
            Non-finite parameters always count as outside.
        params: a PyTree of arrays for ``outside``.
        max_steps: step budget (≥ 1).
        block: steps between the early-stopping checks (static).
        min_size: smallest compacted ensemble.

    Returns:
        ``exit_step`` ``(P,)``: the first ``k ≥ 0`` such that the iterate after ``k`` steps is
        outside (``0``: started outside; ``-1``: still inside after ``max_steps``).
    """
    max_steps = V.positive_int("max_steps", max_steps)
    if max_steps >= 2**31 - 2 * block:
        raise ValueError(f"max_steps must be < 2**31 - {2 * block}, got max_steps={max_steps}")
    theta0 = jnp.asarray(theta0)
    p = theta0.shape[0]
    result = np.full(p, -1, np.int64)
    ids = np.arange(p)  # particle id of each column; -1 for padding
    state = dynamics.init(theta0.T)
    exit_step = jnp.full(p, -1, jnp.int32)
    k = jnp.int32(0)
    while True:
        size = ids.size
        stop_at = size // 4 if size > min_size else 0
        k, state, exit_step = _run(landscape, dynamics, noise, outside, params, key, state, exit_step, k,
                                   jnp.int32(max_steps), jnp.int32(stop_at), int(block))
        ex = np.asarray(exit_step)
        real = ids >= 0
        done = real & (ex >= 0)
        result[ids[done]] = ex[done]
        alive = np.flatnonzero(real & (ex == -1))
        if alive.size == 0 or int(k) >= max_steps:
            return result
        new_size = _next_pow2(alive.size, min_size)
        cols = np.concatenate([alive, np.zeros(new_size - alive.size, np.int64)])
        ids = np.concatenate([ids[alive], np.full(new_size - alive.size, -1, np.int64)])
        take = jnp.asarray(cols)
        state = jax.tree_util.tree_map(lambda x: jnp.take(x, take, axis=-1), state)
        exit_step = jnp.asarray(np.where(ids >= 0, -1, -2).astype(np.int32))
