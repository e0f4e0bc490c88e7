r"""Batch normalisation and Ghost Batch Normalisation (Hoffer, Hubara & Soudry 2017).

Ghost BN splits a batch of ``B_L`` examples into ``B_L / B_S`` ghost batches of ``B_S`` and
normalises each with its own statistics; with ``B_S = B_L`` it is ordinary batch norm
(Ioffe & Szegedy 2015). Running statistics for inference follow PyTorch's convention — one
momentum update per ghost batch, in order, ``r ← (1 − m) r + m s`` with the *unbiased* variance —
which is what Hoffer et al.'s code does by calling ``F.batch_norm`` on each chunk.

References:
    Hoffer, Hubara & Soudry 2017, "Train Longer, Generalize Better: Closing the Generalization Gap
    in Large Batch Training of Neural Networks" (NeurIPS), Section 4; Ioffe & Szegedy 2015,
    "Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift".
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .. import _validate as V

__all__ = ["BNStats", "BatchNorm", "ghost_batch_norm"]


class BNStats(eqx.Module):
    """Running mean and variance of one batch-norm layer (state, not parameters)."""

    mean: Array
    var: Array


def ghost_batch_norm(x, weight, bias, stats: BNStats, *, ghost_size: int | None, momentum: float = 0.1, eps: float = 1e-5, train: bool = True):
    r"""Ghost batch norm over axis 1 (features/channels) of ``x`` (``(B, C, ...)``).

    In training mode each ghost batch ``x^{(j)}`` (consecutive ``ghost_size`` examples) is
    normalised by its own mean and biased variance over the batch and spatial axes,
    ``y = γ (x − μ_j)/√(σ_j² + eps) + β``, and the running statistics get one momentum update per
    ghost batch. In inference mode the running statistics are used.

    Args:
        x: ``(B, C, ...)`` activations.
        weight, bias: ``(C,)`` scale ``γ`` and shift ``β``.
        stats: running :class:`BNStats`.
        ghost_size: ``B_S`` (``None``: the whole batch, i.e. ordinary BN); must divide ``B``.
        momentum: running-statistics momentum ``m`` (PyTorch convention).
        eps: variance floor.
        train: batch statistics (True) or running statistics (False).

    Returns:
        ``(y, new_stats)``.

    Raises:
        ValueError: if ``ghost_size`` does not divide the batch (checked on the static shape).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> x = jax.random.normal(jax.random.key(0), (8, 3))
        >>> st = BNStats(jnp.zeros(3), jnp.ones(3))
        >>> y, _ = ghost_batch_norm(x, jnp.ones(3), jnp.zeros(3), st, ghost_size=4, eps=0.0)
        >>> bool(jnp.allclose(y.reshape(2, 4, 3).mean(axis=1), 0.0, atol=1e-6))
        True

    References:
        Hoffer et al. 2017, "Train Longer, Generalize Better", Algorithm 1 (Ghost Batch Norm).
    """
    shape_c = (1, -1) + (1,) * (x.ndim - 2)
    if not train:
        y = (x - stats.mean.reshape(shape_c)) / jnp.sqrt(stats.var.reshape(shape_c) + eps)
        return y * weight.reshape(shape_c) + bias.reshape(shape_c), stats
    b = x.shape[0]
    g = b if ghost_size is None else ghost_size
    if b % g:
        raise ValueError(f"ghost_size must divide the batch size, got ghost_size={g} and batch {b}")
    n = b // g
    xg = x.reshape((n, g) + x.shape[1:])
    axes = (1,) + tuple(range(3, xg.ndim))
    mu = jnp.mean(xg, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(xg - mu), axis=axes, keepdims=True)
    y = ((xg - mu) / jnp.sqrt(var + eps)).reshape(x.shape)
    y = y * weight.reshape(shape_c) + bias.reshape(shape_c)
    count = g * (x[0, 0].size)
    mu_j = mu.reshape(n, -1)
    var_j = var.reshape(n, -1) * (count / max(count - 1, 1))
    m = momentum
    powers = (1.0 - m) ** jnp.arange(n - 1, -1, -1, dtype=x.dtype)  # (1−m)^{n−1−j}
    new_mean = (1.0 - m) ** n * stats.mean + m * jnp.sum(powers[:, None] * mu_j, axis=0)
    new_var = (1.0 - m) ** n * stats.var + m * jnp.sum(powers[:, None] * var_j, axis=0)
    return y, BNStats(new_mean.astype(stats.mean.dtype), new_var.astype(stats.var.dtype))


class BatchNorm(eqx.Module):
    """A (ghost) batch-norm layer: parameters ``weight``/``bias``; running stats live in the state.

    Args:
        n_features: channels ``C``.
        ghost_size: ``B_S`` (``None``: ordinary BN).
        momentum: running-statistics momentum (PyTorch convention, default 0.1).
        eps: variance floor.

    References:
        Hoffer et al. 2017, "Train Longer, Generalize Better"; Ioffe & Szegedy 2015.
    """

    weight: Array
    bias: Array
    ghost_size: int | None = eqx.field(static=True)
    momentum: float = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(self, n_features: int, *, ghost_size: int | None = None, momentum: float = 0.1, eps: float = 1e-5, dtype=jnp.float32):
        c = V.positive_int("n_features", n_features)
        self.ghost_size = None if ghost_size is None else V.positive_int("ghost_size", ghost_size)
        self.momentum = V.in_open_interval("momentum", momentum, 0.0, 1.0 + 1e-12)
        self.eps = V.positive("eps", eps)
        self.weight = jnp.ones((c,), dtype)
        self.bias = jnp.zeros((c,), dtype)

    def init_stats(self) -> BNStats:
        return BNStats(jnp.zeros_like(self.weight), jnp.ones_like(self.weight))

    def __call__(self, x, stats: BNStats, *, train: bool, momentum=None):
        """Normalise ``x``; ``momentum`` overrides the layer's (e.g. SWA's ``b/(n+b)`` pass)."""
        m = self.momentum if momentum is None else momentum
        return ghost_batch_norm(x, self.weight, self.bias, stats, ghost_size=self.ghost_size, momentum=m, eps=self.eps, train=train)
