"""LRBench policies: each equals its formula in lr-policies.md, written here independently in plain
Python ``math`` (not by calling the library), at steps {0, 1, l−1, l, l+1, 2l, 5l+3}; optax-built
ones agree with optax; traced and NumPy evaluation agree; pure (NSTEP keeps no state); accepted
by networks.train, networks.sweep and simulate; theory (Robbins–Monro, temperature)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sgd_sde import schedules, simulate
from sgd_sde.dynamics import SGD
from sgd_sde.landscapes import Quadratic
from sgd_sde.lrbench import FAMILIES, PARAMETERS, POLICIES, policy

K0, K1, GAMMA, P, L = 0.02, 0.3, 0.97, 0.6, 8
NSTEP_L = (8, 20, 45)


# ---------------------------------------------------------------------------- reference formulas
def tri(s, l):
    return 2 / math.pi * abs(math.asin(math.sin(math.pi * s / (2 * l))))


def sin_(s, l):
    return abs(math.sin(math.pi * s / (2 * l)))


def r(t, l):
    return -t / l - math.floor(-t / l)


def ref(name, t, k0=K0, k1=K1, g=GAMMA, p=P, l=L):
    d = k1 - k0
    F = math.floor
    table = {
        "FIX": lambda: k0,
        "STEP": lambda: k0 * g ** F(t / l),
        "NSTEP": lambda: k0 * g ** sum(1 for b in NSTEP_L if b <= t),
        "EXP": lambda: k0 * g**t,
        "INV": lambda: k0 * (1 + g * t) ** (-p),
        "POLY": lambda: d * (1 - min(t, l) / l) ** p + k0,  # held at k0 beyond l (module doc)
        "SIG": lambda: k0 / (1 + math.exp(-g * (t - l))),
        "TRI": lambda: d * tri(t, l) + k0,
        "TRI2": lambda: d * tri(t, l) / 2 ** F(t / (2 * l)) + k0,
        "TRIEXP": lambda: d * tri(t, l) * g**t + k0,
        "SIN": lambda: d * sin_(t, l) + k0,
        "SIN2": lambda: d * sin_(t, l) / 2 ** F(t / (2 * l)) + k0,
        "SINEXP": lambda: d * sin_(t, l) * g**t + k0,
        "DTRI": lambda: d * tri(t + l, l) + k0,
        "DTRI2": lambda: d * tri(t + l, l) / 2 ** F((t + l) / (2 * l)) + k0,
        "DTRIEXP": lambda: d * tri(t + l, l) * g**t + k0,
        "DSIN": lambda: d * sin_(t + l, l) + k0,
        "DSIN2": lambda: d * sin_(t + l, l) / 2 ** F((t + l) / (2 * l)) + k0,
        "DSINEXP": lambda: d * sin_(t + l, l) * g**t + k0,
        "COS": lambda: d * 0.5 * (1 + math.cos(math.pi * t / l)) + k0,
        "COS2": lambda: d * 0.5 * (1 + math.cos(math.pi * t / l)) / 2 ** F((t + l) / (2 * l)) + k0,
        "COSEXP": lambda: d * 0.5 * (1 + math.cos(math.pi * t / l)) * g**t + k0,
        "UPCOS": lambda: d * 0.5 * (1 + math.cos(math.pi * (t / l + 1))) + k0,
        "UPCOS2": lambda: d * 0.5 * (1 + math.cos(math.pi * (t / l + 1))) / 2 ** F(t / (2 * l)) + k0,
        "UPCOSEXP": lambda: d * 0.5 * (1 + math.cos(math.pi * (t / l + 1))) * g**t + k0,
        "RSW": lambda: d * r(t, l) + k0,
        "RSW2": lambda: d * r(t, l) / 2 ** F(t / l) + k0,
        "RSWEXP": lambda: d * r(t, l) * g**t + k0,
        "SINRSW": lambda: d * math.sin(math.pi / 2 * r(t, l)) + k0,
        "SINRSW2": lambda: d * math.sin(math.pi / 2 * r(t, l)) / 2 ** F(t / l) + k0,
        "SINRSWEXP": lambda: d * math.sin(math.pi / 2 * r(t, l)) * g**t + k0,
        "COSRSW": lambda: d * 0.5 * (1 - math.cos(math.pi * r(t, l))) + k0,
        "COSRSW2": lambda: d * 0.5 * (1 - math.cos(math.pi * r(t, l))) / 2 ** F(t / l) + k0,
        "COSRSWEXP": lambda: d * 0.5 * (1 - math.cos(math.pi * r(t, l))) * g**t + k0,
    }
    return table[name]()


def make(name):
    values = {"k0": K0, "k1": K1, "gamma": GAMMA, "p": P, "l": L}
    kw = {n: values[n] for n in PARAMETERS[name]}
    if name == "NSTEP":
        kw["l"] = list(NSTEP_L)
    return policy(name, **kw)


def steps_for(name):
    ls = NSTEP_L if name == "NSTEP" else (L,)
    return sorted({s for l in ls for s in (0, 1, l - 1, l, l + 1, 2 * l, 5 * l + 3)})


def test_the_reference_table_covers_every_policy_name():
    assert set(POLICIES) == {n for names in FAMILIES.values() for n in names}
    assert len(POLICIES) == 7 + 6 + 6 + 6 + 9
    for name in POLICIES:
        ref(name, 3)  # KeyError if the independent table misses a name


@pytest.mark.parametrize("name", POLICIES)
def test_policy_equals_its_formula_on_numpy_ints(name):
    pol = make(name)
    ks = np.asarray(steps_for(name))
    expected = np.array([ref(name, int(k)) for k in ks])
    got = pol(ks)
    assert got.dtype == np.float64 and got.shape == ks.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)
    for k, e in zip(ks, expected):  # scalar NumPy and Python ints
        assert float(pol(np.int64(k))) == pytest.approx(e, rel=1e-6)
        assert float(pol(int(k))) == pytest.approx(e, rel=1e-6)


@pytest.mark.parametrize("name", POLICIES)
def test_policy_traced_agrees_with_its_formula(name):
    pol = make(name)
    ks = np.asarray(steps_for(name))
    expected = np.array([ref(name, int(k)) for k in ks])
    with jax.enable_x64(True):  # float64 under jit: the same 1e-6
        np.testing.assert_allclose(np.asarray(jax.jit(pol)(jnp.asarray(ks))), expected, rtol=1e-6)
    # float32 under jit: γ^t rounds to ~t·ε₃₂ relative (t ≤ 5l+3 = 43 → 5e-6); trig at |x| ≲ 40 adds
    # a few ε₃₂·|x| absolute to a value ≥ k0; 5e-5 relative bounds both with room.
    got = np.asarray(jax.jit(pol)(jnp.asarray(ks, jnp.int32)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=5e-5)


def test_optax_built_policies_agree_with_optax():
    ks = np.arange(0, 120)
    pairs = [
        (policy("FIX", k0=0.1), optax.constant_schedule(0.1)),
        (policy("STEP", k0=0.1, gamma=0.5, l=7), optax.exponential_decay(0.1, 7, 0.5, staircase=True)),
        (policy("NSTEP", k0=0.1, gamma=0.3, l=[10, 50]), optax.piecewise_constant_schedule(0.1, {10: 0.3, 50: 0.3})),
        (policy("EXP", k0=0.1, gamma=0.98), optax.exponential_decay(0.1, 1, 0.98)),
        (policy("POLY", k0=0.001, k1=0.1, p=2.0, l=60), optax.polynomial_schedule(0.1, 0.001, 2.0, 60)),
    ]
    with jax.enable_x64(True):
        for pol, ref_sched in pairs:
            np.testing.assert_allclose(pol(ks), np.asarray(ref_sched(jnp.asarray(ks))), rtol=1e-12)
    for pol, ref_sched in pairs:  # the traced float32 path is optax's own
        np.testing.assert_allclose(np.asarray(jax.jit(pol)(jnp.asarray(ks))), np.asarray(jax.jit(ref_sched)(jnp.asarray(ks))), rtol=1e-6)


def test_policies_are_pure_and_hashable():
    pol = policy("NSTEP", k0=0.1, gamma=0.5, l=[5, 10])
    forward = [float(pol(k)) for k in (0, 6, 11, 30)]
    backward = [float(pol(k)) for k in (30, 11, 6, 0)][::-1]
    assert forward == backward == [0.1, 0.05, 0.025, 0.025]
    assert pol == policy("NSTEP", k0=0.1, gamma=0.5, l=(5, 10)) and hash(pol) == hash(policy("NSTEP", k0=0.1, gamma=0.5, l=[5, 10]))


@pytest.mark.parametrize("name,kw,match", [
    ("NOPE", {}, "name must be one of"),
    ("STEP", dict(k0=0.1, gamma=0.5), "missing l"),
    ("STEP", dict(k0=0.1, gamma=0.5, l=3, k1=2), "unexpected k1"),
    ("STEP", dict(k0=0.1, gamma=2.0, l=3), r"gamma .* \(0, 1\]"),
    ("EXP", dict(k0=-0.1, gamma=0.5), "k0 must be > 0"),
    ("NSTEP", dict(k0=0.1, gamma=0.5, l=[10, 5]), "strictly increasing"),
    ("TRI", dict(k0=0.1, k1=0.2, l=0), "l must be a positive integer"),
    ("SIG", dict(k0=0.1, gamma=0.0, l=3), "gamma must be finite and non-zero"),
    ("INV", dict(k0=0.1, gamma=0.1, p=-1), "p must be >= 0"),
])
def test_bad_parameters_name_the_argument(name, kw, match):
    with pytest.raises(ValueError, match=match):
        policy(name, **kw)


@pytest.mark.parametrize("name", ["STEP", "NSTEP", "EXP", "INV", "POLY", "SIG", "TRI2", "COSEXP", "COSRSW2"])
def test_sympy_expression_is_the_same_function(name):
    import sympy as sp

    pol = make(name)
    expr = pol.sympy()
    t = [s for s in expr.free_symbols if s.name == "t"][0]
    for k in steps_for(name):
        assert float(expr.subs(t, k).evalf(30)) == pytest.approx(float(pol(k)), rel=1e-9)
    assert isinstance(expr, sp.Basic)


def test_robbins_monro_verdicts():
    from sgd_sde.theory import robbins_monro

    inv = policy("INV", k0=0.5, gamma=0.1, p=0.75).robbins_monro()
    assert inv.satisfied is True
    assert robbins_monro(policy("INV", k0=0.5, gamma=0.1, p=0.75)).satisfied is True  # the theory API takes a policy too
    assert policy("INV", k0=0.5, gamma=0.1, p=0.5).robbins_monro().sum_squares_converges is False
    assert policy("EXP", k0=0.1, gamma=0.99).robbins_monro().sum_diverges is False
    assert policy("STEP", k0=0.1, gamma=0.5, l=30).robbins_monro().satisfied is False
    fix = policy("FIX", k0=0.1).robbins_monro()
    assert (fix.tends_to_zero, fix.satisfied) == (False, False)
    for name in ("TRI", "SIN2", "COSEXP", "UPCOS", "RSW2", "COSRSWEXP"):
        res = make(name).robbins_monro()
        assert (res.tends_to_zero, res.sum_squares_converges, res.satisfied) == (False, False, False)
        assert "never decays to 0" in res.reason


def test_temperature_is_the_noise_scale_of_the_schedule():
    pol = policy("COS", k0=0.01, k1=0.1, l=10)
    g = pol.temperature(32, 1000, 25)
    np.testing.assert_allclose(g, pol(np.arange(25)) * (1000 / 32 - 1), rtol=1e-12)
    inc = schedules.increase_batch(32, [10], factor=2)
    g2 = pol.temperature(inc, 1000, 25)
    np.testing.assert_allclose(g2[10:], pol(np.arange(10, 25)) * (1000 / 64 - 1), rtol=1e-12)


def test_simulate_accepts_a_policy():
    # deterministic SGD on f = x²/2: x_{k+1} = (1 − η_k) x_k exactly
    pol = policy("TRI2", k0=0.05, k1=0.3, l=4)
    t = simulate(jax.random.key(0), Quadratic(np.eye(1)), SGD(0.1, 1), jnp.ones(1), n_steps=20, save_every=1,
                 schedule=pol, observables=("theta",))
    lrs = pol(np.arange(20))
    np.testing.assert_allclose(t.saved["theta"][:, 0, 0], np.concatenate([[1], np.cumprod(1 - lrs)]), rtol=1e-5)
    t2 = simulate(jax.random.key(0), Quadratic(np.eye(1)), SGD(0.1, 1), jnp.ones(1), n_steps=20, save_every=1,
                  schedule=schedules.Schedule(lr=pol), observables=("theta",))
    np.testing.assert_array_equal(t.saved["theta"], t2.saved["theta"])


def test_networks_train_and_sweep_accept_a_policy():
    from sgd_sde.networks import MLP, load_dataset, sweep, train

    data = load_dataset("digits").subset(128, 64)
    pol = policy("COSRSW", k0=0.01, k1=0.1, l=5)
    model = MLP(data.input_shape, 10, (8,), key=jax.random.key(0))
    out = train(jax.random.key(1), model, data, n_steps=12, batch_schedule=16, lr_schedule=pol, probe_every=3, progress=False)
    np.testing.assert_allclose(out.history["lr"][1:], pol(np.array([2, 5, 8, 11])), rtol=1e-12)
    res = sweep(jax.random.key(0), lambda k: MLP(data.input_shape, 10, (8,), key=k), data, lrs=[0.5, 1.0], batch_sizes=[16],
                seeds=[0, 1], n_steps=12, lr_shape=pol)
    assert np.all(np.isfinite(res.metrics["train_loss"])) and res.metrics["train_loss"].shape == (2, 1, 2)


def test_the_guide_lists_each_single_policys_parameters():
    # docs/lrbench.md gave the single family "k0, gamma, p, l", which POLY (k0, k1, p, l) refuses
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "lrbench.md").read_text()
    for name in FAMILIES["single"]:
        assert f"{name} (" + ", ".join(f"`{p}`" for p in PARAMETERS[name]) in guide, name
