"""(lr, B, seed) sweeps: vmapped grid equals the sequential runs; labelled exports; save/load."""

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
    with pytest.raises(ValueError, match="lr_schedule"):
        sweep(jax.random.key(0), mf, data, lrs=[0.1], batch_sizes=[8], n_steps=5, lr_shape=lambda k: 1.0 - 0.5 * k)
    with pytest.raises(ValueError, match="n_steps or n_epochs"):
        sweep(jax.random.key(0), mf, data, lrs=[0.1], batch_sizes=[8])
