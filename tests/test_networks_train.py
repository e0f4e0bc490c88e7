"""Training: digits accuracy, resume-from-checkpoint equality, schedules, SWA, probes, bad input."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from sgd_sde import measure, schedules
from sgd_sde.io import load_bundle, save_bundle
from sgd_sde.networks import MLP, SWA, TrainResult, load_dataset, make_optimizer, probes, swa_update, train

from _training import killed_at


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def small(digits):
    return digits.subset(256, 64)


def flat(model):
    return np.asarray(ravel_pytree(eqx.filter(model, eqx.is_inexact_array))[0])


def test_digits_mlp_default_settings_reach_95_percent(digits):
    model = MLP(digits.input_shape, 10, key=jax.random.key(0))
    out = train(jax.random.key(1), model, digits, probes=[probes.metrics(train=False)], progress=False)
    assert out.history["test_acc"][-1] >= 0.95
    assert out.history["step"][-1] == out.metadata["config"]["n_steps"] == 30 * (1438 // 64)
    assert out.diverged_step == -1


def test_killed_and_resumed_run_gives_identical_parameters(small, tmp_path):
    kw = dict(n_steps=30, batch_schedule=32, lr_schedule=schedules.cosine(0.1, 30), probe_every=10,
              probes=[probes.distance()], progress=False)
    model = MLP(small.input_shape, 10, (32,), key=jax.random.key(0), batch_norm=True)
    full = train(jax.random.key(1), model, small, **kw)

    class Killed(Exception):
        pass

    def killer(model, state, data, step):
        if step == 20:
            raise Killed
        return {}

    ck = tmp_path / "ck"
    with pytest.raises(Killed):
        train(jax.random.key(1), model, small, checkpoint=ck, **{**kw, "probes": [probes.distance(), killer]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]  # one file: nothing to tear
    assert load_bundle(tmp_path / "ck")[1]["step"] == 10  # last checkpoint before the kill
    resumed = train(jax.random.key(1), model, small, checkpoint=ck, **{**kw, "probes": [probes.distance(), lambda *a: {}]})
    assert resumed.metadata["resumed_from"] == 10
    np.testing.assert_array_equal(flat(resumed.model), flat(full.model))
    for a, b in zip(jax.tree_util.tree_leaves(resumed.state), jax.tree_util.tree_leaves(full.state)):
        np.testing.assert_array_equal(a, b)
    for k in full.history:
        np.testing.assert_array_equal(resumed.history[k], full.history[k])
    # a checkpoint from another configuration is refused, naming the argument
    with pytest.raises(ValueError, match="checkpoint"):
        train(jax.random.key(2), model, small, checkpoint=ck, **kw)


def test_torn_or_mismatched_checkpoint_is_refused_never_resumed(small, tmp_path):
    """The issue's reproduction: step-20 weights beside step-10 metadata resumed "from step 10" and
    ended up to 0.6 away from the uninterrupted run. Every such state must now raise a ValueError
    naming the file and what does not match."""
    kw = dict(n_steps=30, batch_schedule=32, probe_every=10, progress=False)
    model = MLP(small.input_shape, 10, (16,), key=jax.random.key(0))
    ck10, ck20 = tmp_path / "ck10", tmp_path / "ck20"
    killed_at(model, small, ck10, 20, **kw)  # last checkpoint: step 10
    killed_at(model, small, ck20, 30, **kw)  # last checkpoint: step 20
    a10, m10 = load_bundle(ck10)
    a20, m20 = load_bundle(ck20)
    assert (m10["step"], m20["step"]) == (10, 20)

    def refused(arrays, meta, match, legacy=False):
        path = tmp_path / "bad"
        for p in tmp_path.glob("bad*"):
            p.unlink()
        if legacy:  # the old two-file format: arrays in .npz, metadata in .json, no digest
            np.savez(tmp_path / "bad.npz", **arrays)
            (tmp_path / "bad.json").write_text(json.dumps(meta))
        else:
            save_bundle(path, arrays, meta)
        with pytest.raises(ValueError, match=match) as err:
            train(jax.random.key(1), model, small, checkpoint=path, **kw)
        assert "bad.npz" in str(err.value)

    # step-20 arrays with step-10 metadata (the torn pair of the issue, now inside one file)
    refused(a20, m10, "step in its metadata")
    # ... also with the step array rewritten: the history (probed at 20) contradicts step 10
    refused({**a20, "step": np.asarray(10)}, m10, "history")
    # ... and the old two-file format, which cannot be checked, is never resumed
    refused(a20, m10, "old two-file format", legacy=True)
    (tmp_path / "bad.npz").unlink()
    with pytest.raises(ValueError, match="torn two-file result"):  # a lone old .json
        train(jax.random.key(1), model, small, checkpoint=tmp_path / "bad", **kw)
    # a bundle whose arrays were changed after the digest was taken
    (tmp_path / "bad.json").unlink()
    save_bundle(tmp_path / "bad", a10, m10)
    _swap_member(tmp_path / "bad.npz", "carry__00000.npy", a20["carry__00000"])  # step-20 weights
    with pytest.raises(ValueError, match="digest"):
        train(jax.random.key(1), model, small, checkpoint=tmp_path / "bad", **kw)
    # a checkpoint written by other code resumes, but says so (bit-identity is then not promised)
    m_old = {**m10, "provenance": {**m10["provenance"], "code": "sha256:0000000000000000"}}
    save_bundle(tmp_path / "old_code", a10, m_old)
    with pytest.warns(UserWarning, match="made by other code"):
        out = train(jax.random.key(1), model, small, checkpoint=tmp_path / "old_code", **kw)
    assert out.metadata["resumed_from"] == 10


def _swap_member(npz, member, value):
    """Rewrite one array inside an ``.npz`` without touching the others (a tampered file)."""
    import io
    import zipfile

    with zipfile.ZipFile(npz) as z:
        members = {n: z.read(n) for n in z.namelist()}
    buf = io.BytesIO()
    np.save(buf, np.asarray(value))
    members[member] = buf.getvalue()
    with zipfile.ZipFile(npz, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


def test_history_probes_and_save_load(small, tmp_path):
    model = MLP(small.input_shape, 10, (16,), key=jax.random.key(0))
    out = train(jax.random.key(1), model, small, n_steps=12, batch_schedule=16, probe_every=4, progress=False,
                probes={"m": probes.metrics(), "d": probes.distance(),
                        "ns": probes.noise_scale(jax.random.key(5), b_small=8, b_big=64),
                        "h": probes.top_eigenvalue(2, max_iter=20)})
    h = out.history
    assert h["step"].tolist() == [0, 4, 8, 12]
    assert np.isnan(h["train_loss"][0]) and np.all(np.isfinite(h["train_loss"][1:]))
    assert h["d/distance_from_init"][0] == 0.0 and np.all(h["d/distance_from_init"][1:] > 0)
    assert h["h/hessian_top_eigs"].shape == (4, 2)
    ema = measure.ema_noise_scale(h["ns/grad_sq_est"], h["ns/trace_cov_est"])
    assert ema["b_simple"].shape == (4,)
    logt = train(jax.random.key(1), model, small, n_steps=12, batch_schedule=16, probe_every=[4, 8], progress=False,
                 probes=[probes.distance()])  # explicit (e.g. log-spaced) probe steps
    assert logt.history["step"].tolist() == [0, 4, 8, 12]
    np.testing.assert_array_equal(flat(logt.model), flat(out.model))
    out.save(tmp_path / "run")
    back = TrainResult.load(tmp_path / "run", like=model)
    np.testing.assert_array_equal(flat(back.model), flat(out.model))
    assert back == out and "provenance" in back.metadata  # meaningful equality (arrays, tree, metadata)
    assert back != logt
    assert set(back.history) == set(h)
    with pytest.raises(ValueError, match="TrainResult"):
        from sgd_sde.io import save_arrays

        save_arrays(tmp_path / "other", {"x": np.zeros(1)}, {"kind": "x"})
        TrainResult.load(tmp_path / "other", like=model)


def test_batch_schedule_lr_schedule_adam_and_clipping(small):
    model = MLP(small.input_shape, 10, (16,), key=jax.random.key(0))
    inc = schedules.increase_batch(16, [5, 10], factor=2)
    out = train(jax.random.key(1), model, small, n_steps=15, batch_schedule=inc, lr_schedule=schedules.warmup(0.1, 5),
                probe_every=5, clip_norm=1.0, weight_decay=1e-4, progress=False)
    assert out.history["batch_size"].tolist() == [16, 16, 32, 64]
    np.testing.assert_allclose(out.history["lr"][1:], [0.1, 0.1, 0.1])
    out = train(jax.random.key(1), model, small, n_steps=5, optimizer="adam", lr_schedule=1e-3, progress=False)
    assert np.all(np.isfinite(flat(out.model)))
    # any learning_rate -> optax factory works (lr applied last): adam(1.0) then ×η equals adam(η)
    g = {"w": jnp.array([0.3, -2.0])}
    opt = make_optimizer(optax.adam)
    u, _ = opt.update(g, opt.init(g), g)
    ref, _ = optax.adam(1e-3).update(g, optax.adam(1e-3).init(g), g)
    np.testing.assert_allclose(1e-3 * u["w"], ref["w"], rtol=1e-6)


def test_sgd_update_rule_exact(small):
    # momentum 0, one step, full batch: θ₁ = θ₀ − η ∇L(θ₀)
    model = MLP(small.input_shape, 10, (8,), key=jax.random.key(0))
    out = train(jax.random.key(1), model, small, n_steps=1, batch_schedule=small.n_train, momentum=0.0, lr_schedule=0.3, progress=False)
    loss_fn, params = measure_loss(model)
    g = measure_grad(loss_fn, params, small)
    np.testing.assert_allclose(flat(out.model), ravel_pytree(params)[0] - 0.3 * ravel_pytree(g)[0], atol=1e-6)


def measure_grad(loss_fn, params, data):
    from sgd_sde.measure._core import Objective

    obj = Objective(loss_fn, params, data.x_train, data.y_train)
    return obj.unravel(obj.grad())


def measure_loss(model):
    from sgd_sde.networks import example_loss

    return example_loss(model)


def test_swa_running_average_is_the_arithmetic_mean():
    with jax.enable_x64(True):
        snaps = jax.random.normal(jax.random.key(0), (50, 7), jnp.float64) * 10 + 3
        avg, n = jnp.zeros(7, jnp.float64), 0
        for s in snaps:
            avg, n = swa_update(avg, n, {"w": s}["w"])
        np.testing.assert_allclose(avg, np.asarray(snaps).mean(0), rtol=0, atol=1e-12)
        assert n == 50


def test_swa_in_training_averages_cycle_ends(small):
    model = MLP(small.input_shape, 10, (16,), key=jax.random.key(0), batch_norm=True)
    out = train(jax.random.key(1), model, small, n_steps=20, batch_schedule=32, lr_schedule=schedules.cyclic(0.1, 0.01, 4),
                swa=SWA(start=8, cycle=4), probe_every=4, probes=[probes.params_snapshot()], progress=False)
    snaps = out.history["params"][out.history["step"] >= 8]  # cycle ends 8, 12, 16, 20
    np.testing.assert_allclose(flat(out.swa_model), snaps.mean(0), rtol=1e-5, atol=1e-6)
    assert out.metadata["swa_count"] == 4
    # BN statistics were recomputed for the averaged weights (not copied from the last iterate)
    assert not np.allclose(out.swa_state[0].mean, out.state[0].mean)


def test_bad_input_raises_before_anything_runs(small, tmp_path):
    model = MLP(small.input_shape, 10, (8,), key=jax.random.key(0))
    k = jax.random.key(1)
    ck = tmp_path / "ck"
    cases = [
        (dict(batch_schedule=small.n_train + 1), "batch_schedule"),
        (dict(lr_schedule=lambda s: 0.1 - 0.01 * s), "lr_schedule"),
        (dict(lr_schedule=-0.1), "lr_schedule"),
        (dict(n_steps=0), "n_steps"),
        (dict(n_steps=5, n_epochs=1), "n_steps or n_epochs"),
        (dict(momentum=1.0), "momentum"),
        (dict(optimizer="rmsprop"), "optimizer"),
        (dict(probe_every=0), "probe_every"),
        (dict(clip_norm=0.0), "clip_norm"),
    ]
    for kw, name in cases:
        kw = {"n_steps": 20, **kw} if "n_epochs" not in kw else kw
        with pytest.raises(ValueError, match=name):
            train(k, model, small, progress=False, checkpoint=ck, **kw)
    assert not any(tmp_path.iterdir())  # nothing written half-way
    gbn = MLP(small.input_shape, 10, (8,), key=jax.random.key(0), batch_norm=True, ghost_batch_size=8)
    with pytest.raises(ValueError, match="ghost"):
        train(k, gbn, small, n_steps=5, batch_schedule=20, progress=False)
    with pytest.raises(TypeError, match="key"):
        train(0, model, small, n_steps=5, progress=False)
    with pytest.raises(TypeError, match="data"):
        train(k, model, (small.x_train, small.y_train), n_steps=5, progress=False)


def test_no_recompilation_for_new_lr_key_or_initial_weights(small):
    import logging

    class Grab(logging.Handler):
        def __init__(self):
            super().__init__()
            self.msgs = []

        def emit(self, record):
            self.msgs.append(record.getMessage())

    kw = dict(n_steps=8, batch_schedule=16, probe_every=4, progress=False)
    train(jax.random.key(0), MLP(small.input_shape, 10, (8,), key=jax.random.key(0)), small, **kw)
    grab, logger = Grab(), logging.getLogger("jax")
    old = logger.level
    logger.addHandler(grab)
    logger.setLevel(logging.DEBUG)
    try:
        with jax.log_compiles():
            train(jax.random.key(7), MLP(small.input_shape, 10, (8,), key=jax.random.key(3)), small, lr_schedule=0.3, **kw)
    finally:
        logger.removeHandler(grab)
        logger.setLevel(old)
    assert not [m for m in grab.msgs if m.startswith("Compiling") and "_run_jit" in m]
