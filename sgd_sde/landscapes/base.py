"""Abstract landscapes: a loss over parameters ``theta`` of shape ``(d,)``, optionally a finite sum.

A landscape is a frozen equinox module. Concrete ones implement :meth:`AbstractLandscape.loss`;
finite-sum ones (``L(θ) = (1/N) Σ_i ℓ_i(θ)``) also implement
:meth:`AbstractFiniteSum.example_losses`, from which the exact minibatch gradient, the
per-example gradients and the Fisher-shaped noise are all derived through *one* kernel,
:meth:`AbstractFiniteSum.weighted_grad` (``∇_θ Σ_i w_i ℓ_i(θ)``, one backward pass, never a
``(N, d)`` matrix unless asked for).

Every method acts on a single particle; the simulator batches them with ``jax.vmap``.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

__all__ = ["AbstractLandscape", "AbstractFiniteSum"]


class AbstractLandscape(eqx.Module):
    """A differentiable loss ``L(θ)`` over ``θ ∈ R^d``.

    Subclasses implement :meth:`loss` and :attr:`dim`; they may override :meth:`grad`,
    :meth:`hvp` and :meth:`hessian` with closed forms, and :meth:`minimum` /
    :meth:`hessian_at_minimum` when the landscape has a known minimum (checks use them).
    """

    citation: ClassVar[str] = ""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Number of parameters ``d``."""

    @abc.abstractmethod
    def loss(self, theta: Float[Array, " d"]) -> Float[Array, ""]:
        """The (mean) loss at ``theta``."""

    @property
    def n_examples(self) -> int | None:
        """``N`` for a finite-sum landscape, else ``None``."""
        return None

    def grad(self, theta: Float[Array, " d"]) -> Float[Array, " d"]:
        """``∇L(θ)``."""
        return jax.grad(self.loss)(theta)

    def ensemble_grad(self, theta: Float[Array, "d P"]) -> Float[Array, "d P"]:
        """``∇L`` of every column of ``theta`` (``(d, P)``, the ensemble layout of the dynamics).

        The default batches :meth:`grad` with ``jax.vmap``. Linear-algebra landscapes override it
        with one explicit matmul on the ``(d, P)`` block: how ``vmap`` lays out a batched
        matrix-vector product (and whether an elementwise op sits on a matmul operand) decides
        whether XLA:CPU runs the matmul multi-threaded (benchmarks/RESULTS.md).
        """
        return jax.vmap(self.grad, in_axes=1, out_axes=1)(theta)

    def value_and_grad(self, theta: Float[Array, " d"]) -> tuple[Float[Array, ""], Float[Array, " d"]]:
        """``(L(θ), ∇L(θ))`` from one evaluation (default: :func:`jax.value_and_grad` of :meth:`loss`)."""
        return jax.value_and_grad(self.loss)(theta)

    def ensemble_value_and_grad(self, theta: Float[Array, "d P"]) -> tuple[Float[Array, " P"], Float[Array, "d P"]]:
        """``(L, ∇L)`` of every column of ``theta``, sharing what the two have in common.

        The engine records the ``"loss"`` observable as ``ensemble_value_and_grad(θ)[0]`` at the
        state a step is about to start from, in the same compiled computation as that step's own
        :meth:`ensemble_grad`, so XLA computes the shared work once (common-subexpression
        elimination). The default is ``vmap(loss)`` with :meth:`ensemble_grad` (when only the
        value is used the gradient is dead code, and the value costs what :meth:`loss` costs);
        a landscape whose loss is cheap given its gradient overrides it (:class:`Quadratic`:
        ``½ (θ − θ*)·∇L``, no second matmul).
        """
        return jax.vmap(self.loss, in_axes=1)(theta), self.ensemble_grad(theta)

    def hvp(self, theta: Float[Array, " d"], v: Float[Array, " d"]) -> Float[Array, " d"]:
        """Hessian-vector product ``∇²L(θ) v`` (forward-over-reverse)."""
        return jax.jvp(self.grad, (theta,), (v,))[1]

    def hessian(self, theta: Float[Array, " d"]) -> Float[Array, "d d"]:
        """Dense Hessian ``∇²L(θ)`` (only for small ``d``)."""
        return jax.hessian(self.loss)(theta)

    def minimum(self) -> Float[Array, " d"] | None:
        """A known global minimiser, or ``None``."""
        return None


class AbstractFiniteSum(AbstractLandscape):
    """A finite-sum loss ``L(θ) = (1/N) Σ_i ℓ_i(θ)``.

    Subclasses implement :meth:`example_losses` (all ``N`` values ``ℓ_i(θ)``) and
    :attr:`n_examples`; they may override :meth:`batch_loss` to avoid evaluating every example.
    """

    @property
    @abc.abstractmethod
    def n_examples(self) -> int:
        """Number of examples ``N``."""

    @abc.abstractmethod
    def example_losses(self, theta: Float[Array, " d"]) -> Float[Array, " N"]:
        """The per-example losses ``(ℓ_1(θ), ..., ℓ_N(θ))``."""

    def loss(self, theta: Float[Array, " d"]) -> Float[Array, ""]:
        return jnp.mean(self.example_losses(theta))

    def batch_loss(self, theta: Float[Array, " d"], indices: Int[Array, " B"]) -> Float[Array, ""]:
        """Mean loss over the examples ``indices`` (repeats count with multiplicity)."""
        return jnp.mean(self.example_losses(theta)[indices])

    def weighted_grad(self, theta: Float[Array, " d"], weights: Float[Array, " N"]) -> Float[Array, " d"]:
        """``∇_θ Σ_i w_i ℓ_i(θ)`` in one backward pass.

        This is the single kernel behind the full gradient (``w = 1/N``), exact minibatch
        gradients (``w`` = counts / B) and Fisher-shaped Gaussian noise
        (``w = (z − z̄)/√N`` gives a draw with covariance ``C(θ)``).
        """
        return jax.grad(lambda th: jnp.dot(weights.astype(th.dtype), self.example_losses(th)))(theta)

    def ensemble_weighted_grad(self, theta: Float[Array, "d P"], weights: Float[Array, "N P"]) -> Float[Array, "d P"]:
        """:meth:`weighted_grad` for every column of ``theta`` with its column of ``weights``.

        The default batches :meth:`weighted_grad` with ``jax.vmap``. An override with explicit
        matmuls can be much faster on CPU (several times, for Fisher-shaped noise on linear regression)
        but makes sharded runs differ from one-device runs in the last bits, which is why the
        built-in landscapes keep the default (docs/performance.md).
        """
        return jax.vmap(self.weighted_grad, in_axes=(1, 1), out_axes=1)(theta, weights)

    def batch_grad(self, theta: Float[Array, " d"], indices: Int[Array, " B"]) -> Float[Array, " d"]:
        """Exact minibatch gradient ``(1/B) Σ_{i ∈ batch} ∇ℓ_i(θ)``."""
        return jax.grad(self.batch_loss)(theta, indices)

    def per_example_grads(self, theta: Float[Array, " d"]) -> Float[Array, "N d"]:
        """All per-example gradients as an ``(N, d)`` array (for measurement and tests)."""
        return jax.jacrev(self.example_losses)(theta)

    def gradient_covariance(self, theta: Float[Array, " d"]) -> Float[Array, "d d"]:
        """``C(θ) = (1/N) Σ_i g_i g_iᵀ − ḡ ḡᵀ`` as a dense matrix (for tests and small ``d``)."""
        g = self.per_example_grads(theta)
        centred = g - jnp.mean(g, axis=0)
        return centred.T @ centred / g.shape[0]
