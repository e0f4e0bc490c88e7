"""Bad input to ``noise.symmetric_stable``, ``noise.from_per_example_grads``, the dynamics
constructors and the ``sgd-sde`` command: a ValueError/TypeError naming the argument (or, for the
command, exit status 2 and an argparse-style message naming ``--out``), found by the fuzz report
(docs/reliability.md; issue 13 §5). Valid neighbours are checked to still work."""

import diffrax
import jax
import numpy as np
import pytest

from sgd_sde import dynamics, noise
from sgd_sde.cli import main

KEY = jax.random.key(0)


@pytest.mark.parametrize("alpha", [0.0, -0.0, -1.0, 2.5, np.inf, np.nan, -1e300])
def test_symmetric_stable_alpha_outside_0_2_is_refused(alpha):
    with pytest.raises(ValueError, match="alpha must"):
        noise.symmetric_stable(KEY, alpha, (3,))


@pytest.mark.parametrize("alpha", [None, "1.5", [1.5], {"a": 1}, 1 + 1j, object(), b"\x00"])
def test_symmetric_stable_alpha_not_a_number_is_refused(alpha):
    with pytest.raises(TypeError, match="alpha must be a real number"):
        noise.symmetric_stable(KEY, alpha, (3,))


@pytest.mark.parametrize("shape", [np.zeros(0), np.array([3]), b"ab", {1, 2}, [0.5, 0.5], (3.0,), (True,), None, "3",
                                   object(), 3, ((1,), 2)])
def test_symmetric_stable_shape_not_a_tuple_of_ints_is_refused(shape):
    with pytest.raises(TypeError, match="shape must be a tuple of non-negative ints"):
        noise.symmetric_stable(KEY, 1.5, shape)


@pytest.mark.parametrize("shape, match", [((-1,), "shape must be an integer in"), ((2**31,), "shape must be an integer in"),
                                          ((2**30, 2**10), "shape asks for")])
def test_symmetric_stable_negative_or_huge_shape_is_refused(shape, match):
    with pytest.raises(ValueError, match=match):
        noise.symmetric_stable(KEY, 1.5, shape)


def test_symmetric_stable_valid_shapes_and_alphas_still_draw():
    assert noise.symmetric_stable(KEY, 1.5, (3,)).shape == (3,)
    assert noise.symmetric_stable(KEY, 2, [2, np.int64(3)]).shape == (2, 3)  # int alpha, a list of ints
    assert noise.symmetric_stable(KEY, np.float32(1.0), ()).shape == ()
    assert noise.symmetric_stable(KEY, 0.5, (0, 4)).shape == (0, 4)


def test_from_per_example_grads_that_overflow_name_grads():
    big = np.array([[1e300, 0.0], [-1e300, 0.0], [0.0, 1.0]])  # N >= d: the covariance overflows
    with pytest.raises(ValueError, match="grads are too large"):
        noise.from_per_example_grads(big)
    wide = np.array([[1e30, 0.0, 0.0], [-1e30, 0.0, 0.0]], np.float32)  # N < d: the factor is fine ...
    assert noise.from_per_example_grads(wide).factor.shape == (3, 2)
    with pytest.raises(ValueError, match="grads are too large"):  # ... until it no longer fits float32
        noise.from_per_example_grads(np.array([[1e300, 0.0, 0.0], [-1e300, 0.0, 0.0]]))


@pytest.mark.parametrize("cls", [dynamics.SGD, dynamics.EMAMomentum, dynamics.EulerMaruyama, dynamics.SVAG,
                                 dynamics.DiffraxSDE, dynamics.Adam])
def test_batch_size_none_is_refused_where_a_minibatch_is_required(cls):
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        cls(0.1, None)
    assert cls(0.1, 2).batch_size == 2


def test_langevin_batch_size_stays_optional():
    assert dynamics.Langevin(0.1, 0.1).batch_size is None
    assert dynamics.Langevin(0.1, 0.1, batch_size=None).batch_size is None
    with pytest.raises(ValueError, match="batch_size"):
        dynamics.Langevin(0.1, 0.1, batch_size=0)


@pytest.mark.parametrize("solver", [None, 3, "heun", np.ones(2), {}, diffrax.Heun, object()])
def test_diffrax_solver_must_be_a_solver_instance(solver):
    with pytest.raises(TypeError, match="solver must be a diffrax solver instance"):
        dynamics.DiffraxSDE(0.1, 1, solver=solver)


def test_diffrax_default_solver_is_heun():
    assert isinstance(dynamics.DiffraxSDE(0.1, 1).solver, diffrax.Heun)
    assert isinstance(dynamics.DiffraxSDE(0.1, 1, solver=diffrax.Euler()).solver, diffrax.Euler)


def test_cli_out_under_a_file_exits_2_naming_out(tmp_path, capsys):
    a_file = tmp_path / "f"
    a_file.write_text("")
    assert main(["demo", "--quick", "--out", str(a_file / "sub")]) == 2
    err = capsys.readouterr().err
    assert "argument --out" in err and "is not a directory" in err
    assert main(["figure", "no-such-figure", "--out", str(a_file / "sub")]) == 2
    assert "argument --out" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[1, 2], ["demo", 3], "demo", b"demo", 7, {"demo": 1}])
def test_cli_argv_must_be_a_list_of_strings(argv):
    with pytest.raises(TypeError, match="argv must be a list of strings"):
        main(argv)


# ------------------------------------------------------------------ found by an audit at stop 35
@pytest.mark.parametrize("root, err, match", [
    (np.full((2, 2), np.nan), ValueError, "sqrt_cov must contain only finite values"),
    (np.ones((2, 3)), ValueError, "sqrt_cov must be a square matrix"),
    (np.ones(2), ValueError, "sqrt_cov must have ndim"),
    ("I", TypeError, "sqrt_cov must be a numeric array"),
])
def test_hessian_shaped_sqrt_cov_is_checked(root, err, match):
    with pytest.raises(err, match=match):
        noise.HessianShaped(sqrt_cov=root)


def test_hessian_shaped_sqrt_cov_of_another_dimension_or_as_a_list():
    from sgd_sde import simulate
    from sgd_sde.landscapes import Quadratic

    with pytest.raises(ValueError, match="sqrt_cov has dimension 3, but the landscape has dim 2"):
        simulate(KEY, Quadratic(np.eye(2)), dynamics.SGD(0.1, 1), np.zeros(2), noise=noise.HessianShaped(sqrt_cov=np.eye(3)),
                 n_steps=2)
    # a nested list is a matrix like any other (it failed on .astype inside the step)
    t = simulate(KEY, Quadratic(np.eye(2)), dynamics.SGD(0.1, 1), np.zeros(2),
                 noise=noise.HessianShaped(sqrt_cov=[[1.0, 0.0], [0.0, 1.0]]), n_steps=2)
    assert t.theta.shape == (1, 2)
