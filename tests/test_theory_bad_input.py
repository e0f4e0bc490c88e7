"""Bad input to ``sgd_sde.theory``: a ValueError/TypeError naming the argument, before any work
(found by the fuzz report, docs/reliability.md; issue 13 §5). Valid neighbours of each bad value
are checked to still work, so a test cannot pass by refusing everything."""

import numpy as np
import pytest

from sgd_sde import theory as T


def _dw(x):
    with np.errstate(over="ignore", invalid="ignore"):  # the bounds of 1e300 overflow it: the refusal under test
        return x**4 / 4 - x**2 / 2


def _mfpt(**kw):
    args = dict(potential_fn=_dw, temperature=0.2, start=-1.0, end=1.0, n_grid=2001)
    return T.mean_first_passage_time_1d(**{**args, **kw})


RAGGED = [[1.0], [1.0, 2.0]]


@pytest.mark.parametrize("call, exc, match", [
    # McCandlish: a missing Sigma was a KeyError; a ragged G an unnamed NumPy error
    (lambda: T.b_noise(np.ones(2), np.eye(2), None), TypeError, "Sigma is required"),
    (lambda: T.b_noise(RAGGED, np.eye(2), np.eye(2)), TypeError, "G must be"),
    (lambda: T.b_simple(RAGGED, np.eye(2)), TypeError, "G must be"),
    # mean first-passage time: huge grids (IndexError), huge bounds/temperature (unnamed), a list
    (lambda: _mfpt(n_grid=2**31), ValueError, "n_grid must be an integer in"),
    (lambda: _mfpt(n_grid=2**63), ValueError, "n_grid must be an integer in"),
    (lambda: _mfpt(n_grid=2**30), ValueError, "n_grid asks for"),
    (lambda: _mfpt(start=1e300), ValueError, "start, end"),
    (lambda: _mfpt(end=1e300), ValueError, "start, end"),
    (lambda: _mfpt(temperature=1e300), ValueError, "temperature"),
    (lambda: _mfpt(temperature=np.array([0.1, 0.2])), ValueError, "temperature must be a scalar"),
    (lambda: _mfpt(temperature=[0.2]), TypeError, "temperature must be a real number"),
    # Wu, Ma & E threshold: squares of huge curvatures overflowed (OverflowError)
    (lambda: T.mean_square_threshold(np.full(3, 1e300), 2), ValueError, "per_example_hessians must have entries"),
    (lambda: T.mean_square_factor(0.1, np.full(3, 1e300), 2), ValueError, "per_example_hessians must have entries"),
    # flags are real bools
    *[(lambda v=v: T.mean_square_threshold(np.array([1.0, 2.0, 3.0]), 2, replace=v), TypeError, "replace must be a bool")
      for v in (2, 1, 0, None, 1.0, "yes", np.array([True, False]))],
    *[(lambda v=v: T.minibatch_covariance(np.ones((4, 2)), 2, replace=v), TypeError, "replace must be a bool")
      for v in (2, None, 1.0, "yes", np.array([True, False]))],
    *[(lambda v=v: T.stationary_covariance(np.eye(2), np.eye(2), 0.1, 1, discrete=v), TypeError, "discrete must be a bool")
      for v in (2, None, 1.0, "yes", np.array([True, False]))],
    (lambda: T.batch_variance_factor(2, 4, replace="no"), TypeError, "replace must be a bool"),
    # counts are whole numbers; scalar-only arguments refuse arrays
    (lambda: T.stationary_covariance(np.eye(2), np.eye(2), np.array([0.1, 0.2]), 1), ValueError, "lr must be a scalar"),
    (lambda: T.stationary_covariance(np.eye(2), np.eye(2), 0.1, -2.5), ValueError, "batch_size must be > 0"),
    (lambda: T.mandt_optimal_lr(100, np.array([3, 4]), np.eye(2)), ValueError, "batch_size must be a scalar"),
    (lambda: T.mandt_optimal_lr([100], 10, np.eye(2)), ValueError, "n_examples must be a scalar"),
    (lambda: T.mandt_optimal_lr(100, 2.5, np.eye(2)), ValueError, "batch_size must be a whole number"),
    (lambda: T.mandt_optimal_lr(2.5, 1, np.eye(2)), ValueError, "n_examples must be a whole number"),
    (lambda: T.temperature(0.1, 2.5, 10), ValueError, "batch_size must be a whole number"),
    (lambda: T.temperature(0.1, 2, 10.5), ValueError, "n_examples must be a whole number"),
    (lambda: T.temperature(0.1, np.array([2, 2.5]), 10), ValueError, "batch_size must be a whole number"),
    (lambda: T.temperature(0.1, True, 10), TypeError, "batch_size must be an integer"),
    # an array n_examples: the error message itself crashed formatting it (found by an audit)
    (lambda: T.temperature(0.1, [2, 30], [10, 20]), ValueError, r"batch_size must lie in \[1, n_examples=\[10, 20\]\]"),
    (lambda: T.scaled_lr(0.1, 32, 2.5), ValueError, "batch must be a whole number"),
    (lambda: T.scaled_lr(0.1, 2.5, 64), ValueError, "batch0 must be a whole number"),
    # Kramers: curvature_saddle is a number (or array of numbers), not a str/dict
    (lambda: T.kramers_time(0.25, 2.0, "0.1", 0.1), TypeError, "curvature_saddle"),
    (lambda: T.kramers_time(0.25, 2.0, {"a": 1}, 0.1), TypeError, "curvature_saddle"),
    (lambda: T.kramers_time(0.25, 2.0, np.array([-1.0, 0.0]), 0.1), ValueError, "curvature_saddle must be finite and non-zero"),
    # Robbins–Monro: a non-finite constant (a SymPy TypeError before; found by an audit)
    (lambda: T.robbins_monro(float("nan")), ValueError, "schedule must be a finite number"),
    # Robbins–Monro second moment: an empty schedule
    (lambda: T.quadratic_second_moment([], 1.0, 1.0), ValueError, "lrs must hold at least one"),
])
def test_bad_theory_input_is_refused_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_valid_neighbours_still_work():
    """The values next to the refused ones keep their documented results."""
    assert T.b_noise(np.array([1.0, 1.0]), np.eye(2), 4.0 * np.eye(2)) == 4.0
    assert round(_mfpt(), 2) == round(_mfpt(n_grid=2000), 2)  # an even count is rounded up to odd
    assert T.mean_square_threshold(np.array([1.0, 2.0, 3.0]), 2, replace=np.bool_(True)) > 0
    assert T.mean_square_threshold(np.full(3, 1e150), 2) == pytest.approx(2e-150)  # largest allowed: 2/a
    np.testing.assert_allclose(T.minibatch_covariance(np.array([[1.0], [-1.0], [3.0], [-3.0]]), 2, replace=True), [[2.5]])
    assert T.mandt_optimal_lr(1000.0, 10.0, np.eye(2)) == pytest.approx(0.02)  # whole floats are counts
    assert T.temperature(0.1, 10, 1000) == pytest.approx(9.9)
    np.testing.assert_allclose(T.temperature(0.1, np.array([10, 1000]), 1000), [9.9, 0.0])  # vectorised
    assert T.scaled_lr(0.1, 256, 1024) == pytest.approx(0.4)
    np.testing.assert_allclose(T.kramers_time(0.25, 2.0, np.array([-1.0, 1.0]), 0.1), [54.1253946] * 2, rtol=1e-7)
    assert T.eps_opt(4, 0.1, 0) == pytest.approx(0.1)  # B_noise = 0 (no noise): eps_opt = eps_max
    np.testing.assert_allclose(T.quadratic_second_moment([0.5], 1.0, 2.0), [4.0, 1.25])
    np.testing.assert_allclose(T.stationary_covariance(np.eye(1), lambda S: 1 + S, 0.1, 1), [[0.1 / 1.8]])


def test_stationary_covariance_takes_a_real_effective_batch_size():
    """An effective batch size B(N−1)/(N−B) (sampling without replacement) is a real number: the
    noise enters as C/B, so B = 2.5 equals C/2.5 at B = 1."""
    H, C = np.diag([1.0, 3.0]), np.array([[1.0, 0.2], [0.2, 0.5]])
    np.testing.assert_allclose(T.stationary_covariance(H, C, 0.1, 2.5), T.stationary_covariance(H, C / 2.5, 0.1, 1), rtol=1e-12)


@pytest.mark.parametrize(
    "call, err, match",
    [
        # a bool is not the number 1 (an audit found these accepted)
        (lambda: T.eps_opt(True, 1.0, 1.0), TypeError, "batch_size must be a real number > 0, got True"),
        (lambda: T.eps_opt(np.array([True, False]), 1.0, 1.0), TypeError, "batch_size .* boolean array"),
        (lambda: T.kramers_time(0.25, np.bool_(True), -1.0, 0.1), TypeError, "curvature_min must be a real number"),
        (lambda: T.two_batch_estimators(False, 0.5, 1, 2), TypeError, "sqnorm_small must be a real number >= 0"),
        # a minibatch larger than the data set
        (lambda: T.mandt_optimal_lr(10, 20, np.eye(2)), ValueError, "batch_size must be <= n_examples"),
        # arrays that cannot broadcast: named, not NumPy's "operands could not be broadcast"
        (lambda: T.eps_opt(np.ones(2), np.ones(3), 1.0), ValueError,
         r"batch_size, eps_max, b_noise must broadcast together .* batch_size of shape \(2,\), eps_max of shape \(3,\)"),
        (lambda: T.delta_l_opt(np.ones(2), np.ones(3), 1.0), ValueError, "delta_l_max of shape"),
        (lambda: T.steps_and_examples(np.ones(2), np.ones(3), 1.0), ValueError, "s_min of shape"),
        (lambda: T.two_batch_estimators(np.ones(2), np.ones(3), 1, 2), ValueError, "sqnorm_big of shape"),
        (lambda: T.kramers_time(np.ones(2), np.ones(3), -1.0, 0.1), ValueError, "curvature_min of shape"),
        (lambda: T.temperature(np.full(2, 0.1), np.array([2, 3, 4]), 10), ValueError, r"batch_size of shape \(3,\)"),
        (lambda: T.isotropic_temperature(np.full(2, 0.1), np.array([2, 3, 4]), 1.0), ValueError, "lr of shape"),
        (lambda: T.scaled_lr(np.full(2, 0.1), np.array([2, 3, 4]), 8), ValueError, "batch0 of shape"),
    ],
)
def test_bools_oversized_batches_and_unbroadcastable_arrays_are_named(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_broadcastable_arrays_still_broadcast():
    assert T.eps_opt(np.ones((2, 1)), np.ones((1, 3)), 1.0).shape == (2, 3)
    assert T.mandt_optimal_lr(10, 10, np.eye(2)) == pytest.approx(2.0)  # B = N is allowed
