"""Bad-input fuzzing of every public entry point (shared by ``tests/test_fuzz_inputs.py`` and
``tests/fuzz_report.py``).

Each :class:`Entry` is one public function or constructor with a *valid* baseline call (small and
fast) and a kind for each argument. A trial replaces one argument by a bad value of its kind and
classifies what happens:

* ``named`` — ``ValueError``/``TypeError`` whose message names the argument (the contract);
* ``accepted`` — the call returned; allowed for values a reasonable API may accept (a list for an
  array, a huge but finite number), counted as ``silent`` for values that can only be wrong
  (NaN, a negative size, a string for a number: ``must_reject``);
* ``unnamed`` — ``ValueError``/``TypeError`` that does not name the argument;
* ``other`` — any other exception (``ZeroDivisionError``, ``LinAlgError``, ``OverflowError``,
  ``AttributeError``, an XLA error, …). The target is zero.

A bad value is a :class:`Bad` with a stable ``label`` so distinct inputs can be counted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

D = 2  # parameter dimension of every baseline

UNSAFE_STRINGS = (
    "__import__('os').system('true')",
    "t.__class__.__mro__",
    "exec('1')",
    "../../../../etc/passwd",
    "$(touch /tmp/pwned)",
    "; rm -rf ~",
    "\x00",
    "",
    "x" * 2000,
    "1/(t+1)" + "+0" * 500,
)


@dataclasses.dataclass(frozen=True)
class Bad:
    label: str
    value: Any
    must_reject: bool  # True: no sensible API accepts it; False: accepting it is fine


def _b(label, value, must=True):
    return Bad(label, value, must)


def _common():
    return [
        _b("None", None), _b("str", "abc"), _b("unsafe-str", UNSAFE_STRINGS[0]), _b("bytes", b"\x00\x01"),
        _b("object", object()), _b("dict", {"a": 1}), _b("complex", 1 + 1j), _b("set", {1, 2}),
    ]


def _scalar_numbers(lo_ok: float | None, positive: bool, finite_huge_ok: bool = True):
    """Bad scalars for a real argument with lower bound ``lo_ok`` (None: unbounded)."""
    out = [
        _b("nan", math.nan), _b("inf", math.inf), _b("-inf", -math.inf), _b("np.nan", np.float32("nan")),
        _b("str-number", "0.1"), _b("list-1", [0.1]), _b("array-2", np.array([0.1, 0.2])),
        _b("bool-True", True, must=False), _b("huge", 1e300, must=not finite_huge_ok),
        _b("tiny", 1e-300, must=False), _b("np.float16", np.float16(0.5), must=False),
    ]
    if lo_ok is not None:
        out += [_b("-1", -1.0), _b("-huge", -1e300)]
        if positive:
            out += [_b("0", 0.0), _b("-0.0", -0.0)]
    return out


def _ints(lo: int = 1, huge_must: bool = False):
    return [
        _b("0", 0, must=lo > 0), _b("-1", -1), _b("2.5", 2.5), _b("str-int", "3"), _b("nan", math.nan),
        _b("inf", math.inf), _b("list-int", [3]), _b("array-int", np.array([3, 4])), _b("bool-True", True, must=False),
        _b("np.int8", np.int8(3), must=False), _b("float-int", 3.0, must=False),
        _b("2**63", 2**63, must=huge_must), _b("2**31", 2**31, must=huge_must), _b("-2**63", -(2**63)),
    ]


def _vectors(d=D, allow_2d=False):
    return [
        _b("wrong-length", np.ones(d + 1)), _b("scalar", np.float32(1.0), must=False), _b("empty", np.zeros(0)),
        _b("3-d", np.ones((2, 2, d))), _b("2-d", np.ones((3, d)), must=not allow_2d),
        _b("nan-entry", np.array([1.0, np.nan] + [0.0] * (d - 2))), _b("inf-entry", np.array([np.inf] + [0.0] * (d - 1))),
        _b("str-array", np.array(["a"] * d)), _b("object-array", np.array([None] * d, dtype=object)),
        _b("complex-array", np.ones(d) * (1 + 1j)), _b("list-floats", [0.5] * d, must=False),
        _b("list-strings", ["a"] * d), _b("ragged-list", [[1.0], [1.0, 2.0]]),
        _b("int-array", np.ones(d, np.int32), must=False), _b("bool-array", np.ones(d, bool), must=False),
        _b("huge-entries", np.full(d, 1e300), must=False), _b("float16", np.ones(d, np.float16), must=False),
        _b("jax-array", jnp.ones(d), must=False),
    ]


def _matrices(d=D, spd=True):
    m = [
        _b("non-square", np.ones((d, d + 1))), _b("1-d", np.ones(d)), _b("3-d", np.ones((1, d, d))),
        _b("empty", np.zeros((0, 0))), _b("nan", np.full((d, d), np.nan)), _b("inf", np.diag([np.inf] * d)),
        _b("asymmetric", np.array([[1.0, 2.0], [0.0, 1.0]])), _b("list-of-lists", np.eye(d).tolist(), must=False),
        _b("ragged", [[1.0], [1.0, 2.0]]), _b("str-matrix", np.full((d, d), "a")), _b("complex", np.eye(d) * 1j),
        _b("wrong-size", np.eye(d + 1)), _b("huge", np.eye(d) * 1e300, must=False),
    ]
    if spd:
        m += [_b("indefinite", np.diag([1.0, -1.0])), _b("zero", np.zeros((d, d)), must=False)]
    return m


def _keys():
    return [
        _b("int-key", 0, must=False), _b("negative-int", -1, must=False), _b("huge-int", 2**70, must=False),
        _b("float", 1.5), _b("str", "key"), _b("None", None), _b("list", [0, 1], must=False),
        _b("wrong-raw-shape", np.zeros(3, np.uint32)), _b("batch-of-keys", jax.random.split(jax.random.key(0), 3)),
        _b("float-array", np.zeros(2)),
    ]


def _bools():
    return [_b("str", "yes"), _b("2", 2), _b("None", None), _b("array", np.array([True, False])),
            _b("np.bool_", np.bool_(True), must=False), _b("0", 0, must=False), _b("float", 1.0)]


def _callables():
    return [_b("int", 3), _b("str", "loss"), _b("None", None), _b("array", np.ones(2))]


def _objects():
    return [_b("int", 3), _b("str", "quadratic"), _b("None", None), _b("array", np.eye(2)), _b("dict", {})]


def _choices():
    return [_b("unknown", "no-such-choice"), _b("upper", "SPHERE"), _b("int", 3), _b("None", None)] + [
        _b(f"unsafe-{i}", s) for i, s in enumerate(UNSAFE_STRINGS[:6])]


KINDS: dict[str, Callable[[], list[Bad]]] = {
    "key": _keys,
    "pos": lambda: _scalar_numbers(0.0, True) + _common(),
    "nonneg": lambda: _scalar_numbers(0.0, False) + _common(),
    "real": lambda: _scalar_numbers(None, False) + _common(),
    "unit": lambda: _scalar_numbers(0.0, True) + [_b("1.5", 1.5), _b("1", 1.0, must=False)] + _common(),
    "int": lambda: _ints() + _common(),
    "int0": lambda: _ints(lo=0) + _common(),
    "size": lambda: _ints() + _common(),  # loop counts / allocations: 'huge' only with report=True
    "vec": lambda: _vectors() + _common(),
    "theta0": lambda: _vectors(allow_2d=True) + _common(),
    "spd": lambda: _matrices() + _common(),
    "sym": lambda: _matrices(spd=False) + _common(),
    "bool": _bools,
    "callable": lambda: _callables() + [_b("dict", {}), _b("object", object())],
    "object": _objects,
    "choice": _choices,
    "any-array": lambda: _vectors() + _matrices(spd=False) + _common(),
}

HUGE_LABELS = {"2**63", "2**31", "huge", "-huge", "huge-entries", "huge-int"}


def _grid():
    return [b if b.label not in ("wrong-length", "scalar") else dataclasses.replace(b, must_reject=False) for b in _vectors()]


def _tree():
    shape_labels = {"wrong-length", "empty", "3-d", "2-d", "1-d", "non-square", "asymmetric", "wrong-size", "scalar"}
    return [dataclasses.replace(b, must_reject=False) if b.label in shape_labels else b
            for b in _vectors() + _matrices(spd=False)] + _common()


KINDS["unit0"] = lambda: [b for b in KINDS["unit"]() if b.label not in ("0", "-0.0")] + [_b("0", 0.0, must=False)]
KINDS["grid"] = lambda: _grid() + _common()
KINDS["tree"] = _tree


def bad_values(kind: str, *, report: bool = False) -> list[Bad]:
    """Bad values of ``kind``; a trailing ``?`` marks an optional argument (``None`` is valid)."""
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    vals = KINDS[kind]()
    if optional:
        vals = [dataclasses.replace(v, must_reject=False) if v.value is None else v for v in vals]
    if not report:  # huge loop counts and int32-sized allocations only in the watched report workers
        vals = [v for v in vals if v.label != "2**31" and not (kind == "size" and v.label in HUGE_LABELS)]
    return vals


# arguments whose shapes must agree: a mismatch may be reported under either name
RELATED = (
    {"X", "y"}, {"inputs", "targets"}, {"H", "C", "Sigma", "G", "theta0"}, {"A", "Q"}, {"lrs", "lo", "hi"},
    {"grad_sq_small", "grad_sq_big"}, {"grad_sq_est", "trace_cov_est"}, {"params", "params0", "direction"},
    {"x", "y"}, {"steps", "distances"}, {"b_small", "b_big"}, {"batch", "batch0"}, {"high", "low"},
    {"start", "end"}, {"landscape", "minimum", "theta0", "start"}, {"n_steps", "save_at", "save_every"},
    {"b_small", "b_big", "X", "y"},
)


@dataclasses.dataclass(frozen=True)
class Entry:
    """A public entry point: ``call(**kwargs)`` with ``base()`` valid kwargs; ``args`` maps each
    fuzzed argument to its kind; ``aliases`` lists other names a message may use for an argument."""

    name: str
    call: Callable[..., Any]
    base: Callable[[], dict]
    args: dict[str, str]
    aliases: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    cost: int = 1  # relative cost of an accepted call (the test gives costly ones fewer examples)
    accept: frozenset = frozenset()  # labels this entry accepts by design (said where it is listed)

    def names(self, arg: str) -> tuple[str, ...]:
        # a mismatch between arguments that must agree may be reported from either side
        related = [g for g in RELATED if arg in g]
        others = tuple(n for g in related for n in g if n != arg and n in self.args)
        return (arg,) + self.aliases.get(arg, ()) + others


OUTCOMES = ("named", "accepted", "silent", "unnamed", "other")


def attempt(entry: Entry, arg: str, bad: Bad) -> tuple[str, str]:
    """Run one trial; return ``(outcome, detail)``."""
    kwargs = entry.base()
    kwargs[arg] = bad.value
    if bad.label in entry.accept:
        bad = dataclasses.replace(bad, must_reject=False)
    out, err = io.StringIO(), io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.simplefilter("ignore")
            result = entry.call(**kwargs)
            if entry.name == "cli.main" and result not in (0, None):
                return ("named" if any(n in err.getvalue() + out.getvalue() for n in entry.names(arg)) else "unnamed",
                        f"exit {result}: {err.getvalue()[-200:]}")
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        if any(n in msg for n in entry.names(arg)):
            return "named", f"{type(exc).__name__}: {msg[:160]}"
        return "unnamed", f"{type(exc).__name__}: {msg[:200]}"
    except SystemExit as exc:  # the CLI: argparse refuses with exit status 2 and a usage message
        text = err.getvalue() + out.getvalue()
        ok = entry.name == "cli.main" and exc.code == 2 and any(n in text for n in entry.names(arg))
        return ("named" if ok else "other"), f"SystemExit({exc.code}): {text.strip()[-200:]}"
    except Exception as exc:  # noqa: BLE001 — classifying is the point
        return "other", f"{type(exc).__name__}: {str(exc)[:200]}"
    return ("silent" if bad.must_reject else "accepted"), ""


# -- baselines ----------------------------------------------------------------------------------

def _key():
    return jax.random.key(0)


def _quadratic():
    from sgd_sde.landscapes import Quadratic

    return Quadratic(np.diag([1.0, 2.0]))


def _regression():
    from sgd_sde.landscapes import LinearRegression

    rng = np.random.default_rng(0)
    return LinearRegression(rng.standard_normal((8, D)), rng.standard_normal(8))


def _measure_data():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((16, D))
    return X, X @ np.array([1.0, -1.0]) + 0.1 * rng.standard_normal(16)


def _measure_loss(p, x, t):
    return 0.5 * (jnp.dot(x, p) - t) ** 2


def _measure_base(**extra):
    X, y = _measure_data()
    return dict(loss_fn=_measure_loss, params=jnp.array([0.3, -0.2]), X=X, y=y, **extra)


_MEASURE_ARGS = {"loss_fn": "callable", "params": "vec", "X": "any-array", "y": "vec", "chunk_size": "int"}


def _ts_data():
    from sgd_sde.networks import load_dataset

    return load_dataset("teacher_student", n_train=32, n_test=16, d=4, n_classes=2, seed=0)


def _mlp(key=None):
    from sgd_sde.networks import MLP

    return MLP((4,), 2, (8,), key=jax.random.key(0) if key is None else key)


def _double_well_v(x):
    return x**4 / 4 - x**2 / 2


def entries() -> list[Entry]:
    """Every public entry point with a fast valid baseline."""
    from sgd_sde import diffusion, dynamics, landscapes, measure, networks, noise, schedules, simulate, stability, theory
    from sgd_sde.cli import main as cli_main

    E = Entry
    q = _quadratic
    out = [
        # -- simulate
        E("simulate", simulate, lambda: dict(key=_key(), landscape=q(), dynamics=dynamics.SGD(0.1, 1), theta0=np.ones(D),
                                             noise=noise.Isotropic(1.0), n_steps=3, n_particles=2),
          {"key": "key", "landscape": "object", "dynamics": "object", "theta0": "theta0", "noise": "object?",
           "n_steps": "size", "n_particles": "size", "save_every": "int?", "chunk_size": "int?",
           "divergence_bound": "pos", "observables": "choice", "save_at": "grid?", "schedule": "callable?"}, cost=3,
          accept=frozenset({"inf"})),  # divergence_bound=inf: only non-finite values diverge (documented)
        # -- landscapes
        E("landscapes.Quadratic", landscapes.Quadratic, lambda: dict(hessian=np.eye(D), minimum=np.zeros(D)),
          {"hessian": "sym", "minimum": "vec?"}),
        E("landscapes.LinearRegression", landscapes.LinearRegression,
          lambda: dict(X=np.ones((4, D)), y=np.zeros(4)), {"X": "any-array", "y": "vec"}),
        E("landscapes.LogisticRegression", landscapes.LogisticRegression,
          lambda: dict(X=np.ones((4, D)), y=np.array([0.0, 1.0, 0.0, 1.0]), l2=0.1),
          {"X": "any-array", "y": "vec", "l2": "nonneg"}),
        E("landscapes.DoubleWell", landscapes.DoubleWell, lambda: dict(barrier=0.25, scale=1.0, tilt=0.0),
          {"barrier": "pos", "scale": "pos", "tilt": "real"}),
        E("landscapes.SharpFlat1D", landscapes.SharpFlat1D, lambda: dict(),
          {"sharp_curvature": "pos", "flat_curvature": "pos", "sharp_at": "real", "flat_at": "real", "steepness": "pos"}),
        E("landscapes.from_fn", landscapes.from_fn, lambda: dict(loss_fn=lambda th: jnp.sum(th**2), dim=D),
          {"loss_fn": "callable", "dim": "int"}),
        E("landscapes.from_examples", landscapes.from_examples,
          lambda: dict(loss_fn=lambda th, x, t: (jnp.dot(th, x) - t) ** 2, inputs=np.ones((4, D)), targets=np.zeros(4), dim=D),
          {"loss_fn": "callable", "inputs": "any-array", "targets": "vec", "dim": "int"}),
        # -- noise
        E("noise.Isotropic", noise.Isotropic, lambda: dict(variance=1.0), {"variance": "nonneg", "n_population": "int?"}),
        E("noise.Diagonal", noise.Diagonal, lambda: dict(variances=np.ones(D)), {"variances": "vec", "n_population": "int?"}, accept=frozenset(['wrong-length', 'wrong-size'])),  # any dimension is valid on its own (checked against a landscape when bound)
        E("noise.Dense", noise.Dense, lambda: dict(cov=np.eye(D)), {"cov": "spd", "n_population": "int?"}, accept=frozenset(['wrong-length', 'wrong-size'])),  # any dimension is valid on its own (checked against a landscape when bound)
        E("noise.LowRank", noise.LowRank, lambda: dict(factor=np.ones((D, 1))), {"factor": "any-array", "n_population": "int?"}, accept=frozenset(['1-d', '2-d', 'asymmetric', 'non-square', 'wrong-length', 'wrong-size'])),  # any (N, d) / (d, r) shape is valid
        E("noise.FisherShaped", noise.FisherShaped, lambda: dict(), {"scale": "nonneg", "replace": "bool"}),
        E("noise.HessianShaped", noise.HessianShaped, lambda: dict(), {"scale": "nonneg", "shift": "nonneg", "n_population": "int?"}),
        E("noise.HeavyTailed", noise.HeavyTailed, lambda: dict(alpha=1.5), {"alpha": "pos", "scale": "nonneg"}),
        E("noise.ExactMinibatch", noise.ExactMinibatch, lambda: dict(), {"replace": "bool"}),
        E("noise.from_covariance", noise.from_covariance, lambda: dict(cov=np.eye(D)), {"cov": "spd", "n_population": "int?"}, accept=frozenset(['wrong-length', 'wrong-size'])),  # any dimension is valid on its own (checked against a landscape when bound)
        E("noise.from_per_example_grads", noise.from_per_example_grads, lambda: dict(grads=np.ones((4, D))),
          {"grads": "any-array", "replace": "bool"}, accept=frozenset(['1-d', '2-d', 'asymmetric', 'non-square', 'wrong-length', 'wrong-size'])),  # any (N, d) / (d, r) shape is valid
        E("noise.symmetric_stable", noise.symmetric_stable, lambda: dict(key=_key(), alpha=1.5, shape=(3,)),
          {"key": "key", "alpha": "pos", "shape": "any-array"}),
        E("noise.standard_normal", noise.standard_normal, lambda: dict(key=_key(), shape=(3, 2)),
          {"key": "key", "shape": "any-array"}),
        # -- dynamics
        E("dynamics.SGD", dynamics.SGD, lambda: dict(lr=0.1, batch_size=1), {"lr": "pos", "batch_size": "int", "momentum": "nonneg"}),
        E("dynamics.EMAMomentum", dynamics.EMAMomentum, lambda: dict(lr=0.1, batch_size=1),
          {"lr": "pos", "batch_size": "int", "beta": "unit0"}),
        E("dynamics.EulerMaruyama", dynamics.EulerMaruyama, lambda: dict(lr=0.1, batch_size=1),
          {"lr": "pos", "batch_size": "int", "substeps": "int"}),
        E("dynamics.SVAG", dynamics.SVAG, lambda: dict(lr=0.1, batch_size=1), {"lr": "pos", "batch_size": "int", "l": "pos"}),
        E("dynamics.Langevin", dynamics.Langevin, lambda: dict(lr=0.1, temperature=0.1),
          {"lr": "pos", "temperature": "nonneg", "batch_size": "int?"}),
        E("dynamics.DiffraxSDE", dynamics.DiffraxSDE, lambda: dict(lr=0.1, batch_size=1),
          {"lr": "pos", "batch_size": "int", "substeps": "int", "solver": "object"}),
        # -- schedules
        E("schedules.step_decay", schedules.step_decay, lambda: dict(init_value=0.1, boundaries=[10]),
          {"init_value": "pos", "boundaries": "any-array", "factor": "unit"}, accept=frozenset({"empty"})),  # no drops
        E("schedules.inverse_power", schedules.inverse_power, lambda: dict(init_value=0.1, power=0.75),
          {"init_value": "pos", "power": "nonneg", "offset": "pos"}),
        E("schedules.exponential_decay", schedules.exponential_decay, lambda: dict(init_value=0.1, decay_rate=0.9),
          {"init_value": "pos", "decay_rate": "pos", "transition_steps": "int"}),
        E("schedules.cosine", schedules.cosine, lambda: dict(init_value=0.1, decay_steps=10),
          {"init_value": "pos", "decay_steps": "int", "alpha": "nonneg"}),
        E("schedules.cyclic", schedules.cyclic, lambda: dict(high=0.1, low=0.01, cycle=5),
          {"high": "pos", "low": "pos", "cycle": "int"}),
        E("schedules.warmup", schedules.warmup, lambda: dict(peak=0.1, warmup_steps=5),
          {"peak": "pos", "warmup_steps": "int", "then": "callable?"}),
        E("schedules.increase_batch", schedules.increase_batch, lambda: dict(init_batch=2, boundaries=[5]),
          {"init_batch": "int", "boundaries": "any-array", "factor": "int", "max_batch": "int?"}, accept=frozenset({"empty"})),
        E("schedules.noise_scale", schedules.noise_scale, lambda: dict(lr=0.1, batch_size=2, n_examples=10, n_steps=5),
          {"lr": "pos", "batch_size": "int", "n_examples": "int", "n_steps": "size", "momentum": "nonneg"}),
        # -- theory
        E("theory.robbins_monro", theory.robbins_monro, lambda: dict(schedule="1/(t+1)"), {"schedule": "choice"},
          accept=frozenset({"int"})),  # a number is a constant schedule
        E("theory.temperature", theory.temperature, lambda: dict(lr=0.1, batch_size=2, n_examples=10),
          {"lr": "pos", "batch_size": "int", "n_examples": "int", "momentum": "nonneg"}, accept=frozenset(['array-2', 'array-int', 'list-1', 'list-int'])),  # vectorised over array arguments by design
        E("theory.stationary_covariance", theory.stationary_covariance,
          lambda: dict(H=np.eye(D), C=np.eye(D), lr=0.1, batch_size=1),
          {"H": "spd", "C": "spd", "lr": "pos", "batch_size": "pos", "discrete": "bool"}, accept=frozenset(['array-2', 'array-int', 'list-1', 'list-int'])),  # vectorised over array arguments by design; batch_size is real (an effective B(N-1)/(N-B) is valid)
        E("theory.discrete_lyapunov", theory.discrete_lyapunov, lambda: dict(A=0.5 * np.eye(D), Q=np.eye(D)),
          {"A": "sym", "Q": "spd"}, accept=frozenset({"asymmetric", "indefinite"})),  # X = AXAᵀ + Q is solved for any real Q (as scipy's solve_discrete_lyapunov)
        E("theory.eps_opt", theory.eps_opt, lambda: dict(batch_size=4, eps_max=0.1, b_noise=10.0),
          {"batch_size": "pos", "eps_max": "pos", "b_noise": "nonneg"}, accept=frozenset(['array-2', 'array-int', 'list-1', 'list-int'])),  # vectorised over array arguments by design; b_noise = 0 (no noise) is valid: eps_opt = eps_max
        E("theory.b_noise", theory.b_noise, lambda: dict(H=np.eye(D), Sigma=np.eye(D), G=np.ones(D)),
          {"H": "spd", "Sigma": "spd", "G": "vec"}),
        E("theory.b_simple", theory.b_simple, lambda: dict(Sigma=np.eye(D), G=np.ones(D)), {"Sigma": "spd", "G": "vec"}),
        E("theory.two_batch_estimators", theory.two_batch_estimators,
          lambda: dict(sqnorm_small=2.0, sqnorm_big=1.5, b_small=2, b_big=8),
          {"sqnorm_small": "nonneg", "sqnorm_big": "nonneg", "b_small": "pos", "b_big": "pos"}, accept=frozenset(['array-2', 'array-int', 'list-1', 'list-int'])),  # vectorised over array arguments by design
        E("theory.minibatch_covariance", theory.minibatch_covariance,
          lambda: dict(per_example_grads=np.arange(8.0).reshape(4, D), batch_size=2, replace=False),
          {"per_example_grads": "any-array", "batch_size": "int", "replace": "bool"}, accept=frozenset(['1-d', '2-d', 'asymmetric', 'non-square', 'wrong-length', 'wrong-size'])),  # any (N, d) / (d, r) shape is valid
        E("theory.mean_square_threshold", theory.mean_square_threshold,
          lambda: dict(per_example_hessians=np.array([1.0, 2.0, 3.0]), batch_size=2),
          {"per_example_hessians": "tree", "batch_size": "int", "replace": "bool"}),
        E("theory.zhu_escape_indicator", theory.zhu_escape_indicator, lambda: dict(H=np.eye(D), Sigma=np.eye(D)),
          {"H": "spd", "Sigma": "spd"}),
        E("theory.ou_expected_loss", theory.ou_expected_loss, lambda: dict(t=1.0, H=np.eye(D), Sigma=np.eye(D)),
          {"t": "nonneg", "H": "spd", "Sigma": "spd", "theta0": "vec?"}, accept=frozenset(['array-2', 'array-int', 'list-1', 'list-int'])),  # vectorised over array arguments by design
        E("theory.kramers_time", theory.kramers_time,
          lambda: dict(barrier=0.25, curvature_min=2.0, curvature_saddle=-1.0, temperature=0.1),
          {"barrier": "pos", "curvature_min": "pos", "curvature_saddle": "real", "temperature": "pos"}, accept=frozenset(['array-2', 'array-int', 'list-1', 'list-int'])),  # vectorised over array arguments by design
        E("theory.mean_first_passage_time_1d", theory.mean_first_passage_time_1d,
          lambda: dict(potential_fn=_double_well_v, temperature=0.2, start=-1.0, end=1.0, n_grid=2001),
          {"potential_fn": "callable", "temperature": "pos", "start": "real", "end": "real", "n_grid": "size"}),
        E("theory.svag_coefficients", theory.svag_coefficients, lambda: dict(l=2.0), {"l": "pos"}),
        E("theory.quadratic_second_moment", theory.quadratic_second_moment,
          lambda: dict(lrs=np.full(5, 0.1), noise_var=1.0, x0=1.0), {"lrs": "grid", "noise_var": "nonneg", "x0": "real"}),
        E("theory.mandt_optimal_lr", theory.mandt_optimal_lr, lambda: dict(n_examples=100, batch_size=10, noise_cov=np.eye(D)),
          {"n_examples": "int", "batch_size": "int", "noise_cov": "spd"}, accept=frozenset(['wrong-length', 'wrong-size'])),  # any dimension is valid on its own (checked against a landscape when bound)
        E("theory.scaled_lr", theory.scaled_lr, lambda: dict(lr0=0.1, batch0=32, batch=64),
          {"lr0": "pos", "batch0": "int", "batch": "int", "rule": "choice"}, accept=frozenset(['array-2', 'array-int', 'list-1', 'list-int'])),  # vectorised over array arguments by design
        # -- measure
        E("measure.gradient_noise_stats", measure.gradient_noise_stats, _measure_base, dict(_MEASURE_ARGS), cost=2),
        E("measure.hessian_top_eigs", measure.hessian_top_eigs, lambda: _measure_base(k=1),
          {**_MEASURE_ARGS, "k": "int", "method": "choice", "max_iter": "size"}, cost=2),
        E("measure.hessian_trace", measure.hessian_trace, lambda: _measure_base(key=_key(), n_samples=4),
          {**_MEASURE_ARGS, "key": "key?", "n_samples": "size", "method": "choice"}, cost=2),
        E("measure.keskar_sharpness", measure.keskar_sharpness, lambda: _measure_base(max_iter=3),
          {**_MEASURE_ARGS, "eps": "pos", "method": "choice", "max_iter": "size"}, cost=2),
        E("measure.two_batch_noise_scale", measure.two_batch_noise_scale,
          lambda: _measure_base(key=_key(), b_small=2, b_big=4, n_pairs=3),
          {**_MEASURE_ARGS, "key": "key", "b_small": "int", "b_big": "int", "n_pairs": "size", "beta": "unit0"}, cost=2),
        E("measure.two_batch_estimates", measure.two_batch_estimates,
          lambda: dict(grad_sq_small=np.array([2.0, 2.1]), grad_sq_big=np.array([1.5, 1.4]), b_small=2, b_big=8),
          {"grad_sq_small": "vec", "grad_sq_big": "vec", "b_small": "int", "b_big": "int", "n_population": "int?"}),
        E("measure.ema_noise_scale", measure.ema_noise_scale,
          lambda: dict(grad_sq_est=np.array([1.0, 1.1]), trace_cov_est=np.array([3.0, 2.0])),
          {"grad_sq_est": "vec", "trace_cov_est": "vec", "beta": "unit0"}),
        E("measure.tail_index", measure.tail_index, lambda: dict(samples=np.random.default_rng(0).standard_normal(64)),
          {"samples": "tree", "k1": "int?"}),
        E("measure.covariance_alignment", measure.covariance_alignment, _measure_base,
          {**_MEASURE_ARGS, "hessian_norm": "choice"}, cost=2),
        E("measure.loss_along_line", measure.loss_along_line,
          lambda: _measure_base(direction=jnp.array([1.0, 0.0]), alphas=np.linspace(-1, 1, 3)),
          {**_MEASURE_ARGS, "direction": "vec", "alphas": "grid"}, cost=2),
        E("measure.filter_normalized_direction", measure.filter_normalized_direction,
          lambda: dict(key=_key(), params={"w": jnp.ones((2, 2))}), {"key": "key", "params": "tree"},
          accept=frozenset({"ragged-list", "ragged"})),  # a list of lists of floats is a valid PyTree
        E("measure.distance_from_init", measure.distance_from_init, lambda: dict(params=jnp.ones(D), params0=jnp.zeros(D)),
          {"params": "vec", "params0": "vec"},
          # a diverged run has a NaN/inf distance (it is also traced inside sweeps): NaN propagates by design
          accept=frozenset({"nan-entry", "inf-entry"})),
        E("measure.largest_divisor_below_sqrt", measure.largest_divisor_below_sqrt, lambda: dict(n=12), {"n": "int"}),
        # -- stability
        E("stability.stability_radius", stability.stability_radius,
          lambda: dict(key=_key(), landscape=stability.FiniteDepthWell(np.eye(D)), dynamics=dynamics.SGD(0.1, 1),
                       minimum=np.zeros(D), noise=noise.Isotropic(1.0), n_steps=3, delta=0.5, n_particles=4, n_bisect=1,
                       r_max=2.0),
          {"key": "key", "landscape": "object", "dynamics": "object", "minimum": "vec", "n_steps": "size", "delta": "pos",
           "n_particles": "size", "n_bisect": "int", "level": "unit", "direction": "choice", "ci_method": "choice",
           "r_max": "pos?", "basin": "pos?"}, cost=3),
        E("stability.escape_time", stability.escape_time,
          lambda: dict(key=_key(), landscape=landscapes.DoubleWell(), dynamics=dynamics.Langevin(0.05, 0.2), start=-1.0, end=1.0,
                       n_particles=4, max_steps=8),
          {"key": "key", "landscape": "object", "dynamics": "object", "start": "real", "end": "real", "n_particles": "size",
           "max_steps": "size", "level": "unit", "block": "int"}, cost=3),
        E("stability.mean_first_passage_time", stability.mean_first_passage_time,
          lambda: dict(potential=_double_well_v, temperature=0.2, start=-1.0, end=1.0),
          {"potential": "callable", "temperature": "pos", "start": "real", "end": "real", "rtol": "pos"}),
        E("stability.second_moment_growth", stability.second_moment_growth,
          lambda: dict(key=_key(), landscape=_regression(), dynamics=dynamics.SGD(0.05, 2),
                       minimum=np.asarray(_regression().minimum()), noise=noise.ExactMinibatch(), n_steps=2, n_particles=8),
          {"key": "key", "landscape": "object", "dynamics": "object", "minimum": "vec", "n_steps": "size",
           "n_particles": "size", "radius": "pos", "level": "unit"}, cost=3),
        E("stability.check_minimum", stability.check_minimum, lambda: dict(landscape=q(), minimum=np.zeros(D)),
          {"landscape": "object", "minimum": "vec", "tol": "pos"}),
        E("stability.loglog_slope", stability.loglog_slope, lambda: dict(x=np.array([1.0, 2.0, 4.0]), y=np.array([1.0, 2.1, 3.9])),
          {"x": "grid", "y": "grid", "level": "unit"}),
        E("stability.exact_factor_1d", stability.exact_factor_1d,
          lambda: dict(lr=0.1, curvatures=np.array([1.0, 2.0, 3.0]), batch_size=2),
          {"lr": "pos", "curvatures": "grid", "batch_size": "int", "replace": "bool"}),
        E("stability.matched_trace_covariances", stability.matched_trace_covariances, lambda: dict(hessian=np.diag([2.0, 1.0])),
          {"hessian": "spd", "trace": "pos"}, accept=frozenset(['wrong-length', 'wrong-size'])),  # any dimension is valid on its own (checked against a landscape when bound)
        E("stability.threshold_bracket", stability.threshold_bracket,
          lambda: dict(lrs=np.array([0.1, 0.2, 0.3]), lo=np.array([0.5, 0.9, 1.1]), hi=np.array([0.7, 1.05, 1.3])),
          {"lrs": "grid", "lo": "grid", "hi": "grid"}),
        E("stability.FiniteDepthWell", stability.FiniteDepthWell, lambda: dict(hessian=np.eye(D)),
          {"hessian": "spd", "depth": "pos"}, accept=frozenset(['wrong-length', 'wrong-size'])),  # any dimension is valid on its own (checked against a landscape when bound)
        # -- diffusion
        E("diffusion.sinai_walk", diffusion.sinai_walk, lambda: dict(key=_key(), n_walkers=4, n_steps=16),
          {"key": "key", "n_walkers": "size", "n_steps": "size", "sigma": "nonneg", "chunk_size": "int", "save_at": "grid?"}, cost=2,
          accept=frozenset({"empty"})),  # sigma=0 is the simple random walk; save_at=[] saves steps 0 and n_steps only (both always added)
        E("diffusion.default_save_steps", diffusion.default_save_steps, lambda: dict(n_steps=100),
          {"n_steps": "size", "per_octave": "int"}),
        E("diffusion.log_growth_slope", diffusion.log_growth_slope,
          lambda: dict(steps=np.arange(1, 33), distances=np.log(np.arange(1, 33))[:, None] * np.ones((1, 4)) + 1.0, n_boot=10),
          {"steps": "grid", "distances": "any-array", "beta": "pos", "moment": "choice", "n_boot": "size", "confidence": "unit"}),
        E("diffusion.exit_time_profile", diffusion.exit_time_profile, lambda: dict(values=np.sin(np.arange(33.0))),
          {"values": "grid", "spacing": "pos", "temperature": "pos", "centre": "int0?"}),
        E("diffusion.first_passage_experiment", diffusion.first_passage_experiment,
          lambda: dict(key=_key(), alpha=1.0, n_environments=2, half_width=16, n_distances=3, batch=2),
          {"key": "key", "alpha": "pos", "n_environments": "size", "half_width": "size", "temperature": "pos",
           "n_distances": "int", "batch": "int", "spacing": "pos", "amplitude": "pos"}, cost=2),
        E("diffusion.potential_diffusion", diffusion.potential_diffusion,
          lambda: dict(key=_key(), alpha=1.0, n_particles=2, n_steps=16, n_grid=65),
          {"key": "key", "alpha": "pos", "n_particles": "size", "n_steps": "size", "temperature": "pos", "lr": "pos",
           "n_grid": "size", "spacing": "pos"}, cost=3),
        # -- networks
        E("networks.load_dataset", networks.load_dataset, lambda: dict(name="teacher_student", n_train=8, n_test=4, d=3),
          {"name": "choice", "n_train": "size", "d": "int", "path": "choice?", "label_noise": "unit0", "seed": "int0"}),
        E("networks.MLP", networks.MLP, lambda: dict(in_shape=(4,), n_classes=2, widths=(8,), key=_key()),
          {"in_shape": "any-array", "n_classes": "int", "widths": "any-array", "key": "key", "ghost_batch_size": "int?"}, accept=frozenset(['1-d', 'empty', 'wrong-length'])),  # np.ones(k) is a valid shape / width list / grid
        E("networks.train", networks.train,
          lambda: dict(key=_key(), model=_mlp(), data=_ts_data(), lr_schedule=0.05, batch_schedule=8, n_steps=2, progress=False),
          {"key": "key", "model": "object", "data": "object", "optimizer": "choice", "momentum": "nonneg", "lr_schedule": "pos",
           "batch_schedule": "int", "n_steps": "size?", "weight_decay": "nonneg", "clip_norm": "pos?", "probe_every": "int?",
           "divergence_loss": "pos?"}, cost=4),
        E("networks.sweep", networks.sweep,
          lambda: dict(key=_key(), model_fn=_mlp, data=_ts_data(), lrs=[0.05], batch_sizes=[8], n_steps=2),
          {"key": "key", "model_fn": "callable", "data": "object", "lrs": "grid", "batch_sizes": "any-array", "n_steps": "size",
           "seeds": "any-array", "momentum": "nonneg", "record_every": "int?"}, cost=4, accept=frozenset(['1-d', 'empty', 'wrong-length'])),  # np.ones(k) is a valid shape / width list / grid
        # -- the command line
        E("cli.main", lambda argv: cli_main(argv), lambda: dict(argv=["theory", "svag"]), {"argv": "argv"},
          aliases={"argv": ("usage", "argument", "invalid choice", "unrecognized", "topic", "required")}, cost=2),
    ]
    return out


def _argv_values():
    vals = [_b("empty", []), _b("unknown-command", ["fly"]), _b("unsafe-command", [UNSAFE_STRINGS[0]]),
            _b("demo-bad-key", ["demo", "--key", "abc"]), _b("demo-float-key", ["demo", "--key", "1.5"]),
            _b("theory-bad-topic", ["theory", "--topic", "nope"]), _b("theory-unsafe-topic", ["theory", "--topic", "$(ls)"]),
            _b("demo-unknown-flag", ["demo", "--frobnicate"]), _b("not-a-list", "demo"), _b("list-of-ints", [1, 2]),
            _b("demo-out-under-a-file", ["demo", "--quick", "--out", "/dev/null/sub"]),
            _b("nul-byte", ["theory", "--topic", "\x00"])]
    return vals


KINDS["argv"] = _argv_values


def strategy_for(entry: Entry, *, report: bool = False):
    """Hypothesis strategy of ``(arg, Bad)`` pairs for one entry point."""
    pairs = [(arg, bad) for arg, kind in entry.args.items() for bad in bad_values(kind, report=report)]
    return st.sampled_from(pairs)
