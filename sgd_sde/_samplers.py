"""Exact samplers the noise models draw from: standard normal increments, symmetric α-stable
variates, uniform integers (minibatch indices) and uniformly random ``b``-subsets (sampling
without replacement). Re-exported by
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

__all__ = ["standard_normal", "symmetric_stable", "uniform_below"]


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


def _typed_key(key):
    """A typed key: a legacy ``uint32[2]`` PRNGKey under a transformation is wrapped, anything else
    goes through :func:`sgd_sde._keys.check_key`."""
    if isinstance(key, jax.core.Tracer) and key.dtype == jnp.uint32 and key.shape == (2,):
        return jax.random.wrap_key_data(key)
    return check_key(key)


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
    key = _typed_key(key)
    if not _fast_path(key, shape, dtype):
        return jax.random.normal(key, shape, dtype)
    b1, b2 = _threefry_word_pairs(key, shape)
    return jnp.concatenate([_normal_from_words(b1), _normal_from_words(b2)])[: shape[0]]


def _mul_hi(a: Array, m: Array) -> Array:
    """The high 32 bits of the 64-bit product of two uint32 arrays, from 16-bit limbs (XLA has no
    widening multiply, and 64-bit integers are off by default in JAX)."""
    lo16 = jnp.uint32(0xFFFF)
    a1, a0, m1, m0 = a >> 16, a & lo16, m >> 16, m & lo16
    p10, p01, p00 = a1 * m0, a0 * m1, a0 * m0
    middle = (p10 & lo16) + (p01 & lo16) + (p00 >> 16)
    return a1 * m1 + (p10 >> 16) + (p01 >> 16) + (middle >> 16)


def _scale_words(hi: Array, lo: Array, m: Array) -> Array:
    """``⌊W·m / 2⁶⁴⌋`` for the 64-bit word ``W = hi·2³² + lo`` and ``m < 2³²`` (uint32 arrays):
    ``W·m = mulhi(hi,m)·2⁶⁴ + (hi·m mod 2³² + mulhi(lo,m))·2³² + …``, so the result is
    ``mulhi(hi, m)`` plus the carry out of that middle sum."""
    low_of_hi = hi * m
    middle = low_of_hi + _mul_hi(lo, m)
    return _mul_hi(hi, m) + (middle < low_of_hi).astype(jnp.uint32)


def uniform_below(key, shape, maxval) -> Array:
    """Independent integers uniform on ``{0, …, maxval − 1}`` (int32) — the minibatch indices of
    :class:`~sgd_sde.noise.ExactMinibatch`.

    From a threefry2x32 key with ``shape[0] ≥ 1`` (the engine's ``(B, P)`` indices), each element
    takes **both** words of one threefry2x32 block as a 64-bit uniform ``W`` and returns
    ``⌊W·maxval / 2⁶⁴⌋``, with multiplies only (Lemire 2019's multiply-shift, without its
    rejection step). ``jax.random.randint`` returns ``W' mod maxval`` for a 64-bit ``W'`` made of
    two ``jax.random.bits`` draws: two blocks and at least three integer remainders per element.
    Both give each value a probability of ``⌊2⁶⁴/maxval⌋/2⁶⁴`` or ``⌈2⁶⁴/maxval⌉/2⁶⁴`` (randint
    exactly so for ``maxval ≤ 2¹⁶``, where its uint32 products do not wrap): uniform up to a
    relative ``maxval/2⁶⁴ < 2⁻³³``. The arithmetic is tested against Python's integers and the
    draws by χ² tests in ``tests/test_uniform_below.py``. Any other key implementation uses
    ``jax.random.randint``. Every element depends only on ``(key, shape, index)``, so the draws
    are the same on any number of devices or processes; a key drawn from here must not also be
    used with ``jax.random.bits`` or :func:`standard_normal` (the same counters).

    Args:
        key: a JAX PRNG key (typed, or a raw ``uint32[2]`` key).
        shape: a tuple (or list) of non-negative ints.
        maxval: a Python int in ``[1, 2³¹ − 1]``, or an integer array broadcastable to ``shape``
            (traced values are not range-checked).

    Raises:
        TypeError: ``key`` not a PRNG key, ``shape`` not a tuple of ints, or ``maxval`` not an integer.
        ValueError: a negative entry in ``shape``, a ``shape`` larger than this machine's memory,
            or a static ``maxval`` outside ``[1, 2³¹ − 1]``.

    Examples:
        >>> x = uniform_below(jax.random.key(0), (4, 1000), 6)
        >>> x.shape, x.dtype.name, int(x.min()), int(x.max())
        ((4, 1000), 'int32', 0, 5)
        >>> rows = uniform_below(jax.random.key(1), (3, 100), np.array([[1], [2], [50]]))
        >>> [int(r.max()) < m for r, m in zip(rows, (1, 2, 50))]
        [True, True, True]

    References:
        Lemire 2019, "Fast Random Integer Generation in an Interval", ACM TOMACS 29(1);
        Salmon, Moraes, Dror & Shaw 2011, "Parallel Random Numbers: As Easy as 1, 2, 3" (threefry).
    """
    shape = _checked_shape(shape, jnp.int32, copies=2)
    if isinstance(maxval, (bool, np.bool_)) or not (
        isinstance(maxval, (int, np.integer)) or jnp.issubdtype(getattr(maxval, "dtype", float), jnp.integer)
    ):
        raise TypeError(f"maxval must be an integer or an integer array, got {type(maxval).__name__}")
    if not isinstance(maxval, jax.core.Tracer):
        values = np.asarray(maxval)
        if values.size and (values.min() < 1 or values.max() > 2**31 - 1):
            raise ValueError(f"maxval must lie in [1, 2**31 - 1], got values in [{values.min()}, {values.max()}]")
    key = _typed_key(key)
    fast = (len(shape) >= 1 and shape[0] >= 1 and math.prod(shape) < _MAX_HALF
            and str(jax.random.key_impl(key)) == "threefry2x32")
    if not fast:
        return jax.random.randint(key, shape, 0, maxval, dtype=jnp.int32)
    hi, lo = _threefry_word_pairs(key, (2 * shape[0], *shape[1:]))
    m = jnp.broadcast_to(jnp.asarray(maxval).astype(jnp.uint32), shape)
    return _scale_words(hi, lo, m).astype(jnp.int32)


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


def _floyd_subsets(key, n: int, b: int, n_particles: int, below=None, loop: bool | None = None) -> Array:
    """A uniformly random ``b``-subset of ``range(n)`` per particle, shape ``(b, n_particles)``.

    Floyd's algorithm: for ``j = n−b, …, n−1`` draw ``t`` uniform in ``[0, j]``
    (:func:`uniform_below`) and take ``t``, or ``j`` if ``t`` was already taken; every
    ``b``-subset is equally likely. ``b`` integer draws per particle instead of ``n`` uniforms and
    a ``top_k`` (Bentley & Floyd 1987, "Programming pearls: a sample of brilliance", CACM 30(9)).
    ``below(key, shape, maxval)`` replaces :func:`uniform_below` (``benchmarks/probes.py indices``
    times the sampler on ``jax.random.randint``).

    The "already taken" test runs in one of two forms with the same subsets: ``loop=True``, a
    ``fori_loop`` of ``b − 1`` kernels, each comparing a new draw with all ``b`` rows (faster on
    XLA:CPU: ``benchmarks/probes.py floyd``), or ``loop=False``, the ``b²/2`` compares unrolled
    (elementwise code that a GPU fuses, with no loop of small kernels). ``None``: the loop on a
    CPU default backend, unrolled elsewhere.
    """
    below = uniform_below if below is None else below
    draws = below(key, (b, n_particles), np.arange(n - b + 1, n + 1, dtype=np.int32)[:, None])
    if loop is None:
        loop = jax.default_backend() == "cpu"
    if not loop:
        chosen: list[Array] = []
        for i in range(b):
            t = draws[i]
            if chosen:
                t = jnp.where(functools.reduce(jnp.logical_or, [c == t for c in chosen]), n - b + i, t)
            chosen.append(t)
        return jnp.stack(chosen)
    rows = jax.lax.broadcasted_iota(jnp.int32, (b, 1), 0)

    def place(i, chosen):  # rows < i hold the subset so far, rows >= i their draws
        t = chosen[i]
        taken = jnp.any((chosen == t) & (rows < i), axis=0)
        return chosen.at[i].set(jnp.where(taken, n - b + i, t))

    return jax.lax.fori_loop(1, b, place, draws)
