"""Bad input: every public constructor and simulate() raise ValueError/TypeError naming the argument,
before anything is traced; Hypothesis fuzzes them with hostile values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgd_sde import schedules, simulate
from sgd_sde.dynamics import SGD, SVAG, EMAMomentum, EulerMaruyama, Langevin
from sgd_sde.landscapes import DoubleWell, LinearRegression, Quadratic, SharpFlat1D
from sgd_sde.noise import Dense, Diagonal, ExactMinibatch, FisherShaped, HeavyTailed, HessianShaped, Isotropic, LowRank

KEY = jax.random.key(0)
Q = Quadratic(np.eye(2))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SGD(lr=-0.1, batch_size=1), "lr must be > 0"),
        (lambda: SGD(lr=0.0, batch_size=1), "lr must be > 0"),
        (lambda: SGD(lr=0.1, batch_size=0), "batch_size must be a positive integer"),
        (lambda: SGD(lr=0.1, batch_size=1, momentum=1.0), "momentum must lie in"),
        (lambda: EulerMaruyama(0.1, 1, substeps=0), "substeps"),
        (lambda: SVAG(0.1, 1, l=0.5), "l must be >= 1"),
        (lambda: Langevin(0.1, temperature=-1.0), "temperature must be >= 0"),
        (lambda: EMAMomentum(0.1, 1, beta=1.5), "beta must lie in"),
        (lambda: Quadratic(np.array([[1.0, 2.0], [0.0, 1.0]])), "hessian must be symmetric"),
        (lambda: Quadratic(np.diag([1.0, -1.0])), "hessian must be positive semi-definite"),
        (lambda: Quadratic(np.eye(2), minimum=np.zeros(3)), "minimum must have shape"),
        (lambda: Quadratic(np.array([[np.nan]])), "hessian must contain only finite"),
        (lambda: Dense(np.diag([1.0, -0.5])), "cov must be positive semi-definite"),
        (lambda: Dense(np.ones((2, 3))), "cov must be a non-empty square"),
        (lambda: Isotropic(-1.0), "variance must be >= 0"),
        (lambda: Diagonal([1.0, -1.0]), "variances"),
        (lambda: Isotropic(1.0, n_population=1), "n_population"),
        (lambda: HeavyTailed(alpha=0.0), "alpha must lie in"),
        (lambda: DoubleWell(barrier=0.0), "barrier must be > 0"),
        (lambda: SharpFlat1D(sharp_curvature=1.0, flat_curvature=2.0), "sharp_curvature must be >"),
        (lambda: LinearRegression(np.ones((3, 2)), np.ones(4)), "y must have one entry"),
        (lambda: schedules.step_decay(0.1, [10, 5]), "strictly increasing"),
    ],
)
def test_constructors_name_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(theta0=np.array([np.nan, 0.0])), "theta0 must contain only finite"),
        (dict(theta0=np.ones(3)), "theta0 must have last axis of size d = 2"),
        (dict(theta0=np.ones((2, 2, 2))), "theta0 must have ndim"),
        (dict(n_steps=0), r"n_steps must be an integer in \[1, 2147483647\]"),
        (dict(n_particles=-3), r"n_particles must be an integer in \[1, 2147483647\]"),
        (dict(theta0=np.ones((4, 2)), n_particles=3), "n_particles = 3 does not match"),
        (dict(save_every=0), "save_every"),
        (dict(save_at=[5, 200]), r"save_at entries must be integers in \[0, n_steps=10\]"),
        (dict(noise=Diagonal([1.0, 1.0, 1.0])), "variances has dimension 3"),
        (dict(noise=FisherShaped()), "finite-sum landscape"),
        (dict(observables=("nope",)), "unknown name 'nope'"),
        (dict(schedule=lambda k: 0.1 - 0.02 * k), "schedule.lr must be finite and > 0 .* at step 5"),
        (dict(divergence_bound=-1.0), "divergence_bound must be > 0"),
    ],
)
def test_simulate_names_the_argument(kwargs, match):
    args = dict(theta0=np.ones(2), n_steps=10)
    args.update(kwargs)
    theta0 = args.pop("theta0")
    with pytest.raises(ValueError, match=match):
        simulate(KEY, Q, SGD(0.1, 1), theta0, **args)


def test_batch_larger_than_dataset_without_replacement():
    lr = LinearRegression(np.eye(4), np.ones(4))
    with pytest.raises(ValueError, match="batch_size must be <= N = 4"):
        simulate(KEY, lr, SGD(0.1, 5), np.zeros(4), noise=ExactMinibatch(replace=False), n_steps=3)
    simulate(KEY, lr, SGD(0.1, 5), np.zeros(4), noise=ExactMinibatch(replace=True), n_steps=3)  # fine
    with pytest.raises(ValueError, match="batch_size must be <= 4"):
        simulate(KEY, lr, SGD(0.1, 5), np.zeros(4), noise=FisherShaped(replace=False), n_steps=3)
    sched = schedules.Schedule(batch_size=schedules.increase_batch(1, [1]))
    with pytest.raises(ValueError, match="schedule.batch_size: ExactMinibatch needs a fixed batch size"):
        simulate(KEY, lr, SGD(0.1, 2), np.zeros(4), noise=ExactMinibatch(), n_steps=3, schedule=sched)


def test_wrong_types():
    with pytest.raises(TypeError, match="key"):
        simulate(0, Q, SGD(0.1, 1), np.ones(2), n_steps=3)
    with pytest.raises(TypeError, match="landscape"):
        simulate(KEY, "quadratic", SGD(0.1, 1), np.ones(2), n_steps=3)
    with pytest.raises(TypeError, match="dynamics"):
        simulate(KEY, Q, 0.1, np.ones(2), n_steps=3)
    with pytest.raises(TypeError, match="noise"):
        simulate(KEY, Q, SGD(0.1, 1), np.ones(2), noise=1.0, n_steps=3)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        SGD(0.1, 1.5)
    with pytest.raises(TypeError, match="progress must be True, False or None, got 'yes'"):  # was accepted
        simulate(KEY, Q, SGD(0.1, 1), np.ones(2), n_steps=3, progress="yes")


def test_validation_happens_before_tracing():
    """A tracer reaching a validator is refused with a TypeError, not traced through."""
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda lr: SGD(lr, 1).lr)(0.1)


hostile = st.one_of(
    st.none(), st.booleans(), st.text(max_size=3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10**6, max_value=10**6),
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=4),
    st.lists(st.lists(st.floats(width=32), min_size=2, max_size=2), min_size=1, max_size=3),
)


@given(a=hostile, b=hostile, c=hostile)
def test_fuzz_constructors(a, b, c):
    """Nothing but ValueError/TypeError may escape a constructor given hostile values."""
    makers = [
        lambda: SGD(a, b, c), lambda: SGD(a, b), lambda: EulerMaruyama(a, b, c), lambda: SVAG(a, b, c),
        lambda: Langevin(a, b), lambda: EMAMomentum(a, b, c),
        lambda: Quadratic(a), lambda: Quadratic(a, b), lambda: Dense(a), lambda: Isotropic(a, b),
        lambda: Diagonal(a), lambda: LowRank(a), lambda: HeavyTailed(a, b), lambda: HessianShaped(a, b),
        lambda: FisherShaped(a, b), lambda: ExactMinibatch(a), lambda: DoubleWell(a, b, c),
        lambda: LinearRegression(a, b), lambda: schedules.inverse_power(a, b, c),
        lambda: schedules.step_decay(a, [10], b), lambda: schedules.cyclic(a, b, c),
    ]
    for make in makers:
        try:
            make()
        except (ValueError, TypeError):
            pass


@given(
    theta0=hostile, n_steps=hostile, n_particles=hostile, save_every=hostile,
    bound=hostile,
)
def test_fuzz_simulate(theta0, n_steps, n_particles, save_every, bound):
    try:
        simulate(KEY, Q, SGD(0.1, 1), theta0, n_steps=n_steps, n_particles=n_particles,
                 save_every=save_every, divergence_bound=bound, observables=("loss",))
    except (ValueError, TypeError):
        pass
