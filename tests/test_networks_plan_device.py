"""The minibatch indices train draws inside its compiled loop are exactly the host plan's.

Epoch e is jax.random.permutation(fold_in(key, e), N) cut into consecutive slices; a batch that does
not fit starts the next epoch. `Plan.indices` (host; sweeps, experiments) and `device_indices`
(inside `train`'s jitted chunk, from where the chunk starts) must give the same integers — the
saved experiment data depends on this index stream — for fixed and variable batch schedules, for
windows that start mid-epoch (chunks between probe points) and for resumed runs. Integer draws:
every comparison is exact.
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde.networks import MLP, load_dataset, train
from sgd_sde.networks._plan import Plan, _layout, _layout_loop, _perm_rows, _permutations, _sort_rounds, device_indices

T = importlib.import_module("sgd_sde.networks.train")

_device_indices = jax.jit(device_indices, static_argnums=(3, 4, 5))


def _chunks(sizes, extra_cuts=()):
    """Windows of constant batch size (what train runs as one compiled call), split further at ``extra_cuts``."""
    cuts = {0, sizes.size, *extra_cuts, *(np.flatnonzero(np.diff(sizes)) + 1).tolist()}
    cuts = sorted(c for c in cuts if 0 <= c <= sizes.size)
    return list(zip(cuts[:-1], cuts[1:]))


def _device(plan, key, a, b):
    return np.asarray(_device_indices(key, np.int32(plan.epoch[a]), np.int32(plan.start[a]), b - a, int(plan.sizes[a]), plan.n))


# ------------------------------------------------------------------ the permutations themselves
def _sort_keys(key, e, n):
    """The 32-bit sort keys jax.random.permutation draws for fold_in(key, e) (public API)."""
    k, out = jax.random.fold_in(key, e), []
    for _ in range(_sort_rounds(n)):
        k, sub = jax.random.split(k)
        out.append(np.asarray(jax.random.bits(sub, (n,), jnp.uint32)))
    return out


@pytest.mark.parametrize("n", [1, 2, 7, 100, 1438, 1625, 1626, 5000, 65536, 65537])
def test_permutation_rows_equal_jax_random_permutation(n):
    """1 and 2 sort rounds (n = 1625 | 1626), the radix path up to 2¹⁶ and jax's own beyond it."""
    key = jax.random.key(3)
    epochs = np.array([0, 1, 5, 1000, 2**31 - 1], np.int32)
    want = np.stack([np.asarray(jax.random.permutation(jax.random.fold_in(key, int(e)), n)) for e in epochs])
    got = np.asarray(jax.jit(_perm_rows, static_argnums=2)(key, epochs, n))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


def test_permutation_rows_with_tied_sort_keys():
    """Epochs 5664 and 5721 of key 0 at N = 1438 draw two equal 32-bit sort keys (found by search);
    jax's stable sort then orders the tied pair by position, and so must the radix sort."""
    key, n = jax.random.key(0), 1438
    epochs = np.array([5664, 5721, 3], np.int32)
    ties = [any(np.unique(k).size < n for k in _sort_keys(key, int(e), n)) for e in epochs]
    assert ties == [True, True, False]
    want = np.stack([np.asarray(jax.random.permutation(jax.random.fold_in(key, int(e)), n)) for e in epochs])
    np.testing.assert_array_equal(np.asarray(_perm_rows(key, epochs, n)), want)


def test_plan_permutations_compile_once_per_power_of_two_epochs():
    """The host plan pads its epochs to a power-of-two count: 3 and 4 epochs share a program, 5
    needs the next; the rows kept are each epoch's own permutation."""
    from benchmarks.compile_census import recording  # JAX's public compile events, by program

    key, n = jax.random.key(9), 37  # a size no other test uses: nothing is cached for it
    counts = []
    with recording() as census:
        for m in (3, 4, 5):
            epochs = np.arange(5, 5 + m, dtype=np.int32)
            got = _permutations(key, epochs, n)
            want = np.stack([np.asarray(jax.random.permutation(jax.random.fold_in(key, int(e)), n)) for e in epochs])
            np.testing.assert_array_equal(got, want)
            counts.append(census.programs["_permutations_jit"]["traces"])
    assert counts == [1, 1, 2]


# ------------------------------------------------------------------ plan layout and device indices
def test_vectorised_layout_equals_the_step_by_step_definition():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        runs = rng.integers(1, 30, size=int(rng.integers(1, 12)))
        sizes = np.repeat(rng.integers(1, n + 1, size=runs.size), runs)
        for got, want in zip(_layout(sizes, n), _layout_loop(sizes, n)):
            np.testing.assert_array_equal(got, want)
    sizes = np.arange(1, 40) % 9 + 1  # changes every step: the loop itself
    for got, want in zip(_layout(sizes, 50), _layout_loop(sizes, 50)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n, batch, steps", [(1438, 64, 200), (100, 7, 60), (64, 64, 5), (50, 16, 40), (10, 3, 17)])
def test_device_indices_equal_plan_for_a_fixed_batch_size(n, batch, steps):
    key = jax.random.key(11)
    plan = Plan(key, n, np.full(steps, batch))
    np.testing.assert_array_equal(_device(plan, key, 0, steps), plan.indices(0, steps))
    for a, b in ((3, steps - 2), (1, 2), (steps - 1, steps)):  # windows that start mid-epoch
        if a < b:
            np.testing.assert_array_equal(_device(plan, key, a, b), plan.indices(a, b))


def test_device_indices_equal_plan_for_variable_batch_schedules():
    """Increasing batches (Smith et al.), a ramp, and random runs: each window of constant B,
    whole and split at arbitrary steps (chunks between probe points, resume points)."""
    key = jax.random.key(4)
    rng = np.random.default_rng(1)
    # every window is its own compiled program (its length and B are static), about 1 s each on a
    # 2-core host: three schedules and two extra cuts each keep every case at about 20 programs
    schedules = [
        (300, np.repeat([16, 48, 100, 300], [30, 30, 25, 10])),
        (256, 7 + 5 * (np.arange(37) // 10)),
        *[(int(n), np.repeat(rng.integers(1, n + 1, size=6), rng.integers(1, 25, size=6)))
          for n in rng.integers(5, 80, size=1)],
    ]
    for n, sizes in schedules:
        plan = Plan(key, n, sizes)
        full = [plan.indices(a, b) for a, b in _chunks(sizes)]
        for a, b in _chunks(sizes, extra_cuts=rng.integers(0, sizes.size, size=2).tolist()):
            got = _device(plan, key, a, b)
            np.testing.assert_array_equal(got, plan.indices(a, b))
            k = next(i for i, (c, d) in enumerate(_chunks(sizes)) if c <= a < d)
            c0 = _chunks(sizes)[k][0]
            np.testing.assert_array_equal(got, full[k][a - c0:b - c0])  # a window is a slice of the whole


# ------------------------------------------------------------------ train end to end
@pytest.fixture
def recorded(monkeypatch):
    """train with a stub runner that records the indices its compiled chunks receive (the model is not trained)."""
    seen = []

    def stub(static, opt, lr_fn, *, use_swa):
        def run(carry, X, Y, idx, ks, flags, lr_scale):
            jax.debug.callback(lambda k, i: seen.append((int(k[0]), np.asarray(i))), ks, idx, ordered=True)
            return carry, jnp.zeros(idx.shape[0], jnp.float32)
        return run

    T._run_jit.clear_cache()  # compiled chunks of earlier tests would bypass the stub
    monkeypatch.setattr(T, "make_runner", stub)
    yield seen
    T._run_jit.clear_cache()


def _check(seen, plan, start, end):
    """The recorded chunks cover steps start … end−1 in order, each with the plan's indices."""
    steps = []
    for k0, i in seen:
        np.testing.assert_array_equal(i, plan.indices(k0, k0 + i.shape[0]))
        steps.extend(range(k0, k0 + i.shape[0]))
    assert steps == list(range(start, end))


@pytest.mark.parametrize("kw", [
    dict(n_steps=70, batch_schedule=32),
    dict(n_steps=70, batch_schedule=32, probe_every=9),
    dict(n_epochs=4, batch_schedule=40, probe_every=[1, 5, 17]),
])
def test_train_sees_the_plan_batches_fixed_batch(recorded, kw):
    data = load_dataset("digits").subset(200, 32)
    key = jax.random.key(7)
    model = MLP(data.input_shape, 10, (8,), key=jax.random.key(0))
    out = train(key, model, data, progress=False, lr_schedule=0.01, **kw)
    n = out.metadata["config"]["n_steps"]
    plan = Plan(key, data.n_train, np.full(n, kw["batch_schedule"]))
    _check(recorded, plan, 0, n)
    if len(recorded) == 1:
        np.testing.assert_array_equal(recorded[0][1], plan.indices(0, n))


def test_train_sees_the_plan_batches_variable_batch_and_resumed(recorded, tmp_path):
    data = load_dataset("digits").subset(150, 32)
    key = jax.random.key(8)
    sched = lambda k: np.where(np.asarray(k) < 25, 12, np.where(np.asarray(k) < 50, 40, 64))  # noqa: E731
    kw = dict(n_steps=80, batch_schedule=sched, probe_every=11, lr_schedule=0.01, progress=False)
    model = MLP(data.input_shape, 10, (8,), key=jax.random.key(0))
    train(key, model, data, **kw)
    plan = Plan(key, data.n_train, sched(np.arange(80)))
    _check(recorded, plan, 0, 80)

    class Killed(Exception):
        pass

    def killer(model, state, data, step):
        if step == 44:
            raise Killed
        return {}

    recorded.clear()
    ck = tmp_path / "ck"
    with pytest.raises(Killed):
        train(key, model, data, checkpoint=ck, probes=[killer], **kw)
    recorded.clear()
    resumed = train(key, model, data, checkpoint=ck, probes=[lambda *a: {}], **kw)
    assert resumed.metadata["resumed_from"] == 33
    _check(recorded, plan, 33, 80)  # the resumed run continues the same stream
