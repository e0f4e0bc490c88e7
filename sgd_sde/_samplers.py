"""Exact samplers the noise models draw from: symmetric α-stable variates and uniformly random
``b``-subsets (sampling without replacement). Re-exported by :mod:`sgd_sde.noise`."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import _validate as V

__all__ = ["symmetric_stable"]


def symmetric_stable(key, alpha: float, shape, dtype=jnp.float32) -> Array:
    r"""Symmetric α-stable variates (Chambers, Mallows & Stuck 1976), scipy's ``levy_stable(α, 0)``
    convention: characteristic function ``exp(−|t|^α)``, so ``α = 2`` gives ``N(0, 2)``.

    Args:
        key: a JAX PRNG key.
        alpha: stability index, a finite float in ``(0, 2]``.
        shape: a tuple (or list) of non-negative ints.
        dtype: the float dtype of the draws.

    Raises:
        TypeError: ``alpha`` not a real number, or ``shape`` not a tuple of ints.
        ValueError: ``alpha`` outside ``(0, 2]``, a negative entry in ``shape``, or a ``shape``
            larger than this machine's memory.

    References:
        Chambers, Mallows & Stuck 1976, "A Method for Simulating Stable Random Variables".
    """
    alpha = V.as_float("alpha", alpha)
    if not 0.0 < alpha <= 2.0:
        raise ValueError(f"alpha must lie in (0, 2], got alpha={alpha}")
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) for n in shape):
        raise TypeError(f"shape must be a tuple of non-negative ints, got shape={shape!r}")
    shape = tuple(V.count("shape", n, minimum=0) for n in shape)
    V.fits_in_memory("shape", 2 * math.prod(shape) * np.dtype(dtype).itemsize, "the draws")
    k1, k2 = jax.random.split(key)
    half_pi = jnp.asarray(np.pi / 2, dtype)
    u = jax.random.uniform(k1, shape, dtype, minval=-half_pi, maxval=half_pi)
    w = jax.random.exponential(k2, shape, dtype)
    if alpha == 1.0:
        return jnp.tan(u)
    a = jnp.asarray(alpha, dtype)
    return jnp.sin(a * u) / jnp.cos(u) ** (1.0 / a) * (jnp.cos(u - a * u) / w) ** ((1.0 - a) / a)


def _floyd_subsets(key, n: int, b: int, n_particles: int) -> Array:
    """A uniformly random ``b``-subset of ``range(n)`` per particle, shape ``(b, n_particles)``.

    Floyd's algorithm: for ``j = n−b, …, n−1`` draw ``t`` uniform in ``[0, j]`` and take ``t``,
    or ``j`` if ``t`` was already taken; every ``b``-subset is equally likely. ``b`` integer draws
    per particle instead of ``n`` uniforms and a ``top_k`` (Bentley & Floyd 1987, "Programming
    pearls: a sample of brilliance", CACM 30(9)).
    """
    tops = jnp.arange(n - b, n, dtype=jnp.int32)
    draws = jax.random.randint(key, (b, n_particles), 0, tops[:, None] + 1, dtype=jnp.int32)
    # unrolled (b <= 64): the b²/2 compares fuse into one elementwise kernel over particles
    chosen: list[Array] = []
    for i in range(b):
        t = draws[i]
        if chosen:
            taken = functools.reduce(jnp.logical_or, [c == t for c in chosen])
            t = jnp.where(taken, n - b + i, t)
        chosen.append(t)
    return jnp.stack(chosen)
