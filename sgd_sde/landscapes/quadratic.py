"""Quadratic bowl ``L(θ) = ½ (θ − θ*)ᵀ H (θ − θ*)``: the landscape every SDE closed form lives on."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .. import _validate as V
from .._dtype import float_dtype
from .base import AbstractLandscape

__all__ = ["Quadratic"]


class Quadratic(AbstractLandscape):
    r"""Quadratic landscape :math:`L(\theta) = \tfrac12(\theta-\theta^*)^\top H(\theta-\theta^*)`.

    Args:
        hessian: symmetric positive semi-definite ``(d, d)`` matrix ``H``.
        minimum: ``θ*`` of shape ``(d,)`` (default: the origin).

    ``Hθ*`` is stored (``grad_offset``, computed in float64) so that gradients are ``Hθ − Hθ*``,
    a product straight off the state (fast on XLA:CPU, see :meth:`ensemble_grad`); to move the
    minimum, build a new ``Quadratic`` rather than editing ``theta_star`` in place.

    Raises:
        ValueError: if ``hessian`` is not a finite symmetric PSD square matrix, or ``minimum``
            has the wrong shape or non-finite entries.

    Examples:
        >>> import jax.numpy as jnp
        >>> q = Quadratic(jnp.diag(jnp.array([1.0, 10.0])))
        >>> float(q.loss(jnp.array([1.0, 1.0])))
        5.5

    References:
        Mandt, Hoffman & Blei 2017, "Stochastic Gradient Descent as Approximate Bayesian
        Inference" (the quadratic/OU picture of SGD).
    """

    hessian_matrix: Float[Array, "d d"]
    theta_star: Float[Array, " d"]
    grad_offset: Float[Array, " d"]  # H θ*, so that ∇L = Hθ − Hθ* (see grad)
    citation: ClassVar[str] = (
        "Mandt, Hoffman & Blei 2017, Stochastic Gradient Descent as Approximate Bayesian Inference"
    )

    def __init__(self, hessian, minimum=None):
        h = V.symmetric_psd("hessian", hessian)
        d = h.shape[0]
        if minimum is None:
            m = np.zeros(d, dtype=h.dtype)
        else:
            m = V.finite_array("minimum", minimum, ndim=1)
            if m.shape != (d,):
                raise ValueError(f"minimum must have shape ({d},) to match hessian, got {m.shape}")
        self.hessian_matrix = jnp.asarray(h, float_dtype(h))  # integers are not truncated below
        self.theta_star = jnp.asarray(m, dtype=self.hessian_matrix.dtype)
        self.grad_offset = jnp.asarray(np.asarray(h, np.float64) @ np.asarray(m, np.float64), self.hessian_matrix.dtype)

    @property
    def dim(self) -> int:
        return self.hessian_matrix.shape[0]

    def loss(self, theta):
        r = theta - self.theta_star.astype(theta.dtype)
        return 0.5 * r @ (self.hessian_matrix.astype(theta.dtype) @ r)

    def grad(self, theta):
        # Hθ − Hθ* rather than H(θ − θ*): on XLA:CPU an elementwise op feeding a matmul operand
        # makes the (vmapped) matmul run single-threaded — 1.5x slower per step on 2 cores
        # (benchmarks/RESULTS.md, "Why the library was slower than a hand-written scan").
        return self.hessian_matrix.astype(theta.dtype) @ theta - self.grad_offset.astype(theta.dtype)

    def ensemble_grad(self, theta):
        h = self.hessian_matrix.astype(theta.dtype)
        return h @ theta - self.grad_offset.astype(theta.dtype)[:, None]

    def value_and_grad(self, theta):
        g = self.grad(theta)
        return 0.5 * jnp.dot(theta - self.theta_star.astype(theta.dtype), g), g

    def ensemble_value_and_grad(self, theta):
        # ½ (θ − θ*)·(Hθ − Hθ*): the value reuses the gradient's product Hθ (the same expression
        # as ensemble_grad, so a step's gradient and the recorded loss share one matmul)
        g = self.ensemble_grad(theta)
        return 0.5 * jnp.sum((theta - self.theta_star.astype(theta.dtype)[:, None]) * g, axis=0), g

    def hvp(self, theta, v):
        return self.hessian_matrix.astype(theta.dtype) @ v

    def hessian(self, theta):
        return self.hessian_matrix.astype(theta.dtype)

    def minimum(self):
        return self.theta_star
