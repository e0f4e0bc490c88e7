"""Exact samplers the noise models draw from: standard normal increments, symmetric α-stable
variates and uniformly random ``b``-subsets (sampling without replacement). Re-exported by
:mod:`sgd_sde.noise`."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import _validate as V
from ._keys import check_key

__all__ = ["standard_normal", "symmetric_stable"]


# the half-height grid of threefry counters is indexed by uint32
_MAX_HALF = 2**32


def _checked_shape(shape, dtype, copies: int) -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative ints whose ``copies`` arrays of ``dtype`` fit in memory."""
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) for n in shape):
        raise TypeError(f"shape must be a tuple of non-negative ints, got shape={shape!r}")
    shape = tuple(V.count("shape", n, minimum=0) for n in shape)
    V.fits_in_memory("shape", copies * math.prod(shape) * np.dtype(dtype).itemsize, "the draws")
    return shape


def _threefry_word_pairs(key, shape) -> tuple[Array, Array]:
    """Two uint32 blocks of shape ``(⌈m/2⌉, …)`` for ``shape = (m, …)``: both output words of one
    threefry2x32 block per counter.

    ``jax.random.bits`` (``jax_threefry_partitionable``, JAX's default) hashes one counter per
    element and returns the XOR of the block's two words: one 20-round block per 32-bit word.
    Here counter ``c`` — the flat index of an element of the half-height grid, so counters run along
    the trailing (particle) axes and a shard of particles needs only its own — gives two words,
    used for rows ``i`` and ``⌈m/2⌉ + i``: half the blocks for the same number of words. The hash
    outputs are materialised (``optimization_barrier``): fused into their consumer, XLA:CPU
    recomputed the hash once per half.

    References:
        Salmon, Moraes, Dror & Shaw 2011, "Parallel Random Numbers: As Easy as 1, 2, 3" (threefry).
    """
    from jax.extend.random import threefry2x32_p

    half = ((shape[0] + 1) // 2, *shape[1:])
    k = jax.random.key_data(key)
    counts = jax.lax.iota(jnp.uint32, math.prod(half)).reshape(half)
    return jax.lax.optimization_barrier(threefry2x32_p.bind(k[0], k[1], jnp.zeros_like(counts), counts))


def _normal_from_words(bits: Array) -> Array:
    """JAX's own bits → normal transform for float32 (as in ``jax.random.normal``): the top 23 bits
    as a mantissa in ``[1, 2)``, mapped to ``(−1, 1)`` and clipped at ``nextafter(−1, 0)``, then
    ``√2 · erf⁻¹``."""
    floats = jax.lax.bitcast_convert_type((bits >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0
    lo = np.nextafter(np.float32(-1.0), np.float32(0.0))
    u = jnp.maximum(lo, floats * 2.0 - 1.0)
    return np.float32(np.sqrt(2.0)) * jax.lax.erf_inv(u)


def _fast_path(key, shape, dtype) -> bool:
    if np.dtype(dtype) != np.float32 or len(shape) < 1 or shape[0] < 2:
        return False
    if math.prod(((shape[0] + 1) // 2, *shape[1:])) >= _MAX_HALF:
        return False
    return str(jax.random.key_impl(key)) == "threefry2x32"


def standard_normal(key, shape, dtype=jnp.float32) -> Array:
    """Independent standard normal draws of ``shape`` — the Gaussian increments of every noise
    model, dynamics and bridge in the engine.

    For float32 draws from a threefry2x32 key with ``shape[0] ≥ 2`` (the engine's ``(m, P)``
    increments), the words come from **both** outputs of every threefry2x32 block
    (:func:`_threefry_word_pairs`) and go through JAX's own inverse-erf transform: the same
    distribution as ``jax.random.normal`` for half the hashing — the step that bounds a dense
    ensemble step (``benchmarks/rng.py`` measures the rates). Any other dtype, key implementation or
    shape uses ``jax.random.normal``. Exactness (moments, a KS test and independence of the paired
    words, of neighbouring particles and of consecutive ``fold_in`` keys at 10⁷ draws) is tested in
    ``tests/test_rng_exact.py``.

    The stream is **not** ``jax.random.normal``'s for the same key, and it hashes the same counters
    as ``jax.random.bits(key, …)``: draw from a key with one of the two, never both (the engine
    derives a fresh key per draw with ``fold_in``). Every element depends only on ``(key, shape,
    index)``, so the draws are the same on any number of devices or processes.

    Args:
        key: a JAX PRNG key (typed, or a raw ``uint32[2]`` key).
        shape: a tuple (or list) of non-negative ints.
        dtype: a float dtype.

    Raises:
        TypeError: ``key`` not a PRNG key, ``shape`` not a tuple of ints, or ``dtype`` not a float dtype.
        ValueError: a negative entry in ``shape``, or a ``shape`` larger than this machine's memory.

    References:
        Salmon, Moraes, Dror & Shaw 2011, "Parallel Random Numbers: As Easy as 1, 2, 3" (threefry);
        Giles 2011, "Approximating the erfinv function" (the inverse-erf transform of
        ``jax.random.normal``).
    """
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a float dtype, got dtype={dtype!r}")
    shape = _checked_shape(shape, dtype, copies=2)
    if isinstance(key, jax.core.Tracer) and key.dtype == jnp.uint32 and key.shape == (2,):
        key = jax.random.wrap_key_data(key)  # a legacy PRNGKey under a transformation
    else:
        key = check_key(key)
    if not _fast_path(key, shape, dtype):
        return jax.random.normal(key, shape, dtype)
    b1, b2 = _threefry_word_pairs(key, shape)
    return jnp.concatenate([_normal_from_words(b1), _normal_from_words(b2)])[: shape[0]]


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
    shape = _checked_shape(shape, dtype, copies=2)
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
