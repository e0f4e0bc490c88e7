"""Host-side training plan: per-step batch sizes, learning rates and minibatch indices.

Minibatches are drawn *without replacement within an epoch*: epoch ``e`` uses the permutation
``jax.random.permutation(fold_in(key, e), N)`` and consecutive slices of it; when the next batch
does not fit in what is left of the epoch, a new epoch starts (the remainder is dropped). The
plan depends only on ``(key, N, batch sizes)``, so a resumed run sees the same batches.

Two ways to the same indices: :meth:`Plan.indices` draws them on the host (used by the sweeps and
experiments), :func:`device_indices` inside a compiled function from where a chunk starts
(``Plan.epoch[a]``, ``Plan.start[a]``), as :func:`~sgd_sde.networks.train` does — both take
epoch ``e``'s permutation from ``fold_in(key, e)`` and slice it the same way (integers: exactly equal).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as V

__all__ = ["batch_sizes", "learning_rates", "Plan", "device_indices"]


def _values(schedule, n_steps: int, name: str) -> np.ndarray:
    if callable(schedule):
        vals = np.asarray(schedule(np.arange(n_steps)), dtype=np.float64)
        if vals.shape == ():
            vals = np.full(n_steps, float(vals))
        if vals.shape != (n_steps,):
            raise ValueError(f"{name} must return one value per step, got shape {vals.shape}")
        return vals
    return np.full(n_steps, V.as_float(name, schedule))


def learning_rates(lr_schedule: float | Callable, n_steps: int) -> np.ndarray:
    """Evaluate the lr schedule on steps ``0 … n_steps−1``; every value must be finite and > 0."""
    vals = _values(lr_schedule, n_steps, "lr_schedule")
    bad = np.flatnonzero(~np.isfinite(vals) | (vals <= 0))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"lr_schedule must be finite and > 0 at every step, got {vals[k]} at step {k}")
    return vals


def batch_sizes(batch_schedule: int | Callable, n_steps: int, n_examples: int) -> np.ndarray:
    """Evaluate the batch schedule; every value must be an integer in ``[1, n_examples]``."""
    vals = _values(batch_schedule, n_steps, "batch_schedule")
    bad = np.flatnonzero(~np.isfinite(vals) | (vals < 1) | (vals != np.round(vals)) | (vals > n_examples))
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"batch_schedule must give integer batch sizes in [1, {n_examples}] (the training-set size), got {vals[k]} at step {k}"
        )
    return vals.astype(np.int64)


def steps_for_epochs(batch_schedule, n_epochs: int, n_examples: int) -> int:
    """Number of steps that completes ``n_epochs`` epochs under the batch schedule."""
    n_epochs = V.count("n_epochs", n_epochs)
    cap = n_epochs * n_examples + 1
    if callable(batch_schedule):  # evaluated on every step up to the cap: float64 and int64
        V.fits_in_memory("n_epochs", 16.0 * cap, "the batch schedule up to n_epochs · n_train steps")
    if not callable(batch_schedule):
        b = batch_sizes(batch_schedule, 1, n_examples)[0]
        return n_epochs * (n_examples // int(b))
    bs = batch_sizes(batch_schedule, cap, n_examples)
    epoch, pos = 0, 0
    for k, b in enumerate(bs):
        if pos + b > n_examples:
            epoch, pos = epoch + 1, 0
            if epoch == n_epochs:
                return k
        pos += b
    return cap


def _layout_loop(sizes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(epoch, start)`` of every step, one step at a time (the definition)."""
    epoch = np.zeros(sizes.size, np.int64)
    start = np.zeros(sizes.size, np.int64)
    e, pos = 0, 0
    for k, b in enumerate(sizes.tolist()):
        if pos + b > n:
            e, pos = e + 1, 0
        epoch[k], start[k] = e, pos
        pos += b
    return epoch, start


def _layout(sizes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(epoch, start)`` of every step: the epoch it draws from and the offset of its slice.

    Within a run of equal batch sizes ``B`` that starts at ``(e, pos)`` (``pos + B ≤ n``), step ``j``
    is at ``(e, pos + jB)`` for ``j < r₀ = ⌊(n − pos)/B⌋`` and then at ``(e + 1 + ⌊(j − r₀)/p⌋,
    ((j − r₀) mod p)·B)`` with ``p = ⌊n/B⌋`` steps per epoch — what :func:`_layout_loop` gives step by step,
    in closed form (the same formula :func:`device_indices` evaluates in compiled code)."""
    cuts = np.flatnonzero(np.diff(sizes)) + 1
    if 16 * cuts.size > sizes.size:  # the batch size changes nearly every step: the loop is cheaper
        return _layout_loop(sizes, n)
    epoch = np.empty(sizes.size, np.int64)
    start = np.empty(sizes.size, np.int64)
    e, pos = 0, 0
    bounds = [0, *cuts.tolist(), sizes.size]
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b <= a:
            continue
        B = int(sizes[a])
        if pos + B > n:
            e, pos = e + 1, 0
        ep, st = _closed_form(np, e, pos, b - a, B, n)
        epoch[a:b], start[a:b] = ep, st
        e, pos = int(epoch[b - 1]), int(start[b - 1]) + B
    return epoch, start


def _closed_form(xp, e0, pos, n_steps: int, B: int, n: int):
    """``(epoch, start)`` of ``n_steps`` steps of batch size ``B`` from ``(e0, pos)`` with ``pos + B ≤ n``
    (``xp``: NumPy or jax.numpy; ``e0``, ``pos`` may be traced)."""
    per = n // B
    j = xp.arange(n_steps)
    r0 = (n - pos) // B  # steps left in epoch e0 (≥ 1)
    later = j >= r0
    jj = xp.where(later, j - r0, 0)
    return xp.where(later, e0 + 1 + jj // per, e0), xp.where(later, (jj % per) * B, pos + j * B)


def device_indices(key, epoch0, offset, n_steps: int, batch_size: int, n_examples: int):
    """``(n_steps, batch_size)`` int32 minibatch indices, equal to ``Plan.indices(a, a + n_steps)``
    for a chunk of constant batch size whose first step ``a`` is at ``epoch0 = Plan.epoch[a]``,
    ``offset = Plan.start[a]`` — to be called inside a jitted function (``key``, ``epoch0`` and
    ``offset`` may be traced; the sizes are static).

    The permutations of ``1 + ⌈(n_steps − 1)/⌊n/B⌋⌉`` epochs are drawn (the most a chunk can touch,
    so one compilation serves every chunk of the same length and batch size; at most one more than
    the chunk needs), each equal to ``permutation(fold_in(key, e), n)`` (:func:`_perm_rows`).
    """
    per = n_examples // batch_size
    n_epochs = 1 + -(-(n_steps - 1) // per) if n_steps > 0 else 0
    epoch0 = jnp.asarray(epoch0, jnp.int32)
    ep, st = _closed_form(jnp, jnp.int32(0), jnp.asarray(offset, jnp.int32), n_steps, batch_size, n_examples)
    perms = _perm_rows(key, epoch0 + jnp.arange(n_epochs, dtype=jnp.int32), n_examples)
    return perms[ep[:, None], st[:, None] + jnp.arange(batch_size, dtype=jnp.int32)].astype(jnp.int32)


_U32_MAX = np.iinfo(np.uint32).max


def _sort_rounds(n: int) -> int:
    """Sort rounds of ``jax.random.permutation(key, n)``: ``⌈3 ln n / ln(2³² − 1)⌉`` (1 up to
    n = 1625, 2 up to ~2.6M; jax/_src/random/core.py, ``_shuffle``), the same float expression."""
    return int(np.ceil(3 * np.log(max(1, n)) / np.log(_U32_MAX)))


def _perm_rows(key, epochs, n: int):
    """``(len(epochs), n)`` int32; row ``i`` is ``jax.random.permutation(fold_in(key, epochs[i]), n)``, bit for bit.

    jax permutes ``arange(n)`` by ``R = _sort_rounds(n)`` rounds of a *stable* key-value sort by
    fresh 32-bit keys (``k, sub = split(k)``; ``bits(sub, (n,), uint32)``). XLA:CPU sorts one
    integer array ~5× faster than it sorts keys with values, so for ``n ≤ 2¹⁶`` each round's
    stable argsort is done here as a two-pass LSD radix sort on single uint32 arrays — low 16 bits
    of the key ``<< 16 | index``, then high 16 bits ``<< 16 | position`` — which orders by (key,
    index) exactly as the stable sort does, ties included. Larger ``n`` use jax's own function.
    The tests compare both paths with ``jax.random.permutation`` directly.
    """
    epochs = jnp.asarray(epochs, jnp.int32)
    if n > 1 << 16:
        return jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(key, e), n))(epochs)
    R = _sort_rounds(n)
    x = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), (epochs.shape[0], n))
    if R == 0:
        return x

    def sort_keys(e):
        k, out = jax.random.fold_in(key, e), []
        for _ in range(R):
            k, sub = jax.random.split(k)
            out.append(jax.random.bits(sub, (n,), jnp.uint32))
        return out

    index, low = jnp.arange(n, dtype=jnp.uint32), jnp.uint32(0xFFFF)
    for kr in jax.vmap(sort_keys)(epochs):  # (len(epochs), n) uint32 per round
        o1 = (jax.lax.sort(((kr & low) << 16) | index, dimension=1) & low).astype(jnp.int32)  # by low half, then index
        hi = jnp.take_along_axis(kr >> 16, o1, axis=1)
        pos = (jax.lax.sort((hi << 16) | index, dimension=1) & low).astype(jnp.int32)  # by high half, then position
        x = jnp.take_along_axis(x, jnp.take_along_axis(o1, pos, axis=1), axis=1)
    return x


class Plan:
    """Batch indices for every step, generated lazily per chunk."""

    def __init__(self, key, n_examples: int, sizes: np.ndarray):
        self.key = key
        self.n = n_examples
        self.sizes = sizes
        self.epoch, self.start = _layout(np.asarray(sizes, np.int64), int(n_examples))

    def indices(self, a: int, b: int) -> np.ndarray:
        """``(b − a, B)`` int32 indices for steps ``a … b−1`` (constant batch size required).

        Epoch ``e`` is the permutation drawn from ``fold_in(key, e)``; the permutations of every
        epoch the steps touch are drawn in one compiled call (one call per epoch cost ~1.7 ms of
        host dispatch each, the largest per-step cost of ``train`` against a hand-written loop).
        """
        B = int(self.sizes[a])
        if b <= a:
            return np.empty((0, B), np.int32)
        epochs = self.epoch[a:b]
        first = int(epochs[0])
        perms = _permutations(self.key, np.arange(first, int(epochs[-1]) + 1, dtype=np.int32), self.n)
        cols = self.start[a:b, None] + np.arange(B)
        return perms[epochs[:, None] - first, cols].astype(np.int32)


@functools.partial(jax.jit, static_argnums=2)
def _permutations_jit(key, epochs, n):
    return _perm_rows(key, epochs, n)


def _permutations(key, epochs: np.ndarray, n: int) -> np.ndarray:
    """``(len(epochs), n)``: the permutation of each epoch, equal to one
    ``jax.random.permutation(fold_in(key, e), n)`` per epoch (threefry per key, an exact sort).

    The epochs are padded to a power-of-two count (the last one repeated), so one compiled program
    serves every count up to it instead of one program per count; each row depends on its own
    epoch only, so the rows kept are the same integers."""
    m = len(epochs)  # >= 1: Plan.indices returns before an empty window
    padded = np.pad(np.asarray(epochs, np.int32), (0, (1 << (m - 1).bit_length()) - m), mode="edge")
    return np.asarray(_permutations_jit(key, padded, n))[:m]
