"""Finite-sum regression landscapes: linear least squares and logistic regression."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .. import _validate as V
from .._dtype import float_dtype
from .base import AbstractFiniteSum

__all__ = ["LinearRegression", "LogisticRegression"]


def _check_xy(X, y, *, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    Xa = V.finite_array("X", X, ndim=2)
    ya = V.finite_array("y", y, ndim=1)
    if Xa.shape[0] == 0 or Xa.shape[1] == 0:
        raise ValueError(f"X must have at least one example and one feature, got shape {Xa.shape}")
    if ya.shape[0] != Xa.shape[0]:
        raise ValueError(f"y must have one entry per row of X ({Xa.shape[0]}), got {ya.shape[0]}")
    if binary and not np.all((ya == 0) | (ya == 1)):
        raise ValueError("y must contain only labels 0 and 1 for LogisticRegression")
    return Xa, ya


class LinearRegression(AbstractFiniteSum):
    r"""Least squares, :math:`\ell_i(\theta) = \tfrac12 (x_i^\top\theta - y_i)^2`, ``L = mean_i ℓ_i``.

    The Hessian is ``XᵀX/N`` everywhere; the minimum is the least-squares solution.

    Args:
        X: design matrix ``(N, d)``.
        y: targets ``(N,)``.

    Raises:
        ValueError: on non-finite data or mismatched shapes.

    Examples:
        >>> import jax.numpy as jnp
        >>> lr = LinearRegression(jnp.eye(2), jnp.array([1.0, 2.0]))
        >>> lr.minimum().tolist()
        [1.0, 2.0]

    References:
        Zhu, Wu, Yu, Wu & Ma 2019, "The Anisotropic Noise in Stochastic Gradient Descent"
        (per-example gradient covariance of least squares).
    """

    X: Float[Array, "N d"]
    y: Float[Array, " N"]
    citation: ClassVar[str] = "Zhu et al. 2019, The Anisotropic Noise in Stochastic Gradient Descent"

    def __init__(self, X, y):
        Xa, ya = _check_xy(X, y, binary=False)
        self.X = jnp.asarray(Xa, float_dtype(Xa))  # integer data is not truncated below
        self.y = jnp.asarray(ya, dtype=self.X.dtype)

    @property
    def dim(self) -> int:
        return self.X.shape[1]

    @property
    def n_examples(self) -> int:
        return self.X.shape[0]

    def example_losses(self, theta):
        r = self.X.astype(theta.dtype) @ theta - self.y.astype(theta.dtype)
        return 0.5 * r * r

    def batch_loss(self, theta, indices):
        r = self.X[indices].astype(theta.dtype) @ theta - self.y[indices].astype(theta.dtype)
        return 0.5 * jnp.mean(r * r)

    def hessian(self, theta):
        X = self.X.astype(theta.dtype)
        return X.T @ X / self.n_examples

    def minimum(self):
        return jnp.linalg.lstsq(self.X, self.y)[0]


class LogisticRegression(AbstractFiniteSum):
    r"""Logistic regression with labels in {0, 1}:
    :math:`\ell_i(\theta) = \log(1 + e^{z_i}) - y_i z_i + \tfrac{\lambda}{2}|\theta|^2`, ``z_i = x_iᵀθ``.

    Args:
        X: design matrix ``(N, d)``.
        y: labels ``(N,)`` in {0, 1}.
        l2: ridge coefficient ``λ ≥ 0`` (makes the minimum unique on separable data).

    Raises:
        ValueError: on labels outside {0, 1}, non-finite data, mismatched shapes or ``l2 < 0``.

    References:
        Smith & Le 2018, "A Bayesian Perspective on Generalization and Stochastic Gradient Descent".
    """

    X: Float[Array, "N d"]
    y: Float[Array, " N"]
    l2: float
    citation: ClassVar[str] = (
        "Smith & Le 2018, A Bayesian Perspective on Generalization and Stochastic Gradient Descent"
    )

    def __init__(self, X, y, l2: float = 0.0):
        Xa, ya = _check_xy(X, y, binary=True)
        self.X = jnp.asarray(Xa, float_dtype(Xa))
        self.y = jnp.asarray(ya, dtype=self.X.dtype)
        self.l2 = V.nonnegative("l2", l2)

    @property
    def dim(self) -> int:
        return self.X.shape[1]

    @property
    def n_examples(self) -> int:
        return self.X.shape[0]

    def _losses(self, theta, X, y):
        z = X.astype(theta.dtype) @ theta
        return jax.nn.softplus(z) - y.astype(theta.dtype) * z + 0.5 * self.l2 * jnp.sum(theta * theta)

    def example_losses(self, theta):
        return self._losses(theta, self.X, self.y)

    def batch_loss(self, theta, indices):
        return jnp.mean(self._losses(theta, self.X[indices], self.y[indices]))
