"""The sharpness experiments (keskar, hoffer, swa, golmant) at toy size, and their helpers.

The toy runs check the *shape* of each result (levels, outcomes, finite numbers and intervals,
claim ids, a figure drawn from the saved file without retraining), never a particular verdict.
The helpers are checked against oracles: the ensemble trainer against ``networks.train`` run
member by member, the Box–Cox exponent on exact curves, the exit loop on cases with a known answer.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde.verdicts import LEVELS, OUTCOMES, ExperimentResult

NAMES = ("keskar", "hoffer", "swa", "golmant")
SOURCES = {"keskar": {"keskar2017"}, "hoffer": {"hoffer2017"}, "swa": {"izmailov2018"},
           "golmant": {"golmant", "chaudhari2018", "zhu2019"}}


@pytest.fixture(scope="module", params=NAMES)
def toy(request, tmp_path_factory):
    from sgd_sde import experiments

    mod = experiments.get(request.param)
    res = mod.run(0, size="toy")
    out = tmp_path_factory.mktemp(request.param)
    res.save(out / request.param)
    return mod, res, out


def test_toy_result_shape(toy):
    mod, res, _ = toy
    assert isinstance(res, ExperimentResult) and res.name == mod.__name__.rsplit(".", 1)[-1]
    assert res.verdicts and res.config["size"] == "toy" and res.provenance["code"].startswith("sha256:")
    for v in res.verdicts:
        src, name = v.claim.split(".", 1)
        assert src in SOURCES[res.name] and name
        assert v.level in LEVELS and v.verdict in OUTCOMES and v.verdict != "error"
        assert v.statement and v.note
        assert v.measured is not None and math.isfinite(v.measured)
        assert v.expected is not None and math.isfinite(v.expected)
        assert v.ci is not None and all(math.isfinite(c) for c in v.ci) and v.ci[0] <= v.ci[1]
    for k, a in res.data.items():
        assert a.dtype.kind in "fiub", k


def test_toy_figure_from_saved_result_without_training(toy, tmp_path, monkeypatch):
    from sgd_sde.experiments import _sharpness_common

    mod, res, out = toy
    loaded = ExperimentResult.load(out / res.name)
    assert [v.claim for v in loaded.verdicts] == [v.claim for v in res.verdicts]

    def boom(*a, **k):
        raise AssertionError("figure() must not train")

    monkeypatch.setattr(_sharpness_common, "train_ensemble", boom)
    path = mod.figure(loaded, tmp_path)
    assert path.exists() and path.suffix == ".png" and path.stat().st_size > 10_000


def test_bad_size_and_key():
    from sgd_sde.experiments import keskar

    with pytest.raises(ValueError, match="size"):
        keskar.run(0, size="huge")
    with pytest.raises(TypeError, match="key"):
        keskar.run("0", size="toy")
    with pytest.raises(TypeError, match="quick"):
        keskar.run(0, quick="yes")


# ---------------------------------------------------------------------------- the ensemble trainer
def _data():
    from sgd_sde.networks import load_dataset

    return load_dataset("digits").subset(128, 32)


def test_train_ensemble_matches_train_member_by_member():
    """Member (c, s) of one compiled vmapped scan = networks.train with the same init, batch order
    and lr. Tolerance: float32 reductions in a different order, 30 steps -> agree to ~1e-5 rel."""
    from sgd_sde.experiments._sharpness_common import member, train_ensemble
    from sgd_sde.networks import MLP, train

    data = _data()
    model_fn = lambda k: MLP(data.input_shape, 10, (8,), key=k)
    key = jax.random.key(3)
    lrs, seeds = (0.05, 0.2), (0, 2)
    r = train_ensemble(key, model_fn, data, seeds=seeds, lr_scales=lrs, batch_size=16, n_steps=30, snapshot_steps=[10, 30])
    k_init, k_batch = jax.random.split(key)
    for c, lr in enumerate(lrs):
        for j, s in enumerate(seeds):
            out = train(jax.random.fold_in(k_batch, s), model_fn(jax.random.fold_in(k_init, s)), data, lr_schedule=lr,
                        batch_schedule=16, n_steps=30, progress=False)
            want = jax.flatten_util.ravel_pytree(eqx_params(out.model))[0]
            got = jax.flatten_util.ravel_pytree(member(r.params, c * len(seeds) + j))[0]
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-4, atol=2e-5)
            last = jax.flatten_util.ravel_pytree(member(member(r.snapshots, 1), c * len(seeds) + j))[0]
            np.testing.assert_array_equal(np.asarray(last), np.asarray(got))
    # the distance record ends at the final distance from the initial weights
    d_end = [float(jnp.linalg.norm(jax.flatten_util.ravel_pytree(member(r.params, m))[0]
                                   - jax.flatten_util.ravel_pytree(member(r.params0, m))[0])) for m in range(4)]
    np.testing.assert_allclose(r.distance[:, -1], d_end, rtol=1e-5)
    assert r.loss.shape == (4, 30) and np.all(r.diverged_step == -1)


def eqx_params(model):
    import equinox as eqx

    return eqx.filter(model, eqx.is_inexact_array)


def test_train_ensemble_bad_input():
    from sgd_sde.experiments._sharpness_common import train_ensemble
    from sgd_sde.networks import MLP

    data = _data()
    mf = lambda k: MLP(data.input_shape, 10, (4,), key=k)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="batch_size"):
        train_ensemble(key, mf, data, seeds=[0], lr_scales=[0.1], batch_size=1000, n_steps=2)
    with pytest.raises(ValueError, match="snapshot_steps"):
        train_ensemble(key, mf, data, seeds=[0], lr_scales=[0.1], batch_size=8, n_steps=2, snapshot_steps=[3])
    with pytest.raises(ValueError, match="seeds"):
        train_ensemble(key, mf, data, seeds=[-1], lr_scales=[0.1], batch_size=8, n_steps=2)
    with pytest.raises(ValueError, match="lr_scales"):
        train_ensemble(key, mf, data, seeds=[0], lr_scales=[0.0], batch_size=8, n_steps=2)
    gbn = lambda k: MLP(data.input_shape, 10, (4,), key=k, batch_norm=True, ghost_batch_size=8)
    with pytest.raises(ValueError, match="ghost"):
        train_ensemble(key, gbn, data, seeds=[0], lr_scales=[0.1], batch_size=12, n_steps=2)


# ---------------------------------------------------------------------------- Hoffer's log t test
def test_box_cox_recovers_log_and_powers():
    from sgd_sde.experiments.hoffer import box_cox_exponent

    t = np.arange(5.0, 400.0)
    assert abs(box_cox_exponent(t, 1.0 + 0.7 * np.log(t))[0]) < 1e-4
    for g in (0.15, 0.5, -0.3):
        assert box_cox_exponent(t, 2.0 + 0.3 * t**g)[0] == pytest.approx(g, abs=1e-4)
    with pytest.raises(ValueError, match="steps"):
        box_cox_exponent([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        box_cox_exponent([1.0, 2.0], [1.0, 2.0])


# ---------------------------------------------------------------------------- golmant's exit loop
def test_exit_steps_known_cases():
    """A quadratic L = ½|θ|² from its minimum: without noise nothing exits; with noise A = a·I the
    first step raises the loss by exactly ½η²a²|z₀|² (the noiseless path stays at 0), so the exit
    step is 1 iff that exceeds delta — checked draw by draw against the same fold_in(key, 0) draw."""
    from sgd_sde.experiments.golmant import exit_steps

    vg = jax.value_and_grad(lambda th: 0.5 * jnp.sum(th**2))
    th0 = jnp.zeros(3)
    key = jax.random.key(7)
    none = exit_steps(key, vg, th0, np.zeros((3, 3)), lr=0.1, delta=1e-3, n_particles=5, max_steps=20)
    assert np.all(none == -1)
    a, lr = 2.0, 0.1
    z0 = np.asarray(jax.random.normal(jax.random.fold_in(key, 0), (7, 3)))[:6]
    kick = 0.5 * (lr * a) ** 2 * np.sum(z0**2, axis=1)
    delta = float(np.median(kick))  # between the draws: both outcomes occur, so the check can fail either way
    # exit_steps checks the loss *before* each update: with max_steps=1 only step 0 is checked (no exit);
    # with max_steps=2 step 1 sees θ_1 = −η a z₀.
    ex = exit_steps(key, vg, th0, a * np.eye(3), lr=lr, delta=delta, n_particles=6, max_steps=1)
    assert np.all(ex == -1)
    ex2 = exit_steps(key, vg, th0, a * np.eye(3), lr=lr, delta=delta, n_particles=6, max_steps=2)
    want = np.where(kick >= delta, 1, -1)
    assert set(np.unique(want)) == {-1, 1}
    np.testing.assert_array_equal(ex2, want)
    with pytest.raises(ValueError, match="noise_factor"):
        exit_steps(key, vg, th0, np.eye(2), lr=lr, delta=delta, n_particles=2, max_steps=2)
    with pytest.raises(ValueError, match="delta"):
        exit_steps(key, vg, th0, np.eye(3), lr=lr, delta=0.0, n_particles=2, max_steps=2)


@pytest.mark.parametrize("name", ["hoffer"])
def test_docstring_examples(name):
    import doctest
    import importlib

    module = importlib.import_module(f"sgd_sde.experiments.{name}")
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE).failed == 0


def test_results_block_rewritten_between_markers(tmp_path):
    from sgd_sde.experiments._sharpness_common import BEGIN, END, write_results_block

    doc = tmp_path / "page.md"
    doc.write_text(f"intro\n{BEGIN}\nold table\n{END}\noutro\n")
    write_results_block(doc, "| new |")
    assert doc.read_text() == f"intro\n{BEGIN}\n| new |\n{END}\noutro\n"
    write_results_block(doc, "| newer |")
    assert "| new |" not in doc.read_text() and doc.read_text().count(BEGIN) == 1
    (tmp_path / "bare.md").write_text("no markers")
    with pytest.raises(ValueError, match="results block"):
        write_results_block(tmp_path / "bare.md", "x")


def test_figure_refuses_a_foreign_result(toy, tmp_path):
    mod, res, _ = toy
    other = next(n for n in NAMES if n != res.name)
    import dataclasses

    with pytest.raises(ValueError, match=other):
        mod.figure(dataclasses.replace(res, name=other), tmp_path)
    with pytest.raises(TypeError, match="ExperimentResult"):
        mod.figure({"name": res.name}, tmp_path)
