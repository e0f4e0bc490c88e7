r"""Robbins–Monro conditions on a learning-rate schedule, decided symbolically.

The classical convergence theorem (Robbins & Monro 1951; Bertsekas & Tsitsiklis 1996, as quoted
in McAllester's TTIC 31230 lecture) asks of :math:`\eta_t \ge 0`

.. math:: \eta_t \to 0, \qquad \sum_t \eta_t = \infty, \qquad \sum_t \eta_t^2 < \infty .

:func:`robbins_monro` decides the three conditions for a schedule given as a SymPy expression in
``t`` or as a string (parsed by the whitelist parser in :mod:`sgd_sde.theory._parse`; user text is
never evaluated). Each flag is ``True``, ``False`` or ``None`` (undecided — SymPy could not decide,
and the function does not guess).

Decision procedure for a positive sequence :math:`a_t \to 0` (every step is a comparison test, so
no monotonicity is assumed): with :math:`r = \lim \log a_t / t`, a negative ``r`` means geometric
decay (summable). If ``r = 0`` the iterated-logarithm exponents
:math:`c_0 = \lim -\log a_t/\log t`, :math:`c_1 = \lim -\log(a_t t)/\log\log t`,
:math:`c_2 = \lim -\log(a_t\,t\log t)/\log\log\log t` are tried in turn; the first one that is not
1 decides (``> 1`` summable, ``< 1`` not) — the Cauchy/Bertrand scale. ``floor(u)`` and
``ceiling(u)`` are replaced by ``u ∓ s`` with ``s ∈ [0, 1)`` and a limit that depends on ``s`` is
undecided; ``min``/``max``/``abs``/``Piecewise`` are resolved to their eventual branch.

The exact companion check (:func:`quadratic_second_moment`): on :math:`f = x^2/2` with unit-variance
gradient noise scaled by :math:`\sigma`, :math:`\eta_t = 1/(t+1)` gives
:math:`t\,x_t = -\sum_{s<t}\xi_s`, hence :math:`\mathbb E x_t^2 = \sigma^2/t` for every :math:`x_0`.

References:
    Robbins & Monro 1951, "A Stochastic Approximation Method".
    Bertsekas & Tsitsiklis 1996, "Neuro-Dynamic Programming".
    McAllester 2023, TTIC 31230 lecture "Stochastic Gradient Descent" (seed 05).
"""

from __future__ import annotations

import math

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ._check import Check, exact, identity

__all__ = ["RobbinsMonroResult", "robbins_monro", "quadratic_second_moment"]

_SOURCE = "Robbins & Monro 1951"


@dataclass(frozen=True)
class RobbinsMonroResult:
    """What :func:`robbins_monro` decided.

    Attributes:
        schedule: the schedule as a SymPy expression in ``t``.
        tends_to_zero: ``η_t → 0`` (``None``: undecided).
        sum_diverges: ``Σ η_t = ∞`` (``None``: undecided).
        sum_squares_converges: ``Σ η_t² < ∞`` (``None``: undecided).
        satisfied: all three hold and ``η_t`` is a valid learning rate at every step (``True``),
            one fails or some ``η_t`` is undefined or negative (``False``), otherwise ``None``.
        reason: a sentence saying why.
        undefined_at: steps ``t ≥ 0`` where ``η_t`` is undefined (division by zero, log of 0, a
            complex value), e.g. ``(0,)`` for ``"1/t"``: steps start at ``t = 0``.
        negative_at: steps where ``η_t < 0``.
    """

    schedule: Any
    tends_to_zero: bool | None
    sum_diverges: bool | None
    sum_squares_converges: bool | None
    satisfied: bool | None
    reason: str
    undefined_at: tuple[int, ...] = ()
    negative_at: tuple[int, ...] = ()


def _combine(flags) -> bool | None:
    if any(f is False for f in flags):
        return False
    if all(f is True for f in flags):
        return True
    return None


class _Undecided(Exception):
    pass


def _limit(expr, t):
    """``lim_{t→∞} expr`` as a SymPy number (possibly ±oo); raises ``_Undecided`` otherwise."""
    import sympy as sp

    try:
        value = sp.limit(expr, t, sp.oo)
    except (NotImplementedError, ValueError, TypeError, AttributeError, RecursionError, ZeroDivisionError) as err:
        raise _Undecided(f"SymPy could not take lim {expr} ({type(err).__name__})") from err
    if value.has(sp.AccumBounds) or value.has(sp.Limit) or value.free_symbols or value is sp.nan or value is sp.zoo:
        raise _Undecided(f"lim {expr} as t→∞ is {value} (not a single real value)")
    if value.is_extended_real is not True:
        raise _Undecided(f"lim {expr} as t→∞ is {value} (not real)")
    return value


def _eventual(expr, t):
    """Replace ``min``/``max``/``abs``/``Piecewise``/``floor``/``ceiling`` by their eventual form."""
    import sympy as sp

    def rewrite(node):
        if not node.args:
            return node
        args = [rewrite(a) for a in node.args] if not isinstance(node, sp.Piecewise) else None
        if isinstance(node, (sp.floor, sp.ceiling)):
            s = sp.Dummy("s", nonnegative=True)
            s_bound[s] = True
            return args[0] - s if isinstance(node, sp.floor) else args[0] + s
        if isinstance(node, (sp.Min, sp.Max)):
            best = args[0]
            for other in args[1:]:
                d = _limit(best - other, t)
                if d == 0 and _eventually_positive(other, t):  # both → the same value: compare ratios
                    d = _limit(best / other, t) - 1
                if d == 0:
                    raise _Undecided(f"cannot tell which argument of {node} is eventually active")
                keep_best = (d < 0) if isinstance(node, sp.Min) else (d > 0)
                best = best if keep_best else other
            return best
        if isinstance(node, sp.Abs):
            d = _limit(args[0], t)
            if d == 0:  # → 0: decide the sign on the tail instead
                d = 1 if _eventually_positive(args[0], t) else (-1 if _eventually_positive(-args[0], t) else 0)
            if d == 0:
                raise _Undecided(f"cannot tell the eventual sign inside {node}")
            return args[0] if d > 0 else -args[0]
        if isinstance(node, sp.Piecewise):
            for value, cond in node.args:
                if _eventually_true(cond):
                    return rewrite(value)
            raise _Undecided(f"no branch of {node} is eventually active")
        return node.func(*args)

    def _eventually_true(cond):
        if cond is sp.true:
            return True
        if cond is sp.false:
            return False
        if isinstance(cond, sp.And):
            return all(_eventually_true(c) for c in cond.args)
        if isinstance(cond, sp.Or):
            return any(_eventually_true(c) for c in cond.args)
        if isinstance(cond, (sp.StrictLessThan, sp.LessThan)):
            d = _limit(cond.lhs - cond.rhs, t)
        elif isinstance(cond, (sp.StrictGreaterThan, sp.GreaterThan)):
            d = _limit(cond.rhs - cond.lhs, t)
        else:
            raise _Undecided(f"cannot decide the condition {cond} for large t")
        if d.is_zero:
            raise _Undecided(f"cannot decide the condition {cond} for large t")
        return bool(d < 0)

    s_bound: dict = {}
    out = rewrite(expr)
    return out, tuple(s_bound)


def _summable(log_a, t, slack) -> bool:
    """Decide ``Σ a_t < ∞`` for positive ``a_t → 0`` given ``log a_t`` (see the module docstring)."""
    import sympy as sp

    def lim(expr):
        value = _limit(expr, t)
        if value.free_symbols & set(slack):
            raise _Undecided(f"limit {value} depends on the floor/ceiling offset")
        return value

    r = lim(log_a / t)
    if r < 0:
        return True
    if r > 0:
        raise _Undecided("a_t grows exponentially")  # impossible when a_t -> 0; be safe
    logs = [sp.log(t), sp.log(sp.log(t)), sp.log(sp.log(sp.log(t)))]
    shift = sp.Integer(0)
    for level in range(3):
        c = lim(sp.expand_log(-(log_a + shift), force=True) / logs[level])
        if c > 1:
            return True
        if c < 1:
            return False
        shift = shift + logs[level]  # multiply a_t by t, then by log t, ...
    raise _Undecided("the Cauchy/Bertrand scale is inconclusive at three iterated logarithms")


def _eventually_positive(expr, t) -> bool:
    """``expr > 0`` for all ``t ≥ K`` for some ``K`` in (1, 10, 100, 10⁶) (a tail property suffices)."""
    import sympy as sp

    u = sp.Symbol("u", integer=True, nonnegative=True)
    for shift in (1, 10, 100, 10**6):
        if expr.subs(t, u + shift).is_positive:
            return True
    return False


# Steps checked one by one for undefined or negative values (every t < _FIRST_STEPS, plus the
# non-negative integer singularities SymPy finds); the tail t ≥ K is covered by the limit analysis.
_FIRST_STEPS = 32


def _invalid_steps(expr, t) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(undefined, negative)``: steps ``t ≥ 0`` where ``η_t`` is undefined (±∞, NaN, complex) or < 0."""
    import sympy as sp

    candidates = set(range(_FIRST_STEPS))
    try:
        sing = sp.singularities(expr, t)
        if isinstance(sing, sp.FiniteSet):
            for x in sing:
                if x.is_integer and x.is_nonnegative and x < 10**6:
                    candidates.add(int(x))
    except Exception:  # noqa: BLE001 — singularities() is a helper here; the first steps are always checked
        pass
    undefined, negative = [], []
    for k in sorted(candidates):
        v = _value_at(expr, t, k)
        if v.has(sp.zoo, sp.nan, sp.oo, -sp.oo) or v.is_extended_real is False or v.is_finite is False:
            undefined.append(k)
        elif v.is_extended_real and v.is_negative:
            negative.append(k)
    return tuple(undefined), tuple(negative)


# A power of two rational numbers is formed exactly only if the exact result has at most about this
# many bits: SymPy writes out 31^(31^31) (from "t^t^t" at t = 31) or (1/32)^10000001 (from
# "1/(t+1)^1.0000001") digit by digit, which does not finish.
_EXACT_POWER_BITS = 1 << 14


def _value_at(expr, t, k: int):
    """``η_k``, exact except for powers whose exact value would be too large to write out
    (:data:`_EXACT_POWER_BITS`); those are evaluated to 30 significant digits (mpmath's exponent
    is unbounded, so a huge finite value stays finite and keeps its sign, and ``0`` to a negative
    power is still ``zoo``)."""
    import sympy as sp

    def bits(x) -> int:
        return max(abs(int(x.p)).bit_length(), abs(int(x.q)).bit_length())

    def value(node):
        if node == t:
            return sp.Integer(k)
        if not node.args:
            return node
        args = [value(a) for a in node.args]
        if isinstance(node, sp.Pow):
            base, power = args
            if base.is_Rational and power.is_Rational and abs(int(power.p)) * bits(base) > _EXACT_POWER_BITS:
                return sp.Pow(base, power, evaluate=False).evalf(30)
        return node.func(*args)

    return value(expr)


def _as_expression(schedule):
    import sympy as sp

    from ._parse import parse_schedule

    t = sp.Symbol("t", integer=True, nonnegative=True)
    from ..schedules import Schedule

    if isinstance(schedule, Schedule):
        if schedule.lr is None:
            raise TypeError("schedule is a Schedule without an lr schedule (lr=None); nothing to decide")
        schedule = schedule.lr
    if callable(schedule) and not isinstance(schedule, sp.Basic):
        expression = getattr(schedule, "expression", None)
        if expression is None:
            raise TypeError(
                f"schedule must be a str, a number, a SymPy expression or a schedule from sgd_sde.schedules "
                f"(which carries its symbolic form), got a callable without one ({type(schedule).__name__})"
            )
        schedule = expression()
    if isinstance(schedule, str):
        return parse_schedule(schedule), t
    if isinstance(schedule, Fraction):
        return sp.Rational(schedule.numerator, schedule.denominator), t
    if isinstance(schedule, (int, float)) and not isinstance(schedule, bool):
        if not math.isfinite(schedule):
            raise ValueError(f"schedule must be a finite number (a constant learning rate), got {schedule}")
        return sp.Rational(str(schedule)), t
    if not isinstance(schedule, sp.Basic):
        raise TypeError(f"schedule must be a SymPy expression in t or a str, got {type(schedule).__name__}")
    named_t = [s for s in schedule.free_symbols if s.name == "t"]
    return schedule.subs({s: t for s in named_t}), t


def robbins_monro(schedule) -> RobbinsMonroResult:
    r"""Decide the Robbins–Monro conditions for a learning-rate schedule ``η_t`` (``t = 0, 1, …``).

    Steps start at ``t = 0``: a schedule undefined there (``"1/t"``: ``η_0 = 1/0``) or at any later
    step, or negative at some step, is not a learning-rate schedule, and the result says so
    (``undefined_at`` / ``negative_at``, ``satisfied=False``) whatever its tail does.

    Args:
        schedule: a SymPy expression in a symbol named ``t``, a number (constant schedule), a
            string such as ``"0.5/(t+10)^0.75"`` (allowed: numbers, ``t``, ``pi``, ``e``,
            ``+ - * / ^ **``, parentheses, and ``exp log ln sqrt floor ceil min max abs sin cos``),
            a schedule from :mod:`sgd_sde.schedules` (e.g. ``inverse_power(0.5, 0.75)``; its
            symbolic form is used) or a :class:`sgd_sde.schedules.Schedule` (its ``lr``).

    Returns:
        :class:`RobbinsMonroResult` with tri-state flags ``tends_to_zero``, ``sum_diverges``,
        ``sum_squares_converges``, their conjunction ``satisfied`` and a ``reason``.

    Raises:
        ValueError: if the string is not in the whitelist grammar (e.g. ``"__import__('os')"``,
            ``"t.__class__"``, ``"exec(...)"``).
        TypeError: if ``schedule`` is neither a string, a number, a SymPy expression nor a
            schedule with a symbolic form.

    Examples:
        >>> robbins_monro("1/(t+1)").satisfied
        True
        >>> r = robbins_monro("1/t")  # η_0 = 1/0
        >>> r.satisfied, r.undefined_at
        (False, (0,))
        >>> from sgd_sde.schedules import inverse_power
        >>> robbins_monro(inverse_power(0.5, 0.75)).satisfied
        True
        >>> r = robbins_monro("0.1/(t+1)^0.5")
        >>> (r.sum_diverges, r.sum_squares_converges, r.satisfied)
        (True, False, False)
        >>> robbins_monro("0.1*0.5^floor(t/30)").sum_diverges
        False

    References:
        Robbins & Monro 1951, "A Stochastic Approximation Method"; Bertsekas & Tsitsiklis 1996,
        "Neuro-Dynamic Programming".
    """
    import sympy as sp

    expr, t = _as_expression(schedule)
    others = expr.free_symbols - {t}
    if others:
        names = ", ".join(sorted(str(s) for s in others))
        return RobbinsMonroResult(expr, None, None, None, None, f"undecided: the schedule depends on parameters {names}")
    undefined, negative = _invalid_steps(expr, t)
    result = _decide(expr, t)
    if not (undefined or negative):
        return result
    steps = lambda ks: ", ".join(map(str, ks[:8])) + (", …" if len(ks) > 8 else "")
    parts = []
    if undefined:
        parts.append(f"η_t is undefined at t = {steps(undefined)} (steps start at t = 0)")
    if negative:
        parts.append(f"η_t < 0 at t = {steps(negative)}")
    return RobbinsMonroResult(expr, result.tends_to_zero, result.sum_diverges, result.sum_squares_converges, False,
                              "not a learning-rate schedule: " + "; ".join(parts) + f" (tail: {result.reason})",
                              undefined, negative)


def _decide(expr, t) -> RobbinsMonroResult:
    """The three tail conditions of ``expr`` (no parameters other than ``t``)."""
    import sympy as sp

    try:
        eventual, slack = _eventual(expr, t)
    except _Undecided as err:
        return RobbinsMonroResult(expr, None, None, None, None, f"undecided: {err}")
    if eventual == 0:
        return RobbinsMonroResult(expr, True, False, True, False, "η_t is eventually 0, so Σ η_t < ∞")
    try:
        limit = _limit(eventual, t)
        if slack and limit.free_symbols & set(slack):
            raise _Undecided(f"lim η_t = {limit} depends on the floor/ceiling offset")
    except _Undecided as err:
        return RobbinsMonroResult(expr, None, None, None, None, f"undecided: {err}")
    if limit < 0:
        return RobbinsMonroResult(expr, False, False, False, False, f"η_t → {limit} < 0: a learning rate must be ≥ 0")
    if limit > 0:
        return RobbinsMonroResult(
            expr, False, True, False, False, f"η_t → {limit} ≠ 0, so Σ η_t² = ∞ (the rate never anneals)"
        )
    positive = _eventually_positive(eventual.subs({s: sp.Rational(1, 2) for s in slack}), t)
    if slack:  # positivity must hold for every floor/ceiling offset s in [0, 1)
        positive = positive and _eventually_positive(eventual, t)
    if positive is not True:
        return RobbinsMonroResult(
            expr, True, None, None, None, "undecided: η_t → 0 but SymPy cannot show η_t > 0 for large t"
        )
    log_eta = sp.expand_log(sp.log(eventual), force=True)
    why_sum = why_sq = ""
    try:
        summable = _summable(log_eta, t, slack)
    except _Undecided as err:
        summable, why_sum = None, str(err)
    try:
        squares = _summable(2 * log_eta, t, slack)
    except _Undecided as err:
        squares, why_sq = None, str(err)
    sum_diverges = None if summable is None else not summable
    satisfied = _combine([True, sum_diverges, squares])
    parts = [
        {True: "Σ η_t = ∞", False: "Σ η_t < ∞ (decays too fast)"}.get(sum_diverges, f"Σ η_t undecided ({why_sum})"),
        {True: "Σ η_t² < ∞", False: "Σ η_t² = ∞ (decays too slowly)"}.get(squares, f"Σ η_t² undecided ({why_sq})"),
    ]
    verdict = {True: "satisfied", False: "not satisfied", None: "undecided"}[satisfied]
    return RobbinsMonroResult(expr, True, sum_diverges, squares, satisfied, f"{verdict}: η_t → 0, " + ", ".join(parts))


def quadratic_second_moment(lrs, noise_var: float, x0: float) -> np.ndarray:
    r"""Exact :math:`\mathbb E x_t^2` of SGD on :math:`f = x^2/2` with additive gradient noise.

    The update :math:`x_{t+1} = x_t - \eta_t (x_t + \xi_t)`, :math:`\mathbb E\xi_t = 0`,
    :math:`\mathbb E\xi_t^2 = \sigma^2`, gives
    :math:`m_{t+1} = (1-\eta_t)^2 m_t + \eta_t^2\sigma^2` with :math:`m_0 = x_0^2`.

    Args:
        lrs: learning rates ``η_0, …, η_{T-1}`` (1-D, finite, ≥ 0).
        noise_var: ``σ² ≥ 0``.
        x0: the starting point.

    Returns:
        ``(T + 1,)`` float64 array ``m_0, …, m_T``.

    Raises:
        ValueError: if ``lrs`` is not 1-D finite non-negative or ``noise_var < 0``.

    Examples:
        >>> m = quadratic_second_moment(1.0 / np.arange(1, 11), noise_var=2.0, x0=5.0)
        >>> np.allclose(m[1:], 2.0 / np.arange(1, 11))
        True

    References:
        Robbins & Monro 1951, "A Stochastic Approximation Method".
    """
    from .. import _validate as V

    eta = V.finite_array("lrs", lrs, ndim=1).astype(np.float64)
    if eta.size == 0:
        raise ValueError("lrs must hold at least one learning rate (one per step), got an empty array")
    if np.any(eta < 0):
        raise ValueError("lrs must be >= 0 (learning rates)")
    var = V.nonnegative("noise_var", noise_var)
    x0 = V.as_float("x0", x0)
    out = np.empty(eta.size + 1)
    out[0] = x0 * x0
    for k, e in enumerate(eta):  # host-side recursion; T is small in every use
        out[k + 1] = (1.0 - e) ** 2 * out[k] + e * e * var
    return out


# -- checks run by sgd_sde.theory.verify --------------------------------------------------------

_FAMILIES = (
    # (schedule, expected satisfied, what it is)
    ("0.5/(t+10)^0.25", False, "c/(t+t0)^p, p = 1/4"),
    ("0.5/(t+10)^0.5", False, "c/(t+t0)^p, p = 1/2 (Σ η² = ∞ by one log)"),
    ("0.5/(t+10)^0.75", True, "c/(t+t0)^p, p = 3/4"),
    ("2/(t+1)", True, "c/(t+t0)^p, p = 1"),
    ("1/(t+1)^1.5", False, "c/(t+t0)^p, p = 3/2"),
    ("0.1*exp(-t/100)", False, "exponential decay"),
    ("0.1*0.5^floor(t/30)", False, "step decay, infinitely many drops"),
    ("0.1*0.1^min(floor(t/30), 3)", False, "step decay, three drops"),
    ("0.01", False, "constant"),
    ("1/((t+2)*log(t+2))", True, "c/((t+2) log(t+2))"),
    ("1/((t+2)*log(t+2)^2)", False, "c/((t+2) log²(t+2))"),
)


def _checks() -> list[Check]:
    import sympy as sp

    out = []
    wrong = []
    for text, expected, label in _FAMILIES:
        got = robbins_monro(text).satisfied
        if got is not expected:
            wrong.append(f"{label}: got {got}, expected {expected}")
    out.append(exact("robbins_monro.families", not wrong,
                     f"{len(_FAMILIES)} schedules decided correctly" if not wrong else "; ".join(wrong), _SOURCE))
    p = robbins_monro(sp.Symbol("c", positive=True) / (sp.Symbol("t") + 1))
    out.append(exact("robbins_monro.undecided_on_parameters", p.satisfied is None, p.reason, _SOURCE))

    # E x_t^2 = σ²/t for η_t = 1/(t+1): the moment recursion m_{t+1} = (t/(t+1))² m_t + σ²/(t+1)²
    # (η_t = 1/(t+1)) is solved by σ²/t, and m_1 = σ² whatever x_0 is (1 - η_0 = 0).
    t, sigma2, x0 = sp.symbols("t sigma2 x0", positive=True)
    rec = (t / (t + 1)) ** 2 * (sigma2 / t) + sigma2 / (t + 1) ** 2
    out.append(identity("robbins_monro.inverse_t_moment", rec, sigma2 / (t + 1),
                        "m_t = σ²/t solves m_{t+1} = (1-η_t)² m_t + η_t² σ², η_t = 1/(t+1)", _SOURCE))
    m = Fraction(7, 3) ** 2  # exact rational recursion from x0 = 7/3, σ² = 5/2
    s2 = Fraction(5, 2)
    ok = True
    for k in range(200):
        eta = Fraction(1, k + 1)
        m = (1 - eta) ** 2 * m + eta**2 * s2
        ok &= m == s2 / (k + 1)
    out.append(exact("robbins_monro.inverse_t_moment_exact", ok,
                     "Fractions: m_t == σ²/t for t = 1..200 from x0 = 7/3", _SOURCE))
    eta = sp.Symbol("eta", positive=True)
    mstar = sp.solve(sp.Eq(sp.Symbol("m"), (1 - eta) ** 2 * sp.Symbol("m") + eta**2 * sigma2), sp.Symbol("m"))[0]
    out.append(identity("robbins_monro.constant_rate_floor", mstar, eta * sigma2 / (2 - eta),
                        "constant η: E x² → ησ²/(2-η) (no annealing, no convergence)", _SOURCE))
    return out
