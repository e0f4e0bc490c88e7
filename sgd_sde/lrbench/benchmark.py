r"""The policy benchmark: every policy on the same task over several seeds, LRBench's metrics.

:func:`benchmark` trains one model per (policy, seed) on the digits MLP (default). Pure policies
run together in *one* vmapped, jit-compiled program: each member's learning rates are tabulated
on the host (the policy evaluated in float64 at every step, as :func:`sgd_sde.networks.train`
validates them) and looked up in the compiled update, so every policy shares one compilation.
The step itself is :func:`sgd_sde.networks.train.make_runner`'s, the batch order
:class:`~sgd_sde.networks._plan.Plan`'s and the keys :func:`sgd_sde.networks.sweep`'s: member
``(policy, s)`` starts from ``model_fn(fold_in(k0, s))`` and draws batches with ``fold_in(k1, s)``
(``k0, k1 = split(key)``), so every policy sees the same seeds' initial weights and batches
(common random numbers). State-based policies (reduce/change on plateau) need the loss at each
probe, so each of their seeds runs through :func:`sgd_sde.networks.train` with the same keys.
(:func:`sgd_sde.networks.sweep` vmaps seeds too, but records no test accuracy during the run, which
the time-to-target metrics need.)

Metrics per (policy, seed), LRBench's (Wu et al. 2019; Jin et al. 2023):

* ``final_test_acc``, ``best_test_acc`` (over the evaluation points, every ``eval_every`` steps);
* ``steps_to_target``, ``examples_to_target`` (= steps × B), ``time_to_target_s`` (= steps × the
  measured wall time per step of that member; NaN when the target is never reached);
* ``train_loss_auc``: the area under the minibatch training-loss curve per step, ``Σ_k L_k / n``;
* cost: ``wall_s`` (the member's share of its program's wall time, compile included) and
  ``grad_evals`` (per-example gradients, ``n · B``);
* ``diverged_step``: the first step with a non-finite loss or one above ``divergence_loss``
  (networks.train's criterion), −1 if none; a diverged member stays in every reduction;
* theory: ``robbins_monro`` (``satisfied``/``not satisfied``/``undecided``) and ``never_decays``.

:meth:`BenchmarkResult.summary` reduces over seeds (mean, std, min, max, number diverged).

References:
    Wu, Liu, Chow, Zhang, Wei, Yu, Wu 2019, "Demystifying Learning Rate Policies for High Accuracy
    Training of Deep Neural Networks"; Jin, Wei, Wang, Zhang & Wu 2023, "Rethinking Learning Rate
    Tuning in the Era of Large Language Models" (LRBench++).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as V
from .._keys import check_key
from ..io import arrays_equal, jsonable, load_bundle, save_bundle
from .compose import _as_policy
from .plateau import PlateauPolicy, reduce_on_plateau
from .policies import AbstractPolicy, policy

__all__ = ["BenchmarkResult", "benchmark", "default_policies", "METRICS"]

METRICS = ("final_test_acc", "best_test_acc", "steps_to_target", "examples_to_target", "time_to_target_s",
           "train_loss_auc", "wall_s", "grad_evals", "diverged_step")


def default_policies(n_steps: int, *, quick: bool = True) -> dict[str, AbstractPolicy | PlateauPolicy]:
    """The benchmark's policies for a run of ``n_steps`` (labels → policies), from every family.

    Decays start at 0.1 (SGD, momentum 0.9); cycles run between 0.005 and 0.1 with half-period
    ``n_steps // 8``; restarts have period ``n_steps // 4``. ``quick`` keeps 10 policies (two or
    more per family, one state-based); otherwise 16.
    """
    n = V.positive_int("n_steps", n_steps)
    c = dict(k0=0.005, k1=0.1, l=max(1, n // 8))
    r = dict(k0=0.005, k1=0.1, l=max(1, n // 4))
    g = float(0.05 ** (1.0 / n))  # EXP variants: γ^n = 0.05
    out = {
        "FIX": policy("FIX", k0=0.1),
        "STEP": policy("STEP", k0=0.1, gamma=0.3, l=max(1, n // 3)),
        "INV": policy("INV", k0=0.1, gamma=20.0 / n, p=0.75),
        "POLY": policy("POLY", k0=0.002, k1=0.1, p=1.0, l=n),
        "TRI2": policy("TRI2", **c),
        "SINEXP": policy("SINEXP", **c, gamma=g),
        "COS": policy("COS", k0=0.002, k1=0.1, l=n),
        "COSRSW": policy("COSRSW", **r),
        "SINRSW2": policy("SINRSW2", **r),
        "PLATEAU": reduce_on_plateau(0.1, factor=0.3, patience=2, rtol=0.01),
    }
    if not quick:
        out.update({
            "EXP": policy("EXP", k0=0.1, gamma=g),
            "NSTEP": policy("NSTEP", k0=0.1, gamma=0.3, l=[n // 2, 3 * n // 4]),
            "SIG": policy("SIG", k0=0.1, gamma=-10.0 / n, l=n // 2),
            "DTRI": policy("DTRI", **c),
            "UPCOS2": policy("UPCOS2", **c),
            "RSWEXP": policy("RSWEXP", **r, gamma=g),
        })
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class BenchmarkResult:
    """What :func:`benchmark` measured.

    Attributes:
        labels: policy labels (rows of every array); seeds: the integer seeds.
        records: one dict per (policy, seed): ``policy``, ``seed``, every name in :data:`METRICS`,
            ``robbins_monro``, ``never_decays``.
        eval_steps: ``(n_eval,)`` steps of the evaluation points (0 … n_steps).
        test_acc, test_loss: ``(n_policy, n_seed, n_eval)``.
        train_loss: ``(n_policy, n_seed, n_eval − 1)`` mean minibatch loss over each evaluation window.
        lr: ``(n_policy, n_seed, n_steps)`` learning rate at every step (a state policy's per seed).
        temperature: ``(n_policy, n_seed, n_steps)`` the noise scale ``η_t (N/B − 1)``.
        metadata: configuration, wall time, provenance.

    Two results are equal (``==``) when their labels, every array (same dtype, shape and values,
    NaN equal to NaN in the same place), the records (NaN equal to NaN) and the metadata apart
    from ``provenance`` are equal — a result equals itself loaded back. Results are not hashable.
    """

    labels: tuple[str, ...]
    seeds: np.ndarray
    records: tuple[dict, ...]
    eval_steps: np.ndarray
    test_acc: np.ndarray
    test_loss: np.ndarray
    train_loss: np.ndarray
    lr: np.ndarray
    temperature: np.ndarray
    metadata: dict[str, Any]

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"seeds": self.seeds, "eval_steps": self.eval_steps, "test_acc": self.test_acc, "test_loss": self.test_loss,
                "train_loss": self.train_loss, "lr": self.lr, "temperature": self.temperature}

    def __eq__(self, other) -> bool:
        if not isinstance(other, BenchmarkResult):
            return NotImplemented
        # records and metadata as the JSON text save writes (sorted keys): NaN equals NaN, a tuple its list
        text = lambda obj: json.dumps(jsonable(obj), sort_keys=True)  # noqa: E731
        strip = lambda m: {k: v for k, v in m.items() if k != "provenance"}  # noqa: E731
        return (tuple(self.labels) == tuple(other.labels) and arrays_equal(self._arrays(), other._arrays())
                and text(list(self.records)) == text(list(other.records))
                and text(strip(self.metadata)) == text(strip(other.metadata)))

    __hash__ = None

    def table(self):
        """The tidy table: one row per (policy, seed) (``pandas.DataFrame``, imported lazily)."""
        import pandas as pd

        return pd.DataFrame.from_records(list(self.records), columns=["policy", "seed", *METRICS, "robbins_monro", "never_decays"])

    def summary(self):
        """Per policy: mean, std, min and max over seeds of every metric, and ``n_diverged``."""
        import pandas as pd

        df = self.table()
        g = df.groupby("policy", sort=False)
        parts = {}
        for m in METRICS:
            if m == "diverged_step":
                continue
            # a NaN (a diverged member) stays NaN in every reduction; *_to_target are NaN when the
            # target is never reached, so those reduce over the seeds that reached it (n_reached)
            skip = m.endswith("_to_target")
            parts[f"{m}_mean"] = g[m].apply(lambda s, k=skip: s.mean(skipna=k))
            parts[f"{m}_std"] = g[m].apply(lambda s, k=skip: s.std(skipna=k))
            parts[f"{m}_min"] = g[m].apply(lambda s, k=skip: s.min(skipna=k))
            parts[f"{m}_max"] = g[m].apply(lambda s, k=skip: s.max(skipna=k))
        agg = pd.DataFrame(parts)
        agg["n_reached"] = g["steps_to_target"].apply(lambda s: int(s.notna().sum()))
        agg["n_diverged"] = df.groupby("policy", sort=False)["diverged_step"].apply(lambda s: int((s >= 0).sum()))
        agg["n_seeds"] = df.groupby("policy", sort=False).size()
        agg["robbins_monro"] = df.groupby("policy", sort=False)["robbins_monro"].first()
        return agg.reset_index()

    def save(self, path) -> Path:
        """One atomic ``.npz`` with the arrays, the records and the provenance inside (no pickle)."""
        arrays = self._arrays()
        meta = {"kind": "sgd_sde.lrbench.BenchmarkResult", "labels": list(self.labels), "records": list(self.records),
                **self.metadata}
        return save_bundle(path, arrays, meta)

    @classmethod
    def load(cls, path) -> BenchmarkResult:
        """Read what :meth:`save` wrote. Raises ValueError for another kind of file."""
        arrays, meta = load_bundle(path)
        if meta.get("kind") != "sgd_sde.lrbench.BenchmarkResult":
            raise ValueError(f"{path!s} does not hold a saved BenchmarkResult (kind={meta.get('kind')!r})")
        labels, records = tuple(meta.pop("labels")), tuple(meta.pop("records"))
        meta.pop("kind")
        return cls(labels, arrays["seeds"], records, arrays["eval_steps"], arrays["test_acc"], arrays["test_loss"],
                   arrays["train_loss"], arrays["lr"], arrays["temperature"], meta)


def _verdict(pol) -> tuple[str, bool]:
    res = pol.robbins_monro()
    word = {True: "satisfied", False: "not satisfied", None: "undecided"}[res.satisfied]
    return word, res.tends_to_zero is False


def _window_means(losses, eval_steps):
    return np.stack([losses[..., a:b].mean(axis=-1) for a, b in zip(eval_steps[:-1], eval_steps[1:])], axis=-1)


def _run_pure(pols, seeds, data, model_fn, opt, k_init, k_batch, B, n, eval_steps):
    """Every (policy, seed) member in one vmapped program; returns per-member arrays and wall times."""
    from ..networks._plan import Plan
    from ..networks.models import cross_entropy
    from ..networks.train import _LRTable, make_runner  # tabulated rates: one compilation for every policy

    P, S = len(pols), len(seeds)
    tables = np.stack([np.asarray(p(np.arange(n)), np.float64) for p in pols])  # validated below
    bad = ~np.isfinite(tables) | (tables <= 0)
    if bad.any():
        i, k = map(int, np.argwhere(bad)[0])
        raise ValueError(f"policies[{i}] must give a finite lr > 0 at every step, got {tables[i, k]} at step {k}")
    models = [model_fn(jax.random.fold_in(k_init, int(s))) for s in seeds]
    static = eqx.partition(models[0], eqx.is_inexact_array)[1]
    stack = lambda trees: jax.tree.map(lambda *xs: jnp.stack(xs), *trees)
    params = stack([eqx.filter(models[j], eqx.is_inexact_array) for _ in range(P) for j in range(S)])
    bn = stack([models[j].init_state() for _ in range(P) for j in range(S)])
    opt_state = jax.vmap(opt.init)(params)
    idx_s = [Plan(jax.random.fold_in(k_batch, int(s)), data.n_train, np.full(n, B)).indices(0, n) for s in seeds]
    idx = np.stack([idx_s[j] for _ in range(P) for j in range(S)])
    lr_tab = jnp.asarray(np.repeat(tables, S, axis=0), jnp.float32)
    X, Y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    Xt, Yt = jnp.asarray(data.x_test), jnp.asarray(data.y_test)

    def member(params, bn, opt_state, idx, table, ks):
        run = make_runner(static, opt, _LRTable(table), use_swa=False)
        (params, bn, opt_state, _, _), losses = run((params, bn, opt_state, None, jnp.zeros((), jnp.int32)), X, Y, idx, ks,
                                                    jnp.zeros(ks.shape, bool), jnp.ones((), jnp.float32))
        return params, bn, opt_state, losses

    def evaluate(params, bn):
        logits, _ = eqx.combine(params, static)(Xt, bn, train=False)
        return jnp.mean(jnp.argmax(logits, -1) == Yt), jnp.mean(cross_entropy(logits, Yt))

    vrun = jax.jit(jax.vmap(member, in_axes=(0, 0, 0, 0, 0, None)))
    veval = jax.jit(jax.vmap(evaluate))
    M = P * S
    acc, tloss = np.zeros((M, eval_steps.size)), np.zeros((M, eval_steps.size))
    losses = np.zeros((M, n))
    a0, l0 = veval(params, bn)
    acc[:, 0], tloss[:, 0] = np.asarray(a0), np.asarray(l0)
    t0 = time.perf_counter()
    for e, (a, b) in enumerate(zip(eval_steps[:-1], eval_steps[1:])):
        ks = jnp.arange(a, b)
        params, bn, opt_state, chunk = vrun(params, bn, opt_state, jnp.asarray(idx[:, a:b]), lr_tab, ks)
        losses[:, a:b] = np.asarray(chunk, np.float64)
        ae, le = veval(params, bn)
        acc[:, e + 1], tloss[:, e + 1] = np.asarray(ae), np.asarray(le)
    wall = time.perf_counter() - t0
    shape = lambda x: x.reshape(P, S, *x.shape[1:])
    return shape(acc), shape(tloss), shape(losses), np.repeat(tables[:, None, :], S, axis=1), np.full((P, S), wall / M)


def _run_state(pol, seeds, data, model_fn, k_init, k_batch, B, n, eval_steps, momentum, divergence_loss):
    """A state-based policy, one networks.train run per seed (same keys as the vmapped members)."""
    from ..networks import probes, train

    S = len(seeds)
    acc, tloss = np.zeros((S, eval_steps.size)), np.zeros((S, eval_steps.size))
    sums, lrs, walls, div = np.zeros((S, eval_steps.size - 1)), np.zeros((S, n)), np.zeros(S), np.full(S, -1)
    for j, s in enumerate(seeds):
        t0 = time.perf_counter()
        out = train(jax.random.fold_in(k_batch, int(s)), model_fn(jax.random.fold_in(k_init, int(s))), data, lr_schedule=pol,
                    batch_schedule=B, n_steps=n, momentum=momentum, probe_every=[int(x) for x in eval_steps],
                    probes=[probes.metrics(train=False)], progress=False, divergence_loss=divergence_loss)
        walls[j] = time.perf_counter() - t0
        h = out.history
        if not np.array_equal(h["step"], eval_steps):
            raise RuntimeError(f"train probed at {h['step']}, expected {eval_steps}")
        acc[j], tloss[j] = h["test_acc"], h["test_loss"]
        sums[j] = h["train_loss"][1:]
        # the lr of step k is the one recorded at the next probe point (constant within a window)
        for a, b, lr in zip(eval_steps[:-1], eval_steps[1:], h["lr"][1:]):
            base = np.asarray(pol.base(np.arange(a, b)) if callable(pol.base) else np.full(b - a, pol.base), np.float64)
            lrs[j, a:b] = base * (lr / base[-1])
        div[j] = out.diverged_step
    return acc, tloss, sums, lrs, walls, div


def benchmark(key, policies: Mapping[str, Any] | Sequence[str] | None = None, task: str = "digits", *, quick: bool = False,
              seeds: Sequence[int] | None = None, n_steps: int | None = None, batch_size: int = 32, momentum: float = 0.9,
              eval_every: int | None = None, target_acc: float = 0.95, divergence_loss: float = 1e3,
              model_fn: Callable | None = None) -> BenchmarkResult:
    r"""Benchmark learning-rate policies on one task over several seeds (LRBench's metrics).

    Args:
        key: ``jax.random`` key (initial weights and batch order per seed; shared by every policy).
        policies: ``{label: policy}`` (pure policies from :func:`~sgd_sde.lrbench.policy` /
            :func:`~sgd_sde.lrbench.compose`, or state-based ones from
            :func:`~sgd_sde.lrbench.reduce_on_plateau`), a list of labels of
            :func:`default_policies`, or ``None`` for all of them.
        task: ``"digits"`` (scikit-learn digits, MLP 64-64) — the only built-in task.
        quick: the smoke size (10 policies, 3 seeds, 400 steps) — the same code path.
        seeds: integer seeds (default 3 quick, 5 otherwise).
        n_steps: steps per run (default 400 quick, 1500 otherwise).
        batch_size: minibatch size ``B``; momentum: heavy-ball ``μ`` (SGD).
        eval_every: steps between test evaluations (default ``n_steps // 20``).
        target_acc: the target test accuracy of the time-to-target metrics.
        divergence_loss: a minibatch loss above this marks the member diverged (as in networks.train).
        model_fn: ``key -> model`` (default the digits MLP).

    Returns:
        :class:`BenchmarkResult` (``.table()`` is the tidy pandas table; ``.save`` writes it with provenance).

    Raises:
        ValueError: an unknown task or label, a policy giving a non-positive lr (naming it),
            ``target_acc`` outside (0, 1], bad sizes — before anything runs.
        TypeError: a ``key`` that is not a PRNG key; a policy that is neither pure nor state-based.

    Examples:
        >>> import jax
        >>> from sgd_sde.lrbench import policy
        >>> res = benchmark(jax.random.key(0), {"FIX": policy("FIX", k0=0.1)}, seeds=[0], n_steps=20,
        ...                 eval_every=10)  # doctest: +SKIP
        >>> res.table()[["policy", "seed"]].values.tolist()  # doctest: +SKIP
        [['FIX', 0]]

    References:
        Wu et al. 2019, "Demystifying Learning Rate Policies for High Accuracy Training of Deep
        Neural Networks"; Jin et al. 2023 (LRBench++).
    """
    from ..networks import MLP, load_dataset, make_optimizer
    from ..networks.train import _first_divergence
    from ..provenance import provenance

    key = check_key(key)
    if task != "digits":
        raise ValueError(f"task must be 'digits' (the built-in task), got {task!r}")
    quick = V.flag("quick", quick)
    n = V.positive_int("n_steps", n_steps if n_steps is not None else (400 if quick else 1500))
    seeds = np.asarray([V.as_int("seeds", s) for s in (seeds if seeds is not None else range(3 if quick else 5))], np.int64)
    if seeds.size == 0 or np.any(seeds < 0) or np.unique(seeds).size != seeds.size:
        raise ValueError(f"seeds must be distinct non-negative ints, got {seeds.tolist()}")
    every = V.positive_int("eval_every", eval_every if eval_every is not None else max(1, n // 20))
    target = V.as_float("target_acc", target_acc)
    if not 0 < target <= 1:
        raise ValueError(f"target_acc must lie in (0, 1], got target_acc={target_acc}")
    B = V.positive_int("batch_size", batch_size)
    div_loss = V.positive("divergence_loss", divergence_loss)
    defaults = default_policies(n, quick=quick)
    if policies is None:
        policies = defaults
    elif not isinstance(policies, Mapping):
        names = [str(p).upper() for p in policies]
        unknown = [p for p in names if p not in defaults and p not in default_policies(n, quick=False)]
        if unknown:
            raise ValueError(f"policies: unknown labels {unknown}; known: {sorted(default_policies(n, quick=False))}")
        full = default_policies(n, quick=False)
        policies = {p: full[p] for p in names}
    if not policies:
        raise ValueError("policies must not be empty")
    pols = {}
    for label, p in policies.items():
        if isinstance(p, PlateauPolicy):
            pols[str(label)] = p
        elif isinstance(p, AbstractPolicy) or isinstance(p, (int, float)):
            pols[str(label)] = _as_policy(p, f"policies[{label!r}]")
        else:
            raise TypeError(f"policies[{label!r}] must be an sgd_sde.lrbench policy or a state-based policy, got {type(p).__name__}")
    data = load_dataset("digits")
    if B > data.n_train:
        raise ValueError(f"batch_size must be <= {data.n_train}, got {B}")
    model_fn = model_fn if model_fn is not None else (lambda k: MLP(data.input_shape, 10, (64, 64), key=k))
    opt = make_optimizer("sgd", momentum=momentum)
    eval_steps = np.unique(np.concatenate([np.arange(0, n, every), [n]])).astype(np.int64)

    t_start = time.perf_counter()
    k_init, k_batch = jax.random.split(key)
    labels = list(pols)
    P, S, E = len(labels), seeds.size, eval_steps.size
    acc, tloss = np.zeros((P, S, E)), np.zeros((P, S, E))
    win, lr, wall, div = np.zeros((P, S, E - 1)), np.zeros((P, S, n)), np.zeros((P, S)), np.full((P, S), -1)
    auc = np.zeros((P, S))
    pure = [i for i, lab in enumerate(labels) if not isinstance(pols[lab], PlateauPolicy)]
    if pure:
        a, tl, losses, tab, w = _run_pure([pols[labels[i]] for i in pure], seeds, data, model_fn, opt, k_init, k_batch, B, n, eval_steps)
        acc[pure], tloss[pure], lr[pure], wall[pure] = a, tl, tab, w
        win[pure] = _window_means(losses, eval_steps)
        auc[pure] = losses.mean(axis=-1)
        for ii, i in enumerate(pure):
            for j in range(S):
                div[i, j] = _first_divergence(losses[ii, j], 0, div_loss)[0]
    for i, lab in enumerate(labels):
        if i in pure:
            continue
        a, tl, w_means, lrs, walls, d = _run_state(pols[lab], seeds, data, model_fn, k_init, k_batch, B, n, eval_steps, momentum,
                                                 div_loss)
        acc[i], tloss[i], win[i], lr[i], wall[i] = a, tl, w_means, lrs, walls
        auc[i] = (w_means * np.diff(eval_steps)).sum(axis=-1) / n  # window mean × window length = the sum of step losses
        div[i] = d  # networks.train's criterion with the same divergence_loss
    temp = np.stack([_noise_scale_of(lr[i, j], B, data.n_train) for i in range(P) for j in range(S)]).reshape(P, S, n)

    records = []
    for i, lab in enumerate(labels):
        verdict, never = _verdict(pols[lab])
        for j, s in enumerate(seeds):
            hit = np.flatnonzero(acc[i, j] >= target)
            steps_to = float(eval_steps[hit[0]]) if hit.size else float("nan")
            records.append({
                "policy": lab, "seed": int(s),
                "final_test_acc": float(acc[i, j, -1]), "best_test_acc": float(np.nanmax(acc[i, j])),
                "steps_to_target": steps_to, "examples_to_target": steps_to * B,
                "time_to_target_s": float(steps_to * wall[i, j] / n), "train_loss_auc": float(auc[i, j]),
                "wall_s": float(wall[i, j]), "grad_evals": int(n * B), "diverged_step": int(div[i, j]),
                "robbins_monro": verdict, "never_decays": bool(never),
            })
    config = {"task": task, "quick": quick, "n_steps": n, "seeds": seeds.tolist(), "batch_size": B, "momentum": momentum,
              "eval_every": every, "target_acc": target, "divergence_loss": div_loss,
              "policies": {lab: repr(p) for lab, p in pols.items()}, "n_train": data.n_train, "n_test": int(data.x_test.shape[0])}
    meta = {"config": config, "wall_time_s": time.perf_counter() - t_start, "provenance": provenance(config, key=key)}
    return BenchmarkResult(tuple(labels), seeds, tuple(records), eval_steps, acc, tloss, win, lr, temp, meta)


def _noise_scale_of(lrs, B, N):
    """The temperature ``η_t (N/B − 1)`` of the learning rates actually used (:func:`sgd_sde.schedules.noise_scale`)."""
    from ..schedules import noise_scale

    return noise_scale(lambda k: np.asarray(lrs)[np.asarray(k)], B, N, len(lrs))


def write_report(out_dir, *, key: int = 0, quick: bool = False, policies: Sequence[str] | None = None) -> dict[str, Path]:
    """Run :func:`benchmark` and write its bundle, CSV table and three figures to ``out_dir``.

    Files: ``benchmark.npz`` (arrays, records, provenance; :meth:`BenchmarkResult.load`),
    ``metrics.csv`` and ``summary.csv`` (views of the bundle, written from it), ``policies.png``,
    ``accuracy.png``, ``metrics.png``. This is what ``sgd-sde lrbench`` runs.

    Returns:
        name -> path of every file written.
    """
    from ..io import atomic_write_bytes
    from .plots import plot_accuracy, plot_metrics, plot_policies

    out = Path(out_dir)
    res = benchmark(jax.random.key(V.as_int("key", key)), policies, quick=quick)
    paths = {"bundle": res.save(out / "benchmark")}
    saved = BenchmarkResult.load(paths["bundle"])  # the figures and tables are drawn from the saved data
    for name, df in (("metrics", saved.table()), ("summary", saved.summary())):
        paths[name] = out / f"{name}.csv"
        atomic_write_bytes(paths[name], df.to_csv(index=False, float_format="%.6g").encode())
    paths["policies_png"] = plot_policies(out / "policies.png", n_steps=int(saved.metadata["config"]["n_steps"]))
    paths["accuracy_png"] = plot_accuracy(saved, out / "accuracy.png")
    paths["metrics_png"] = plot_metrics(saved, out / "metrics.png")
    return paths
