"""The policy benchmark (vmapped members equal networks.train runs; metrics; divergence; saved with
provenance; plots) and the exploration policies (LR range test, parameter search via sweep)."""

import jax
import numpy as np
import pytest

from sgd_sde.lrbench import (BenchmarkResult, benchmark, lr_range_test, plot_accuracy, plot_metrics, plot_policies, policy,
                             range_schedule, reduce_on_plateau, search)
from sgd_sde.networks import MLP, load_dataset, probes, train

N_STEPS, EVERY, SEEDS = 30, 10, [0, 3]


def small_mlp(k):
    return MLP((1, 8, 8), 10, (16,), key=k)


@pytest.fixture(scope="module")
def result():
    pols = {"COS": policy("COS", k0=0.005, k1=0.1, l=N_STEPS), "RSW2": policy("RSW2", k0=0.01, k1=0.1, l=10),
            "PLATEAU": reduce_on_plateau(0.1, factor=0.5, patience=1), "BOOM": policy("FIX", k0=200.0),
            "PBOOM": reduce_on_plateau(200.0, factor=0.5, patience=1)}
    return benchmark(jax.random.key(7), pols, seeds=SEEDS, n_steps=N_STEPS, eval_every=EVERY, target_acc=0.5,
                     model_fn=small_mlp)


def test_table_is_tidy_and_consistent(result):
    df = result.table()
    assert list(df["policy"]) == ["COS", "COS", "RSW2", "RSW2", "PLATEAU", "PLATEAU", "BOOM", "BOOM", "PBOOM", "PBOOM"]
    assert list(df["seed"]) == SEEDS * 5
    assert (df["best_test_acc"] >= df["final_test_acc"]).all()
    assert (df["grad_evals"] == N_STEPS * 32).all()
    reached = df["steps_to_target"].notna()
    np.testing.assert_array_equal(df.loc[reached, "examples_to_target"], df.loc[reached, "steps_to_target"] * 32)
    assert set(df.loc[reached, "steps_to_target"]) <= {0.0, 10.0, 20.0, 30.0}
    np.testing.assert_array_equal(result.eval_steps, [0, 10, 20, 30])
    assert result.test_acc.shape == (5, 2, 4) and result.lr.shape == (5, 2, N_STEPS)
    # temperature = η (N/B − 1) of the learning rates used
    np.testing.assert_allclose(result.temperature, result.lr * (1438 / 32 - 1), rtol=1e-12)
    assert set(df["robbins_monro"]) == {"not satisfied"}
    assert df["never_decays"].all()


def test_vmapped_members_equal_networks_train(result):
    data = load_dataset("digits")
    k_init, k_batch = jax.random.split(jax.random.key(7))
    for i, label in ((0, "COS"), (1, "RSW2")):
        pol = {"COS": policy("COS", k0=0.005, k1=0.1, l=N_STEPS), "RSW2": policy("RSW2", k0=0.01, k1=0.1, l=10)}[label]
        for j, s in enumerate(SEEDS):
            out = train(jax.random.fold_in(k_batch, s), small_mlp(jax.random.fold_in(k_init, s)), data, lr_schedule=pol,
                        batch_schedule=32, n_steps=N_STEPS, probe_every=EVERY, probes=[probes.metrics(train=False)], progress=False)
            # float32 sums in another order (vmapped): loss to 1e-4 relative; accuracy to one test example
            np.testing.assert_allclose(result.train_loss[i, j], out.history["train_loss"][1:], rtol=1e-4)
            assert np.max(np.abs(result.test_acc[i, j] - out.history["test_acc"])) <= 1 / 359 + 1e-12
            np.testing.assert_allclose(result.lr[i, j], pol(np.arange(N_STEPS)), rtol=1e-12)


def test_state_policy_lr_follows_its_plateaus(result):
    lr = result.lr[2]
    assert lr[:, 0].tolist() == [0.1, 0.1]
    for j in range(2):
        assert set(np.round(lr[j] / 0.1, 12)) <= {1.0, 0.5, 0.25}  # only factor-0.5 changes, at window edges
        assert np.all(np.diff(lr[j]) <= 0)
        assert np.all(lr[j, :EVERY] == lr[j, 0]) and np.all(lr[j, EVERY:2 * EVERY] == lr[j, EVERY])


def test_diverged_members_are_flagged_and_counted(result):
    df = result.table()
    boom = df[df["policy"].isin(["BOOM", "PBOOM"])]  # vmapped and networks.train paths
    assert (boom["diverged_step"] >= 0).all()
    assert (df[~df["policy"].isin(["BOOM", "PBOOM"])]["diverged_step"] == -1).all()
    summ = result.summary().set_index("policy")
    assert summ.loc["BOOM", "n_diverged"] == summ.loc["PBOOM", "n_diverged"] == 2 and summ.loc["COS", "n_diverged"] == 0
    # the same lr and keys diverge at the same step on both paths (the plateau scale is 1 until the first probe)
    np.testing.assert_array_equal(df[df["policy"] == "BOOM"]["diverged_step"], df[df["policy"] == "PBOOM"]["diverged_step"])
    assert (summ["n_seeds"] == 2).all()


def test_saved_with_provenance_and_loads_back(result, tmp_path):
    path = result.save(tmp_path / "bench")
    back = BenchmarkResult.load(path)
    import pandas as pd

    assert back.labels == result.labels
    pd.testing.assert_frame_equal(back.table(), result.table())
    for name in ("test_acc", "test_loss", "train_loss", "lr", "temperature", "eval_steps", "seeds"):
        np.testing.assert_array_equal(getattr(back, name), getattr(result, name))
    prov = back.metadata["provenance"]
    assert prov["config"]["n_steps"] == N_STEPS and prov["code"] and prov["key"] is not None


def test_plots_are_written(result, tmp_path):
    for p in (plot_policies(tmp_path / "p.png", n_steps=50), plot_accuracy(result, tmp_path / "a.png"),
              plot_metrics(result, tmp_path / "m.png")):
        assert p.stat().st_size > 10_000


@pytest.mark.parametrize("kw,match", [
    (dict(task="cifar"), "task must be 'digits'"),
    (dict(policies=["NOPE"]), "unknown labels"),
    (dict(target_acc=1.5), r"target_acc must lie in \(0, 1\]"),
    (dict(policies={"X": "fast"}), "must be an sgd_sde.lrbench policy"),
    (dict(seeds=[0, 0]), "distinct"),
])
def test_bad_input(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        benchmark(jax.random.key(0), **{"n_steps": 10, **kw})


def test_lr_range_test_and_search_run_through_sweep():
    data = load_dataset("digits").subset(256, 64)
    out = lr_range_test(jax.random.key(0), small_mlp, data, lr_min=1e-3, lr_max=10.0, n_steps=40, seeds=[0, 1])
    np.testing.assert_allclose(out["lr"], 1e-3 * (1e4) ** (np.arange(40) / 39), rtol=1e-12)
    assert out["loss"].shape == (2, 40)
    assert 1e-3 <= out["suggested_lr"] <= 10.0 and 3 <= out["stop"] <= 40
    lin = range_schedule(0.1, 0.5, 5, mode="linear")
    np.testing.assert_allclose(lin(np.arange(7)), [0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5], rtol=1e-12)
    df = search(jax.random.key(0), "STEP", {"gamma": [0.5], "l": [5]}, small_mlp, data, fixed={"k0": 0.05},
                scales=[1.0, 2.0], seeds=[0], n_steps=15)
    assert len(df) == 2 and list(df["scale"]) == [1.0, 2.0] and list(df["gamma"]) == [0.5, 0.5]
    assert {"gamma", "l", "test_acc", "trial_wall_s"} <= set(df.columns)
    with pytest.raises(ValueError, match="mode must be"):
        range_schedule(0.1, 1.0, 5, mode="cubic")


@pytest.mark.parametrize("quick,n", [(True, 400), (False, 1500)])
def test_default_policies_cover_every_family_and_stay_positive(quick, n):
    from sgd_sde.lrbench import FAMILIES, PlateauPolicy, default_policies

    pols = default_policies(n, quick=quick)
    assert len(pols) >= (10 if quick else 16)
    names = {p.name for p in pols.values() if hasattr(p, "name")}
    for family, members in FAMILIES.items():
        assert names & set(members), family
    assert any(isinstance(p, PlateauPolicy) for p in pols.values())
    for label, p in pols.items():
        base = p.base if isinstance(p, PlateauPolicy) else p
        lr = base(np.arange(n)) if callable(base) else np.full(n, base)
        lr = np.broadcast_to(lr, (n,))
        assert np.all(np.isfinite(lr)) and np.all(lr > 0), label
