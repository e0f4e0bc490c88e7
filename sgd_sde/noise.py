r"""Gradient-noise models: how the stochastic gradient differs from ``∇L``.

Every model answers two questions for the dynamics in :mod:`sgd_sde.dynamics`:

* **SGD** — :meth:`AbstractNoise.stochastic_gradient`: the minibatch gradient ``ĝ(θ)`` of batch size
  ``B``, from a draw made by :meth:`AbstractNoise.sample`.
* **SDE** — :meth:`AbstractNoise.diffusion`: ``C(θ)^{1/2} z`` for a standard increment ``z`` from
  :meth:`AbstractNoise.increment`, where ``C(θ)`` is the *per-example* gradient covariance
  (batch size 1). The SDE is ``dθ = −∇L dt + sqrt(lr) c(B) C(θ)^{1/2} dW``.

The batch scale ``c(B)`` belongs to the noise model (:meth:`AbstractNoise.batch_scale`, one
formula in :func:`batch_scale`); SGD and every SDE take it from there. For the Gaussian models
the two sides share one kernel: ``ĝ = ∇L + c(B) · C(θ)^{1/2} z`` with ``z ~ N(0, I_m)`` and

* ``c(B)² = 1/B`` (sampling **with** replacement, the default: ``Cov ĝ = C/B``), or
* ``c(B)² = (N − B)/(B(N − 1))`` (**without** replacement from ``N`` examples, set
  ``n_population=N``; Chaudhari & Soatto 2018).

So SGD with Gaussian noise and the Euler–Maruyama SDE driven by the same key use the very same
``z`` (a coupled comparison). No model builds a ``d × d`` matrix at run time unless it was given
one: :class:`LowRank` multiplies by its factor, :class:`FisherShaped` samples through one
backward pass of a randomly weighted loss.

Covariances are checked eagerly (symmetric, PSD, finite) and every model is validated against
the landscape by :meth:`AbstractNoise.bind`, which :func:`sgd_sde.simulate` calls before tracing.
"""


import abc
import math
from typing import ClassVar

import equinox as eqx
from equinox import AbstractClassVar, AbstractVar
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from . import _validate as V
from ._dtype import float_dtype, warn_if_downcast
from ._samplers import _floyd_subsets, standard_normal, symmetric_stable, uniform_below
from .landscapes.base import AbstractFiniteSum, AbstractLandscape

__all__ = [
    "AbstractNoise",
    "AbstractGaussianNoise",
    "NoNoise",
    "Isotropic",
    "Diagonal",
    "Dense",
    "LowRank",
    "FisherShaped",
    "HessianShaped",
    "HeavyTailed",
    "ExactMinibatch",
    "batch_scale",
    "standard_normal",
    "symmetric_stable",
    "uniform_below",
    "from_covariance",
    "from_per_example_grads",
]


def batch_scale(batch_size, dtype, *, n_population: int | None = None, stable_index: float | None = None):
    r"""The batch scale ``c(B)``: the factor on the per-example noise amplitude in a mean of ``B``
    per-example gradients. The one place this formula lives; every dynamics asks the noise model
    (:meth:`AbstractNoise.batch_scale`), which calls this.

    * Gaussian, sampling **with** replacement: ``c(B)² = 1/B``;
    * Gaussian, **without** replacement from ``N = n_population`` examples:
      ``c(B)² = (N − B)/(B (N − 1))`` (the finite-population correction);
    * symmetric α-stable (``stable_index = α``): the mean of ``B`` i.i.d. stable variates is stable
      with scale ``B^{1/α − 1}``, so ``c(B) = B^{1/α − 1}``.

    Args:
        batch_size: ``B`` (an int, or a traced value under a batch-size schedule).
        dtype: float dtype of the result.
        n_population: ``N`` for sampling without replacement (``None``: with replacement).
        stable_index: ``α`` of an α-stable model (``None``: Gaussian).

    Returns:
        ``c(B)`` as a 0-d array of ``dtype``.

    Examples:
        >>> float(batch_scale(4, "float32"))
        0.5
        >>> round(float(batch_scale(10, "float32", n_population=20)) ** 2, 6)  # (20-10)/(10*19)
        0.052632

    References:
        Chaudhari & Soatto 2018, "Stochastic gradient descent performs variational inference,
        converges to limit cycles for deep networks" (finite-population factor); Simsekli, Sagun &
        Gürbüzbalaban 2019, "A Tail-Index Analysis of Stochastic Gradient Noise in Deep Neural
        Networks" (α-stable scaling).
    """
    b = jnp.asarray(batch_size, dtype=dtype)
    if stable_index is not None:
        return b ** (1.0 / stable_index - 1.0)
    if n_population is None:
        return jax.lax.rsqrt(b)
    n = float(n_population)
    return jnp.sqrt(jnp.maximum(n - b, 0.0) / (b * (n - 1.0)))


class AbstractNoise(eqx.Module):
    """Base of all gradient-noise models.

    A new model writes :meth:`diffusion` and :meth:`stochastic_gradient` and declares the abstract
    attributes below; everything else has a default (``increment``/``sample``: ``N(0, I_m)``,
    ``batch_scale``: the Gaussian ``c(B)`` with :meth:`population`, ensemble kernels: ``vmap``).

    Attributes:
        stable_index: the index ``α`` of the increments (2 for Gaussian noise). Euler–Maruyama
            scales an increment over a step ``dt`` by ``dt^{1/α}``.
        supports_batch_schedule: whether the batch size may change from step to step (``False``
            when the sample's shape depends on it).
        citation: the paper the model comes from.
    """

    stable_index: AbstractVar[float]
    supports_batch_schedule: AbstractClassVar[bool]
    citation: AbstractClassVar[str]

    def bind(self, landscape: AbstractLandscape) -> "AbstractNoise":
        """Validate against ``landscape`` (eagerly) and return a model ready for the hot loop."""
        return self

    def population(self, landscape: AbstractLandscape) -> int | None:
        """``N`` when minibatches are drawn without replacement from ``N`` examples, else ``None``."""
        return getattr(self, "n_population", None)

    def batch_scale(self, landscape: AbstractLandscape, batch_size, dtype) -> Array:
        """``c(B)`` of this model (:func:`batch_scale`): SGD's minibatch gradient is
        ``∇L + c(B) C^{1/2} z`` and the SDE's diffusion is ``sqrt(η) c(B) C^{1/2}`` — one factor
        for both, so they cannot disagree."""
        return batch_scale(batch_size, dtype, n_population=self.population(landscape))

    def check_batch_size(self, landscape: AbstractLandscape, batch_size: int) -> None:
        """Raise ``ValueError`` if ``batch_size`` is impossible for this model on ``landscape``."""

    def noise_dim(self, landscape: AbstractLandscape) -> int:
        """Size ``m`` of a standard increment ``z``."""
        return landscape.dim

    def increment(self, key, landscape, n_particles: int, dtype) -> Array:
        """Standard increments ``z``, shape ``(m, n_particles)`` (particles on the minor axis), from
        :func:`standard_normal`."""
        return standard_normal(key, (self.noise_dim(landscape), n_particles), dtype)

    def sample(self, key, landscape, n_particles: int, batch_size, dtype):
        """What one SGD step consumes (for Gaussian models: the same ``z`` as :meth:`increment`)."""
        return self.increment(key, landscape, n_particles, dtype)

    @abc.abstractmethod
    def diffusion(self, landscape, theta: Float[Array, " d"], z: Array) -> Float[Array, " d"]:
        """``C(θ)^{1/2} z`` for one particle (per-example covariance, batch size 1)."""

    @abc.abstractmethod
    def stochastic_gradient(self, landscape, theta, sample, batch_size) -> Float[Array, " d"]:
        """The minibatch gradient ``ĝ(θ)`` for one particle."""

    def ensemble_diffusion(self, landscape, theta: Float[Array, "d P"], z) -> Float[Array, "d P"]:
        """:meth:`diffusion` for every particle (``theta`` and ``z`` with particles on axis 1).

        The default batches :meth:`diffusion` with ``jax.vmap``; models whose draw is a matmul
        on the whole ensemble override it (``FisherShaped`` through
        :meth:`~sgd_sde.landscapes.AbstractFiniteSum.ensemble_weighted_grad`).
        """
        return jax.vmap(lambda th, zz: self.diffusion(landscape, th, zz), in_axes=(1, 1), out_axes=1)(theta, z)

    def ensemble_stochastic_gradient(self, landscape, theta: Float[Array, "d P"], sample, batch_size):
        """:meth:`stochastic_gradient` for every particle (``sample`` with particles on its last axis)."""
        fn = lambda th, s: self.stochastic_gradient(landscape, th, s, batch_size)  # noqa: E731
        return jax.vmap(fn, in_axes=(1, 1), out_axes=1)(theta, sample)


class NoNoise(AbstractNoise):
    """No gradient noise: ``ĝ = ∇L`` (full-batch gradient descent; the SDE is the gradient flow)."""

    stable_index: ClassVar[float] = 2.0
    supports_batch_schedule: ClassVar[bool] = True
    citation: ClassVar[str] = "Cauchy 1847, Méthode générale pour la résolution des systèmes d'équations simultanées"

    def noise_dim(self, landscape):
        return 1

    def diffusion(self, landscape, theta, z):
        return jnp.zeros_like(theta)

    def stochastic_gradient(self, landscape, theta, sample, batch_size):
        return landscape.grad(theta)

    def ensemble_diffusion(self, landscape, theta, z):
        return jnp.zeros_like(theta)

    def ensemble_stochastic_gradient(self, landscape, theta, sample, batch_size):
        return landscape.ensemble_grad(theta)


class AbstractGaussianNoise(AbstractNoise):
    """Gaussian noise ``ĝ = ∇L + c(B) C(θ)^{1/2} z``; subclasses define :meth:`diffusion`.

    ``n_population=None`` means sampling with replacement (``Cov ĝ = C/B``); an integer ``N``
    means without replacement from ``N`` examples (``Cov ĝ = (N−B)/(B(N−1)) C``).
    """

    stable_index: ClassVar[float] = 2.0
    supports_batch_schedule: ClassVar[bool] = True

    def check_batch_size(self, landscape, batch_size):
        n = self.population(landscape)
        if n is not None and isinstance(batch_size, (int, np.integer)) and batch_size > n:
            raise ValueError(
                f"batch_size must be <= {n} (the population) when sampling without replacement, got {batch_size}"
            )

    def stochastic_gradient(self, landscape, theta, sample, batch_size):
        c = self.batch_scale(landscape, batch_size, theta.dtype)
        return landscape.grad(theta) + c * self.diffusion(landscape, theta, sample)

    def ensemble_stochastic_gradient(self, landscape, theta, sample, batch_size):
        c = self.batch_scale(landscape, batch_size, theta.dtype)
        return landscape.ensemble_grad(theta) + c * self.ensemble_diffusion(landscape, theta, sample)


def _population_arg(n_population) -> int | None:
    if n_population is None:
        return None
    n = V.positive_int("n_population", n_population)
    if n < 2:
        raise ValueError(f"n_population must be >= 2 (or None for sampling with replacement), got {n}")
    return n


def _check_dim(name: str, size: int, landscape) -> None:
    if size != landscape.dim:
        raise ValueError(f"{name} has dimension {size}, but the landscape has dim {landscape.dim}")


class Isotropic(AbstractGaussianNoise):
    """Isotropic per-example covariance ``C = σ² I``.

    Args:
        variance: ``σ² ≥ 0``.
        n_population: ``N`` for sampling without replacement (default ``None``: with replacement).

    References:
        Welling & Teh 2011, "Bayesian Learning via Stochastic Gradient Langevin Dynamics";
        Jastrzębski et al. 2017, "Three Factors Influencing Minima in SGD".
    """

    variance: float
    n_population: int | None = None
    citation: ClassVar[str] = "Jastrzebski et al. 2017, Three Factors Influencing Minima in SGD"

    def __init__(self, variance: float, n_population: int | None = None):
        self.variance = V.nonnegative("variance", variance)
        self.n_population = _population_arg(n_population)

    def diffusion(self, landscape, theta, z):
        return math.sqrt(self.variance) * z.astype(theta.dtype)


class Diagonal(AbstractGaussianNoise):
    """Diagonal per-example covariance ``C = diag(variances)``.

    Args:
        variances: ``(d,)`` non-negative variances.
        n_population: ``N`` for sampling without replacement.
    """

    std: Float[Array, " d"]
    n_population: int | None = None
    citation: ClassVar[str] = "Mandt, Hoffman & Blei 2017, Stochastic Gradient Descent as Approximate Bayesian Inference"

    def __init__(self, variances, n_population: int | None = None):
        v = V.finite_array("variances", variances, ndim=1)
        if v.size == 0 or np.any(v < 0):
            raise ValueError("variances must be a non-empty vector of values >= 0")
        warn_if_downcast("variances", variances)
        self.std = jnp.sqrt(jnp.asarray(v))
        self.n_population = _population_arg(n_population)

    def bind(self, landscape):
        _check_dim("variances", self.std.shape[0], landscape)
        return self

    def diffusion(self, landscape, theta, z):
        return self.std.astype(theta.dtype) * z.astype(theta.dtype)


class LowRank(AbstractGaussianNoise):
    """Low-rank per-example covariance ``C = F Fᵀ`` with ``F`` of shape ``(d, r)``, never materialised.

    Draws ``r`` normals per particle-step instead of ``d``; cheaper than :class:`Dense` when ``r < d``.

    Args:
        factor: ``F``, shape ``(d, r)``.
        n_population: ``N`` for sampling without replacement.
    """

    factor: Float[Array, "d r"]
    n_population: int | None = None
    citation: ClassVar[str] = "Zhu et al. 2019, The Anisotropic Noise in Stochastic Gradient Descent"

    def __init__(self, factor, n_population: int | None = None):
        f = V.finite_array("factor", factor, ndim=2)
        if f.shape[0] == 0 or f.shape[1] == 0:
            raise ValueError(f"factor must have shape (d, r) with d, r >= 1, got {f.shape}")
        warn_if_downcast("factor", factor)
        self.factor = jnp.asarray(f)
        self.n_population = _population_arg(n_population)

    def bind(self, landscape):
        _check_dim("factor", self.factor.shape[0], landscape)
        return self

    def noise_dim(self, landscape):
        return self.factor.shape[1]

    def diffusion(self, landscape, theta, z):
        return self.factor.astype(theta.dtype) @ z.astype(theta.dtype)


def _psd_factor(name: str, cov) -> np.ndarray:
    c = V.symmetric_psd(name, cov).astype(np.float64)
    lam, q = np.linalg.eigh(0.5 * (c + c.T))
    return (q * np.sqrt(np.clip(lam, 0.0, None))) @ q.T


class Dense(AbstractGaussianNoise):
    """Dense per-example covariance ``C`` (symmetric PSD); sampled with its symmetric square root.

    Args:
        cov: ``(d, d)`` symmetric positive semi-definite matrix.
        n_population: ``N`` for sampling without replacement.

    Raises:
        ValueError: if ``cov`` is not square, symmetric, finite and PSD.

    References:
        Mandt, Hoffman & Blei 2017, "Stochastic Gradient Descent as Approximate Bayesian Inference".
    """

    sqrt_cov: Float[Array, "d d"]
    n_population: int | None = None
    citation: ClassVar[str] = "Mandt, Hoffman & Blei 2017, Stochastic Gradient Descent as Approximate Bayesian Inference"

    def __init__(self, cov, n_population: int | None = None):
        root = _psd_factor("cov", cov).astype(float_dtype(cov))
        warn_if_downcast("cov", cov)
        self.sqrt_cov = jnp.asarray(root)
        self.n_population = _population_arg(n_population)

    def bind(self, landscape):
        _check_dim("cov", self.sqrt_cov.shape[0], landscape)
        return self

    def diffusion(self, landscape, theta, z):
        return self.sqrt_cov.astype(theta.dtype) @ z.astype(theta.dtype)


class FisherShaped(AbstractGaussianNoise):
    r"""The landscape's own per-example gradient covariance, state-dependent:
    :math:`C(\theta) = \frac1N\sum_i g_i g_i^\top - \bar g\bar g^\top`, times ``scale``.

    Sampled without ever forming ``C`` or the ``(N, d)`` gradient matrix:
    ``C(θ)^{1/2} z = N^{-1/2} ∇_θ Σ_i (z_i − z̄) ℓ_i(θ)`` with ``z ~ N(0, I_N)`` — one backward
    pass of a randomly weighted loss (:meth:`AbstractFiniteSum.weighted_grad`).

    Args:
        scale: multiplies ``C`` (default 1).
        replace: ``True`` (default) gives ``Cov ĝ = C/B``; ``False`` gives ``(N−B)/(B(N−1)) C``.

    References:
        Zhu, Wu, Yu, Wu & Ma 2019, "The Anisotropic Noise in Stochastic Gradient Descent";
        Chaudhari & Soatto 2018, "Stochastic gradient descent performs variational inference,
        converges to limit cycles for deep networks".
    """

    scale: float = 1.0
    replace: bool = True
    citation: ClassVar[str] = "Zhu et al. 2019, The Anisotropic Noise in Stochastic Gradient Descent"

    def __check_init__(self):
        V.nonnegative("scale", self.scale)
        V.flag("replace", self.replace)

    def bind(self, landscape):
        if not isinstance(landscape, AbstractFiniteSum):
            raise ValueError(
                "FisherShaped noise needs a finite-sum landscape (per-example losses); "
                f"got {type(landscape).__name__}. Use Dense/LowRank/HessianShaped instead."
            )
        return self

    def population(self, landscape):
        return None if self.replace else landscape.n_examples

    def noise_dim(self, landscape):
        return landscape.n_examples

    def _weights(self, z, dtype):
        """``w = (z − z̄) √scale / √N`` along the example axis 0 (one particle or ``(N, P)``)."""
        z = z.astype(dtype)
        return (z - jnp.mean(z, axis=0)) * (math.sqrt(self.scale) / math.sqrt(z.shape[0]))

    def diffusion(self, landscape, theta, z):
        return landscape.weighted_grad(theta, self._weights(z, theta.dtype))

    def ensemble_diffusion(self, landscape, theta, z):
        return landscape.ensemble_weighted_grad(theta, self._weights(z, theta.dtype))


class HessianShaped(AbstractGaussianNoise):
    r"""Hessian-shaped per-example covariance ``C(θ) = scale · (|∇²L(θ)| + shift · I)``.

    ``|H|`` is the matrix absolute value (eigenvalues replaced by their absolute values), so the
    model is defined away from minima too; ``shift = δ > 0`` keeps the noise alive where the
    curvature vanishes (Xie et al. 2021 use ``D(x) = η(|V''(x)| + δ)/(2B)``). On a
    :class:`~sgd_sde.landscapes.Quadratic` the square root is computed once by :meth:`bind`;
    otherwise each step forms the ``d × d`` Hessian and its eigendecomposition (small ``d`` only).

    Args:
        scale: ``≥ 0``.
        shift: ``δ ≥ 0``.
        n_population: ``N`` for sampling without replacement.
        sqrt_cov: the ``(d, d)`` root of ``C`` when it is constant (set by :meth:`bind` on a
            quadratic; given, it is used as is and checked to be a finite square matrix).

    References:
        Zhu et al. 2019, "The Anisotropic Noise in Stochastic Gradient Descent";
        Xie, Sato & Sugiyama 2021, "A Diffusion Theory for Deep Learning Dynamics".
    """

    scale: float = 1.0
    shift: float = 0.0
    n_population: int | None = None
    sqrt_cov: Array | None = None
    citation: ClassVar[str] = "Xie, Sato & Sugiyama 2021, A Diffusion Theory for Deep Learning Dynamics"

    def __check_init__(self):
        V.nonnegative("scale", self.scale)
        V.nonnegative("shift", self.shift)
        _population_arg(self.n_population)
        if self.sqrt_cov is not None and not isinstance(self.sqrt_cov, jax.core.Tracer):
            root = V.finite_array("sqrt_cov", self.sqrt_cov, ndim=2)
            if root.shape[0] != root.shape[1]:
                raise ValueError(f"sqrt_cov must be a square matrix, got shape {root.shape}")

    def bind(self, landscape):
        from .landscapes.quadratic import Quadratic

        if self.sqrt_cov is not None:
            _check_dim("sqrt_cov", np.shape(self.sqrt_cov)[0], landscape)

        if isinstance(landscape, Quadratic) and self.sqrt_cov is None:
            h = np.asarray(landscape.hessian_matrix, dtype=np.float64)
            lam, q = np.linalg.eigh(h)
            s = np.sqrt(self.scale * (np.abs(lam) + self.shift))
            root = (q * s) @ q.T
            return HessianShaped(self.scale, self.shift, self.n_population, jnp.asarray(root, float_dtype(landscape.hessian_matrix)))
        return self

    def diffusion(self, landscape, theta, z):
        z = z.astype(theta.dtype)
        if self.sqrt_cov is not None:
            return jnp.asarray(self.sqrt_cov).astype(theta.dtype) @ z
        h = landscape.hessian(theta)
        if h.shape == (1, 1):
            return jnp.sqrt(self.scale * (jnp.abs(h[0, 0]) + self.shift)) * z
        lam, q = jnp.linalg.eigh(0.5 * (h + h.T))
        return q @ (jnp.sqrt(self.scale * (jnp.abs(lam) + self.shift)) * (q.T @ z))


class HeavyTailed(AbstractNoise):
    r"""Symmetric α-stable gradient noise (Simsekli, Sagun & Gürbüzbalaban 2019).

    Per example the noise is ``scale · S`` with ``S`` i.i.d. symmetric α-stable per coordinate
    (characteristic function ``exp(−|t|^α)``). The mean of ``B`` such examples is again α-stable
    with scale ``scale · B^{1/α − 1}``, so ``ĝ = ∇L + scale · B^{1/α−1} S``. The SDE is driven by an
    α-stable Lévy motion: Euler–Maruyama scales the increment by ``dt^{1/α}``. Gaussian limit:
    ``α = 2`` is ``N(0, 2·scale²)`` per coordinate.

    Args:
        alpha: tail index ``α ∈ (0, 2]``.
        scale: ``> 0``.

    References:
        Simsekli, Sagun & Gürbüzbalaban 2019, "A Tail-Index Analysis of Stochastic Gradient Noise
        in Deep Neural Networks".
    """

    alpha: float
    scale: float = 1.0
    supports_batch_schedule: ClassVar[bool] = True
    citation: ClassVar[str] = "Simsekli, Sagun & Gurbuzbalaban 2019, A Tail-Index Analysis of Stochastic Gradient Noise"

    def __check_init__(self):
        a = V.as_float("alpha", self.alpha)
        if not 0.0 < a <= 2.0:
            raise ValueError(f"alpha must lie in (0, 2], got alpha={a}")
        V.positive("scale", self.scale)

    @property
    def stable_index(self) -> float:
        return float(self.alpha)

    def increment(self, key, landscape, n_particles, dtype):
        return symmetric_stable(key, float(self.alpha), (landscape.dim, n_particles), dtype)

    def batch_scale(self, landscape, batch_size, dtype):
        return batch_scale(batch_size, dtype, stable_index=self.alpha)

    def diffusion(self, landscape, theta, z):
        return self.scale * z.astype(theta.dtype)

    def stochastic_gradient(self, landscape, theta, sample, batch_size):
        c = self.batch_scale(landscape, batch_size, theta.dtype)
        return landscape.grad(theta) + c * self.diffusion(landscape, theta, sample)

    def ensemble_stochastic_gradient(self, landscape, theta, sample, batch_size):
        c = self.batch_scale(landscape, batch_size, theta.dtype)
        return landscape.ensemble_grad(theta) + c * self.ensemble_diffusion(landscape, theta, sample)


class ExactMinibatch(AbstractNoise):
    r"""Real minibatches drawn from a finite-sum landscape: ``ĝ = (1/B) Σ_{i∈batch} ∇ℓ_i(θ)``.

    ``replace=False`` (default) draws each step an independent uniformly random subset of ``B``
    distinct examples (so ``Cov ĝ = (N−B)/(B(N−1)) C(θ)``); ``replace=True`` draws ``B`` indices
    i.i.d. uniform (``Cov ĝ = C(θ)/B``). Without replacement, ``B ≤ 64`` and ``B² ≤ 32N`` use
    Floyd's algorithm (``B`` integer draws per particle-step); otherwise the ``B`` largest of ``N``
    uniforms (``top_k``). The integer draws come from :func:`uniform_below` (both words of one
    threefry block per index, no integer division). For the SDE (Euler–Maruyama, diffrax) the model stands for
    its moment-matched Gaussian, i.e. :class:`FisherShaped` with the same ``replace``.

    Args:
        replace: sample with (``True``) or without (``False``) replacement.

    References:
        Chaudhari & Soatto 2018, "Stochastic gradient descent performs variational inference,
        converges to limit cycles for deep networks"; Li, Tai & E 2017, "Stochastic Modified
        Equations and Adaptive Stochastic Gradient Algorithms".
    """

    replace: bool = False
    stable_index: ClassVar[float] = 2.0
    supports_batch_schedule: ClassVar[bool] = False  # the batch shape is static
    citation: ClassVar[str] = "Chaudhari & Soatto 2018, Stochastic gradient descent performs variational inference"

    def __check_init__(self):
        V.flag("replace", self.replace)

    def _gaussian(self) -> "FisherShaped":
        return FisherShaped(1.0, bool(self.replace))

    def population(self, landscape):
        return None if self.replace else landscape.n_examples

    def bind(self, landscape):
        self._gaussian().bind(landscape)
        return self

    def check_batch_size(self, landscape, batch_size):
        if not isinstance(batch_size, (int, np.integer)):
            raise ValueError("ExactMinibatch needs a fixed integer batch_size (batch-size schedules are not supported)")
        if not self.replace and batch_size > landscape.n_examples:
            raise ValueError(
                f"batch_size must be <= N = {landscape.n_examples} without replacement, got {batch_size}"
            )

    def noise_dim(self, landscape):
        return landscape.n_examples

    def sample(self, key, landscape, n_particles, batch_size, dtype):
        n = landscape.n_examples
        if self.replace:
            return uniform_below(key, (int(batch_size), n_particles), n)
        b = int(batch_size)
        if b <= 64 and b * b <= 32 * n:  # B << N: Floyd's algorithm, B draws and their dedup
            return _floyd_subsets(key, n, b, n_particles)
        # a uniform random B-subset per particle: the B largest of N i.i.d. uniforms
        u = jax.random.uniform(key, (n_particles, n))
        return jax.lax.top_k(u, b)[1].T

    def diffusion(self, landscape, theta, z):
        return self._gaussian().diffusion(landscape, theta, z)

    def stochastic_gradient(self, landscape, theta, sample, batch_size):
        return landscape.batch_grad(theta, sample)


# the factories build the models above from data; kept in their own module (one concern each)
from ._noise_factories import from_covariance, from_per_example_grads  # noqa: E402
