"""One grid result type (issue 12): both sweeps return a :class:`sgd_sde.grid.GridResult`.

Checked against the per-point values: the tidy table and the xarray Dataset of a simulation grid
hold each Trajectory's numbers at each grid point; the recorded ``keys_mode`` matches what the
draws do (common: the same noise at every point; independent: not); save/load round-trips to an
equal result; ``==`` is true and false where it should be; the simulation grid still behaves as
the ``{(lr, B): Trajectory}`` dict it replaces. Also the bad-input classes the fuzz report found
in ``simulate`` and ``networks.sweep``.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sgd_sde
from sgd_sde.dynamics import SGD
from sgd_sde.grid import GridResult, SimulationGrid
from sgd_sde.landscapes import Quadratic
from sgd_sde.networks import MLP, SweepResult, load_dataset
from sgd_sde.networks import sweep as net_sweep
from sgd_sde.noise import Isotropic
from sgd_sde.simulate import simulate, sweep

EPS = float(np.finfo(np.float32).eps)
LRS, BS, P, N_STEPS = [0.1, 2.5], [1, 4], 6, 40


@pytest.fixture(scope="module")
def grid():
    # lr = 2.5 on H = I: |1 - lr| = 1.5 per step, so every particle passes the bound 1e6 within the
    # 40 steps (a diverged column to check); lr = 0.1 stays bounded.
    return sweep(jax.random.key(0), Quadratic(np.eye(2, dtype=np.float32)), SGD(0.1, 1), jnp.ones(2),
                 lrs=LRS, batch_sizes=BS, noise=Isotropic(1.0), n_steps=N_STEPS, n_particles=P, save_every=10,
                 observables=("loss", "theta"))


@pytest.fixture(scope="module")
def net_setup():
    data = load_dataset("digits").subset(128, 64)
    return data, (lambda k: MLP(data.input_shape, 10, (8,), key=k))


@pytest.fixture(scope="module")
def net_grid(net_setup):
    data, mf = net_setup
    return net_sweep(jax.random.key(1), mf, data, lrs=[0.05, 0.2], batch_sizes=[16, 32], seeds=[0, 2], n_steps=4,
                     record_every=2)


def test_both_sweeps_return_the_one_type(grid, net_grid):
    assert isinstance(grid, GridResult) and isinstance(grid, SimulationGrid)
    assert isinstance(net_grid, GridResult) and isinstance(net_grid, SweepResult)
    assert list(grid.coords) == ["lr", "batch_size"] and list(net_grid.coords) == ["lr", "batch_size", "seed"]
    assert grid.keys_mode == net_grid.keys_mode == "common"
    assert grid.metadata["keys"] == net_grid.metadata["keys"] == "common"
    assert sgd_sde.sweep is sweep and sgd_sde.GridResult is GridResult


def test_simulation_grid_is_the_mapping_it_replaces(grid):
    order = [(lr, b) for lr in LRS for b in BS]
    assert list(grid) == order and list(grid.keys()) == order and len(grid) == 4
    assert [k for k, _ in grid.items()] == order
    for i, (k, t) in enumerate(grid.items()):
        assert grid[k] is t is grid.trajectories[i] and k in grid
        assert t.metadata["dynamics"]["lr"] == k[0] and t.metadata["dynamics"]["batch_size"] == k[1]
    assert (0.3, 1) not in grid and [1] not in grid
    with pytest.raises(KeyError):
        grid[(0.3, 1)]
    as_dict = dict(grid)
    assert grid == as_dict and as_dict == grid  # a plain mapping compares by items
    with pytest.raises((TypeError, dataclasses.FrozenInstanceError, AttributeError)):
        grid[(0.1, 1)] = None  # read-only


def test_the_diverged_rows_are_the_frozen_saves_and_not_the_last_real_state():
    # noise-free SGD on H = 1 with lr = 3: θ_s = (−2)^s, exact in float32. |θ_20| = 2^20 passes the
    # bound 1e6, so the step of index 19 diverges; the saves at steps 0..19 hold real states and
    # the later ones the frozen θ_19 (found by an audit: step 19 was marked diverged)
    g = sweep(jax.random.key(0), Quadratic(np.eye(1, dtype=np.float32)), SGD(3.0, 1), jnp.ones(1), lrs=[3.0],
              batch_sizes=[1], n_steps=25, save_every=1, observables=("theta",))
    t = g[(3.0, 1)]
    assert t.divergence_step.tolist() == [19]
    real = np.asarray(t.saved["theta"])[:, 0, 0] == (-2.0) ** t.steps
    assert real[:20].all() and not real[20:].any()
    df = g.to_pandas().sort_values("step")
    np.testing.assert_array_equal(df.diverged.to_numpy(), ~real)


def test_simulation_to_pandas_holds_each_trajectory(grid):
    df = grid.to_pandas()
    t0 = grid[(0.1, 1)]
    n_s = len(t0.steps)
    assert len(df) == 4 * n_s * P
    assert list(df.columns) == ["lr", "batch_size", "step", "time", "particle", "diverged", "divergence_step", "loss"]
    for (lr, b), t in grid.items():
        sub = df[(df.lr == lr) & (df.batch_size == b)].sort_values(["step", "particle"])
        assert len(sub) == n_s * P
        np.testing.assert_array_equal(sub.loss.to_numpy().reshape(n_s, P), t.saved["loss"])
        np.testing.assert_array_equal(sub.step.to_numpy().reshape(n_s, P)[:, 0], t.steps)
        np.testing.assert_array_equal(sub.time.to_numpy().reshape(n_s, P)[:, 0], t.times)
        want = (t.divergence_step[None, :] >= 0) & (t.steps[:, None] > t.divergence_step[None, :])
        np.testing.assert_array_equal(sub.diverged.to_numpy().reshape(n_s, P), want)
    # the divergent lr really diverged (so the diverged column was tested on both values)
    assert grid[(2.5, 1)].diverged.all() and not grid[(0.1, 1)].diverged.any()
    assert df.diverged.any() and not df.diverged.all()
    assert grid.to_records()[0] == {k: v.item() if hasattr(v, "item") else v for k, v in df.iloc[0].items()}


def test_simulation_to_xarray_dims_and_values(grid):
    ds = grid.to_xarray()
    assert ds["loss"].dims == ("lr", "batch_size", "step", "particle")
    assert ds["theta"].dims == ("lr", "batch_size", "step", "particle", "theta_dim0")
    assert ds["theta_final"].dims == ("lr", "batch_size", "particle", "dim")
    assert ds["diverged"].dims == ("lr", "batch_size", "particle")
    np.testing.assert_array_equal(ds.lr.values, LRS)
    np.testing.assert_array_equal(ds.batch_size.values, BS)
    assert ds.attrs["keys_mode"] == "common"
    for (lr, b), t in grid.items():
        pt = ds.sel(lr=lr, batch_size=b)
        np.testing.assert_array_equal(pt["loss"].values, t.saved["loss"])
        np.testing.assert_array_equal(pt["theta"].values, t.saved["theta"])
        np.testing.assert_array_equal(pt["theta_final"].values, t.theta)
        np.testing.assert_array_equal(pt["divergence_step"].values, t.divergence_step)
        np.testing.assert_array_equal(pt["time"].values, t.times)
        np.testing.assert_array_equal(pt.step.values, t.steps)


def test_network_table_and_dataset_hold_the_metrics(net_grid):
    df = net_grid.to_pandas()
    assert len(df) == 2 * 2 * 2 and list(df.columns[:4]) == ["lr", "batch_size", "seed", "n_steps"]
    for i, lr in enumerate(net_grid.lrs):
        for j, b in enumerate(net_grid.batch_sizes):
            for k, s in enumerate(net_grid.seeds):
                row = df[(df.lr == lr) & (df.batch_size == b) & (df.seed == s)]
                assert len(row) == 1
                for m, v in net_grid.metrics.items():
                    assert row[m].item() == v[i, j, k]
    ds = net_grid.to_xarray()
    assert ds["test_acc"].dims == ("lr", "batch_size", "seed") and ds["curve_train_loss"].dims[-1] == "record"
    np.testing.assert_array_equal(ds["test_loss"].values, net_grid.metrics["test_loss"])
    assert ds.attrs["keys_mode"] == "common"


def test_keys_mode_matches_the_draws():
    """On a flat landscape θ_K − θ_0 = −lr · Σ_k ξ_k/√B: with common keys the noise sum is the same
    at every lr (displacement / lr equal to float rounding, ~K·eps relative); with independent keys
    two lrs draw different ξ, so the scaled displacements differ by O(1)."""
    flat = Quadratic(np.zeros((2, 2), np.float32))
    kw = dict(lrs=[0.01, 0.03], batch_sizes=[2], noise=Isotropic(1.0), n_steps=20, n_particles=8, observables=())
    scaled = {}
    for mode in ("common", "independent"):
        g = sweep(jax.random.key(5), flat, SGD(0.1, 1), jnp.zeros(2), keys=mode, **kw)
        assert g.keys_mode == mode and g.metadata["keys"] == mode
        assert all(t.metadata["grid_keys"] == mode for t in g.values())
        scaled[mode] = [t.theta / lr for (lr, _), t in g.items()]
    a, b = scaled["common"]
    np.testing.assert_allclose(a, b, rtol=50 * EPS, atol=50 * EPS * float(np.abs(a).max()))
    a, b = scaled["independent"]
    assert np.abs(a - b).max() > 0.1 * np.abs(a).max()


def test_network_keys_mode_matches_the_draws(net_setup):
    """lr ≈ 0 leaves the weights at their init: with common keys the two lrs of a seed start from
    the same weights (same test loss to float rounding), with independent keys from different ones."""
    data, mf = net_setup
    kw = dict(lrs=[1e-9, 2e-9], batch_sizes=[16], seeds=[0], n_steps=1)
    common = net_sweep(jax.random.key(3), mf, data, **kw)
    indep = net_sweep(jax.random.key(3), mf, data, keys="independent", **kw)
    assert common.keys_mode == "common" and indep.keys_mode == "independent"
    lc, li = common.metrics["test_loss"][:, 0, 0], indep.metrics["test_loss"][:, 0, 0]
    assert abs(lc[0] - lc[1]) < 1e-5 and abs(li[0] - li[1]) > 1e-3
    # lr 0 of the independent grid is grid point 0: key fold_in(key, 0)
    again = net_sweep(jax.random.fold_in(jax.random.key(3), 0), mf, data, **{**kw, "lrs": [1e-9]})
    np.testing.assert_allclose(again.metrics["test_loss"][0, 0, 0], li[0], rtol=1e-6)


def test_save_load_round_trip_and_equality(grid, net_grid, tmp_path):
    for g in (grid, net_grid):
        path = g.save(tmp_path / type(g).__name__)
        back = GridResult.load(path)
        assert type(back) is type(g) and back == g and g == back
        assert "provenance" in back.metadata and back.keys_mode == g.keys_mode
        assert type(g).load(path) == g
    with pytest.raises(ValueError, match="does not hold a saved SweepResult"):
        SweepResult.load(tmp_path / "SimulationGrid")
    back = GridResult.load(tmp_path / "SimulationGrid")
    assert all(back[k].metadata == {**t.metadata} for k, t in grid.items())


def test_equality_false_cases(grid, net_grid):
    assert grid == grid and net_grid == net_grid and grid != net_grid
    assert (net_grid == SweepResult(**{f.name: getattr(net_grid, f.name) for f in dataclasses.fields(net_grid)}))
    # one metric value changed
    metrics = {k: v.copy() for k, v in net_grid.metrics.items()}
    metrics["test_acc"][0, 0, 0] += 0.5
    assert net_grid != dataclasses.replace(net_grid, metrics=metrics)
    assert net_grid != dataclasses.replace(net_grid, keys_mode="independent")
    assert net_grid != dataclasses.replace(net_grid, metadata={**net_grid.metadata, "momentum": 0.5})
    assert net_grid == dataclasses.replace(net_grid, metadata={**net_grid.metadata, "provenance": {"date": "x"}})
    # one particle's loss changed in one trajectory
    t = grid.trajectories[1]
    saved = {k: v.copy() for k, v in t.saved.items()}
    saved["loss"][0, 0] += 1.0
    other = dataclasses.replace(grid, trajectories=(grid.trajectories[0], dataclasses.replace(t, saved=saved), *grid.trajectories[2:]))
    assert grid != other
    assert grid != dataclasses.replace(grid, keys_mode="independent")
    with pytest.raises(TypeError):
        hash(grid)


def test_repeated_grid_values_are_refused():
    with pytest.raises(ValueError, match="lrs must not repeat"):
        sweep(0, Quadratic(np.eye(2)), SGD(0.1, 1), jnp.ones(2), lrs=[0.1, 0.1], n_steps=2)
    with pytest.raises(ValueError, match="keys must be"):
        net_sweep(jax.random.key(0), lambda k: None, load_dataset("digits").subset(64, 16), lrs=[0.1], batch_sizes=[8],
                  n_steps=2, keys="fresh")


# -- bad input found by the fuzz report (docs/reliability.md) -----------------------------------
def _sim(**kw):
    base = dict(noise=Isotropic(1.0), n_steps=3, n_particles=2)
    return simulate(jax.random.key(0), Quadratic(np.eye(2)), SGD(0.1, 1), np.ones(2), **{**base, **kw})


@pytest.mark.parametrize("arg, value", [("n_steps", 2**31), ("n_steps", 2**63), ("n_particles", 2**31),
                                        ("n_particles", 2**63)])
def test_simulate_refuses_huge_counts_naming_them(arg, value):
    with pytest.raises(ValueError, match=arg):  # before allocating 16 GiB (was MemoryError)
        _sim(**{arg: value})


@pytest.mark.parametrize("arg", ["n_steps", "n_particles"])
def test_simulate_refuses_a_run_larger_than_memory(arg, monkeypatch):
    """A count within the int32 range but too large for this machine is refused before allocating
    (physical memory pretended to be 1 MiB, so the test does not depend on the machine)."""
    import sgd_sde._validate as V

    monkeypatch.setattr(V, "_physical_memory", lambda: 2**20)
    with pytest.raises(ValueError, match=f"{arg} asks for"):
        _sim(**{arg: 10**6})


def test_simulate_refuses_observables_none():
    with pytest.raises(TypeError, match="observables"):
        _sim(observables=None)


@pytest.mark.parametrize("kw, arg", [
    (dict(batch_sizes=[2**70]), "batch_sizes"), (dict(seeds=[2**70]), "seeds"), (dict(seeds=[2**31]), "seeds"),
    (dict(batch_sizes=[[8, 8], [8]]), "batch_sizes"), (dict(seeds=[[0, 1], [2]]), "seeds"),
    (dict(seeds=np.zeros((2, 2), int)), "seeds"), (dict(lrs=[[0.1, 0.2]]), "lrs"), (dict(batch_sizes=np.full((1, 2, 1), 8)), "batch_sizes"),
    (dict(n_steps=2**31), "n_steps"), (dict(n_steps=2**63), "n_steps"), (dict(record_every=2**63), "record_every"),
])
def test_network_sweep_refuses_bad_sizes_naming_them(kw, arg, net_setup):
    data, mf = net_setup
    base = dict(lrs=[0.05], batch_sizes=[8], n_steps=2)
    with pytest.raises((ValueError, TypeError), match=arg):
        net_sweep(jax.random.key(0), mf, data, **{**base, **kw})


def test_a_grid_without_minibatches_runs_and_round_trips(tmp_path):
    """Langevin has no batch size (batch_size=None): the grid is over lr only (this raised a
    TypeError in the grid driver before), and None survives to_pandas and save/load."""
    from sgd_sde.dynamics import Langevin

    g = sweep(jax.random.key(0), Quadratic(np.eye(2, dtype=np.float32)), Langevin(0.1, temperature=0.1), jnp.ones(2),
              lrs=[0.1, 0.2], n_steps=5, n_particles=2, observables=("loss",))
    assert list(g) == [(0.1, None), (0.2, None)]
    assert g.to_pandas().batch_size.tolist() == [None] * (2 * len(g[(0.1, None)].steps) * 2)
    assert GridResult.load(g.save(tmp_path / "langevin")) == g


def test_a_sweep_result_saved_before_grids_had_one_type_still_loads(net_grid, tmp_path):
    """The earlier SweepResult.save wrote the configuration beside "kind" (no "metadata" entry)."""
    from sgd_sde.io import save_bundle

    path = save_bundle(tmp_path / "old", net_grid._arrays(), {"kind": "sgd_sde.networks.SweepResult", **net_grid.metadata})
    back = SweepResult.load(path)
    assert back == net_grid and back.keys_mode == "common"


def test_a_float32_learning_rate_is_found_by_its_float32_value():
    # lrs=jnp.array([0.1, 0.2]) runs at the float32 values 0.10000000149…: runs[(0.1, 1)] was a KeyError
    g = sweep(jax.random.key(0), Quadratic(np.eye(2, dtype=np.float32)), SGD(0.1, 1), jnp.ones(2),
              lrs=jnp.array([0.1, 0.2]), batch_sizes=[1], n_steps=3)
    assert list(g)[0] == (float(np.float32(0.1)), 1)
    assert g[(0.1, 1)] is g[list(g)[0]] and (0.2, 1) in g
    assert (0.3, 1) not in g and (0.1, 2) not in g and "x" not in g
    with pytest.raises(KeyError):
        g[(0.15, 1)]
