r"""Escape from a well in 1-D: Kramers' rate, the exact mean first-passage time, Xie et al.'s exponent.

For :math:`dX = -V'(X)\,dt + \sqrt{2D(X)}\,dW` (Itô) with a reflecting bound at ``a`` and an
absorbing point ``b > x_0``, the mean first-passage time :math:`\tau(x)` solves
:math:`D\tau'' - V'\tau' = -1`, :math:`\tau'(a) = 0`, :math:`\tau(b) = 0`, hence

.. math::
    \tau(x_0) = \int_{x_0}^{b} e^{\Phi(y)}\int_a^y \frac{e^{-\Phi(z)}}{D(z)}\,dz\,dy,
    \qquad \Phi(y) = \int^y \frac{V'(u)}{D(u)}\,du .

With a constant :math:`D = T`, :math:`\Phi = V/T` and Laplace's method gives Kramers' time
:math:`\tau \approx \frac{2\pi}{\sqrt{V''(x_a)|V''(x_b)|}}e^{\Delta V/T}` (low by 22/14/11% at
:math:`\Delta V/T = 2.5/4/5` on :math:`x^4/4 - x^2/2`). With Hessian-shaped SGD noise
:math:`D(x) = \eta(|V''(x)|+\delta)/(2B)` (Xie et al. 2021), :math:`\log\tau` grows linearly in
:math:`B/\eta` with slope :math:`\int_a^b 2V'/(|V''|+\delta)\,dx = (\eta/B)\int_a^b V'/D\,dx`.

References:
    Kramers 1940, "Brownian motion in a field of force and the diffusion model of chemical reactions".
    Gardiner 2009, "Stochastic Methods", Section 5.5 (mean first-passage time).
    Xie, Sato & Sugiyama 2021, "A Diffusion Theory for Deep Learning Dynamics: Stochastic Gradient
    Descent Exponentially Favors Flat Minima" (ICLR), Theorems 3.2 and 3.3.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import _validate as V
from ._check import Check, exact, identity
from ._numeric import broadcast, positive_values

__all__ = [
    "kramers_time",
    "mean_first_passage_time_1d",
    "hessian_shaped_diffusion",
    "xie_log_tau_slope",
]

_KRAMERS = "Kramers 1940"
_XIE = "Xie, Sato & Sugiyama 2021"

_CUTOFF = 40.0  # the auto reflecting bound sits where e^{-Φ} is below e^{-40} of its peak


def _vectorised(name: str, fn: Callable, domain: str = "") -> Callable:
    """``fn`` evaluated on an array (falling back to one call per point); non-finite values are an
    error naming ``name`` and, if given, the arguments that set the ``domain`` it was evaluated on."""
    if not callable(fn):
        raise TypeError(f"{name} must be callable x -> float, got {type(fn).__name__}")

    def call(x: np.ndarray) -> np.ndarray:
        try:
            out = np.asarray(fn(x), dtype=np.float64)
            if out.shape != x.shape:
                raise ValueError
        except Exception:  # a scalar-only callable: fall back to one call per point
            out = np.array([float(fn(float(v))) for v in x.ravel()], dtype=np.float64).reshape(x.shape)
        if not np.all(np.isfinite(out)):
            where = f" (the interval set by {domain})" if domain else ""
            raise ValueError(f"{name} returned non-finite values on [{x.min():.4g}, {x.max():.4g}]{where}")
        return out

    return call


def _derivative(fn: Callable, scale: float) -> Callable:
    h = 1e-5 * max(scale, 1e-3)
    return lambda x: (fn(x + h) - fn(x - h)) / (2 * h)


def kramers_time(barrier, curvature_min, curvature_saddle, temperature):
    r"""Kramers' escape time :math:`\frac{2\pi}{\sqrt{V''_a|V''_b|}}\,e^{\Delta V/T}` in 1-D.

    Args:
        barrier: ``ΔV = V(saddle) - V(min) > 0``.
        curvature_min: ``V''(x_a) > 0`` at the minimum.
        curvature_saddle: ``V''(x_b)`` at the top (its absolute value is used; not 0).
        temperature: ``T > 0`` (scalar or array).

    Returns:
        ``τ`` (float or array).

    Raises:
        ValueError: non-positive ``barrier``, ``curvature_min``, ``temperature`` or a zero
            ``curvature_saddle``.

    Examples:
        >>> round(kramers_time(0.25, 2.0, -1.0, 0.1), 2)
        54.13

    References:
        Kramers 1940, "Brownian motion in a field of force and the diffusion model of chemical reactions".
    """
    dv = positive_values("barrier", barrier)
    ka = positive_values("curvature_min", curvature_min)
    kb = np.abs(V.finite_array("curvature_saddle", curvature_saddle).astype(np.float64))
    if np.any(kb == 0):
        raise ValueError(f"curvature_saddle must be finite and non-zero, got curvature_saddle={curvature_saddle!r}")
    kb = float(kb) if kb.ndim == 0 else kb
    T = positive_values("temperature", temperature)
    broadcast(barrier=dv, curvature_min=ka, curvature_saddle=kb, temperature=T)
    out = 2 * np.pi / np.sqrt(ka * kb) * np.exp(dv / T)
    return float(out) if np.ndim(out) == 0 else out


def mean_first_passage_time_1d(potential_fn, temperature, start, end, lower=None, *, grad_fn=None,
                               n_grid: int = 20001) -> float:
    r"""Exact mean first-passage time of :math:`dX = -V'dt + \sqrt{2D(X)}dW` from ``start`` to ``end``.

    Evaluates the double integral in the module docstring with composite Simpson quadrature
    (``scipy.integrate.cumulative_simpson`` then ``scipy.integrate.simpson``) on ``n_grid`` points
    per segment, after shifting :math:`\Phi` to avoid overflow.

    Args:
        potential_fn: ``V``, a callable on floats (NumPy-vectorised is faster).
        temperature: a constant ``T > 0`` (``D = T``), or a callable ``D(x) > 0`` for
            state-dependent diffusion (e.g. :func:`hessian_shaped_diffusion`).
        start: ``x₀``.
        end: the absorbing point (either side of ``start``).
        lower: the reflecting bound on the far side of ``start`` (``< start`` when
            ``end > start``). ``None``: chosen where :math:`e^{-\Phi}` has fallen below
            :math:`e^{-40}` of its maximum (an effectively infinite, confining wall).
        grad_fn: ``V'`` (only used with a callable ``temperature``); default central differences.
        n_grid: quadrature points per segment (odd, ``≥ 101``).

    Returns:
        ``τ`` (float).

    Raises:
        ValueError: ``start == end``, ``lower`` on the wrong side, a non-positive temperature or
            ``D``, non-finite potential values, a potential that does not confine on the far side
            when ``lower`` is ``None``, or ``n_grid < 101``.
        TypeError: if ``potential_fn`` (or a non-constant ``temperature``) is not callable.

    Examples:
        >>> round(mean_first_passage_time_1d(lambda x: x**4 / 4 - x**2 / 2, 0.1, -1.0, 1.0), 2)
        66.27

    References:
        Gardiner 2009, "Stochastic Methods", Section 5.5; Xie, Sato & Sugiyama 2021, "A Diffusion
        Theory for Deep Learning Dynamics", Section 3.
    """
    from scipy.integrate import cumulative_simpson, simpson

    pot = _vectorised("potential_fn", potential_fn, "start, end and lower")
    x0 = V.as_float("start", start)
    xb = V.as_float("end", end)
    if x0 == xb:
        raise ValueError(f"end must differ from start, got start=end={x0}")
    n = V.count("n_grid", n_grid, minimum=101)
    V.fits_in_memory("n_grid", 2 * n * 8 * 8, "quadrature arrays")  # ~8 float64 arrays of 2·n_grid points
    n += 1 - n % 2  # Simpson wants an odd count
    sign = 1.0 if xb > x0 else -1.0  # mirror x -> -x so that escape is always to the right
    if callable(temperature):
        diff = _vectorised("temperature (D(x))", temperature)
        grad = _vectorised("grad_fn", grad_fn) if grad_fn is not None else _derivative(pot, abs(xb - x0))
        D = lambda y: diff(sign * y)  # noqa: E731
        Vp = lambda y: sign * grad(sign * y)  # noqa: E731  (d/dy of V(sign*y))

        def phi_on(y):
            r = Vp(y) / D(y)
            return cumulative_simpson(r, x=y, initial=0.0)
    else:
        T = V.positive("temperature", temperature)  # a scalar: an array would not broadcast over the grid
        D = lambda y: np.full_like(y, T)  # noqa: E731

        def phi_on(y):
            return pot(sign * y) / T

    a0, b = sign * x0, sign * xb
    if lower is None:
        width = max(b - a0, 1.0)
        for _ in range(60):
            lo = a0 - width
            y = np.linspace(lo, b, 4001)
            ph = phi_on(y)
            if np.all(D(y) > 0) and ph[0] - ph.min() >= _CUTOFF:
                break
            width *= 2.0
        else:
            raise ValueError("the potential does not confine on the far side of start at this temperature "
                             f"(Phi = V/D must rise by {_CUTOFF:g} there); pass a finite lower=")
    else:
        lo = sign * V.as_float("lower", lower)
        if not lo < a0:
            side = "<" if sign > 0 else ">"
            raise ValueError(f"lower must be {side} start (the reflecting bound is on the far side), got lower={lower}")
    y = np.concatenate([np.linspace(lo, a0, n), np.linspace(a0, b, n)[1:]])
    d_y = D(y)
    if not np.all(d_y > 0):
        raise ValueError("the diffusion D(x) must be > 0 on [lower, end]")
    ph = phi_on(y)
    # e^{−(Φ−s)} inside, e^{Φ−s} outside (on [start, end]): s halfway between min Φ and the largest Φ
    # on [start, end] keeps both in float64 while that span is < ~1400 (s = min Φ overflowed once a
    # start high on the wall put Φ(start) − min Φ above 709); far-side points only underflow inside
    shift = 0.5 * (ph.min() + ph[n - 1:].max())
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        inner = cumulative_simpson(np.exp(-(ph - shift)) / d_y, x=y, initial=0.0)
        integrand = inner[n - 1:] * np.exp(ph[n - 1:] - shift)
        tau = float(simpson(integrand, x=y[n - 1:]))
    if not math.isfinite(tau):
        raise ValueError(f"the mean first-passage time is beyond float64 here: Φ = ∫V'/D rises "
                         f"{ph[n - 1:].max() - ph.min():.4g} above its minimum on [start, end] (at most ~1400 can be "
                         "resolved); raise temperature or move start/end")
    return tau


def hessian_shaped_diffusion(potential_fn, lr, batch_size, delta, *, hess_fn=None) -> Callable:
    r"""Xie et al.'s Hessian-shaped SGD diffusion :math:`D(x) = \eta(|V''(x)| + \delta)/(2B)`.

    Args:
        potential_fn: ``V`` (used for ``V''`` by central differences when ``hess_fn`` is None).
        lr: ``η > 0``.
        batch_size: ``B > 0``.
        delta: ``δ > 0`` (keeps ``D > 0`` where ``V'' = 0``).
        hess_fn: ``V''`` if known.

    Returns:
        a vectorised callable ``D(x)``.

    Raises:
        ValueError: a non-positive ``lr``, ``batch_size`` or ``delta``.

    Examples:
        >>> D = hessian_shaped_diffusion(lambda x: x**4 / 4 - x**2 / 2, 0.1, 10, 0.5, hess_fn=lambda x: 3 * x**2 - 1)
        >>> float(D(1.0))
        0.0125

    References:
        Xie, Sato & Sugiyama 2021, "A Diffusion Theory for Deep Learning Dynamics", eq. (5)–(6).
    """
    eta = positive_values("lr", lr)
    B = positive_values("batch_size", batch_size)
    dl = positive_values("delta", delta)
    pot = _vectorised("potential_fn", potential_fn)
    if hess_fn is not None:
        hess = _vectorised("hess_fn", hess_fn)
    else:
        h = 1e-4
        hess = lambda x: (pot(x + h) - 2 * pot(x) + pot(x - h)) / (h * h)  # noqa: E731

    def diffusion(x):
        x = np.asarray(x, dtype=np.float64)
        flat = np.atleast_1d(x)
        out = eta * (np.abs(hess(flat)) + dl) / (2 * B)
        return out.reshape(x.shape)

    return diffusion


def xie_log_tau_slope(potential_fn, well, saddle, delta, *, grad_fn=None, hess_fn=None) -> float:
    r"""Slope of :math:`\log\tau` against :math:`B/\eta` for Hessian-shaped noise (Xie et al. 2021).

    .. math:: \frac{d\log\tau}{d(B/\eta)} = \int_{x_a}^{x_b}\frac{2V'(x)}{|V''(x)|+\delta}\,dx
              = \frac\eta B\int_{x_a}^{x_b}\frac{V'}{D}\,dx,

    from :math:`\tau \propto e^{\Phi(x_b) - \Phi(x_a)}` with :math:`D = \eta(|V''|+\delta)/(2B)`.
    For isotropic noise (:math:`D = T`) the same integral is :math:`\Delta V/T`.

    Args:
        potential_fn: ``V``.
        well: the minimum ``x_a``.
        saddle: the barrier top ``x_b``.
        delta: ``δ > 0``.
        grad_fn: ``V'`` if known (default central differences).
        hess_fn: ``V''`` if known (default central differences).

    Returns:
        the slope (float).

    Raises:
        ValueError: ``well == saddle`` or ``delta ≤ 0``.

    Examples:
        >>> V = lambda x: x**4 / 4 - x**2 / 2
        >>> round(xie_log_tau_slope(V, -1.0, 0.0, 0.5, grad_fn=lambda x: x**3 - x, hess_fn=lambda x: 3 * x**2 - 1), 4)
        0.5191

    References:
        Xie, Sato & Sugiyama 2021, "A Diffusion Theory for Deep Learning Dynamics", Theorem 3.2.
    """
    from scipy.integrate import quad

    from .. import _validate as V

    xa = V.as_float("well", well)
    xb = V.as_float("saddle", saddle)
    if xa == xb:
        raise ValueError("saddle must differ from well")
    dl = positive_values("delta", delta)
    pot = _vectorised("potential_fn", potential_fn)
    grad = _vectorised("grad_fn", grad_fn) if grad_fn is not None else _derivative(pot, abs(xb - xa))
    D = hessian_shaped_diffusion(potential_fn, 1.0, 1.0, dl, hess_fn=hess_fn)
    f = lambda x: float(grad(np.array([x]))[0] / D(np.array([x]))[0])  # noqa: E731
    val, _ = quad(f, xa, xb, limit=200)
    return float(val)


# -- checks run by sgd_sde.theory.verify --------------------------------------------------------


def _checks() -> list[Check]:
    import sympy as sp

    out = []
    x, T = sp.symbols("x T", positive=True)
    Phi, I, Dfun, Vfun = (sp.Function(n) for n in ("Phi", "I", "D", "V"))
    # τ'(x) = -e^{Φ(x)} I(x), I' = e^{-Φ}/D, Φ' = V'/D  ⇒  D τ'' - V' τ' = -1
    tau_p = -sp.exp(Phi(x)) * I(x)
    tau_pp = sp.diff(tau_p, x).subs({sp.Derivative(I(x), x): sp.exp(-Phi(x)) / Dfun(x),
                                      sp.Derivative(Phi(x), x): sp.Derivative(Vfun(x), x) / Dfun(x)})
    ode = Dfun(x) * tau_pp - sp.Derivative(Vfun(x), x) * tau_p
    out.append(identity("escape.mfpt_ode", ode, -1,
                        "τ = ∫ e^Φ ∫ e^{-Φ}/D solves Dτ'' - V'τ' = -1 (Itô generator), general V, D",
                        "Gardiner 2009"))
    # Laplace's method on the two integrals gives Kramers' prefactor
    ka, kb, dv = sp.symbols("k_a k_b DeltaV", positive=True)
    inner = sp.integrate(sp.exp(-ka * x**2 / (2 * T)), (x, -sp.oo, sp.oo))
    outer = sp.integrate(sp.exp(-kb * x**2 / (2 * T)), (x, -sp.oo, sp.oo))
    laplace = inner * outer * sp.exp(dv / T) / T
    out.append(identity("escape.kramers_laplace", laplace, 2 * sp.pi / sp.sqrt(ka * kb) * sp.exp(dv / T),
                        "(1/T)∫e^{-k_a x²/2T}∫e^{-k_b x²/2T} e^{ΔV/T} = 2π/√(k_a k_b) e^{ΔV/T}", _KRAMERS))
    # the exponent: ∫ V'/D for D = T is ΔV/T; for D = (η/B) d(x) it is (B/η) ∫ V'/d
    a, b, eta, B = sp.symbols("a b eta B", real=True)
    Vx = sp.Function("V")(x)
    iso = sp.integrate(sp.diff(Vx, x) / T, (x, a, b))
    out.append(identity("escape.isotropic_exponent", iso, (Vx.subs(x, b) - Vx.subs(x, a)) / T,
                        "D = T: ∫_a^b V'/D = ΔV/T (Kramers' exponent)", _KRAMERS))
    dfun = sp.Function("d")(x)
    k = sp.Symbol("k", positive=True)  # k = B/η
    expo = sp.Integral(sp.diff(Vx, x) / (dfun / k), (x, a, b))
    out.append(identity("escape.xie_slope", sp.diff(expo, k).doit(), sp.Integral(sp.diff(Vx, x) / dfun, (x, a, b)).doit(),
                        "D = (η/B) d(x): d log τ / d(B/η) = ∫_a^b V'/d (linear in B/η)", _XIE))
    # quadrature calibration (deterministic, not sampled)
    pot = lambda z: z**4 / 4 - z**2 / 2  # noqa: E731
    ref = {0.1: (66.27, 54.13), 0.0625: (277.05, 242.57), 0.05: (729.67, 659.38)}
    got = {T_: (mean_first_passage_time_1d(pot, T_, -1.0, 1.0), float(kramers_time(0.25, 2.0, -1.0, T_))) for T_ in ref}
    ok = all(abs(got[T_][0] - ref[T_][0]) < 0.01 and abs(got[T_][1] - ref[T_][1]) < 0.01 for T_ in ref)
    out.append(exact("escape.double_well_calibration", ok,
                     "x⁴/4 - x²/2, -1 → +1: MFPT " + ", ".join(f"{got[T_][0]:.2f}" for T_ in ref)
                     + "; Kramers " + ", ".join(f"{got[T_][1]:.2f}" for T_ in ref) + " (T = 0.1, 0.0625, 0.05)", _KRAMERS))
    return out
