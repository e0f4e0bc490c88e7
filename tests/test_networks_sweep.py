"""(lr, B, seed) sweeps: vmapped grid equals the sequential runs; labelled exports; save/load."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from sgd_sde.networks import MLP, load_dataset
from sgd_sde.networks.sweep import SweepResult, sweep


@pytest.fixture(scope="module")
def setup():
    data = load_dataset("digits").subset(192, 64)
    return data, (lambda k: MLP(data.input_shape, 10, (16,), key=k))


def test_vectorized_equals_sequential(setup):
    data, mf = setup
    kw = dict(lrs=[0.02, 0.2], batch_sizes=[16], seeds=[0, 3], n_steps=12, record_every=4)
    a = sweep(jax.random.key(0), mf, data, **kw)
    b = sweep(jax.random.key(0), mf, data, vectorize=False, **kw)
    for m in a.metrics:
        np.testing.assert_allclose(a.metrics[m], b.metrics[m], rtol=1e-4, atol=1e-5)  # float32 vmap vs loop
    np.testing.assert_allclose(a.curves["train_loss"], b.curves["train_loss"], rtol=1e-4, atol=1e-5)
    assert a.metrics["test_acc"].shape == (2, 1, 2)
    assert a.curve_steps.tolist() == [[4, 8, 12]]
    # seeds are paired across learning rates: same init ⇒ at step 0 only lr differs
    assert np.all(a.metrics["distance_from_init"][1] > a.metrics["distance_from_init"][0])


def test_exports_and_save_load(setup, tmp_path):
    data, mf = setup
    res = sweep(jax.random.key(1), mf, data, lrs=[0.1], batch_sizes=[16, 32], seeds=[0], n_epochs=1)
    assert res.n_steps.tolist() == [192 // 16, 192 // 32]
    rows = res.to_records()
    assert len(rows) == 2 and {"lr", "batch_size", "seed", "test_acc"} <= set(rows[0])
    xr = res.to_xarray()
    assert xr["test_acc"].dims == ("lr", "batch_size", "seed")
    assert np.isnan(res.curves["train_loss"][0, 1, 0, -1]) or res.curve_steps[1, -1] >= 0
    res.save(tmp_path / "sw")
    back = SweepResult.load(tmp_path / "sw")
    np.testing.assert_array_equal(back.metrics["test_acc"], res.metrics["test_acc"])


def test_bad_grid_raises(setup):
    data, mf = setup
    with pytest.raises(ValueError, match="batch_sizes"):
        sweep(jax.random.key(0), mf, data, lrs=[0.1], batch_sizes=[1000], n_steps=2)
    with pytest.raises(ValueError, match="lrs"):
        sweep(jax.random.key(0), mf, data, lrs=[0.0], batch_sizes=[8], n_steps=2)
    with pytest.raises(ValueError, match="lr_shape"):  # sweep has no lr_schedule argument to name
        sweep(jax.random.key(0), mf, data, lrs=[0.1], batch_sizes=[8], n_steps=5, lr_shape=lambda k: 1.0 - 0.5 * k)
    with pytest.raises(ValueError, match="n_steps or n_epochs"):
        sweep(jax.random.key(0), mf, data, lrs=[0.1], batch_sizes=[8])


def test_member_loops_agree_and_auto_picks_map_on_cpu(setup):
    """``lax.map`` over the members and ``vmap`` run the same arithmetic on the same batches: the
    results agree to float32 rounding (the bound of the vmap-vs-loop test above), and "auto"
    resolves to "map" on this CPU. A member run with another member's lr or batches would be off
    by far more (different lrs differ by > 10% in distance_from_init)."""
    data, mf = setup
    kw = dict(lrs=[0.02, 0.2], batch_sizes=[16, 32], seeds=[0, 3], n_steps=12, record_every=4)
    v = sweep(jax.random.key(0), mf, data, member_loop="vmap", **kw)
    m = sweep(jax.random.key(0), mf, data, member_loop="map", **kw)
    a = sweep(jax.random.key(0), mf, data, **kw)
    assert (v.metadata["member_loop"], m.metadata["member_loop"], a.metadata["member_loop"]) == ("vmap", "map", "map")
    for other in (m, a):
        for name in v.metrics:
            np.testing.assert_allclose(other.metrics[name], v.metrics[name], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(other.curves["train_loss"], v.curves["train_loss"], rtol=1e-4, atol=1e-5)
    assert "member_loop" not in sweep(jax.random.key(0), mf, data, vectorize=False, **kw).metadata


def test_member_loop_and_devices_bad_input(setup):
    data, mf = setup
    kw = dict(lrs=[0.1], batch_sizes=[8], n_steps=2)
    with pytest.raises(ValueError, match="member_loop"):
        sweep(jax.random.key(0), mf, data, member_loop="pmap", **kw)
    with pytest.raises(ValueError, match="vectorize=True"):
        sweep(jax.random.key(0), mf, data, vectorize=False, devices=1, **kw)
    with pytest.raises(ValueError, match="devices"):
        sweep(jax.random.key(0), mf, data, devices=len(jax.devices()) + 1, **kw)
    with pytest.raises(ValueError, match="exactly one of devices= and mesh="):
        sweep(jax.random.key(0), mf, data, devices=1, mesh=jax.make_mesh((1,), ("m",)), **kw)
    with pytest.raises(TypeError, match="devices"):
        sweep(jax.random.key(0), mf, data, devices="cpu", **kw)


_DEVICES = textwrap.dedent(
    """
    import jax, numpy as np
    assert len(jax.devices()) == 4, jax.devices()
    from sgd_sde.networks import MLP, load_dataset
    from sgd_sde.networks.sweep import sweep

    data = load_dataset("digits").subset(192, 64)
    mf = lambda k: MLP(data.input_shape, 10, (16,), key=k)
    for keys in ("common", "independent"):
        # 3 lrs x 3 seeds = 9 members: padded to 10 on 2 devices and 12 on 4, exact on 3
        kw = dict(lrs=[0.02, 0.1, 0.3], batch_sizes=[8, 32], seeds=[0, 1, 2], n_steps=10, keys=keys)
        ref = sweep(jax.random.key(0), mf, data, member_loop="vmap", **kw)
        splits = [dict(devices=dv, member_loop=loop) for dv in (2, 3, 4) for loop in ("map", "vmap")]
        splits.append(dict(mesh=jax.make_mesh((2, 2), ("a", "b")), member_loop="map"))
        for split in splits if keys == "common" else splits[:1]:
            res = sweep(jax.random.key(0), mf, data, **split, **kw)
            dv, loop = split.get("devices", 4), split["member_loop"]
            assert len(res.metadata["devices"]) == dv and res.metadata["member_loop"] == loop, res.metadata
            for name in ref.metrics:
                np.testing.assert_allclose(res.metrics[name], ref.metrics[name], rtol=1e-4, atol=1e-5, err_msg=f"{dv} {loop} {name}")
            np.testing.assert_allclose(res.curves["train_loss"], ref.curves["train_loss"], rtol=1e-4, atol=1e-5)
            assert res.metrics["test_acc"].shape == (3, 2, 3)
    print("OK")
    """
)


def test_members_split_over_devices_agree_with_one_device():
    """``devices=`` / ``mesh=`` split the members over 4 forced CPU devices (a fresh interpreter:
    the device count is fixed when JAX starts). Every split — 2 devices (9 members padded to 10),
    3 (exact), 4 (padded to 12), a 2×2 mesh — with either member loop (and one split with
    independent keys),
    agrees with the one-device vmapped sweep to the float32 bound of the tests above. A padding
    copy put in place of a real member, or members shifted across devices, would give another
    member's lr and batches: far outside it."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    res = subprocess.run([sys.executable, "-c", _DEVICES], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr[-3000:]
