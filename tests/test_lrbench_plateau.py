"""State-based policies react to scripted loss sequences exactly as specified (hand-derived
expectations; reduce-on-plateau agrees with optax.contrib.reduce_on_plateau), and networks.train
drives them from the probe history; the loss-threshold divergence criterion of networks.train."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sgd_sde.lrbench import change_on_plateau, policy, reduce_on_plateau
from sgd_sde.networks import MLP, load_dataset, train


def scales(pol, values):
    return [s.scale for s in pol.replay(values)]


def test_reduce_on_plateau_scripted():
    # patience 2, cooldown 1, improvement = v < best − 0.1 (atol), factor 0.5, floor 0.2
    pol = reduce_on_plateau(0.1, factor=0.5, patience=2, rtol=0.0, atol=0.1, cooldown=1, min_scale=0.2)
    values = [3.0, 2.0, 1.95, 1.95, 1.9, 1.9, 1.0, 1.0, 1.0, float("nan"), 1.0, 1.0, 1.0, 1.0]
    #  eval:    1    2    3     4     5    6    7    8    9    10          11   12   13   14
    # 1-2 improve; 3,4 within atol → bad 1,2 → ×0.5 (0.5), cooldown 1; 5: cooldown eats it (bad 0);
    # 6 bad 1; 7 improves; 8 bad 1; 9 bad 2 → ×0.5 (0.25), cooldown; 10 (NaN) in cooldown;
    # 11 bad 1; 12 bad 2 → 0.125 floored at 0.2; cooldown at 13; 14 bad 1.
    expected = [1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2]
    assert scales(pol, values) == expected
    assert [s.bad for s in pol.replay(values)] == [0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1]


def test_reduce_on_plateau_agrees_with_optax():
    rng = np.random.default_rng(0)
    # losses on a 1/8 grid (exact in float32), drifting down with plateaus
    values = np.round(8 * np.maximum(0.5, 4 - np.cumsum(rng.choice([0, 0, 0, 0.25], 200)) + rng.choice([0, 0.125], 200))) / 8
    kw = dict(factor=0.5, patience=3, rtol=0.0, atol=0.1, cooldown=2)
    ours = reduce_on_plateau(1.0, min_scale=1e-3, **kw)
    tx = optax.contrib.reduce_on_plateau(**kw, min_scale=1e-3)
    zeros = jnp.zeros(1, jnp.float32)

    def step(state, v):
        state = tx.update(zeros, state, value=v)[1]
        return state, state.scale

    _, ref = jax.lax.scan(step, tx.init(zeros), jnp.asarray(values, jnp.float32))
    got = scales(ours, values)
    assert len(set(got)) >= 4  # several reductions happened
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_change_on_plateau_goes_up_then_down():
    pol = change_on_plateau(0.1, factor=2.0, patience=2, rtol=0.0, atol=0.0, cooldown=0, min_scale=0.25, max_scale=4.0)
    flat = [1.0] * 17
    # first value improves; then every 2nd evaluation is a plateau: ×2 → 2, 4 (cap: flip), ×½ → 2, 1, 0.5, 0.25 (floor: flip), ×2 → 0.5
    expected = [1, 1, 2, 2, 4, 4, 2, 2, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.5, 0.5, 1]
    assert scales(pol, flat) == expected
    # an improvement resets the count: no change while the loss keeps falling
    assert scales(pol, [5.0, 4.0, 3.0, 2.0, 1.0]) == [1.0] * 5
    down = change_on_plateau(0.1, factor=0.5, patience=1, min_scale=0.25)
    assert scales(down, [1.0] * 5) == [1, 0.5, 0.25, 0.5, 1]


@pytest.mark.parametrize("make,kw,match", [
    (reduce_on_plateau, dict(factor=1.5), r"factor must lie in \(0, 1\)"),
    (reduce_on_plateau, dict(patience=0), "patience must be a positive integer"),
    (reduce_on_plateau, dict(cooldown=-1), "cooldown must be >= 0"),
    (change_on_plateau, dict(factor=1.0), "factor must be != 1"),
    (change_on_plateau, dict(max_scale=0.5), "min_scale <= 1 <= max_scale"),
])
def test_bad_plateau_parameters(make, kw, match):
    with pytest.raises(ValueError, match=match):
        make(0.1, **kw)


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits").subset(128, 32)


@pytest.fixture(scope="module")
def model(data):
    return MLP(data.input_shape, 10, (8,), key=jax.random.key(0))


def test_train_drives_a_state_policy_from_the_probe_history(data, model):
    script = [9.0, 5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0]
    base = policy("STEP", k0=0.1, gamma=0.5, l=6)
    pol = change_on_plateau(base, factor=2.0, patience=2, max_scale=2.0, min_scale=0.5, monitor="scripted")
    out = train(jax.random.key(1), model, data, n_steps=12, batch_schedule=16, lr_schedule=pol, probe_every=1,
                progress=False, probes=[lambda m, s, d, step: {"scripted": script[step]}])
    # the policy sees script[1], script[2], ... (probe points after step 0); the lr at probe b is the
    # one used by step b−1: base(b−1) × the scale after observing script[1..b−1]
    after = [1.0] + scales(pol, script[1:12])
    expected = [base(0)] + [base(b - 1) * after[b - 1] for b in range(1, 13)]
    np.testing.assert_allclose(out.history["lr"], expected, rtol=1e-12)
    assert max(after) == 2.0 and min(after) == 0.5  # it went up and came down


def test_state_policy_scale_reaches_the_compiled_update(data, model):
    # a constant scale s ≡ base·s: reduce_on_plateau whose loss never improves after the first value
    pol = reduce_on_plateau(0.2, factor=0.5, patience=1, monitor="scripted")
    kw = dict(n_steps=4, batch_schedule=16, probe_every=1, progress=False)
    out = train(jax.random.key(1), model, data, lr_schedule=pol, probes=[lambda m, s, d, step: {"scripted": 1.0}], **kw)
    lrs = np.array([0.2, 0.2, 0.1, 0.05])  # step 0,1 at 0.2; a plateau at each later probe
    ref = train(jax.random.key(1), model, data, lr_schedule=lambda k: lrs[np.asarray(k)] if isinstance(k, np.ndarray) else jnp.asarray(lrs)[k], **kw)
    np.testing.assert_allclose(out.history["train_loss"][1:], ref.history["train_loss"][1:], rtol=1e-6)
    np.testing.assert_allclose(out.history["lr"][1:], lrs, rtol=1e-12)


def test_state_policy_needs_its_monitored_entry(data, model):
    pol = reduce_on_plateau(0.1, monitor="nope")
    with pytest.raises(ValueError, match="lr_schedule monitors 'nope'"):
        train(jax.random.key(1), model, data, n_steps=2, batch_schedule=16, lr_schedule=pol, probe_every=1, progress=False)


def test_loss_threshold_divergence_is_flagged_and_reported(data, model):
    # lr = 1e4: the loss explodes but may stay finite; per-step probes give each step's loss
    kw = dict(n_steps=8, batch_schedule=16, lr_schedule=1e4, probe_every=1, progress=False)
    out = train(jax.random.key(1), model, data, **kw)
    step_loss = out.history["train_loss"][1:]  # row b holds the loss of step b−1
    bad = np.flatnonzero(~np.isfinite(step_loss) | (np.nan_to_num(step_loss, nan=0.0) > 1e3))
    assert bad.size and out.diverged_step == bad[0]
    assert out.metadata["divergence"]["step"] == out.diverged_step
    assert "divergence_loss=1000" in out.metadata["divergence"]["criterion"] or "non-finite" in out.metadata["divergence"]["criterion"]
    # only non-finite losses count without the threshold
    off = train(jax.random.key(1), model, data, divergence_loss=None, **kw)
    nonfinite = np.flatnonzero(~np.isfinite(step_loss))
    assert off.diverged_step == (nonfinite[0] if nonfinite.size else -1)
    assert off.diverged_step != out.diverged_step
    # a gentle run is not flagged
    ok = train(jax.random.key(1), model, data, n_steps=8, batch_schedule=16, lr_schedule=0.05, progress=False)
    assert ok.diverged_step == -1 and ok.metadata["divergence"]["criterion"] is None
    with pytest.raises(ValueError, match="divergence_loss must be > 0"):
        train(jax.random.key(1), model, data, n_steps=2, divergence_loss=-1.0, progress=False)


def test_killed_and_resumed_run_continues_the_state_policy_exactly(data, model, tmp_path):
    # the policy's state is not in the checkpoint: it is replayed from the saved history
    pol = reduce_on_plateau(0.2, factor=0.5, patience=1, monitor="scripted")
    script = lambda m, s, d, step: {"scripted": 1.0}  # never improves after the first value: halves at every probe
    kw = dict(n_steps=10, batch_schedule=16, lr_schedule=pol, probe_every=2, progress=False)
    full = train(jax.random.key(1), model, data, probes=[script], **kw)

    class Killed(Exception):
        pass

    def killer(m, s, d, step):
        if step == 6:
            raise Killed
        return {}

    ck = tmp_path / "ck"
    with pytest.raises(Killed):
        train(jax.random.key(1), model, data, checkpoint=ck, probes=[script, killer], **kw)
    resumed = train(jax.random.key(1), model, data, checkpoint=ck, probes=[script, lambda *a: {}], **kw)
    assert resumed.metadata["resumed_from"] == 4
    np.testing.assert_allclose(full.history["lr"], [0.2, 0.2, 0.2, 0.1, 0.05, 0.025], rtol=1e-12)
    np.testing.assert_array_equal(resumed.history["lr"], full.history["lr"])
    np.testing.assert_array_equal(resumed.history["train_loss"], full.history["train_loss"])
