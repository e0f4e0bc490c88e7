r"""Gaussian random potentials with power-law increments, ``E[(U(x) − U(y))²] = A² |x − y|^α``.

The landscapes of Bouchaud & Georges (1990) and of Hoffer, Hubara & Soudry (2017): a random walker
on such a potential must climb barriers of height ``~ A r^{α/2}`` to travel a distance ``r``, so by
Arrhenius it needs ``t ~ exp(A r^{α/2} / T)`` and ``r ~ (T log t / A)^{2/α}``.

Two constructions, both with exact Gaussian statistics:

* ``method="grid"`` (``dim = 1``, the default there) — fractional Brownian motion with Hurst
  index ``H = α/2``, *exact* at the nodes of a grid ``x_j = (j − j₀) h`` (``j = 0 … G−1``,
  ``j₀ = (G−1)//2``, so the grid covers ``[−j₀ h, (G−1−j₀) h]``): fractional Gaussian noise
  increments drawn by circulant embedding (Davies & Harte 1987, exact for every ``H ∈ (0, 1]``),
  cumulated, with ``U(0) = 0``. Between nodes ``U`` is linearly interpolated, so the power law
  holds exactly for ``|x − y|`` a multiple of ``h`` and the field is piecewise linear below ``h``.
  Outside the grid ``U`` continues along the edge cell's slope plus a confining ramp of slope
  ``wall`` pointing inwards (particles are pushed back rather than lost); choose ``n_grid`` so
  that walkers stay well inside and check it (``RandomPotential.extent``).
* ``method="fourier"`` (any ``dim``) — random Fourier features
  ``U(x) = A Σ_j w_j [cos(ω_j·x + φ_j) − cos φ_j]`` with isotropic directions, ``|ω_j|``
  log-uniform on ``[k_min, k_max]``, uniform phases and ``w_j² ∝ |ω_j|^{−α}`` (a power-law
  spectrum ``S(k) ∝ k^{−(d+α)}``). Averaged over the features,
  ``E D(r) = A² r^α · J(k_min r, k_max r) / I_d(α)`` with
  ``I_d(α) = Γ(1−α/2) Γ(d/2) / (α 2^α Γ((d+α)/2))`` and ``J`` the same integral cut to
  ``[k_min r, k_max r]``: the power law holds for ``1/k_max ≪ r ≪ 1/k_min``.
  :meth:`RandomPotential.expected_structure_function` returns ``E D(r)`` for the actual cut-offs and
  :meth:`RandomPotential.power_law_range` the range of ``r`` where it is within ``rtol`` of
  ``A² r^α``. The cut-offs cost a relative ``(k_min r)^{2−α}/(2d(2−α) I_d)`` at large ``r`` and
  ``(k_max r)^{−α}/(α I_d)`` at small ``r``; with the defaults ``k ∈ [10⁻³, 1]`` the 10 % range
  is ``r ∈ [5.6, 290]`` for ``d = 1, α = 1`` and ``[8, 39]`` for ``d = 4, α = 1.5``, and there
  is *none* for ``α = 1.8`` (the large-scale deficit decays like ``(k_min r)^{0.2}``): near
  ``α = 2`` an isotropic power-law field needs many decades of ``k``.

* ``method="separable"`` (any ``dim``) — ``U(x) = Σ_i U_i(x_i)`` with independent exact 1-D grid
  fields ``U_i`` (as ``"grid"``), so ``E[(U(x) − U(y))²] = A² Σ_i |x_i − y_i|^α`` (a power law of
  exponent ``α`` along every direction, not isotropic). Every coordinate of a walker performs its
  own 1-D walk in a random potential, so this is the high-dimensional landscape on which the 1-D
  law ``(log t)^{2/α}`` holds *exactly* for ``‖x_t − x_0‖`` — an isotropic field with ``α`` near 2 is
  dominated by its largest scales and walkers mostly slide down its large-scale slope instead.

The limit ``α = 2``. A Gaussian field with stationary increments and ``D(r) = A² r²`` *exactly*
is a random linear function, ``U(x) = A g·x`` with ``g ~ N(0, I)`` (fBm with ``H = 1`` is
``t Z``): the spectrum ``k^{−(d+2)}`` puts all the variance at the largest scale. Both methods
return exactly that (on the grid the increments are all equal). A walker on it drifts
ballistically; "α ≈ 2" in Hoffer et al. is therefore to be read as ``α`` slightly below 2
(we use 1.8), where barriers still grow with distance.

For Fisher-shaped gradient noise use :class:`RandomPotentialSum`, a finite sum
``ℓ_i = U + U_i`` with independent per-example fields ``U_i``.
"""

from __future__ import annotations

import functools
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._keys import check_key as _check_key
from jaxtyping import Array, Float

from .. import _validate as V
from .base import AbstractFiniteSum, AbstractLandscape

__all__ = ["RandomPotential", "RandomPotentialSum", "fbm_paths", "fgn_circulant_eigenvalues"]

_CITATION = (
    "Bouchaud & Georges 1990, Anomalous diffusion in disordered media; Hoffer, Hubara & Soudry 2017, "
    "Train longer, generalize better: closing the generalization gap in large batch training of neural networks"
)


def _alpha(alpha) -> float:
    a = V.as_float("alpha", alpha)
    if not 0.0 < a <= 2.0:
        raise ValueError(f"alpha must lie in (0, 2], got alpha={a}")
    return a


def fgn_circulant_eigenvalues(alpha: float, n: int) -> np.ndarray:
    """Eigenvalues of the ``2n``-circulant embedding of unit fractional Gaussian noise, ``H = α/2``.

    The autocovariance is ``γ(k) = ½(|k+1|^α − 2|k|^α + |k−1|^α)``; the embedding is non-negative
    definite for all ``H ∈ (0, 1]`` (Craigmile 2003), so the sample is exact.

    References:
        Davies & Harte 1987, "Tests for Hurst effect"; Craigmile 2003, "Simulating a class of
        stationary Gaussian processes using the Davies–Harte algorithm".
    """
    k = np.arange(n + 1, dtype=np.float64)
    gamma = 0.5 * (np.abs(k + 1) ** alpha - 2 * k**alpha + np.abs(k - 1) ** alpha)
    row = np.concatenate([gamma, gamma[-2:0:-1]])
    return np.fft.fft(row).real


def fbm_paths(key, alpha: float, n_paths: int, n_grid: int, *, amplitude: float = 1.0,
              spacing: float = 1.0) -> np.ndarray:
    r"""Exact fractional Brownian paths on a grid: ``(n_paths, n_grid)`` float64, zero at the centre node.

    ``E[(U(x_i) − U(x_j))²] = A² |x_i − x_j|^α`` exactly at the nodes ``x_i = (i − j₀) h``,
    ``j₀ = (n_grid − 1) // 2`` (Davies–Harte circulant embedding of the increments, which is
    exact for every ``α ∈ (0, 2]``; Craigmile 2003). This is the generator behind
    ``RandomPotential(method="grid")``.

    Args:
        key: a ``jax.random.key``; path ``i`` uses the ``i``-th row of one normal draw.
        alpha: ``α ∈ (0, 2]``.
        n_paths: number of independent paths (≥ 1).
        n_grid: nodes per path (≥ 4).
        amplitude: ``A > 0``.
        spacing: ``h > 0``.

    Raises:
        ValueError: on an ``alpha``, size or scale outside its range.

    References:
        Davies & Harte 1987, "Tests for Hurst effect"; Mandelbrot & Van Ness 1968, "Fractional
        Brownian motions, fractional noises and applications".
    """
    key = _check_key(key)
    a = _alpha(alpha)
    p = V.positive_int("n_paths", n_paths)
    g = V.positive_int("n_grid", n_grid)
    if g < 4:
        raise ValueError(f"n_grid must be >= 4, got n_grid={g}")
    amp, h = V.positive("amplitude", amplitude), V.positive("spacing", spacing)
    n = g - 1  # increments
    lam = fgn_circulant_eigenvalues(a, n)
    if lam.min() < -1e-8 * lam.max():
        raise ValueError(f"circulant embedding failed for alpha={a} (min eigenvalue {lam.min():.3g})")
    z = np.asarray(jax.random.normal(key, (p, 2, 2 * n)), dtype=np.float64)
    y = np.fft.fft(np.sqrt(np.clip(lam, 0.0, None) / (2 * n)) * (z[:, 0] + 1j * z[:, 1]), axis=-1)
    u = np.concatenate([np.zeros((p, 1)), np.cumsum(y.real[:, :n] * amp * h ** (a / 2), axis=-1)], axis=-1)
    j0 = (g - 1) // 2
    return u - u[:, j0:j0 + 1]


def _isotropic_char(d: int, s):
    """``E cos(ω·r)`` for ``ω`` uniform on the sphere of radius ``|ω|``, ``s = |ω||r|``, in ``d`` dims."""
    from scipy.special import gamma as G
    from scipy.special import jv

    s = np.asarray(s, dtype=np.float64)
    if d == 1:
        return np.cos(s)
    if d == 3:
        return np.sinc(s / np.pi)
    nu = d / 2.0 - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = G(d / 2.0) * (2.0 / s) ** nu * jv(nu, s)
    return np.where(s < 1e-8, 1.0, out)


def _i_d(d: int, alpha: float) -> float:
    from scipy.special import gammaln

    return math.exp(gammaln(1 - alpha / 2) + gammaln(d / 2) - gammaln((d + alpha) / 2)) / (alpha * 2.0**alpha)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _fourier_features(key, m: int, d: int, k_min, k_max, alpha, c):
    """Frequencies ``(m, d)``, phases and weights of the random Fourier features (one compiled call)."""
    k1, k2, k3 = jax.random.split(key, 3)
    direc = jax.random.normal(k1, (m, d), jnp.float32)
    direc = direc / jnp.linalg.norm(direc, axis=1, keepdims=True)
    # stratified log-uniform radii: one per quantile bin (lower variance than i.i.d.)
    u = (jnp.arange(m) + jax.random.uniform(k2, (m,))) / m
    radius = jax.random.permutation(k3, k_min * (k_max / k_min) ** u)
    phases = 2 * jnp.pi * jax.random.uniform(jax.random.fold_in(k3, 1), (m,))
    return direc * radius[:, None], phases, jnp.sqrt(2.0 * c / m) * radius ** (-alpha / 2)


class RandomPotential(AbstractLandscape):
    r"""A Gaussian random potential with ``E[(U(x) − U(y))²] = A² |x − y|^α``, ``α ∈ (0, 2]``.

    See the module docstring for the two constructions, their accuracy and the ``α = 2`` limit.

    Args:
        key: a ``jax.random.key``; it fixes the realisation.
        dim: dimension ``d ≥ 1``.
        alpha: exponent ``α ∈ (0, 2]`` (Hurst index ``α/2``).
        amplitude: ``A > 0``.
        method: ``"grid"`` (exact fBm, ``d = 1`` only; the default for ``d = 1``), ``"fourier"``
            (isotropic; the default for ``d > 1``) or ``"separable"`` (a sum of 1-D grid fields).
        spacing: grid spacing ``h > 0`` (grid).
        n_grid: number of grid nodes ``G ≥ 4`` (grid); the grid covers about ``±G h / 2``.
        wall: slope of the confining ramp outside the grid (grid; default ``10 A h^{α/2 − 1}``).
        n_features: number of Fourier features ``M`` (fourier).
        k_min, k_max: the band of ``|ω|`` (fourier), ``0 < k_min < k_max``.
        dtype: float dtype of the stored field (default float32).

    Raises:
        ValueError: if ``alpha`` is outside ``(0, 2]``, ``dim`` or a size is not a positive
            integer, ``method="grid"`` with ``dim > 1``, or a scale is not positive.
        TypeError: on a key that is not a JAX PRNG key.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> u = RandomPotential(jax.random.key(0), dim=1, alpha=1.0, n_grid=1024)
        >>> float(u.loss(jnp.zeros(1)))
        0.0
        >>> RandomPotential(jax.random.key(0), dim=8, alpha=1.5).dim
        8

    References:
        Bouchaud & Georges 1990, "Anomalous diffusion in disordered media: statistical mechanisms,
        models and physical applications"; Hoffer, Hubara & Soudry 2017, "Train longer, generalize
        better"; Davies & Harte 1987, "Tests for Hurst effect"; Rahimi & Recht 2007, "Random
        features for large-scale kernel machines".
    """

    alpha: float = eqx.field(static=True)
    amplitude: float = eqx.field(static=True)
    method: str = eqx.field(static=True)
    n_dim: int = eqx.field(static=True)
    spacing: float = eqx.field(static=True)
    origin: float = eqx.field(static=True)
    wall: float = eqx.field(static=True)
    k_min: float = eqx.field(static=True)
    k_max: float = eqx.field(static=True)
    values: Array | None  # (G,) grid values
    frequencies: Array | None  # (M, d)
    phases: Array | None  # (M,)
    weights: Array | None  # (M,)
    slope: Array | None  # (d,) for alpha = 2 with method="fourier"
    citation: ClassVar[str] = _CITATION

    def __init__(self, key, dim: int, alpha: float, *, amplitude: float = 1.0, method: str | None = None,
                 spacing: float = 1.0, n_grid: int = 1 << 16, wall: float | None = None, n_features: int = 512,
                 k_min: float = 1e-3, k_max: float = 1.0, dtype=jnp.float32):
        key = _check_key(key)
        d = V.positive_int("dim", dim)
        a = _alpha(alpha)
        amp = V.positive("amplitude", amplitude)
        method = ("grid" if d == 1 else "fourier") if method is None else method
        if method not in ("grid", "fourier", "separable"):
            raise ValueError(f"method must be 'grid', 'fourier' or 'separable', got {method!r}")
        if method == "grid" and d != 1:
            raise ValueError(f"method='grid' needs dim == 1, got dim={d}; use method='fourier'")
        self.alpha, self.amplitude, self.method, self.n_dim = a, amp, method, d
        self.values = self.frequencies = self.phases = self.weights = self.slope = None
        self.spacing, self.origin, self.wall, self.k_min, self.k_max = 1.0, 0.0, 0.0, 0.0, 0.0
        if method in ("grid", "separable"):
            h = V.positive("spacing", spacing)
            g = V.positive_int("n_grid", n_grid)
            u = fbm_paths(key, a, d, g, amplitude=amp, spacing=h)
            j0 = (g - 1) // 2
            self.values = jnp.asarray(u[0] if method == "grid" else u, dtype)
            self.spacing, self.origin = h, -j0 * h
            self.wall = 10.0 * amp * h ** (a / 2 - 1) if wall is None else V.positive("wall", wall)
        else:
            lo, hi = V.positive("k_min", k_min), V.positive("k_max", k_max)
            if not lo < hi:
                raise ValueError(f"k_min must be < k_max, got k_min={lo}, k_max={hi}")
            self.k_min, self.k_max = lo, hi
            if a == 2.0:  # the degenerate limit: a random linear potential (module docstring)
                self.slope = amp * jax.random.normal(key, (d,), dtype)
            else:
                m = V.positive_int("n_features", n_features)
                c = math.log(hi / lo) / (2.0 * _i_d(d, a))
                om, ph, w = _fourier_features(key, m, d, lo, hi, a, c)
                self.frequencies, self.phases, self.weights = om.astype(dtype), ph.astype(dtype), w.astype(dtype)

    @property
    def dim(self) -> int:
        return self.n_dim

    @property
    def extent(self) -> tuple[float, float] | None:
        """``(x_min, x_max)`` covered by the grid (of each coordinate; ``None`` for ``"fourier"``)."""
        if self.method == "fourier":
            return None
        return self.origin, self.origin + (self.values.shape[-1] - 1) * self.spacing

    def _interp(self, v, x):
        """Linear interpolation of grid values ``v`` (last axis) at ``x``, plus the confining ramp."""
        g = v.shape[-1]
        s = (x - self.origin) / self.spacing
        i = jnp.clip(jnp.floor(s), 0, g - 2).astype(jnp.int32)
        f = s - i
        if v.ndim == 1:
            lo, hi = v[i], v[i + 1]
        else:  # one grid per coordinate: gather from the flattened (d, G) table
            flat, base = v.reshape(-1), jnp.arange(v.shape[0]) * g
            lo, hi = flat[base + i], flat[base + i + 1]
        x_max = self.origin + (g - 1) * self.spacing
        ramp = jax.nn.relu(self.origin - x) + jax.nn.relu(x - x_max)
        return lo + f * (hi - lo) + self.wall * ramp

    def potential(self, x):
        """``U(x)`` elementwise for scalar positions ``x`` (``dim = 1`` only)."""
        if self.method == "grid":
            return self._interp(self.values.astype(jnp.result_type(x, self.values)), x)
        return jax.vmap(lambda xx: self.loss(jnp.reshape(xx, (1,))))(jnp.ravel(x)).reshape(jnp.shape(x))

    def loss(self, theta: Float[Array, " d"]) -> Float[Array, ""]:
        if self.method == "grid":
            return self.potential(theta[0])
        if self.method == "separable":
            return jnp.sum(self._interp(self.values.astype(theta.dtype), theta))
        if self.slope is not None:
            return jnp.dot(self.slope.astype(theta.dtype), theta)
        w, ph = self.weights.astype(theta.dtype), self.phases.astype(theta.dtype)
        arg = self.frequencies.astype(theta.dtype) @ theta + ph
        return self.amplitude * jnp.dot(w, jnp.cos(arg) - jnp.cos(ph))

    def grad(self, theta: Float[Array, " d"]) -> Float[Array, " d"]:
        if self.method == "fourier" and self.slope is None:
            w, ph = self.weights.astype(theta.dtype), self.phases.astype(theta.dtype)
            om = self.frequencies.astype(theta.dtype)
            return -self.amplitude * (om.T @ (w * jnp.sin(om @ theta + ph)))
        return jax.grad(self.loss)(theta)

    def expected_structure_function(self, r) -> np.ndarray:
        """``E[(U(x) − U(y))²]`` at ``|x − y| = r``, averaged over realisations, for these cut-offs.

        Exact ``A² r^α`` for the grid at multiples of ``spacing`` and for ``α = 2``; for Fourier
        features a quadrature over ``log |ω|`` of ``w(k)² (1 − E cos(ω·r))``.
        """
        r = np.atleast_1d(np.asarray(r, dtype=np.float64))
        if self.method in ("grid", "separable") or self.alpha == 2.0:
            return self.amplitude**2 * r**self.alpha  # separable: along a coordinate axis
        # trapezoid rule in log k on a grid fine enough for the oscillation of E cos(ω·r) (period 2π/(k r))
        a, d = self.alpha, self.n_dim
        span = math.log(self.k_max / self.k_min)
        n = int(np.clip(4 * span * self.k_max * float(r.max()), 4001, 40001))
        lk = np.linspace(math.log(self.k_min), math.log(self.k_max), n)
        f = np.exp(-a * lk)[None, :] * (1.0 - _isotropic_char(d, np.exp(lk)[None, :] * r[:, None]))
        val = np.sum(0.5 * (f[:, 1:] + f[:, :-1]), axis=1) * (lk[1] - lk[0])
        return self.amplitude**2 * val / _i_d(d, a)

    def power_law_range(self, rtol: float = 0.1) -> tuple[float, float]:
        """The range of ``r`` where :meth:`expected_structure_function` is within ``rtol`` of ``A² r^α``."""
        rtol = V.in_open_interval("rtol", rtol, 0.0, 1.0)
        if self.method in ("grid", "separable"):
            return self.spacing, float(np.diff(self.extent)[0])
        if self.alpha == 2.0:
            return 0.0, math.inf
        r = np.geomspace(1.0 / self.k_max, 1.0 / self.k_min, 81)
        ok = np.abs(self.expected_structure_function(r) / (self.amplitude**2 * r**self.alpha) - 1) <= rtol
        if not ok.any():
            return math.nan, math.nan
        i = int(np.argmax(ok))
        j = i
        while j + 1 < len(r) and ok[j + 1]:
            j += 1
        return float(r[i]), float(r[j])


class RandomPotentialSum(AbstractFiniteSum):
    r"""A finite sum of random potentials, ``ℓ_i(θ) = U(θ) + U_i(θ)``, ``i = 1 … N``.

    ``U`` is a :class:`RandomPotential` of amplitude ``A`` and the ``U_i`` are independent ones of
    amplitude ``example_amplitude`` (same ``α`` and construction), so
    ``L = U + (1/N) Σ_i U_i`` and the per-example gradient covariance ``C(θ) = Cov_i ∇U_i(θ)`` is
    state dependent — what :class:`~sgd_sde.noise.FisherShaped` and
    :class:`~sgd_sde.noise.ExactMinibatch` need.

    Args:
        key: a ``jax.random.key``.
        dim, alpha: as :class:`RandomPotential`.
        n_examples: ``N ≥ 2``.
        example_amplitude: amplitude of each ``U_i`` (> 0).
        **kwargs: passed to every :class:`RandomPotential` (``amplitude`` only to ``U``).

    Raises:
        ValueError: as :class:`RandomPotential`, or ``n_examples < 2``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> s = RandomPotentialSum(jax.random.key(0), dim=3, alpha=1.5, n_examples=4, n_features=64)
        >>> s.example_losses(jnp.ones(3)).shape
        (4,)

    References:
        Hoffer, Hubara & Soudry 2017, "Train longer, generalize better"; Bouchaud & Georges 1990,
        "Anomalous diffusion in disordered media".
    """

    shared: RandomPotential
    examples: RandomPotential  # leaves stacked along a leading axis of size N
    citation: ClassVar[str] = _CITATION

    def __init__(self, key, dim: int, alpha: float, n_examples: int, *, example_amplitude: float = 1.0, **kwargs):
        key = _check_key(key)
        n = V.positive_int("n_examples", n_examples)
        if n < 2:
            raise ValueError(f"n_examples must be >= 2, got n_examples={n}")
        amp_i = V.positive("example_amplitude", example_amplitude)
        self.shared = RandomPotential(jax.random.fold_in(key, 0), dim, alpha, **kwargs)
        kw = {k: v for k, v in kwargs.items() if k != "amplitude"}
        fields = [RandomPotential(jax.random.fold_in(key, i + 1), dim, alpha, amplitude=amp_i, **kw) for i in range(n)]
        self.examples = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *fields)

    @property
    def dim(self) -> int:
        return self.shared.dim

    @property
    def n_examples(self) -> int:
        leaves = jax.tree_util.tree_leaves(self.examples)
        return int(leaves[0].shape[0])

    def example_losses(self, theta: Float[Array, " d"]) -> Float[Array, " N"]:
        per = eqx.filter_vmap(lambda f: f.loss(theta))(self.examples)
        return self.shared.loss(theta) + per
