"""First-exit driver: the step at which each particle first leaves a region.

:func:`sgd_sde.simulate` records observables only at save points; a first-passage time needs the
step of the first crossing for every particle. This driver runs the engine's one compiled loop
(:func:`sgd_sde._engine.run_until`: the same step kernel, keys ``fold_in(key, k)``, freeze and
divergence logic as ``simulate``) with an exit criterion, and stops as soon as every particle has
left or blown up. A blow-up (non-finite, or beyond ``divergence_bound``) is recorded as such, never
as an exit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import _engine
from .. import _validate as V
from ..noise import AbstractNoise

__all__ = ["first_exit", "first_exit_steps", "check_key", "check_common", "check_steps", "check_particles"]


def check_key(key) -> jax.Array:
    """A typed PRNG key from ``key`` (typed key, legacy ``uint32[2]`` key, or an ``int`` seed in
    ``[0, 2**32 - 1]``: :data:`sgd_sde._keys.MAX_SEED` says why)."""
    from .._keys import check_key

    return check_key(key, allow_seed=True)


def check_common(landscape, dynamics, noise) -> AbstractNoise:
    """Type checks shared by every estimator; returns ``noise`` bound to ``landscape``."""
    from ..simulate import check_components

    noise = check_components(landscape, dynamics, noise).bind(landscape)
    if dynamics.batch_size is not None:
        noise.check_batch_size(landscape, int(dynamics.batch_size))
    return noise


def check_steps(name: str, n_steps, block) -> tuple[int, int]:
    """``(n_steps, block)`` checked: ``block ≥ 1`` (0 never advanced: the early-stopping loop hung)
    and ``n_steps + 2·block < 2**31`` (the engine's step counter is int32).

    Raises:
        TypeError: either is not an integer.
        ValueError: out of range; the message names ``name`` (the caller's argument) or ``block``.
    """
    block = V.count("block", block)
    return V.count(name, n_steps, maximum=2**31 - 1 - 2 * block), block


#: Bytes per particle of a first-exit run, generously: the float32 state, its noise draw and the
#: start points on the device (3 · 4 · d), the engine's flags and counters, and the host's int64
#: exit/blow-up steps, ids and float64 times.
def _bytes_per_particle(d: int) -> int:
    return 16 * d + 64


def check_particles(n_particles, d: int, *, minimum: int = 1) -> int:
    """``n_particles`` as a count in ``[minimum, 2**31 - 1]`` whose ensemble fits in memory.

    Raises:
        TypeError: not an integer.
        ValueError: out of range, or an ensemble larger than this machine's memory (naming
            ``n_particles``).
    """
    p = V.count("n_particles", n_particles, minimum=minimum)
    V.fits_in_memory("n_particles", p * _bytes_per_particle(d), f"an ensemble of {p} particles in {d} dimensions")
    return p


def _next_pow2(n: int, floor: int) -> int:
    return max(floor, 1 << max(0, int(n - 1).bit_length()))


def first_exit(key, landscape, dynamics, noise, theta0, outside: Callable, params, *, max_steps: int,
               block: int = 64, min_size: int = 64, divergence_bound: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
    """Run ``dynamics`` until every particle has left the region or blown up, or for ``max_steps``.

    Work is proportional to the total time particles spend inside, not to the slowest one: when
    at most a quarter of the (padded) ensemble is still running, the survivors are compacted into
    an ensemble of the next power of two (at least ``min_size``) and the run goes on. Step ``k``
    draws its noise from ``fold_in(key, k)`` as in :func:`sgd_sde.simulate`; after a compaction a
    survivor reads a different column of that draw, which keeps its increments i.i.d. (so the
    statistics are exact) but not bit-equal to the ``simulate`` path. Deterministic for a key.
    The learning rate is an array leaf: a new ``lr`` does not recompile.

    Args:
        key: typed PRNG key.
        landscape, dynamics, noise: the core objects (``noise`` already bound).
        theta0: ``(P, d)`` starting points.
        outside: ``outside(landscape, params, theta (d,)) -> bool``, hashable (static under jit:
            pass data through ``params`` so new values do not recompile).
        params: a PyTree of arrays for ``outside``.
        max_steps: step budget (≥ 1).
        block: steps between the early-stopping checks (static; does not change results).
        min_size: smallest compacted ensemble.
        divergence_bound: a particle with a non-finite value or ``|θ_i| >`` this has blown up.

    Returns:
        ``(exit_step, blowup_step)``, each ``(P,)``: the first ``k ≥ 0`` such that the iterate after
        ``k`` steps is outside (``0``: started outside; ``-1``: never), and the step at which a
        particle blew up (``-1``: never). At most one of the two is ``≥ 0`` per particle.
    """
    max_steps, block = check_steps("max_steps", max_steps, block)
    theta0 = jnp.asarray(theta0)
    p = theta0.shape[0]
    run_dynamics = _engine.with_array_lr(dynamics, theta0.dtype)
    config = _engine.Config((), None, None, divergence_bound, exit_fn=outside)
    _, carry = _engine.initial_carry(run_dynamics, theta0, None, True)
    exits = np.full(p, -1, np.int64)
    blowups = np.full(p, -1, np.int64)
    ids = np.arange(p)  # particle id of each column; -1 for padding
    k = jnp.int32(0)
    while True:
        size = ids.size
        stop_at = size // 4 if size > min_size else 0
        k, carry = _engine.run_until(landscape, run_dynamics, noise, config, params, key, carry, k,
                                     jnp.int32(max_steps), jnp.int32(stop_at), int(block))
        state, diverged, div_step, exit_step = carry
        div, dstep, ex = np.asarray(diverged), np.asarray(div_step), np.asarray(exit_step)
        real = ids >= 0
        done = real & (ex >= 0)
        exits[ids[done]] = ex[done]
        blown = real & div
        blowups[ids[blown]] = dstep[blown]
        alive = np.flatnonzero(real & ~div & (ex == -1))
        if alive.size == 0 or int(k) >= max_steps:
            return exits, blowups
        new_size = _next_pow2(alive.size, min_size)
        cols = jnp.asarray(np.concatenate([alive, np.zeros(new_size - alive.size, np.int64)]))
        ids = np.concatenate([ids[alive], np.full(new_size - alive.size, -1, np.int64)])
        state = jax.tree_util.tree_map(lambda x: jnp.take(x, cols, axis=-1), state)
        carry = (state, jnp.zeros(new_size, bool), jnp.full(new_size, -1, jnp.int32),
                 jnp.asarray(np.where(ids >= 0, -1, -2).astype(np.int32)))


def first_exit_steps(key, landscape, dynamics, noise, theta0, outside: Callable, params, *, max_steps: int,
                     block: int = 64, min_size: int = 64) -> np.ndarray:
    """:func:`first_exit` with a blow-up counted as leaving the region (non-finite parameters are
    outside any basin): the stability-radius convention.

    Returns:
        ``exit_step`` ``(P,)``: the first ``k ≥ 0`` such that the iterate after ``k`` steps is
        outside or non-finite (``0``: started outside; ``-1``: still inside after ``max_steps``).
    """
    exits, blowups = first_exit(key, landscape, dynamics, noise, theta0, outside, params, max_steps=max_steps,
                                block=block, min_size=min_size)
    return np.where(blowups >= 0, blowups + 1, exits)
