"""Robbins–Monro conditions (Robbins & Monro 1951), the whitelist schedule parser, and the exact
E x_t² = σ²/t for η_t = 1/(t+1) on f = x²/2."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from sgd_sde import theory
from sgd_sde.theory._parse import parse_schedule

T = sp.Symbol("t")


@pytest.mark.parametrize("p", ["0.25", "0.5", "0.5001", "0.75", "1", "1.2", "2"])
@pytest.mark.parametrize("c, t0", [("0.5", "1"), ("3", "10")])
def test_power_family_iff_half_lt_p_le_one(p, c, t0):
    r = theory.robbins_monro(f"{c}/(t+{t0})^{p}")
    expected = 0.5 < float(p) <= 1
    assert r.satisfied is expected, r.reason
    assert r.tends_to_zero is True
    assert r.sum_diverges is (float(p) <= 1)
    assert r.sum_squares_converges is (float(p) > 0.5)


@pytest.mark.parametrize(
    "schedule, expected",
    [
        ("0.1*exp(-t/100)", (True, False, True, False)),  # exponential decay: Σ η < ∞
        ("0.1*0.5^floor(t/30)", (True, False, True, False)),  # step decay forever = exponential
        ("0.1*0.1^min(floor(t/30), 3)", (False, True, False, False)),  # finitely many drops: constant tail
        ("0.01", (False, True, False, False)),  # constant
        ("1/((t+2)*log(t+2))", (True, True, True, True)),
        ("1/((t+2)*log(t+2)^2)", (True, False, True, False)),
        ("1/sqrt(t+1)", (True, True, False, False)),
        ("1/log(t+2)", (True, True, False, False)),
        ("0.1*ceil(t/10+1)^-1", (True, True, True, True)),  # staircase 1/t
        ("min(0.1, 2/(t+1))", (True, True, True, True)),  # flat, then 1/t
        ("max(1/(t+1), 1/(t+1)^2)", (True, True, True, True)),  # both → 0: decided by their ratio
        ("t", (False, True, False, False)),  # growing
    ],
)
def test_named_families(schedule, expected):
    r = theory.robbins_monro(schedule)
    assert (r.tends_to_zero, r.sum_diverges, r.sum_squares_converges, r.satisfied) == expected, r.reason


def test_sympy_input_and_undecided_cases():
    assert theory.robbins_monro(2 / (T + 1)).satisfied is True
    assert theory.robbins_monro(sp.Piecewise((sp.Rational(1, 10), T < 100), (10 / T, True))).satisfied is True
    p = sp.Symbol("p", positive=True)
    r = theory.robbins_monro(1 / (T + 1) ** p)
    assert (r.satisfied, r.tends_to_zero) == (None, None) and "undecided" in r.reason
    r = theory.robbins_monro("(1+sin(t))/(t+1)")  # SymPy cannot show positivity: undecided, not a guess
    assert r.satisfied is None and r.sum_diverges is None
    r = theory.robbins_monro("1/(t+1)^(1/2 + sin(t)/4)")
    assert r.satisfied is None


@pytest.mark.parametrize(
    "text",
    ["__import__('os')", "t.__class__", "exec('1')", "eval('t')", "lambda: 1", "t; import os", "[t]", "'t'",
     "t if t else 1", "os.system('x')", "t.real", "2 t", "10^10^10", "", "(" * 100 + "t" + ")" * 100, "x" * 500,
     "sympify('t')", "Symbol('t')", "t__", "1/0", "max(t)"],
)
def test_unsafe_or_malformed_strings_raise_value_error(text):
    with pytest.raises(ValueError, match="schedule"):
        theory.robbins_monro(text)


@given(st.text(alphabet="t0123456789.+-*/^()e ,_[]'\"abcdefghijklmnopqrstuvwxyz", max_size=40))
def test_parser_fuzz_only_value_errors(text):
    # whatever the text, parsing either builds a SymPy expression or raises ValueError — never
    # anything else, and never evaluates the text
    try:
        out = parse_schedule(text)
    except ValueError:
        return
    assert isinstance(out, sp.Basic)


def test_non_string_schedule_type_error():
    with pytest.raises(TypeError, match="schedule must be"):
        theory.robbins_monro(object())


def test_inverse_t_second_moment_is_exact_for_any_start():
    t = np.arange(1, 51)
    for x0 in (-3.0, 0.0, 10.0):
        m = theory.quadratic_second_moment(1.0 / t, noise_var=2.5, x0=x0)
        np.testing.assert_allclose(m[1:], 2.5 / t, rtol=1e-13)
    m = theory.quadratic_second_moment(np.full(5000, 0.1), noise_var=1.0, x0=1.0)
    assert m[-1] == pytest.approx(0.1 / (2 - 0.1), rel=1e-12)  # constant η: a floor, no convergence


def test_inverse_t_second_moment_monte_carlo():
    # 100k particles of x ← x − η_t (x + ξ), ξ ~ N(0, σ²), η_t = 1/(t+1), from x0 = 5. The estimate
    # of E x_t² has SE = sqrt(Var(x_t²)/P) = sqrt(2) (σ²/t) / sqrt(P) (x_t is Gaussian, mean 0);
    # accept within 4 SE at every checkpoint.
    rng = np.random.default_rng(1951)
    P, sigma2 = 100_000, 2.0
    x = np.full(P, 5.0)
    for t in range(200):
        x = x - (x + rng.normal(scale=np.sqrt(sigma2), size=P)) / (t + 1)
        if t + 1 in (1, 10, 50, 200):
            exact = sigma2 / (t + 1)
            assert abs(np.mean(x**2) - exact) < 4 * np.sqrt(2) * exact / np.sqrt(P)


def test_quadratic_second_moment_bad_input():
    with pytest.raises(ValueError, match="lrs must be >= 0"):
        theory.quadratic_second_moment([-0.1], 1.0, 0.0)
    with pytest.raises(ValueError, match="noise_var must be >= 0"):
        theory.quadratic_second_moment([0.1], -1.0, 0.0)


@pytest.mark.parametrize(
    "schedule, undefined, negative",
    [
        ("1/t", (0,), ()),  # η_0 = 1/0: steps start at t = 0
        ("1/log(t+1)", (0,), ()),
        ("1/(t-40)", (40,), None),  # a pole past the first checked steps is found too
        ("(t-3)/(t^2+1)", (), (0, 1, 2)),
        ("sqrt(t-1)/(t+1)^2", (0,), ()),  # complex at t = 0
    ],
)
def test_undefined_or_negative_steps_are_flagged(schedule, undefined, negative):
    r = theory.robbins_monro(schedule)
    assert r.undefined_at == undefined
    assert r.negative_at == negative if negative is not None else r.negative_at[:3] == (0, 1, 2)
    assert r.satisfied is False and "not a learning-rate schedule" in r.reason
    assert theory.robbins_monro("1/(t+1)").undefined_at == ()


@pytest.mark.parametrize(
    "schedule, flags",
    [
        # the first steps are checked one by one; at t = 31 these powers have far more digits than
        # SymPy can write out (31^(31^31); 10^(10^31); (1/32)^10000001), so each used to run for
        # ever. They are evaluated to 30 digits there instead (mpmath: unbounded exponent).
        ("t^t^t", (False, True, False)),
        ("10^(10^t)", (False, True, False)),
        ("1/(t+1)^1.0000001", (True, False, True)),  # p > 1: Σ η_t < ∞
    ],
)
def test_huge_powers_at_the_checked_steps_are_decided(schedule, flags):
    r = theory.robbins_monro(schedule)
    assert (r.tends_to_zero, r.sum_diverges, r.sum_squares_converges) == flags
    assert r.satisfied is False and r.undefined_at == () == r.negative_at


def test_huge_powers_keep_their_sign_and_poles_stay_exact():
    # (-2)^(t^3) < 0 at odd t: exact up to t = 25 (15625 bits), evaluated numerically at 27, 29, 31
    r = theory.robbins_monro("(-2)^(t^3)")
    assert r.negative_at == tuple(range(1, 32, 2)) and r.undefined_at == ()
    # 0 to a negative power is a pole at every checked step, exact however large the exponent
    r = theory.robbins_monro("0^(t-10000001) + 1/(t+1)")
    assert r.undefined_at == tuple(range(32))
