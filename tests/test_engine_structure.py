"""One compiled loop: every driver goes through ``sgd_sde._engine``; placement imports no driver."""

import ast
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import sgd_sde
from sgd_sde import _engine, simulate
from sgd_sde.dynamics import Langevin
from sgd_sde.landscapes import DoubleWell
from sgd_sde.stability import escape_time

PKG = Path(sgd_sde.__file__).parent


def _calls_to_step(path: Path) -> list[int]:
    """Lines where ``<something>.step(...)`` is called with a dynamics' arguments (four or more:
    ``key, state, landscape, noise``, or named ones; matplotlib's ``ax.step(x, y, where=...)`` is not)."""
    tree = ast.parse(path.read_text())
    return [n.lineno for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "step"
            and (len(n.args) >= 4 or {k.arg for k in n.keywords} & {"landscape", "noise"})]


def test_only_the_engine_advances_a_dynamics():
    """A second step loop (as the escape driver had) would call ``dynamics.step`` outside the engine."""
    offenders = {str(p.relative_to(PKG)): lines for p in PKG.rglob("*.py")
                 if p.name != "_engine.py" and (lines := _calls_to_step(p))}
    assert offenders == {}
    assert _calls_to_step(PKG / "_engine.py")


def test_escape_and_simulate_trace_the_same_kernel():
    """Both drivers compile through ``_engine.advance`` (its trace counter moves for each)."""
    well = DoubleWell(barrier=0.2345)  # a landscape no other test compiled
    n0 = _engine.trace_count()
    escape_time(0, well, Langevin(0.01, 0.5), -1.0, 1.0, n_particles=4, max_steps=20)
    n1 = _engine.trace_count()
    simulate(jax.random.key(0), well, Langevin(0.01, 0.5), jnp.zeros(1), n_steps=3, n_particles=2)
    n2 = _engine.trace_count()
    assert n1 > n0 and n2 > n1


def _imported_modules(path: Path, skip_functions=()) -> set[str]:
    tree = ast.parse(path.read_text())
    skipped = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name in skip_functions
               for n in ast.walk(f)}
    out = set()
    for n in ast.walk(tree):
        if id(n) in skipped:
            continue
        if isinstance(n, ast.ImportFrom):
            out.add("." * n.level + (n.module or ""))
        elif isinstance(n, ast.Import):
            out.update(a.name for a in n.names)
    return out


def test_sharding_holds_placement_only_and_imports_no_driver():
    """No sharding <-> simulate cycle: sharding imports neither the front doors nor the engine (the
    deprecated ``sharding.sweep`` alias resolves lazily in ``__getattr__``)."""
    mods = _imported_modules(PKG / "sharding.py", skip_functions=("__getattr__",))
    assert not {m for m in mods if m.split(".")[-1] in ("simulate", "_engine", "dynamics", "noise")}, mods
    assert "stability" not in " ".join(_imported_modules(PKG / "_engine.py"))
    assert not {m for m in _imported_modules(PKG / "_engine.py") if m.endswith("simulate")}


def test_escape_driver_has_no_loop_of_its_own():
    """The first-exit driver only orchestrates (compaction on the host); the loop is the engine's."""
    text = (PKG / "stability" / "_exit.py").read_text()
    assert all(loop not in text for loop in ("fori_loop", "while_loop", "lax.scan"))


def test_deprecated_sweep_alias_warns_and_works():
    import importlib

    import pytest

    import sgd_sde.sharding as sharding

    with pytest.warns(DeprecationWarning, match=r"use sgd_sde.sweep \(from sgd_sde.simulate import sweep"):
        fn = sharding.sweep
    assert fn is importlib.import_module("sgd_sde.simulate").sweep


def test_no_module_of_the_engine_is_over_600_lines():
    for name in ("_engine.py", "simulate.py", "dynamics.py", "sharding.py", "_streams.py"):
        assert len((PKG / name).read_text().splitlines()) <= 600, name
    assert np.all([len(p.read_text().splitlines()) <= 600 for p in (PKG / "stability").glob("*.py")])


def test_a_new_learning_rate_does_not_recompile_the_escape_driver():
    """``lr`` is an array leaf of the dynamics for every driver: a second escape run at another
    learning rate traces nothing new."""
    well = DoubleWell(barrier=0.3456)
    escape_time(0, well, Langevin(0.01, 0.5), -1.0, 1.0, n_particles=4, max_steps=20)
    n = _engine.trace_count()
    escape_time(1, well, Langevin(0.02, 0.5), -1.0, 1.0, n_particles=4, max_steps=20)
    assert _engine.trace_count() == n


def test_a_costly_step_is_compiled_once_and_gives_the_fast_paths_results():
    """DiffraxSDE declares ``costly_step``: its program traces the step once (every step exact),
    not the fast block, its exact re-run, the peeled step and the remainder, so XLA compiles one
    copy of the solve instead of several. Same keys and same arithmetic: the trajectory and the
    divergence flags equal those of the fast path, forced on the same dynamics, to float32
    rounding (a step compiled in another context may fuse differently)."""
    import diffrax

    from sgd_sde.dynamics import DiffraxSDE
    from sgd_sde.landscapes import Quadratic
    from sgd_sde.noise import Dense

    # |1 − 0.1·21| = 1.1 on the second axis, noise negligible: particle j grows from x_j as 1.1^k and
    # crosses the bound 100 near step log(100/x_j)/log(1.1), from 24 (x = 10) to 121 (x = 1e-3):
    # about half of them diverge within the 70 steps, at different steps
    H = np.diag([1.0, 21.0]).astype(np.float32)
    kw = dict(noise=Dense(1e-12 * np.array([[1.0, 0.4], [0.4, 2.0]], np.float32)), n_steps=70, n_particles=16,
              save_every=10, divergence_bound=100.0, progress=False)
    dyn = DiffraxSDE(0.1, 1, solver=diffrax.Euler(), substeps=1)
    theta0 = jnp.asarray(np.stack([np.ones(16), np.geomspace(1e-3, 10.0, 16)], 1), jnp.float32)
    n0 = _engine.trace_count()
    once = simulate(jax.random.key(2), Quadratic(H), dyn, theta0, **kw)
    assert _engine.trace_count() - n0 == 1

    class Fast(DiffraxSDE):  # the same dynamics with the fast path forced; another type, so another program
        costly_step = False

    n0 = _engine.trace_count()
    fast = simulate(jax.random.key(2), Quadratic(H), Fast(0.1, 1, solver=diffrax.Euler(), substeps=1), theta0, **kw)
    assert _engine.trace_count() - n0 > 1
    np.testing.assert_array_equal(once.diverged, fast.diverged)
    np.testing.assert_array_equal(once.divergence_step, fast.divergence_step)
    assert once.diverged.any() and not once.diverged.all() and len(set(once.divergence_step[once.diverged])) > 1
    # rounding bound, as in test_sharding's close(): at most a few ulp per element per step, and
    # these maps grow an error by no more than they grow the values: 4 ulp x steps, relative to scale
    tol = 4 * np.finfo(np.float32).eps * kw["n_steps"]
    for a, b in ((once.theta, fast.theta), (once.saved["loss"], fast.saved["loss"])):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * float(np.max(np.abs(a))))


def test_a_program_holds_only_the_step_loops_it_runs():
    """Copies of the step traced into one program, one interval length per program. The first
    block of an interval is a peeled step, a fast loop and its exact re-run (three copies); longer
    intervals add the loop over whole blocks (fast and exact: two) and the exact remainder (one).
    A loop that would run zero times is not traced: an interval of at most BLOCK steps holds three
    copies, not six, and a one-step interval two, its peeled step and its re-run (each copy is
    traced, lowered and compiled)."""
    from sgd_sde.dynamics import SGD
    from sgd_sde.landscapes import Quadratic
    from sgd_sde.noise import Isotropic

    class Fresh(Quadratic):  # a type no other test compiled: every call below traces its own program
        pass

    land, block = Fresh(np.diag([1.0, 3.0]).astype(np.float32)), _engine.BLOCK
    copies = {}
    for n in (1, 10, block, 2 * block, 2 * block + 3):
        n0 = _engine.trace_count()
        simulate(jax.random.key(0), land, SGD(0.01, 1), jnp.ones(2), noise=Isotropic(1.0), n_steps=n, save_every=n,
                 n_particles=4, progress=False)
        copies[n] = _engine.trace_count() - n0
    assert copies == {1: 2, 10: 3, block: 3, 2 * block: 5, 2 * block + 3: 6}
