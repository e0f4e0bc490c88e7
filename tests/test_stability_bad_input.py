"""Bad input to ``sgd_sde.stability``, found by the fuzz report (issue 13 §5): refused up front with
a ValueError/TypeError naming the argument, before any allocation or tracing."""

import jax
import numpy as np
import pytest

import sgd_sde._validate as V
from sgd_sde.dynamics import Langevin, SGD
from sgd_sde.landscapes import DoubleWell, LinearRegression, Quadratic
from sgd_sde.noise import ExactMinibatch, Isotropic
from sgd_sde.stability import (
    FiniteDepthWell,
    check_minimum,
    escape_time,
    exact_factor_1d,
    loglog_slope,
    mean_first_passage_time,
    second_moment_growth,
    stability_map,
    stability_radius,
    threshold_bracket,
)

H = np.array([0.5, 1, 1, 1.5, 2, 2, 3, 4, 6, 9])


def _escape(**kw):
    args = dict(key=jax.random.key(0), landscape=DoubleWell(), dynamics=Langevin(lr=0.01, temperature=0.25),
                start=-1.0, end=1.0, n_particles=8, max_steps=100)
    return escape_time(**{**args, **kw})


def _radius(**kw):
    args = dict(key=jax.random.key(0), landscape=FiniteDepthWell(np.eye(2)), dynamics=SGD(lr=0.1, batch_size=1),
                minimum=np.zeros(2), noise=Isotropic(1.0), n_steps=3, delta=0.5, n_particles=4, n_bisect=1)
    return stability_radius(**{**args, **kw})


def _regression():
    return LinearRegression(np.sqrt(H)[:, None], np.zeros(H.size))  # l_i = h_i x^2 / 2, minimum at 0


def _growth(**kw):
    args = dict(key=jax.random.key(0), landscape=_regression(), dynamics=SGD(lr=0.1, batch_size=2),
                minimum=np.zeros(1), noise=ExactMinibatch(), n_steps=2, n_particles=8)
    return second_moment_growth(**{**args, **kw})


@pytest.fixture
def small_memory(monkeypatch):
    """A machine with 1 GiB: the memory checks refuse without anything being allocated."""
    monkeypatch.setattr(V, "_physical_memory", lambda: 2**30)


# -- blocks and step counts (int32 counters) -----------------------------------------------------

@pytest.mark.parametrize("block", [0, -1])
def test_escape_time_refuses_a_block_that_never_advances(block):
    with pytest.raises(ValueError, match="block"):
        _escape(block=block)


@pytest.mark.parametrize("block, err", [(2.5, TypeError), ("8", TypeError), (None, TypeError), (2**31, ValueError),
                                        (2**63, ValueError)])
def test_escape_time_names_block(block, err):
    with pytest.raises(err, match="block"):
        _escape(block=block)


def test_stability_radius_refuses_an_endless_bisection():
    with pytest.raises(ValueError, match="n_bisect must be <= 64"):
        stability_radius(jax.random.key(0), Quadratic(np.eye(2)), SGD(lr=0.1, batch_size=1), np.zeros(2),
                         noise=Isotropic(0.5), n_steps=10, delta=0.1, n_particles=8, n_bisect=10**9)


@pytest.mark.parametrize("n_steps", [2**31, 2**63, 2**31 - 100])
def test_stability_radius_names_n_steps_not_the_driver_s_max_steps(n_steps):
    with pytest.raises(ValueError, match="n_steps") as info:
        _radius(n_steps=n_steps)
    assert "max_steps" not in str(info.value)


# -- ensemble sizes: refused before allocating ---------------------------------------------------

@pytest.mark.parametrize("call", [_escape, _radius, _growth])
@pytest.mark.parametrize("n", [2**31, 2**63])
def test_particle_counts_beyond_int32_name_n_particles(call, n):
    with pytest.raises(ValueError, match="n_particles"):
        call(n_particles=n)


@pytest.mark.parametrize("call", [_escape, _radius, _growth])
def test_an_ensemble_larger_than_memory_names_n_particles(call, small_memory):
    with pytest.raises(ValueError, match="n_particles asks for"):
        call(n_particles=2**26)


def test_second_moment_growth_names_n_steps_for_too_many_saved_steps(small_memory):
    with pytest.raises(ValueError, match="n_steps asks for"):
        _growth(n_steps=2**26)
    with pytest.raises(ValueError, match="n_steps"):
        _growth(n_steps=2**31)


def test_second_moment_growth_names_radius_beyond_float32():
    with pytest.raises(ValueError, match="radius"):
        _growth(radius=1e300)


# -- keys: an int seed in [0, 2**32 - 1] -------------------------------------------------------

@pytest.mark.parametrize("call", [_escape, _radius, _growth])
@pytest.mark.parametrize("seed", [2**70, 2**32, -1])
def test_int_seeds_outside_uint32_are_refused_naming_key(call, seed):
    with pytest.raises(ValueError, match="key"):
        call(key=seed)


def test_an_int_seed_is_the_key_of_that_seed():
    """The draws are identical, so the exit times are equal exactly."""
    for seed in (5, 2**32 - 1):
        a = _escape(key=seed, max_steps=400)
        b = _escape(key=jax.random.key(seed), max_steps=400)
        np.testing.assert_array_equal(a.times, b.times)


# -- stability_radius ----------------------------------------------------------------------------

def test_stability_radius_names_r_max_when_bracketing_fails_from_a_tiny_one():
    with pytest.raises(ValueError, match="r_max"):
        _radius(r_max=1e-300)


@pytest.mark.parametrize("arg", ["r_max", "basin"])
def test_stability_radius_radii_must_fit_float32(arg):
    with pytest.raises(ValueError, match=arg):
        _radius(**{arg: 1e39})


# -- check_minimum -------------------------------------------------------------------------------

@pytest.mark.parametrize("landscape", [3, None, "quadratic", np.eye(2), {}])
def test_check_minimum_names_landscape(landscape):
    with pytest.raises(TypeError, match="landscape"):
        check_minimum(landscape, np.zeros(2))


@pytest.mark.parametrize("tol, err", [(0.0, ValueError), (-0.0, ValueError), (-1.0, ValueError), (np.inf, ValueError),
                                      (np.nan, ValueError), ("abc", TypeError), (None, TypeError),
                                      ([1e-4], TypeError), (np.array([1e-4, 1e-3]), ValueError)])
def test_check_minimum_names_tol(tol, err):
    with pytest.raises(err, match="tol"):
        check_minimum(Quadratic(np.eye(2)), np.zeros(2), tol=tol)


# -- exact_factor_1d -----------------------------------------------------------------------------

@pytest.mark.parametrize("kw, name", [(dict(lr=1e300), "lr"), (dict(curvatures=np.full(3, 1e300)), "curvatures"),
                                      (dict(curvatures=np.zeros(0)), "curvatures")])
def test_exact_factor_1d_names_overflow_and_empty(kw, name):
    args = {**dict(lr=0.1, curvatures=H, batch_size=2), **kw}
    with pytest.raises(ValueError, match=name):
        exact_factor_1d(**args)


@pytest.mark.parametrize("replace", [2, None, 1.0, "yes", np.array([True, False])])
def test_exact_factor_1d_replace_must_be_a_bool(replace):
    with pytest.raises(TypeError, match="replace"):
        exact_factor_1d(0.1, H, 2, replace=replace)


def test_exact_factor_1d_accepts_numpy_bools():
    assert exact_factor_1d(0.1, H, 2, replace=np.bool_(True)) == exact_factor_1d(0.1, H, 2, replace=True)


# -- mean_first_passage_time ---------------------------------------------------------------------

def _v(x):
    return x**4 / 4 - x**2 / 2


@pytest.mark.parametrize("kw, name", [(dict(start=1e300), "start"), (dict(end=1e300), "end"),
                                      (dict(start=-1e300), "start"), (dict(temperature=1e300), "temperature"),
                                      (dict(temperature=1e-300), "temperature"), (dict(temperature=1e-4), "temperature")])
def test_mean_first_passage_time_names_the_argument_out_of_range(kw, name):
    args = {**dict(potential=_v, temperature=0.2, start=-1.0, end=1.0), **kw}
    with pytest.raises(ValueError, match=name):
        mean_first_passage_time(**args)


# -- loglog_slope --------------------------------------------------------------------------------

X, Y = np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.1, 3.9])


@pytest.mark.parametrize("level, err", [(0.0, ValueError), (1.5, ValueError), (np.nan, ValueError),
                                        (-1.0, ValueError), ("0.9", TypeError), (None, TypeError), (1j, TypeError),
                                        ([0.9], TypeError)])
def test_loglog_slope_names_level(level, err):
    with pytest.raises(err, match="level"):
        loglog_slope(X, Y, level=level)


@pytest.mark.parametrize("kw, name", [(dict(y_lo=Y * 0.9), "y_hi"), (dict(y_lo=Y[:2] * 0.9, y_hi=Y[:2] * 1.1), "y_lo"),
                                      (dict(y_lo=Y * 1.1, y_hi=Y * 0.9), "y_lo")])
def test_loglog_slope_checks_the_intervals(kw, name):
    with pytest.raises(ValueError, match=name):
        loglog_slope(X, Y, **kw)


# -- threshold_bracket ---------------------------------------------------------------------------

LRS, LO, HI = np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.9, 1.1]), np.array([0.7, 1.05, 1.3])


@pytest.mark.parametrize("arg", ["lrs", "lo", "hi"])
@pytest.mark.parametrize("bad, err", [(None, TypeError), (np.float64(1.0), ValueError), (np.ones(2), ValueError),
                                      (np.ones((3, 2)), ValueError), (np.zeros(0), ValueError),
                                      (np.ones(3) * 1j, TypeError), ([[1.0], [1.0, 2.0]], TypeError),
                                      (np.array([None] * 3, dtype=object), TypeError)])
def test_threshold_bracket_names_the_array(arg, bad, err):
    args = dict(lrs=LRS, lo=LO, hi=HI)
    args[arg] = bad
    with pytest.raises(err, match=arg):
        threshold_bracket(**args)


@pytest.mark.parametrize("lrs", [[0.1, np.nan, 0.3], [0.1, np.inf, 0.3], [0.1, -0.2, 0.3]])
def test_threshold_bracket_lrs_must_be_finite_and_positive(lrs):
    with pytest.raises(ValueError, match="lrs"):
        threshold_bracket(lrs, LO, HI)


def test_threshold_bracket_nan_interval_ends_decide_nothing():
    """A grid point with no particle left to measure (stability_map: NaN interval) is neither side."""
    assert threshold_bracket(LRS, LO, HI) == (0.1, 0.3)
    below, above = threshold_bracket(LRS, [np.nan, 0.9, np.nan], [np.nan, 1.05, np.nan])
    assert np.isnan(below) and np.isnan(above)


# -- stability_map -------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, err, name", [(dict(lrs=[0.1, 0.1]), ValueError, "lrs"),
                                           (dict(lrs="abc"), TypeError, "lrs"),
                                           (dict(batch_sizes=[2.5]), TypeError, "batch_sizes"),
                                           (dict(batch_sizes=[2, 2]), ValueError, "batch_sizes")])
def test_stability_map_checks_its_grid(kw, err, name):
    args = {**dict(lrs=[0.1, 0.2], batch_sizes=[2], n_steps=1, n_particles=8), **kw}
    with pytest.raises(err, match=name):
        stability_map(jax.random.key(0), _regression(), SGD(lr=0.1, batch_size=2), np.zeros(1),
                      noise=ExactMinibatch(), **args)


def test_a_start_far_up_a_wall_is_named_as_a_cause():
    # the exact oracle cannot resolve Φ(start) − min Φ = 800 and said only "is temperature tiny?"
    from sgd_sde.stability import mean_first_passage_time

    with pytest.raises(ValueError, match="or a start far up a wall, where theory.mean_first_passage_time_1d"):
        mean_first_passage_time(lambda x: x**4 / 4 - x**2 / 2, 0.02, -3.0, 1.0)
