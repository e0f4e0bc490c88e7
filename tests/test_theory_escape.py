"""Escape times in 1-D: Kramers 1940, the exact mean first-passage time (Gardiner 2009 §5.5), and
Xie, Sato & Sugiyama 2021's Hessian-shaped noise — against independent scipy computations."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.linalg import solve_banded

from sgd_sde import theory

V = lambda x: x**4 / 4 - x**2 / 2  # noqa: E731
dV = lambda x: x**3 - x  # noqa: E731
d2V = lambda x: 3 * x**2 - 1  # noqa: E731

CAL = {0.1: (66.27, 54.13), 0.0625: (277.05, 242.57), 0.05: (729.67, 659.38)}


@pytest.mark.parametrize("T", sorted(CAL))
def test_double_well_calibration(T):
    assert theory.mean_first_passage_time_1d(V, T, -1.0, 1.0) == pytest.approx(CAL[T][0], abs=0.01)
    assert theory.kramers_time(0.25, 2.0, -1.0, T) == pytest.approx(CAL[T][1], abs=0.01)


def test_mfpt_matches_nested_scipy_quad_with_infinite_reflecting_bound():
    T = 0.1
    inner = lambda y: quad(lambda z: np.exp(-V(z) / T), -np.inf, y, epsabs=0, epsrel=1e-12)[0]  # noqa: E731
    ref = quad(lambda y: np.exp(V(y) / T) * inner(y), -1.0, 1.0, epsabs=0, epsrel=1e-10)[0] / T
    assert theory.mean_first_passage_time_1d(V, T, -1.0, 1.0) == pytest.approx(ref, rel=1e-8)


def _mfpt_finite_difference(D, a, x0, b, n=8001):
    # independent: solve D τ'' − V' τ' = −1 with τ'(a) = 0 (reflecting), τ(b) = 0 on a grid
    x = np.linspace(a, b, n)
    h = x[1] - x[0]
    d, v = D(x), dV(x)
    lower = d / h**2 + v / (2 * h)
    diag = -2 * d / h**2
    upper = d / h**2 - v / (2 * h)
    ab = np.zeros((3, n))
    ab[0, 1:] = upper[:-1]
    ab[1] = diag
    ab[2, :-1] = lower[1:]
    ab[0, 1] = 2 * d[0] / h**2  # ghost point τ_{-1} = τ_1
    ab[1, -1], ab[2, -2] = 1.0, 0.0  # τ(b) = 0
    rhs = -np.ones(n)
    rhs[-1] = 0.0
    tau = solve_banded((1, 1), ab, rhs)
    return np.interp(x0, x, tau)


def test_state_dependent_diffusion_matches_finite_differences():
    D = theory.hessian_shaped_diffusion(V, 0.1, 1.0, 0.5, hess_fn=d2V)
    got = theory.mean_first_passage_time_1d(V, D, -1.0, 1.0, lower=-2.5, grad_fn=dV)
    ref = _mfpt_finite_difference(D, -2.5, -1.0, 1.0)
    assert got == pytest.approx(ref, rel=2e-3)  # O(h²) finite differences, h = 4.4e-4
    # a constant callable D reproduces the constant-temperature result
    assert theory.mean_first_passage_time_1d(V, lambda x: 0.1 + 0 * x, -1.0, 1.0) == pytest.approx(
        theory.mean_first_passage_time_1d(V, 0.1, -1.0, 1.0), rel=1e-8)


def test_kramers_underestimates_less_at_lower_temperature():
    ratios = [theory.mean_first_passage_time_1d(V, T, -1.0, 1.0) / theory.kramers_time(0.25, 2.0, -1.0, T)
              for T in (0.1, 0.0625, 0.05, 0.02)]
    assert np.all(np.diff(ratios) < 0) and ratios[-1] < 1.05 and ratios[0] == pytest.approx(1.224, abs=1e-3)


def test_xie_log_tau_is_linear_in_b_over_eta_with_the_quadrature_slope():
    slope = theory.xie_log_tau_slope(V, -1.0, 0.0, 0.5, grad_fn=dV, hess_fn=d2V)
    assert slope == pytest.approx(quad(lambda x: 2 * dV(x) / (abs(d2V(x)) + 0.5), -1, 0)[0], rel=1e-10)
    eta = 0.1
    logs = [np.log(theory.mean_first_passage_time_1d(V, theory.hessian_shaped_diffusion(V, eta, B, 0.5, hess_fn=d2V),
                                                     -1.0, 1.0, grad_fn=dV)) for B in (4, 8)]
    assert (logs[1] - logs[0]) / (4 / eta) == pytest.approx(slope, rel=1e-2)
    # numeric derivatives (no grad_fn / hess_fn) agree
    assert theory.xie_log_tau_slope(V, -1.0, 0.0, 0.5) == pytest.approx(slope, rel=1e-6)


def test_escape_to_the_left_mirrors():
    assert theory.mean_first_passage_time_1d(V, 0.1, 1.0, -1.0) == pytest.approx(
        theory.mean_first_passage_time_1d(V, 0.1, -1.0, 1.0), rel=1e-10)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: theory.mean_first_passage_time_1d(V, 0.1, 1.0, 1.0), "end must differ from start"),
        (lambda: theory.mean_first_passage_time_1d(V, 0.0, -1.0, 1.0), "temperature must be > 0"),
        (lambda: theory.mean_first_passage_time_1d(V, 0.1, -1.0, 1.0, lower=0.0), "lower must be < start"),
        (lambda: theory.mean_first_passage_time_1d(lambda x: x, 0.1, -1.0, 1.0), "does not confine"),
        (lambda: theory.mean_first_passage_time_1d(V, lambda x: x, -1.0, 1.0, lower=-2.0), "D\\(x\\) must be > 0"),
        (lambda: theory.kramers_time(0.25, 2.0, 0.0, 0.1), "curvature_saddle must be finite and non-zero"),
        (lambda: theory.kramers_time(-0.25, 2.0, -1.0, 0.1), "barrier must be > 0"),
        (lambda: theory.hessian_shaped_diffusion(V, 0.1, 0, 0.5), "batch_size must be > 0"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_start_high_on_the_wall_does_not_overflow():
    # Φ(start) − min Φ = (V(−3) − V(−1))/T = 800 > 709: e^Φ overflowed and the result was NaN (found by
    # an audit). Reference: nested quad of e^{(V(y) − V(z))/T}/T, whose exponent stays ≤ 0.25/T here
    from sgd_sde.theory import mean_first_passage_time_1d

    V, T = (lambda x: x**4 / 4 - x**2 / 2), 0.02

    def outer(y):
        return quad(lambda z: np.exp((V(y) - V(z)) / T), -4.0, y, limit=200)[0] / T

    want = sum(quad(outer, a, b, limit=200)[0] for a, b in [(-3, -2), (-2, -1), (-1, 0), (0, 1)])
    assert mean_first_passage_time_1d(V, T, -3.0, 1.0) == pytest.approx(want, rel=1e-4)
    with pytest.raises(ValueError, match="beyond float64"):  # Φ rises 16 000: no shift resolves it
        mean_first_passage_time_1d(V, 0.001, -3.0, 1.0)
