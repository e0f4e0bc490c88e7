r"""Escape over a barrier: simulated first-passage times and the exact 1-D quadrature oracle.

:func:`escape_time` runs an ensemble under any dynamics and noise model of the core engine and
records, per particle, the first step at which it leaves a region — past ``end`` in 1-D, out of a
ball, or any traceable criterion ``exited(theta)`` in ``d`` dimensions (times in SDE units,
``steps × lr``); numerical blow-ups are counted apart. :func:`mean_first_passage_time` is the exact mean first-passage time of the 1-D
diffusion :math:`dX = -V'(X)\,dt + \sqrt{2D(X)}\,dW` (Itô), against which the simulation is checked;
Kramers' formula (:func:`sgd_sde.theory.kramers_time`) is its low-temperature (Laplace) limit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as V
from . import _stats
from ._exit import check_common, check_key, check_particles, check_steps, first_exit

__all__ = ["EscapeResult", "escape_time", "mean_first_passage_time", "landscape_functions"]

_CUTOFF = 40.0  # the automatic reflecting bound sits where e^{-Φ} is below e^{-40} of its value at start


@dataclasses.dataclass(frozen=True)
class EscapeResult:
    """Mean first-passage time of an ensemble.

    Attributes:
        mean: estimated mean escape time (SDE units). With every particle escaped it is the sample
            mean; otherwise the censored exponential maximum-likelihood estimate
            ``(Σ_escaped t_i + n_censored · t_max) / n_escaped`` (exact if escape times are
            exponential, as they are for a high barrier), and ``inf`` when none escaped.
        ci: ``(lo, hi)`` confidence interval on ``mean`` at ``level`` (normal theory when nothing
            is censored, chi-square for the censored exponential model otherwise).
        standard_error: ``sd/√n`` (uncensored) or ``mean/√n_escaped`` (censored).
        fraction_escaped: fraction of all ``n_particles`` that left the region within ``max_steps``.
        times: per-particle first-exit times, ``nan`` for those that never escaped or blew up.
        mean_escaped: the mean over escaped particles only (a lower bound when censored).
        t_max: the censoring time ``max_steps × time per step``.
        n_particles: ensemble size.
        level: confidence level of ``ci``.
        n_blowups: particles that blew up numerically (non-finite or beyond the bound) before
            leaving; excluded from ``mean``/``ci``/``standard_error``, never counted as escapes.
        blowup_steps: per-particle step of the blow-up (``-1``: none).
    """

    mean: float
    ci: tuple[float, float]
    standard_error: float
    fraction_escaped: float
    times: np.ndarray
    mean_escaped: float
    t_max: float
    n_particles: int
    level: float
    n_blowups: int = 0
    blowup_steps: np.ndarray | None = None

    @property
    def relative_error(self) -> float:
        """``standard_error / mean``."""
        return self.standard_error / self.mean if self.mean > 0 else math.inf


def _crossed(landscape, params, theta):
    end, sign = params
    return sign * (theta[0] - end) >= 0


def _left_ball(landscape, params, theta):
    """``‖θ − centre‖ ≥ r``, the norm scaled by its largest entry so that it does not overflow."""
    centre, r = params
    d = theta - centre
    m = jnp.max(jnp.abs(d))
    unit = d / jnp.where(m > 0, m, jnp.ones_like(m))
    return m * jnp.sqrt(jnp.sum(unit * unit)) >= r


@dataclasses.dataclass(frozen=True)
class _UserExit:
    """A user's ``exited(theta) -> bool`` as an engine exit criterion (hashable by the function,
    so a second call with the same function does not recompile)."""

    fn: Callable

    def __call__(self, landscape, params, theta):
        return jnp.reshape(jnp.asarray(self.fn(theta), bool), ())


def _region(landscape, start, end, exited, radius):
    """``(theta0 (d,), exit criterion, params)`` from exactly one of ``end``/``exited``/``radius``."""
    given = [n for n, v in (("end", end), ("exited", exited), ("radius", radius)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of end=, exited=, radius= (the exit criterion), got {given or 'none'}")
    dtype = jnp.asarray(0.0).dtype  # float32, or float64 under x64
    d = landscape.dim
    if end is not None:
        if d != 1:
            raise ValueError(f"end= needs a 1-D landscape (landscape.dim == 1), got dim={d}; "
                             "use exited= or radius= in d dimensions")
        x0 = V.as_float("start", start)
        xe = V.as_float("end", end)
        if x0 == xe:
            raise ValueError(f"end must differ from start, got start=end={x0}")
        sign = 1.0 if xe > x0 else -1.0
        return np.full(1, x0), _crossed, (jnp.asarray(xe, dtype), jnp.asarray(sign, dtype))
    x0 = V.finite_array("start", np.atleast_1d(np.asarray(start, dtype=np.float64)), ndim=1)
    if x0.shape != (d,):
        raise ValueError(f"start must have shape (d,) = ({d},) (landscape.dim), got {x0.shape}")
    if radius is not None:
        r = V.positive("radius", radius)
        return x0, _left_ball, (jnp.asarray(x0, dtype), jnp.asarray(r, dtype))
    if not callable(exited):
        raise TypeError(f"exited must be a callable theta (d,) -> bool, got {type(exited).__name__}")
    return x0, _UserExit(exited), ()


def escape_time(key, landscape, dynamics, start, end=None, *, exited: Callable | None = None,
                radius: float | None = None, noise=None, n_particles: int, max_steps: int, level: float = 0.95,
                block: int = 64, divergence_bound: float = math.inf) -> EscapeResult:
    r"""Mean first-exit time from a region, by simulation, in any dimension.

    Every particle starts at ``start`` and runs ``dynamics`` (SGD, Euler–Maruyama on the SGD SDE,
    Langevin, ...) with ``noise`` until it first leaves the region, checked after every step. The
    region is given by exactly one of

    * ``end`` (1-D landscapes): the absorbing point; exit when ``x ≥ end`` if ``end > start``,
      else ``x ≤ end``;
    * ``exited``: a traceable callable ``exited(theta) -> bool`` on one particle's ``(d,)``
      parameters (e.g. ``lambda th: th[0] > 0`` for "crossed the saddle plane");
    * ``radius``: exit when ``‖θ − start‖ ≥ radius`` (left the ball around the start).

    Particles that have left are dropped from the ensemble (compaction, so the cost is the total
    time spent inside, not the slowest path) and the run stops once all have left. Step ``k``
    draws its noise from ``fold_in(key, k)`` through the engine's one step kernel, as
    :func:`sgd_sde.simulate` does. The exit time of a particle that is outside after step ``k``
    is ``k · lr`` (``dynamics.time_per_step``). A new ``lr`` does not recompile.

    A numerical blow-up (a non-finite value, or ``|θ_i| > divergence_bound`` when a finite bound is
    given) is *not* an escape: such particles are counted in ``n_blowups``, their times are
    ``nan``, and they are excluded from the mean and its interval (the other particles' statistics
    are unaffected). The default bound is ``inf``: a finite jump far out of the region (heavy-tailed
    noise) is an escape, an overflow is not.

    The discretisation bias of the exit time is :math:`O(\sqrt{\Delta t})` from discrete
    monitoring plus :math:`O(\Delta t)` from the update rule. The monitoring part is removed to
    leading order by moving the boundary *in* by :math:`0.5826\,\sigma\sqrt{\Delta t}`, with
    :math:`\sigma\sqrt{\Delta t}` the per-step standard deviation normal to the boundary
    (Broadie, Glasserman & Kou 1997); otherwise compare two step sizes.

    Args:
        key: ``jax.random.key`` (or an ``int`` seed in ``[0, 2**32 - 1]``).
        landscape: an :class:`~sgd_sde.landscapes.AbstractLandscape` (1-D for ``end``).
        dynamics: any :class:`~sgd_sde.dynamics.AbstractDynamics`.
        start: starting point: a scalar (1-D) or a ``(d,)`` vector.
        end: the absorbing point of a 1-D landscape (``≠ start``).
        exited: exit criterion ``theta (d,) -> bool`` (traceable; pass the same function object
            again to reuse the compiled program).
        radius: exit on leaving the ball of this radius ``> 0`` around ``start``.
        noise: gradient-noise model (default: none).
        n_particles: ensemble size in ``[1, 2**31 - 1]`` (and within this machine's memory).
        max_steps: step budget, ``max_steps + 2·block < 2**31``; particles still inside are censored.
        level: confidence level in ``(0, 1)``.
        block: steps between early-stopping checks ``≥ 1`` (does not change results).
        divergence_bound: blow-up threshold on ``|θ_i|`` (default ``inf``; non-finite values always count).

    Returns:
        An :class:`EscapeResult` (``.mean``, ``.ci``, ``.fraction_escaped``, ``.n_blowups``,
        per-particle ``.times``).

    Raises:
        ValueError: not exactly one of ``end``/``exited``/``radius``; ``end`` on a landscape with
            ``dim != 1``; ``start == end``; ``start`` of the wrong shape or non-finite;
            ``radius ≤ 0``; ``n_particles``/``max_steps``/``block`` not positive integers or too
            large (int32 counters; an ensemble larger than memory); ``key`` an ``int`` outside
            ``[0, 2**32 - 1]``; ``level`` outside ``(0, 1)``.
        TypeError: wrong types of ``landscape``, ``dynamics``, ``noise``, ``key`` or ``exited``.

    Examples:
        >>> import jax
        >>> from sgd_sde.landscapes import DoubleWell
        >>> from sgd_sde.dynamics import Langevin
        >>> res = escape_time(jax.random.key(0), DoubleWell(), Langevin(lr=0.01, temperature=0.25),
        ...                   -1.0, 1.0, n_particles=256, max_steps=20_000)
        >>> res.fraction_escaped, res.n_blowups, bool(5.0 < res.mean < 15.0)
        (1.0, 0, True)

    References:
        Kramers 1940, "Brownian motion in a field of force and the diffusion model of chemical
        reactions"; Xie, Sato & Sugiyama 2021, "A Diffusion Theory for Deep Learning Dynamics:
        Stochastic Gradient Descent Exponentially Favors Flat Minima"; Broadie, Glasserman & Kou
        1997, "A Continuity Correction for Discrete Barrier Options".
    """
    key = check_key(key)
    noise = check_common(landscape, dynamics, noise)
    x0, outside, params = _region(landscape, start, end, exited, radius)
    p = check_particles(n_particles, x0.size)
    max_steps, block = check_steps("max_steps", max_steps, block)
    level = V.in_open_interval("level", level, 0.0, 1.0)
    bound = math.inf if np.isposinf(np.asarray(divergence_bound, dtype=float)) else V.positive(
        "divergence_bound", divergence_bound)
    dtype = jnp.asarray(0.0).dtype  # float32, or float64 under x64
    theta0 = jnp.broadcast_to(jnp.asarray(x0, dtype), (p, x0.size))
    steps, blowups = first_exit(key, landscape, dynamics, noise, theta0, outside, params, max_steps=max_steps,
                                block=block, divergence_bound=bound)
    dt = float(dynamics.time_per_step(float(dynamics.lr)))
    escaped = steps >= 0
    blown = blowups >= 0
    times = np.where(escaped, steps.astype(np.float64) * dt, np.nan)
    k = int(escaped.sum())
    n = p - int(blown.sum())  # particles that count: escaped or censored, never blown up
    t_max = max_steps * dt
    mean_escaped = float(np.nanmean(times)) if k else math.nan
    if n == 0:
        mean, se, ci = math.nan, math.nan, (math.nan, math.nan)
    elif k == n:
        used = times[escaped]
        mean = float(used.mean())
        se = float(used.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
        ci = _stats.mean_ci(used, level) if n > 1 else (0.0, math.inf)
    else:
        total = float(np.nansum(times)) + (n - k) * t_max
        mean = total / k if k else math.inf
        se = mean / math.sqrt(k) if k else math.inf
        ci = _stats.exponential_mean_ci(total, k, level)
    return EscapeResult(mean=mean, ci=(float(ci[0]), float(ci[1])), standard_error=se, fraction_escaped=k / p,
                        times=times, mean_escaped=mean_escaped, t_max=t_max, n_particles=p, level=level,
                        n_blowups=int(blown.sum()), blowup_steps=blowups)


# --------------------------------------------------------------------------- quadrature oracle
def _vectorised(name: str, fn: Callable) -> Callable[[float], float]:
    if not callable(fn):
        raise TypeError(f"{name} must be callable x -> float, got {type(fn).__name__}")

    def call(x: float) -> float:
        out = float(np.asarray(fn(x), dtype=np.float64))
        if not math.isfinite(out):
            raise ValueError(f"{name} returned a non-finite value at x={x:.6g}")
        return out

    return call


def landscape_functions(landscape) -> tuple[Callable, Callable, Callable]:
    """Float64 NumPy-callable ``(V, V', V'')`` of a 1-D landscape (jit-compiled, run under x64).

    Raises:
        ValueError: if ``landscape.dim != 1``.
    """
    from ..landscapes.base import AbstractLandscape

    if not isinstance(landscape, AbstractLandscape) or landscape.dim != 1:
        raise ValueError("landscape must be a 1-D AbstractLandscape")
    with jax.enable_x64(True):
        fns = tuple(jax.jit(f) for f in (lambda x: landscape.loss(jnp.reshape(x, (1,))),
                                          lambda x: landscape.grad(jnp.reshape(x, (1,)))[0],
                                          lambda x: landscape.hessian(jnp.reshape(x, (1,)))[0, 0]))

    def wrap(f):
        def call(x):
            with jax.enable_x64(True):
                return float(f(jnp.asarray(x, jnp.float64)))

        return call

    return tuple(wrap(f) for f in fns)


# why solve_ivp may fail on either segment (the same for both)
_TOO_STEEP = ("(Φ = ∫V'/D too steep to resolve in float64: a tiny temperature, or a start far up a wall, where "
              "theory.mean_first_passage_time_1d may resolve it)")


def mean_first_passage_time(potential, temperature, start, end, *, lower=None, grad=None,
                            rtol: float = 1e-10) -> float:
    r"""Exact mean first-passage time of a 1-D diffusion, by ODE quadrature.

    For :math:`dX = -V'(X)\,dt + \sqrt{2D(X)}\,dW` (Itô) started at ``start``, absorbed at ``end``
    and reflected at ``lower`` (on the far side of ``start``; default: far enough out that it does
    not matter),

    .. math::
        \tau = \int_{start}^{end} e^{\Phi(y)}\int_{lower}^{y}\frac{e^{-\Phi(z)}}{D(z)}\,dz\,dy,
        \qquad \Phi' = V'/D .

    With a constant ``D = T`` this is the textbook :math:`\frac1T\int_a^b e^{V(y)/T}\int_{-\infty}^y
    e^{-V(z)/T}dz\,dy`. The nested integrals are solved as one ODE system
    :math:`(\Phi, I, \tau)' = (V'/D,\; e^{-\Phi}/D,\; e^{\Phi}I)` with DOP853 at ``rtol`` (an
    independent method from the Simpson-rule version in :mod:`sgd_sde.theory.escape`).

    Args:
        potential: ``V``, a callable on floats, or a 1-D landscape (then ``V'`` comes from it).
        temperature: a constant ``T > 0`` (``D = T``, isotropic/Langevin noise) or a callable
            ``D(x) > 0`` (state-dependent, e.g. Hessian-shaped ``η(|V''|+δ)/(2B)``).
        start: ``x₀``.
        end: absorbing point (either side of ``start``).
        lower: reflecting bound beyond ``start`` (default: where :math:`\Phi` has risen by 40
            above its value at ``start``, i.e. effectively ``−∞`` for a confining potential).
        grad: ``V'`` (only used with a callable ``temperature``; default central differences).
        rtol: relative tolerance of the ODE solver.

    Returns:
        ``τ`` (float, time units of the SDE).

    Raises:
        ValueError: ``start == end``, ``lower`` on the wrong side, a non-positive ``T`` or ``D``, a
            potential that does not confine beyond ``start`` at this ``temperature`` (with
            ``lower=None``), ``V`` overflowing at ``start``/``end``, or a time beyond float64 (a
            barrier/``temperature`` ratio above ~700); each message names the arguments.
        TypeError: non-callable ``potential``/``temperature``/``grad``.

    Examples:
        >>> V = lambda x: x**4 / 4 - x**2 / 2
        >>> round(mean_first_passage_time(V, 0.1, -1.0, 1.0), 2)
        66.27

    References:
        Gardiner 2009, "Stochastic Methods", Section 5.2.7 (mean first-passage time);
        Kramers 1940, "Brownian motion in a field of force and the diffusion model of chemical
        reactions"; Xie, Sato & Sugiyama 2021, "A Diffusion Theory for Deep Learning Dynamics".
    """
    from ..landscapes.base import AbstractLandscape

    if isinstance(potential, AbstractLandscape):
        potential, lgrad, _ = landscape_functions(potential)
        grad = lgrad if grad is None else grad
    pot = _vectorised("potential", potential)
    x0 = V.as_float("start", start)
    xe = V.as_float("end", end)
    if x0 == xe:
        raise ValueError(f"end must differ from start, got start=end={x0}")
    rtol = V.in_open_interval("rtol", rtol, 0.0, 1e-3)
    for name, x in (("start", x0), ("end", xe)):  # a point where V overflows is out of range: say which
        _at(pot, "potential", x, name)
    if callable(temperature):
        diff = _vectorised("temperature", temperature)
        for name, x in (("start", x0), ("end", xe)):
            _at(diff, "temperature", x, name)
    else:
        V.positive("temperature", temperature)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow inside DOP853 shows up in tau
            tau = _mfpt(pot, temperature, x0, xe, lower, grad, rtol)
    except OverflowError as err:  # math.exp(Φ) in the integrand: e^{ΔV/T} beyond float64
        raise ValueError(f"the mean first-passage time overflows float64 for temperature={temperature}, start={x0}, "
                         f"end={xe}: e^(Φ) with Φ = ∫V'/D exceeds 1.8e308 on the way (a barrier/temperature ratio "
                         f"above ~700); raise temperature or move end/start ({err})") from None
    if not math.isfinite(tau):
        raise ValueError(f"the mean first-passage time is not finite for temperature={temperature}, start={x0}, "
                         f"end={xe} (got {tau}); a barrier/temperature ratio above ~700 overflows float64")
    return tau


def _at(fn: Callable[[float], float], fn_name: str, x: float, name: str) -> float:
    """``fn(x)``; an overflow or a non-finite value names the argument ``x`` came from."""
    try:
        return fn(x)
    except OverflowError:
        raise ValueError(f"{name}={x:.6g} is out of range: {fn_name}({name}) overflows float64") from None
    except ValueError as err:
        raise ValueError(f"{name}={x:.6g} is out of range: {err}") from None


def _mfpt(pot, temperature, x0: float, xe: float, lower, grad, rtol: float) -> float:
    """The quadrature of :func:`mean_first_passage_time` on checked arguments."""
    from scipy.integrate import solve_ivp

    s = 1.0 if xe > x0 else -1.0  # mirror so that escape is to the right
    if callable(temperature):
        diff = _vectorised("temperature", temperature)
        if grad is None:
            h = 1e-6 * max(1.0, abs(xe - x0))
            g = lambda x: (pot(x + h) - pot(x - h)) / (2 * h)  # noqa: E731
        else:
            g = _vectorised("grad", grad)
        D = lambda y: diff(s * y)  # noqa: E731
        phi_rate = lambda y: s * g(s * y) / D(y)  # noqa: E731
        phi_exact = None
    else:
        T = V.positive("temperature", temperature)
        D = lambda y: T  # noqa: E731
        phi_rate = None
        v0 = pot(x0)
        phi_exact = lambda y: (pot(s * y) - v0) / T  # noqa: E731

    a, b = s * x0, s * xe

    def phi_from(y_from, y_to, phi0):
        """Φ(y_to) given Φ(y_from) = phi0 (ODE for state-dependent D)."""
        if phi_exact is not None:
            return phi_exact(y_to)
        sol = solve_ivp(lambda y, u: [phi_rate(y)], (y_from, y_to), [phi0], method="DOP853", rtol=rtol, atol=1e-12)
        return float(sol.y[0, -1])

    if lower is None:
        width, lo, phi_lo = max(b - a, 1.0) / 4, None, None
        for _ in range(60):
            cand = a - width
            if D(cand) <= 0:
                raise ValueError(f"the diffusion D(x) must be > 0, got {D(cand)} at x={s * cand:.6g}")
            ph = phi_from(a, cand, 0.0)
            if ph >= _CUTOFF:
                lo, phi_lo = cand, ph
                break
            width *= 1.5
        if lo is None:
            raise ValueError(f"the potential does not confine beyond start={x0} at temperature={temperature}: "
                             f"Φ = ∫V'/D stays below {_CUTOFF:g} out to x = {s * (a - width / 1.5):.3g}; pass a "
                             "finite lower=")
    else:
        lo = s * V.as_float("lower", lower)
        if not lo < a:
            raise ValueError(f"lower must lie on the far side of start from end, got lower={lower}, start={x0}, end={xe}")
        phi_lo = phi_from(a, lo, 0.0)

    def rhs(y, u, outer: bool):
        phi, inner = u[0], u[1]
        d = D(y)
        if not d > 0:
            raise ValueError(f"the diffusion D(x) must be > 0, got {d} at x={s * y:.6g}")
        dphi = phi_rate(y) if phi_exact is None else 0.0
        if phi_exact is not None:
            phi = phi_exact(y)
        out = [dphi, math.exp(-phi) / d]
        if outer:
            out.append(math.exp(phi) * inner)
        return out

    opts = dict(method="DOP853", rtol=rtol, atol=1e-100)  # tiny but finite: the initial step size squares f/atol
    first = solve_ivp(lambda y, u: rhs(y, u, False), (lo, a), [phi_lo, 0.0], **opts)
    where = f"temperature={temperature}, start={x0}, end={xe}"
    if not first.success:
        raise ValueError(f"quadrature failed on [lower, start] for {where}: {first.message} {_TOO_STEEP}")
    phi_a, inner_a = float(first.y[0, -1]), float(first.y[1, -1])
    second = solve_ivp(lambda y, u: rhs(y, u, True), (a, b), [phi_a, inner_a, 0.0], **opts)
    if not second.success:
        raise ValueError(f"quadrature failed on [start, end] for {where}: {second.message} {_TOO_STEEP}")
    return float(second.y[2, -1])
