"""Wrap user functions as landscapes: :func:`from_fn` (any loss) and :func:`from_examples` (finite sum)."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from .. import _validate as V
from .base import AbstractFiniteSum, AbstractLandscape

__all__ = ["FunctionLandscape", "ExampleLandscape", "from_fn", "from_examples"]


class FunctionLandscape(AbstractLandscape):
    """A landscape defined by a user loss ``loss_fn(theta) -> scalar``; see :func:`from_fn`."""

    loss_fn: Callable = eqx.field(static=True)
    dimension: int = eqx.field(static=True)

    @property
    def dim(self) -> int:
        return self.dimension

    def loss(self, theta):
        return self.loss_fn(theta)


class ExampleLandscape(AbstractFiniteSum):
    """A finite sum of a user per-example loss ``loss_fn(theta, x, y)``; see :func:`from_examples`."""

    loss_fn: Callable = eqx.field(static=True)
    inputs: Array
    targets: Array
    dimension: int = eqx.field(static=True)

    @property
    def dim(self) -> int:
        return self.dimension

    @property
    def n_examples(self) -> int:
        return self.inputs.shape[0]

    def example_losses(self, theta):
        return jax.vmap(self.loss_fn, in_axes=(None, 0, 0))(theta, self.inputs, self.targets)

    def batch_loss(self, theta, indices):
        losses = jax.vmap(self.loss_fn, in_axes=(None, 0, 0))(theta, self.inputs[indices], self.targets[indices])
        return jnp.mean(losses)


def _check_callable(loss_fn) -> None:
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")


def from_fn(loss_fn: Callable, dim: int) -> FunctionLandscape:
    """Wrap ``loss_fn(theta) -> scalar`` with ``theta`` of shape ``(dim,)`` as a landscape.

    Args:
        loss_fn: a JAX-traceable scalar function.
        dim: number of parameters ``d ≥ 1``.

    Raises:
        TypeError: if ``loss_fn`` is not callable.
        ValueError: if ``dim < 1`` or ``loss_fn`` does not return a scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> ls = from_fn(lambda th: jnp.sum(th ** 4), dim=3)
        >>> float(ls.loss(jnp.ones(3)))
        3.0
    """
    _check_callable(loss_fn)
    d = V.positive_int("dim", dim)
    out = jax.eval_shape(loss_fn, jax.ShapeDtypeStruct((d,), jnp.float32))
    if out.shape != ():
        raise ValueError(f"loss_fn must return a scalar for theta of shape ({d},), got shape {out.shape}")
    return FunctionLandscape(loss_fn, d)


def from_examples(loss_fn: Callable, inputs, targets, dim: int) -> ExampleLandscape:
    """Finite-sum landscape ``L(θ) = (1/N) Σ_i loss_fn(θ, x_i, y_i)``.

    Args:
        loss_fn: per-example loss ``loss_fn(theta, x, y) -> scalar``.
        inputs: ``(N, ...)`` array of inputs.
        targets: ``(N, ...)`` array of targets.
        dim: number of parameters ``d ≥ 1``.

    Raises:
        TypeError: if ``loss_fn`` is not callable.
        ValueError: on empty or mismatched data, or a non-scalar per-example loss.

    Examples:
        >>> import jax.numpy as jnp
        >>> X = jnp.eye(3); y = jnp.ones(3)
        >>> ls = from_examples(lambda th, x, t: 0.5 * (x @ th - t) ** 2, X, y, dim=3)
        >>> ls.n_examples, float(ls.loss(jnp.ones(3)))
        (3, 0.0)
    """
    _check_callable(loss_fn)
    d = V.positive_int("dim", dim)
    xs = V.finite_array("inputs", inputs)
    ys = V.finite_array("targets", targets)
    if xs.ndim == 0 or xs.shape[0] == 0:
        raise ValueError(f"inputs must have a leading example axis with N >= 1, got shape {xs.shape}")
    if ys.ndim == 0 or ys.shape[0] != xs.shape[0]:
        raise ValueError(f"targets must have N = {xs.shape[0]} entries on the leading axis, got shape {ys.shape}")
    xs_j, ys_j = jnp.asarray(xs), jnp.asarray(ys)
    out = jax.eval_shape(loss_fn, jax.ShapeDtypeStruct((d,), jnp.float32), xs_j[0], ys_j[0])
    if out.shape != ():
        raise ValueError(f"loss_fn must return a scalar per example, got shape {out.shape}")
    return ExampleLandscape(loss_fn, xs_j, ys_j, d)
