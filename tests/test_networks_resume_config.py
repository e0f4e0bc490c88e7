"""Resuming with another probe/checkpoint cadence, the optimizer's fingerprint across processes, and
``history["epoch"]`` at the last probe."""

import functools
import json
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from sgd_sde import schedules
from sgd_sde.io import load_bundle
from sgd_sde.lrbench import reduce_on_plateau
from sgd_sde.networks import MLP, load_dataset, train

from _training import Killed, killed_at


@pytest.fixture(scope="module")
def small():
    return load_dataset("digits").subset(256, 64)


@pytest.fixture(scope="module")
def model(small):
    return MLP(small.input_shape, 10, (16,), key=jax.random.key(0))


def flat(model):
    return np.asarray(ravel_pytree(eqx.filter(model, eqx.is_inexact_array))[0])


KW = dict(n_steps=20, batch_schedule=32, progress=False, lr_schedule=0.1)


@pytest.mark.parametrize(
    "first, second, killed, saved_at",
    [
        (dict(probe_every=5), dict(probe_every=4), 15, 10),  # the audit's reproduction: 8–11 were run twice
        (dict(probe_every=5, checkpoint_every=3), dict(probe_every=5), 15, 12),  # history was [0, 0, 5, …]
        (dict(probe_every=4), dict(probe_every=[3, 7, 11, 17]), 16, 12),  # explicit probe steps
        (dict(probe_every=5, checkpoint_every=3), dict(probe_every=3), 15, 12),  # 12 is a new probe point
        (dict(probe_every=[7, 13], checkpoint_every=7), dict(probe_every=5, checkpoint_every=2), 13, 7),
    ],
)
def test_resume_with_another_cadence_continues_from_the_checkpoint_step(small, model, tmp_path, first, second, killed, saved_at):
    """The resumed run starts at the checkpoint step whatever the new chunking, so its parameters
    are bit-identical to an uninterrupted run with the new cadence: both run every step with the
    same compiled step function on the same machine, and results do not depend on the chunking
    (the batches are keyed by step; checked first)."""
    full = train(jax.random.key(1), model, small, **KW, **second)
    np.testing.assert_array_equal(flat(full.model), flat(train(jax.random.key(1), model, small, **KW, **first).model))
    ck = tmp_path / "ck"
    killed_at(model, small, ck, killed, **KW, **first)
    arrays, meta = load_bundle(ck)
    assert meta["step"] == saved_at
    saved = arrays["history__step"].tolist()
    resumed = train(jax.random.key(1), model, small, checkpoint=ck, **KW, **second)
    assert resumed.metadata["resumed_from"] == saved_at
    np.testing.assert_array_equal(flat(resumed.model), flat(full.model))
    steps = resumed.history["step"].tolist()
    assert all(np.diff(steps) > 0), steps  # strictly increasing: no step probed twice
    # the probes up to the checkpoint come from the saved history (plus one at the checkpoint step
    # when that is a probe point of the new cadence only), the later ones from the new cadence
    full_steps = full.history["step"].tolist()
    at_ckpt = [saved_at] if saved_at in full_steps and saved_at not in saved else []
    assert steps == saved + at_ckpt + [s for s in full_steps if s > saved_at]
    # each later probe sees the uninterrupted run's model, and its training loss averages the
    # steps since the previous probe
    for k in ("train_loss", "lr", "batch_size", "epoch"):
        for i, s in enumerate(full_steps):
            if s > saved_at and full_steps[i - 1] >= saved_at:
                assert resumed.history[k][steps.index(s)] == full.history[k][i], (k, s)


def test_resume_with_a_state_based_lr_policy_refuses_another_probe_cadence(small, model, tmp_path):
    """A plateau policy updates the learning rate at each probe point, so the probe cadence is part
    of the training; a resume with another one cannot match either run and is refused."""

    def loss_probe(model, state, data, step):
        return {"val": np.float32(1.0)}

    policy = reduce_on_plateau(0.1, monitor="val", patience=1, factor=0.5)
    kw = {**KW, "lr_schedule": policy}
    ck = tmp_path / "ck"

    def killer(model, state, data, s):
        if s == 15:
            raise Killed
        return {}

    with pytest.raises(Killed):
        train(jax.random.key(1), model, small, checkpoint=ck, probes=[loss_probe, killer], probe_every=5, **kw)
    with pytest.raises(ValueError, match="probe_every"):
        train(jax.random.key(1), model, small, checkpoint=ck, probes=[loss_probe], probe_every=4, **kw)
    # the same cadence resumes
    out = train(jax.random.key(1), model, small, checkpoint=ck, probes=[loss_probe], probe_every=5, **kw)
    assert out.metadata["resumed_from"] == 10


_CHILD = textwrap.dedent(
    """
    import functools, json, sys
    import jax, optax
    import numpy as np
    from jax.flatten_util import ravel_pytree
    import equinox as eqx
    from sgd_sde.networks import MLP, load_dataset, train

    data = load_dataset("digits").subset(256, 64)
    model = MLP(data.input_shape, 10, (16,), key=jax.random.key(0))
    out = train(jax.random.key(1), model, data, n_steps=20, batch_schedule=32, progress=False, lr_schedule=0.1,
                probe_every=5, optimizer=functools.partial(optax.sgd, momentum=0.5), checkpoint=sys.argv[1])
    flat = np.asarray(ravel_pytree(eqx.filter(out.model, eqx.is_inexact_array))[0])
    print(json.dumps({"resumed_from": out.metadata["resumed_from"], "params": flat.tolist()}))
    """
)


def test_partial_optimizer_checkpoint_resumes_in_a_new_process(small, model, tmp_path):
    """``functools.partial(optax.sgd, momentum=0.5)`` (the documented form) has a memory address in
    its repr; its fingerprint must not, or a killed run could never be resumed."""
    opt = functools.partial(optax.sgd, momentum=0.5)
    kw = {**KW, "probe_every": 5, "optimizer": opt}
    full = train(jax.random.key(1), model, small, **kw)
    ck = tmp_path / "ck"
    killed_at(model, small, ck, 15, **kw)
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(ck)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["resumed_from"] == 10
    # another process, same machine and program: the same float32 numbers
    np.testing.assert_array_equal(np.asarray(got["params"], np.float32), flat(full.model))


def test_optimizers_that_differ_only_in_a_constant_are_told_apart(small, model, tmp_path):
    """Two lambdas (both named ``<lambda>``) with different momentum: the second must not resume the
    first one's checkpoint; the same lambda text (another object) must."""
    kw = {**KW, "probe_every": 5}
    ck = tmp_path / "ck"
    killed_at(model, small, ck, 15, optimizer=lambda lr: optax.sgd(lr, momentum=0.5), **kw)
    with pytest.raises(ValueError, match="different configuration"):
        train(jax.random.key(1), model, small, checkpoint=ck, optimizer=lambda lr: optax.sgd(lr, momentum=0.99), **kw)
    with pytest.raises(ValueError, match="different configuration"):  # same constants, another optax alias
        train(jax.random.key(1), model, small, checkpoint=ck, optimizer=lambda lr: optax.adam(lr), **kw)
    mu = 0.99  # a closure: its cell's value counts
    with pytest.raises(ValueError, match="different configuration"):
        train(jax.random.key(1), model, small, checkpoint=ck, optimizer=lambda lr: optax.sgd(lr, momentum=mu), **kw)
    with pytest.raises(ValueError, match="different configuration"):
        train(jax.random.key(1), model, small, checkpoint=ck, optimizer=functools.partial(optax.sgd, momentum=0.99), **kw)
    out = train(jax.random.key(1), model, small, checkpoint=ck, optimizer=lambda lr: optax.sgd(lr, momentum=0.5), **kw)
    assert out.metadata["resumed_from"] == 10


@pytest.mark.parametrize(
    "kw, epochs",
    [
        # N = 256, B = 32: 8 steps per epoch
        (dict(n_epochs=3, batch_schedule=32, probe_every=4), [0, 0, 1, 1, 2, 2, 3]),
        (dict(n_steps=20, batch_schedule=32, probe_every=4), [0, 0, 1, 1, 2, 2]),  # ends inside epoch 2
        # B = 48: 5 steps per epoch (16 examples dropped)
        (dict(n_epochs=2, batch_schedule=48, probe_every=5), [0, 1, 2]),
        # B = 32 for steps 0–5, then 96, which does not fit in the 64 examples left: epoch 0 ends at
        # step 6. Given n_epochs=1, the run ends there with 1 epoch done; given n_steps=6, only the
        # run's own batch sizes count, and a further batch of 32 would still fit in epoch 0
        (dict(n_epochs=1, batch_schedule=schedules.increase_batch(32, (6,), 3), probe_every=3), [0, 0, 1]),
        (dict(n_steps=6, batch_schedule=schedules.increase_batch(32, (6,), 3), probe_every=3), [0, 0, 0]),
    ],
)
def test_history_epoch_counts_completed_epochs_up_to_the_last_probe(small, model, kw, epochs):
    """``history["epoch"]`` is the number of completed epochs: the epoch the next batch draws from,
    and at the end the one a further batch would draw from — ``n_epochs`` for a run of ``n_epochs``."""
    seen = []

    def probe(model, state, data, step):
        seen.append(state.epoch)
        return {}

    out = train(jax.random.key(1), model, small, progress=False, probes=[probe], **kw)
    assert out.history["epoch"].tolist() == epochs
    assert seen == epochs  # the probes see the same number


class _Base:
    """A schedule object: its repr holds a memory address, different in another process."""

    def __call__(self, k):
        return 0.1 + 0.0 * k


def test_a_plateau_policy_over_a_schedule_object_resumes_from_another_instance(small, model, tmp_path):
    """The state-based policy's configuration was its repr, whose base here has a memory address: a new
    instance (or a new process) could not resume the checkpoint."""
    kw = {**KW, "probe_every": 5}
    ck = tmp_path / "ck"
    killed_at(model, small, ck, 15, **{**kw, "lr_schedule": reduce_on_plateau(_Base(), patience=1)})
    out = train(jax.random.key(1), model, small, checkpoint=ck, **{**kw, "lr_schedule": reduce_on_plateau(_Base(), patience=1)})
    assert out.metadata["resumed_from"] == 10
