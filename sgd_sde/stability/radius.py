r"""Stochastic stability radius of a minimum (Golmant, "Fine-tuned noise").

A minimum :math:`\theta^*` is *stochastically stable with radius r* if, started anywhere at
distance ``r`` from it, the iterates stay in its basin for ``n_steps`` steps with probability at
least ``1 − δ``. :func:`stability_radius` estimates the largest such ``r`` by Monte Carlo and
bisection, with binomial confidence intervals; :class:`FiniteDepthWell` is a family of basins of
equal depth whose curvature can be scaled, for the "micro-theorem" ``r ∝ 1/ρ(H)``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .. import _validate as V
from ..landscapes.base import AbstractLandscape
from . import _stats
from ._exit import check_common, check_key, check_particles, check_steps, first_exit_steps

__all__ = ["FiniteDepthWell", "RadiusResult", "stability_radius", "check_minimum", "loglog_slope"]

_GOLMANT = "Golmant 2018, Fine-tuned noise (blog post)"


class FiniteDepthWell(AbstractLandscape):
    r"""A quadratic well capped by a negative quartic: finite depth ``h``, Hessian ``H`` at 0.

    .. math:: L(\theta) = \tfrac12 q - \frac{q^2}{16h}, \qquad q = \theta^\top H\theta .

    ``L`` rises from 0 at the minimum to ``h`` on the ellipsoid ``q = 4h`` (the rim) and falls to
    ``−∞`` beyond it, so a particle that crosses the rim has escaped for good. Scaling
    ``H → cH`` keeps the depth and scales every curvature by ``c``: the family behind the
    stability-radius "micro-theorem". The basin is ``{q < 4h}`` (:meth:`in_basin`); along the top
    eigenvector the rim is at distance ``2\sqrt{h/\rho(H)}``.

    Args:
        hessian: symmetric positive definite ``(d, d)`` matrix ``H``.
        depth: ``h > 0``.

    Raises:
        ValueError: if ``hessian`` is not symmetric positive definite, or ``depth ≤ 0``.

    Examples:
        >>> import jax.numpy as jnp
        >>> well = FiniteDepthWell(jnp.diag(jnp.array([4.0, 1.0])), depth=1.0)
        >>> float(well.loss(jnp.array([1.0, 0.0]))), bool(well.in_basin(jnp.array([0.9, 0.0])))
        (1.0, True)

    References:
        Golmant 2018, "Fine-tuned noise" (stability radius of a minimum).
    """

    hessian_matrix: Float[Array, "d d"]
    depth: float
    citation: ClassVar[str] = _GOLMANT

    def __init__(self, hessian, depth: float = 1.0):
        h = V.symmetric_psd("hessian", hessian, strict=True)
        self.hessian_matrix = jnp.asarray(h)
        self.depth = V.positive("depth", depth)

    @property
    def dim(self) -> int:
        return self.hessian_matrix.shape[0]

    def _q(self, theta):
        return theta @ (self.hessian_matrix.astype(theta.dtype) @ theta)

    def loss(self, theta):
        q = self._q(theta)
        return 0.5 * q - q * q / (16.0 * self.depth)

    def grad(self, theta):
        q = self._q(theta)
        return (1.0 - q / (4.0 * self.depth)) * (self.hessian_matrix.astype(theta.dtype) @ theta)

    def minimum(self):
        return jnp.zeros(self.dim, self.hessian_matrix.dtype)

    def in_basin(self, theta):
        """``θᵀHθ < 4h`` (inside the rim)."""
        return self._q(theta) < 4.0 * self.depth


@eqx.filter_jit
def _grad_hessian(landscape, theta):
    return landscape.grad(theta), landscape.hessian(theta)


@eqx.filter_jit
def _starts(key, centre, top, radius, n_particles: int, sphere: bool):
    """``(P, d)`` starting points ``centre + r·u``: ``u`` uniform on the sphere or ``±top``."""
    if sphere:
        u = jax.random.normal(key, (n_particles, centre.shape[0]), centre.dtype)
        u = u / jnp.linalg.norm(u, axis=1, keepdims=True)
    else:
        u = jnp.where(jnp.arange(n_particles)[:, None] % 2 == 0, 1.0, -1.0).astype(centre.dtype) * top[None, :]
    return centre[None, :] + radius * u


def check_minimum(landscape, minimum, *, tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Check that ``minimum`` is a local minimum: ``‖∇L‖ ≤ tol·(1 + ρ(H))`` and ``H`` PSD.

    Computed in float64 (inside ``jax.enable_x64``).

    Args:
        landscape: an :class:`~sgd_sde.landscapes.AbstractLandscape`.
        minimum: the candidate ``θ*``, shape ``(landscape.dim,)``.
        tol: finite tolerance ``> 0``.

    Returns:
        ``(minimum, hessian)`` as float64 NumPy arrays.

    Raises:
        TypeError: ``landscape`` is not a landscape; ``tol`` is not a real number.
        ValueError: naming ``minimum`` if it has the wrong shape, is not finite, is not a
            stationary point or the Hessian there has a negative eigenvalue; ``tol`` not finite
            and ``> 0``.

    References:
        Golmant 2018, "Fine-tuned noise" (the stability radius is defined at a minimum).
    """
    if not isinstance(landscape, AbstractLandscape):
        raise TypeError(f"landscape must be an AbstractLandscape, got {type(landscape).__name__}")
    tol = V.positive("tol", tol)
    m = V.finite_array("minimum", minimum, ndim=1).astype(np.float64)
    if m.shape != (landscape.dim,):
        raise ValueError(f"minimum must have shape ({landscape.dim},) (landscape.dim), got {m.shape}")
    with jax.enable_x64(True):
        g, h = _grad_hessian(landscape, jnp.asarray(m))
        g, h = np.asarray(g, np.float64), np.asarray(h, np.float64)
    h = 0.5 * (h + h.T)
    lam = np.linalg.eigvalsh(h)
    rho = float(np.max(np.abs(lam)))
    gnorm = float(np.linalg.norm(g))
    if not gnorm <= tol * (1.0 + rho):
        raise ValueError(f"minimum is not a stationary point: |grad L(minimum)| = {gnorm:.3g} > tol·(1 + ρ(H)) = "
                         f"{tol * (1 + rho):.3g}")
    if lam[0] < -tol * (1.0 + rho):
        raise ValueError(f"minimum is not a minimum: the Hessian there has eigenvalue {lam[0]:.3g} < 0 (not PSD)")
    return m, h


@dataclasses.dataclass(frozen=True)
class RadiusResult:
    """Estimated stochastic stability radius.

    Attributes:
        radius: the bisection estimate of the largest ``r`` with ``P(stay) ≥ 1 − δ``.
        ci: ``(lo, hi)``: ``lo`` is the largest tested radius whose probability CI lies entirely
            at or above ``1 − δ`` (0 if none), ``hi`` the smallest tested radius whose CI lies
            entirely below it (``r_max`` if none) — pointwise binomial intervals inverted.
        probability: estimated ``P(stay)`` at the tested radius closest to ``radius``.
        probability_ci: its binomial interval.
        radii, probabilities, counts: every tested radius (sorted), the estimates and the number
            of particles that stayed.
        n_particles, n_steps, delta, level, direction: the settings.
        stable_at_minimum: ``False`` if even ``r = 0`` fails (then ``radius = 0``).
        diverged: how particles whose parameters blew up (non-finite) are treated: they count as
            having left the basin — included in every count as exits, since a blown-up iterate
            has certainly left it.
    """

    radius: float
    ci: tuple[float, float]
    probability: float
    probability_ci: tuple[float, float]
    radii: np.ndarray
    probabilities: np.ndarray
    counts: np.ndarray
    n_particles: int
    n_steps: int
    delta: float
    level: float
    direction: str
    stable_at_minimum: bool
    diverged: str = "counted as having left the basin"


_BLOCK = 64  # steps between the early-stopping checks of the first-exit driver
_DOUBLINGS = 60  # bracketing: r_max, 2·r_max, ..., 2**59·r_max


def _float32_radius(name: str, value) -> float:
    """A radius ``> 0`` that float32 (the simulation's dtype) can hold."""
    r = V.positive(name, value)
    if not r < float(np.finfo(np.float32).max):
        raise ValueError(f"{name} must be < 3.4e38 (the runs are float32), got {name}={r}")
    return r


def _outside_fn(landscape, params, theta):
    kind, centre, radius = params
    ball = jnp.sum((theta - centre) ** 2) >= radius**2
    return jnp.where(kind == 0, ball, ~landscape.in_basin(theta))


def _outside_callable(basin):
    def outside(landscape, params, theta):
        return ~basin(theta)

    return outside


def stability_radius(key, landscape, dynamics, minimum, *, noise=None, n_steps: int, delta: float, basin=None,
                     n_particles: int = 1000, direction: str = "sphere", r_max: float | None = None,
                     n_bisect: int = 12, level: float = 0.95, ci_method: str = "wilson",
                     minimum_tol: float = 1e-4) -> RadiusResult:
    r"""Largest starting distance from ``minimum`` from which SGD stays in the basin w.p. ``≥ 1 − δ``.

    For a radius ``r``, ``n_particles`` start at ``minimum + r·u`` (``u`` uniform on the unit
    sphere, or ``±`` the top Hessian eigenvector for ``direction="worst"``) and run ``dynamics``
    with ``noise`` for ``n_steps`` steps; ``P̂(r)`` is the fraction that never left the basin
    (checked after every step). ``r`` is bracketed (doubling from ``r_max`` or 1) and bisected
    ``n_bisect`` times on ``P̂(r) ≥ 1 − δ``. Every radius uses the *same* key (common random
    numbers: the same directions and the same noise), so ``P̂(r)`` is nearly monotone in ``r`` and
    the bisection is stable.

    Args:
        key: ``jax.random.key`` (or an ``int`` seed in ``[0, 2**32 - 1]``).
        landscape: an :class:`~sgd_sde.landscapes.AbstractLandscape`.
        dynamics: any :class:`~sgd_sde.dynamics.AbstractDynamics`.
        minimum: ``θ*`` ``(d,)``; checked: ``‖∇L‖ ≤ minimum_tol·(1 + ρ(H))`` and ``H`` PSD.
        noise: any noise model (isotropic, Fisher-/Hessian-shaped, exact minibatch, ...).
        n_steps: horizon ``1 ≤ T < 2**31 − 128`` (steps; the engine's step counter is int32).
        delta: ``δ ∈ (0, 1)``.
        basin: ``None`` (use ``landscape.in_basin``, e.g. :class:`FiniteDepthWell`), a float ``R``
            (the open ball ``‖θ − θ*‖ < R``), or a callable ``theta (d,) -> bool`` (inside).
        n_particles: particles per radius, in ``[1, 2**31 − 1]`` and within this machine's memory.
        direction: ``"sphere"`` (uniform directions) or ``"worst"`` (top eigenvector, both signs).
        r_max: initial upper bracket ``> 0`` (default: ``R`` for a ball basin, else 1), doubled up
            to 60 times as needed.
        n_bisect: bisection steps.
        level: confidence level of the binomial intervals.
        ci_method: ``"wilson"`` or ``"clopper-pearson"``.
        minimum_tol: tolerance of the minimum check.

    Returns:
        A :class:`RadiusResult`.

    Raises:
        ValueError: ``delta`` not in ``(0, 1)``; ``n_bisect > 64``; ``n_steps``, ``n_particles``, ``n_bisect`` not
            positive integers; ``minimum`` not a minimum (gradient not ≈ 0 or Hessian not PSD);
            a bad ``basin``, ``direction``, ``r_max`` or ``level``; no radius with
            ``P(stay) < 1 − δ`` within 60 doublings of ``r_max``; ``key`` an ``int`` outside
            ``[0, 2**32 - 1]``; ``n_particles`` more than fits in memory.
        TypeError: wrong types of ``landscape``, ``dynamics``, ``noise``, ``key`` or ``basin``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from sgd_sde.dynamics import SGD
        >>> from sgd_sde.noise import Isotropic
        >>> well = FiniteDepthWell(jnp.eye(2), depth=1.0)         # rim at |θ| = 2
        >>> res = stability_radius(jax.random.key(0), well, SGD(lr=0.05, batch_size=1), jnp.zeros(2),
        ...                        noise=Isotropic(0.5), n_steps=100, delta=0.1, n_particles=128, n_bisect=6)
        >>> bool(1.0 < res.radius < 2.0), res.stable_at_minimum
        (True, True)

    References:
        Golmant 2018, "Fine-tuned noise" (stochastic stability radius, micro-theorem 1);
        Wilson 1927, "Probable inference, the law of succession, and statistical inference".
    """
    key = check_key(key)
    noise = check_common(landscape, dynamics, noise)
    n_steps, _ = check_steps("n_steps", n_steps, _BLOCK)
    delta = V.in_open_interval("delta", delta, 0.0, 1.0)
    p = check_particles(n_particles, landscape.dim)
    n_bisect = V.positive_int("n_bisect", n_bisect)
    if n_bisect > 64:  # each step halves the bracket: 64 halvings exhaust float64; more only cost time
        raise ValueError(f"n_bisect must be <= 64 (64 halvings exhaust float64 precision), got n_bisect={n_bisect}")
    level = V.in_open_interval("level", level, 0.0, 1.0)
    if ci_method not in ("wilson", "clopper-pearson"):
        raise ValueError(f"ci_method must be 'wilson' or 'clopper-pearson', got ci_method={ci_method!r}")
    if direction not in ("sphere", "worst"):
        raise ValueError(f"direction must be 'sphere' or 'worst', got direction={direction!r}")
    if r_max is not None:
        r_max = _float32_radius("r_max", r_max)
    m, h = check_minimum(landscape, minimum, tol=V.positive("minimum_tol", minimum_tol))
    dtype = jnp.float32
    centre = jnp.asarray(m, dtype)

    ball_radius = None
    if basin is None:
        if not hasattr(landscape, "in_basin"):
            raise ValueError(f"basin is required: {type(landscape).__name__} has no in_basin(); pass a radius or a "
                             "callable theta -> bool")
        outside, params = _outside_fn, (jnp.int32(1), centre, jnp.asarray(0.0, dtype))
    elif callable(basin):
        outside, params = _outside_callable(basin), ()
    else:
        ball_radius = _float32_radius("basin", basin)
        outside, params = _outside_fn, (jnp.int32(0), centre, jnp.asarray(ball_radius, dtype))

    k_dir, k_run = jax.random.split(key)
    top = jnp.asarray(np.linalg.eigh(h)[1][:, -1], dtype)

    cache: dict[float, int] = {}

    def stayed(r: float) -> int:
        if r not in cache:
            steps = first_exit_steps(k_run, landscape, dynamics, noise,
                                     _starts(k_dir, centre, top, jnp.asarray(r, dtype), p, direction == "sphere"),
                                     outside, params,
                                     max_steps=n_steps, block=_BLOCK)
            cache[r] = int(np.sum(steps < 0))
        return cache[r]

    target = 1.0 - delta
    ok = lambda r: stayed(r) / p >= target  # noqa: E731
    stable_at_min = ok(0.0)
    lo, hi = 0.0, None
    if stable_at_min:
        r0 = r_max if r_max is not None else (ball_radius if ball_radius is not None else 1.0)
        r = r0
        for _ in range(_DOUBLINGS):
            if not ok(r):
                hi = r
                break
            lo, r = r, 2.0 * r
        if hi is None:
            raise ValueError(f"could not bracket the radius: P(stay) ≥ 1 − δ up to r = {lo:.3g}, {_DOUBLINGS} "
                             f"doublings from r_max={r0:.3g}{'' if r_max is not None else ' (the default)'}; pass a "
                             "larger r_max, or a bounded basin if this one is unbounded")
        for _ in range(n_bisect):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        radius = lo
    else:
        radius, hi = 0.0, 0.0
    radii = np.array(sorted(cache))
    counts = np.array([cache[r] for r in radii])
    cis = [_stats.binomial_ci(int(c), p, level, ci_method) for c in counts]
    sure_in = [r for r, c in zip(radii, cis) if c[0] >= target]
    sure_out = [r for r, c in zip(radii, cis) if c[1] < target]
    ci_lo = max(sure_in) if sure_in else 0.0
    ci_hi = min([x for x in sure_out if x >= ci_lo], default=float(radii.max()))
    i = int(np.argmin(np.abs(radii - radius)))
    return RadiusResult(radius=float(radius), ci=(float(ci_lo), float(ci_hi)), probability=float(counts[i] / p),
                        probability_ci=cis[i], radii=radii, probabilities=counts / p, counts=counts, n_particles=p,
                        n_steps=n_steps, delta=delta, level=level, direction=direction,
                        stable_at_minimum=bool(stable_at_min))


def loglog_slope(x, y, y_lo=None, y_hi=None, level: float = 0.95) -> tuple[float, tuple[float, float], float]:
    r"""Weighted least-squares slope of ``log y`` on ``log x`` with a confidence interval.

    Weights come from the intervals ``(y_lo, y_hi)`` (``σ_i = (log y_hi − log y_lo)/(2z)``) when
    given; the slope's standard error is inflated by ``sqrt(χ²/dof)`` when the points scatter
    more than their intervals say (and is the plain OLS error without intervals); the interval
    uses Student's t with ``n − 2`` degrees of freedom.

    Args:
        x, y: ``(n,)`` positive, finite, ``n ≥ 3``.
        y_lo, y_hi: ``(n,)`` interval of each ``y`` (give both or neither), ``0 ≤ y_lo ≤ y_hi``,
            ``y_hi > 0``; ``y_lo = 0`` gives the point no weight.
        level: confidence level in ``(0, 1)`` of the intervals and of the slope's interval.

    Returns:
        ``(slope, (lo, hi), intercept)``.

    Raises:
        ValueError: fewer than 3 points, non-positive values, ``level`` outside ``(0, 1)``, only
            one of ``y_lo``/``y_hi``, or intervals of the wrong length or order.
        TypeError: non-numeric arrays or ``level``.

    References:
        Golmant 2018, "Fine-tuned noise" (the exponent −1 of micro-theorem 1 is what this tests).
    """
    from scipy.stats import t as student

    x = V.finite_array("x", x, ndim=1).astype(np.float64)
    y = V.finite_array("y", y, ndim=1).astype(np.float64)
    if x.size < 3 or y.size != x.size:
        raise ValueError(f"x and y must have the same length >= 3, got {x.size} and {y.size}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be > 0 for a log-log fit")
    level = V.in_open_interval("level", level, 0.0, 1.0)
    if (y_lo is None) != (y_hi is None):
        raise ValueError(f"give both y_lo and y_hi or neither, got only {'y_lo' if y_hi is None else 'y_hi'}")
    lx, ly = np.log(x), np.log(y)
    if y_lo is not None:
        y_lo = V.finite_array("y_lo", y_lo, ndim=1).astype(np.float64)
        y_hi = V.finite_array("y_hi", y_hi, ndim=1).astype(np.float64)
        if y_lo.shape != x.shape or y_hi.shape != x.shape:
            raise ValueError(f"y_lo and y_hi must have the shape of x {x.shape}, got {y_lo.shape} and {y_hi.shape}")
        if np.any(y_lo < 0) or np.any(y_hi <= 0) or np.any(y_lo > y_hi):
            raise ValueError("y_lo and y_hi must satisfy 0 <= y_lo <= y_hi and y_hi > 0")
        z = _stats.z_value(level)
        with np.errstate(divide="ignore"):  # y_lo = 0: an unbounded interval, weight 0
            sig = (np.log(y_hi) - np.log(y_lo)) / (2 * z)
        sig = np.maximum(sig, 1e-3)
    else:
        sig = np.ones_like(lx)
    w = 1.0 / sig**2
    A = np.stack([np.ones_like(lx), lx], axis=1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    coef = cov @ (A.T @ (w * ly))
    resid = ly - A @ coef
    dof = x.size - 2
    chi2 = float(np.sum(w * resid**2)) / dof
    scale = chi2 if (y_lo is None or y_hi is None) else max(chi2, 1.0)
    se = math.sqrt(cov[1, 1] * scale)
    q = float(student.ppf(0.5 + level / 2, dof))
    return float(coef[1]), (float(coef[1] - q * se), float(coef[1] + q * se)), float(coef[0])
