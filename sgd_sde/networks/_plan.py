"""Host-side training plan: per-step batch sizes, learning rates and minibatch indices.

Minibatches are drawn *without replacement within an epoch*: epoch ``e`` uses the permutation
``jax.random.permutation(fold_in(key, e), N)`` and consecutive slices of it; when the next batch
does not fit in what is left of the epoch, a new epoch starts (the remainder is dropped). The
plan depends only on ``(key, N, batch sizes)``, so a resumed run sees the same batches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import numpy as np

from .. import _validate as V

__all__ = ["batch_sizes", "learning_rates", "Plan"]


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


class Plan:
    """Batch indices for every step, generated lazily per chunk."""

    def __init__(self, key, n_examples: int, sizes: np.ndarray):
        self.key = key
        self.n = n_examples
        self.sizes = sizes
        epoch = np.zeros(sizes.size, np.int64)
        start = np.zeros(sizes.size, np.int64)
        e, pos = 0, 0
        for k, b in enumerate(sizes):
            if pos + b > n_examples:
                e, pos = e + 1, 0
            epoch[k], start[k] = e, pos
            pos += b
        self.epoch, self.start = epoch, start

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
    return jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(key, e), n))(epochs)


def _permutations(key, epochs: np.ndarray, n: int) -> np.ndarray:
    """``(len(epochs), n)``: the permutation of each epoch, equal to one
    ``jax.random.permutation(fold_in(key, e), n)`` per epoch (threefry per key, an exact sort)."""
    return np.asarray(_permutations_jit(key, epochs, n))
