"""Bad input to networks.train / networks.sweep / lrbench.benchmark is refused before anything is
traced, with a ValueError or TypeError that names the argument (found by an audit); a NumPy-only
``lr_schedule`` runs on its host values; BenchmarkResult and SweepResult compare by value."""

import dataclasses
import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sgd_sde import lrbench, schedules
from sgd_sde.lrbench import BenchmarkResult
from sgd_sde.networks import MLP, SweepResult, load_dataset, make_optimizer, probes, sweep, train
from sgd_sde.networks.ghost_bn import BNStats
from sgd_sde.networks.train import _jnp_lr, _LRTable

sweep_module = importlib.import_module("sgd_sde.networks.sweep")  # the attribute sgd_sde.networks.sweep is the function
KW = dict(n_steps=4, batch_schedule=16, progress=False)


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits").subset(64, 32)


@pytest.fixture(scope="module")
def model(data):
    return MLP(data.input_shape, 10, (8,), key=jax.random.key(0))


def _mf(data, **kw):
    return lambda k: MLP(data.input_shape, 10, (8,), key=k, **kw)


@pytest.fixture
def untraced(monkeypatch):
    """sweep's compiled steps replaced by a failure: an error must come before them."""

    def fail(*args, **kwargs):
        raise AssertionError("sweep reached its compiled steps before refusing the input")

    monkeypatch.setattr(sweep_module, "_stack_members", fail)
    monkeypatch.setattr(sweep_module, "_vrun_jit", fail)


def _leaves_equal(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# 1 ------------------------------------------------------------------------ an int where a key goes
def test_sweep_and_benchmark_refuse_an_int_key(data, untraced):
    with pytest.raises(TypeError, match=r"^key must be a jax\.random\.key"):
        sweep(0, _mf(data), data, lrs=[0.1], batch_sizes=[16], n_steps=2)
    with pytest.raises(TypeError, match=r"^key must be a jax\.random\.key"):
        lrbench.benchmark(0, {"FIX": lrbench.policy("FIX", k0=0.1)}, seeds=[0], n_steps=4, eval_every=2)
    with pytest.raises(TypeError, match=r"^key must be a jax\.random\.key"):
        train(0, MLP(data.input_shape, 10, (8,), key=jax.random.key(0)), data, **KW)


# 2 ------------------------------------------------------------------------ state unlike init_state()
def test_train_refuses_a_state_unlike_init_state(data, model):
    with pytest.raises(TypeError, match=r"^state must be batch-norm statistics like model\.init_state\(\)"):
        train(jax.random.key(1), model, data, state=5, **KW)
    bn = MLP(data.input_shape, 10, (8,), key=jax.random.key(0), batch_norm=True)
    for bad in ((BNStats(jnp.zeros(3), jnp.ones(3)),), (), bn.init_state()[0]):  # wrong shape, wrong structure
        with pytest.raises(TypeError, match=r"^state must .*float32\[8\]"):
            train(jax.random.key(1), bn, data, state=bad, **KW)
    # the default state passed explicitly is the default run
    explicit = train(jax.random.key(1), bn, data, state=bn.init_state(), **KW)
    _leaves_equal(explicit.model, train(jax.random.key(1), bn, data, **KW).model)


# 3 ------------------------------------------------------------------------ a NumPy-only lr_schedule
def test_numpy_only_lr_schedule_runs_on_its_host_values(data, model):
    host = lambda k: 0.1 * np.exp(-np.asarray(k) / 100)  # noqa: E731  (np.asarray of a tracer fails to trace)
    table = np.float32(host(np.arange(KW["n_steps"])))
    # the same float32 learning rates, traceable: the same arithmetic, so the same bits
    ref = lambda k: table[k] if isinstance(k, np.ndarray) else jnp.asarray(table)[k]  # noqa: E731
    out = train(jax.random.key(1), model, data, lr_schedule=host, **KW)
    want = train(jax.random.key(1), model, data, lr_schedule=ref, **KW)
    _leaves_equal(out.model, want.model)
    np.testing.assert_allclose(out.history["lr"], host(np.array([0, 3])), rtol=0)
    # a list of per-step values: the constant schedule
    as_list = train(jax.random.key(1), model, data, lr_schedule=lambda k: [0.1] * KW["n_steps"], **KW)
    _leaves_equal(as_list.model, train(jax.random.key(1), model, data, lr_schedule=0.1, **KW).model)


def test_traceable_schedules_still_run_traced():
    # the schedule objects themselves go into the compiled loop (SymbolicSchedule has __slots__: no weak reference)
    table = np.full(4, 0.1)
    for sched in (schedules.cosine(0.1, 30), lrbench.policy("COS", k0=0.002, k1=0.1, l=30), lambda k: 0.1 * jnp.exp(-k / 10)):
        assert _jnp_lr(sched, table) is sched
    assert isinstance(_jnp_lr(lambda k: 0.1 * np.exp(-np.asarray(k)), table), _LRTable)


def test_scalar_only_lr_schedule_is_a_type_error_naming_it(data, model):
    with pytest.raises(TypeError, match=r"^lr_schedule must accept an array of steps.*truth value"):
        train(jax.random.key(1), model, data, lr_schedule=lambda k: 0.1 if k < 5 else 0.01, **KW)
    for run in (dict(n_steps=4), dict(n_epochs=1)):  # the batch schedule too, also where n_epochs is counted
        with pytest.raises(TypeError, match=r"^batch_schedule must accept an array of steps.*truth value"):
            train(jax.random.key(1), model, data, batch_schedule=lambda k: 16 if k < 2 else 32, **run)
    with pytest.raises(TypeError, match=r"^lr_shape must accept an array of steps"):
        sweep(jax.random.key(0), _mf(data), data, lrs=[0.1], batch_sizes=[16], n_steps=2,
              lr_shape=lambda k: 1.0 if k < 5 else 0.5)


def test_sweep_with_numpy_only_lr_shape_runs_on_its_host_values(data):
    host = lambda k: np.exp(-np.asarray(k) / 10)  # noqa: E731
    table = np.float32(host(np.arange(4)))
    ref = lambda k: table[k] if isinstance(k, np.ndarray) else jnp.asarray(table)[k]  # noqa: E731
    kw = dict(lrs=[0.05, 0.1], batch_sizes=[16], n_steps=4)
    got, want = (sweep(jax.random.key(0), _mf(data), data, lr_shape=s, **kw) for s in (host, ref))
    for name in want.metrics:
        np.testing.assert_array_equal(got.metrics[name], want.metrics[name])


# 4 ------------------------------------------------------------------------ model_fn
def test_sweep_refuses_a_model_fn_that_returns_no_model(data, untraced):
    with pytest.raises(TypeError, match=r"^model_fn must return an sgd_sde\.networks model.*got int"):
        sweep(jax.random.key(0), lambda k: 3, data, lrs=[0.1], batch_sizes=[16], n_steps=2)
    with pytest.raises(TypeError, match=r"^model_fn must return"):
        sweep(jax.random.key(0), lambda k: 3, data, lrs=[0.1], batch_sizes=[16], n_steps=2, vectorize=False)


# 5 ------------------------------------------------------------------------ ghost batch norm
def test_sweep_checks_batch_sizes_against_the_ghost_batch_size(data, untraced):
    mf = _mf(data, batch_norm=True, ghost_batch_size=8)
    with pytest.raises(ValueError, match=r"^batch_sizes must be multiples of the ghost batch size 8 .*got 12"):
        sweep(jax.random.key(0), mf, data, lrs=[0.1], batch_sizes=[16, 12], n_steps=2)
    with pytest.raises(ValueError, match=r"^batch_sizes must be multiples of the ghost batch size 8"):
        sweep(jax.random.key(0), mf, data, lrs=[0.1], batch_sizes=[12], n_steps=2, vectorize=False)


# 6 ------------------------------------------------------------------------ one probe
def test_one_probe_is_a_list_of_one(data, model):
    one = train(jax.random.key(1), model, data, probes=probes.metrics(), **KW)
    listed = train(jax.random.key(1), model, data, probes=[probes.metrics()], **KW)
    assert {"test_acc", "train_acc"} <= set(one.history)
    for k in listed.history:
        np.testing.assert_array_equal(one.history[k], listed.history[k])
    for bad in (5, "metrics"):
        with pytest.raises(TypeError, match=r"^probes must be a probe, a list of probes or a mapping"):
            train(jax.random.key(1), model, data, probes=bad, **KW)


# 7 ------------------------------------------------------------------------ data-set options
def test_unknown_dataset_options_are_the_same_clean_error():
    with pytest.raises(ValueError, match=r"^unknown options for 'teacher_student': \['nn'\]; known: .*'n_train'"):
        load_dataset("teacher_student", nn=3)
    with pytest.raises(ValueError, match=r"^unknown options for 'digits': \['nn'\]"):
        load_dataset("digits", nn=3)
    assert load_dataset("teacher_student", n_train=8, n_test=4, d=3).x_train.shape == (8, 3)


# 8 ------------------------------------------------------------------------ sweep names lr_shape
def test_sweep_names_lr_shape_for_a_non_positive_lr(data, untraced):
    msg = r"^lr_shape must give learning rates lr · lr_shape\(k\) .*0\.1 · -1\.0 = -0\.1 at step 0"
    with pytest.raises(ValueError, match=msg) as err:
        sweep(jax.random.key(0), _mf(data), data, lrs=[0.1], batch_sizes=[16], n_steps=2, lr_shape=lambda k: -1.0)
    assert "lr_schedule" not in str(err.value)
    with pytest.raises(ValueError, match=r"^lr_shape must .* at step 3"):  # a step only the longest run reaches
        sweep(jax.random.key(0), _mf(data), data, lrs=[0.1], batch_sizes=[32, 16], n_epochs=1, lr_shape=lambda k: 3.0 - k)
    with pytest.raises(TypeError, match=r"^lr_shape must be a callable"):
        sweep(jax.random.key(0), _mf(data), data, lrs=[0.1], batch_sizes=[16], n_steps=2, lr_shape=0.5)


# 9 ------------------------------------------------------------------------ momentum and nesterov
def test_momentum_and_nesterov_only_where_they_act(data, model):
    with pytest.raises(ValueError, match=r"^nesterov=True needs momentum in \(0, 1\)"):
        make_optimizer("sgd", momentum=0.0, nesterov=True)
    with pytest.raises(ValueError, match=r"^nesterov=True needs momentum"):
        train(jax.random.key(1), model, data, momentum=0, nesterov=True, **KW)
    with pytest.raises(ValueError, match=r"^momentum applies to optimizer='sgd' only; optimizer='adam'.*momentum=5\.0"):
        train(jax.random.key(1), model, data, optimizer="adam", momentum=5.0, **KW)
    with pytest.raises(ValueError, match=r"^momentum applies to optimizer='sgd' only"):
        make_optimizer(optax.adam, momentum=0.5)
    with pytest.raises(ValueError, match=r"^nesterov applies to optimizer='sgd' only"):
        make_optimizer("adam", nesterov=True)
    make_optimizer("sgd", momentum=0.5, nesterov=True)  # still fine
    out = train(jax.random.key(1), model, data, optimizer="adam", lr_schedule=1e-3, **KW)  # the default momentum: fine
    assert out.history["step"].tolist() == [0, 4]


# 10 ----------------------------------------------------------------------- BenchmarkResult ==
def _bench():
    nan = float("nan")
    rec = {"policy": "FIX", "seed": 0, "final_test_acc": 0.5, "steps_to_target": nan, "diverged_step": -1,
           "robbins_monro": "not satisfied"}
    acc = np.array([[[0.1, nan, 0.5]]])
    return BenchmarkResult(("FIX",), np.array([0]), (rec,), np.array([0, 2, 4]), acc, acc + 1.0, np.array([[[2.0, 1.5]]]),
                           np.full((1, 1, 4), 0.1), np.full((1, 1, 4), 4.4),
                           {"config": {"n_steps": 4, "seeds": (0,)}, "wall_time_s": 1.0})


def test_benchmark_result_compares_by_value(tmp_path):
    res = _bench()
    back = BenchmarkResult.load(res.save(tmp_path / "bench"))  # the audit: == raised "truth value ... ambiguous"
    assert back == res and not (back != res)
    assert res == res and res == _bench()  # NaN in the arrays and in the records
    assert res != dataclasses.replace(res, test_acc=res.test_acc + 0.1)
    assert res != dataclasses.replace(res, lr=res.lr.astype(np.float32))  # dtype counts
    assert res != dataclasses.replace(res, records=({**res.records[0], "final_test_acc": 0.6},))
    assert res != dataclasses.replace(res, metadata={**res.metadata, "wall_time_s": 2.0})
    assert res != dataclasses.replace(res, labels=("COS",))
    assert res == dataclasses.replace(res, metadata={**res.metadata, "provenance": {"host": "x"}})
    assert (res == 3) is False
    with pytest.raises(TypeError):
        hash(res)


# 11 ----------------------------------------------------------------------- SweepResult metadata
def test_sweep_result_records_lr_shape_and_run_length(data, tmp_path):
    kw = dict(lrs=[0.1], batch_sizes=[16], seeds=[0])
    plain = sweep(jax.random.key(0), _mf(data), data, n_steps=3, **kw)
    assert (plain.metadata["lr_shape"], plain.metadata["n_steps"], plain.metadata["n_epochs"]) == (None, 3, None)
    half = sweep(jax.random.key(0), _mf(data), data, n_epochs=1, lr_shape=lambda k: 0.5 + 0 * k, **kw)
    assert half.metadata["n_steps"] is None and half.metadata["n_epochs"] == 1
    assert isinstance(half.metadata["lr_shape"], str) and "<lambda>:" in half.metadata["lr_shape"]
    assert SweepResult.load(half.save(tmp_path / "half")) == half
    # another lr_shape giving the same learning rates is another configuration
    other = sweep(jax.random.key(0), _mf(data), data, n_epochs=1, lr_shape=lambda k: 0.25 + 0 * k, lrs=[0.2], batch_sizes=[16])
    assert other.metadata["lr_shape"] != half.metadata["lr_shape"]
    # a callable optimizer is recorded without a memory address (repr of a partial had one)
    opt = functools.partial(optax.sgd, momentum=0.5)
    a = sweep(jax.random.key(0), _mf(data), data, n_steps=2, optimizer=opt, **kw)
    b = sweep(jax.random.key(0), _mf(data), data, n_steps=2, optimizer=functools.partial(optax.sgd, momentum=0.5), **kw)
    assert a.metadata["optimizer"] == b.metadata["optimizer"] and "0x" not in a.metadata["optimizer"]
