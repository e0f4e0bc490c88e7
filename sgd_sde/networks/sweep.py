r"""Grids of training runs over (learning rate, batch size, seed).

For each batch size (a shape), every (lr, seed) member runs in *one* jit-compiled program
(``vectorize=True``); batch sizes run one after another. Inside it the members are batched with
``vmap`` or, by default on CPU, looped over with ``lax.map`` (``member_loop``); ``devices=`` /
``mesh=`` split them over devices, each running its share with no communication.
``vectorize=False`` runs each member through :func:`~sgd_sde.networks.train` instead. All give
the same numbers up to float rounding, which the tests check. Member ``(lr, B, s)`` uses the
initial weights ``model_fn(fold_in(k0, s))`` and the batch order ``fold_in(k1, s)`` with
``k0, k1 = split(key)``, so seeds are paired across learning rates and batch sizes (common random
numbers, ``keys="common"``, the default). With ``keys="independent"`` grid point ``(lr_i, B_j)``
uses ``k0, k1 = split(fold_in(key, i · n_B + j))`` instead (the numbering of
:func:`sgd_sde.simulate.sweep`): the seeds of one point still share nothing with another point's.

Results come as one labelled table, :class:`SweepResult`, the network flavour of the one grid
result type :class:`sgd_sde.grid.GridResult`: final metrics indexed ``[lr, batch_size, seed]``,
loss curves, ``keys_mode``, ``to_records()`` / ``to_pandas()`` / ``to_xarray()`` (pandas and xarray
are imported only when asked for), ``==`` and one-file ``save``/``load`` (no pickle).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from .. import _validate as V
from .._keys import check_key
from ..grid import GridResult, check_keys_mode
from ..measure.weights import distance_from_init, weight_norm
from ..sharding import particle_sharding
from ._plan import Plan, _values, steps_for_epochs
from .datasets import Dataset
from .models import AbstractModel, cross_entropy
from .train import (_fingerprint, _ghost_sizes, _LRTable, _on_host, _ScaledSchedule, _traces_to_scalar, make_optimizer,
                    make_runner, train)

__all__ = ["SweepResult", "sweep"]

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "distance_from_init", "weight_norm")


@dataclasses.dataclass(frozen=True, eq=False)
class SweepResult(GridResult):
    """Results of :func:`sweep`: the network flavour of :class:`sgd_sde.grid.GridResult` (final).

    A subclass rather than the simulation flavour itself: a network grid holds a table of final
    metrics per seed and loss curves per recording window, not particle ensembles, so the two
    share the contract of :class:`~sgd_sde.grid.GridResult` (coordinates, ``keys_mode``, tidy
    ``to_pandas``, ``to_xarray``, one-file ``save``/``load``, ``==``) and not their fields. Its
    fields are unchanged, so code written for the earlier ``SweepResult`` keeps working.

    ``to_pandas()`` / ``to_records()``: one row per run ``(lr, batch_size, seed)`` with columns
    ``lr``, ``batch_size``, ``seed``, ``n_steps`` and the final metrics. ``to_xarray()``: dims
    ``(lr, batch_size, seed[, record])``: the metrics, ``curve_<name>``, ``curve_step`` and ``n_steps``.

    Attributes:
        lrs, batch_sizes, seeds: the grid coordinates.
        metrics: name -> ``(n_lr, n_B, n_seed)`` final values (``train_loss``, ``train_acc``,
            ``test_loss``, ``test_acc``, ``distance_from_init``, ``weight_norm``).
        curves: ``"train_loss"`` -> ``(n_lr, n_B, n_seed, n_rec)`` mean minibatch loss per
            recording window (NaN-padded where a batch size ran fewer steps).
        curve_steps: ``(n_B, n_rec)`` step at the end of each window (−1 padding).
        n_steps: ``(n_B,)`` steps run per batch size.
        metadata: configuration and key (with ``lr_shape`` as a digest of its code and values,
            ``None`` for the default, and the run length ``n_steps`` / ``n_epochs`` as given).
        keys_mode: ``"common"`` or ``"independent"`` (see :func:`sweep`).
    """

    kind: ClassVar[str] = "sgd_sde.networks.SweepResult"

    lrs: np.ndarray
    batch_sizes: np.ndarray
    seeds: np.ndarray
    metrics: dict[str, np.ndarray]
    curves: dict[str, np.ndarray]
    curve_steps: np.ndarray
    n_steps: np.ndarray
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    keys_mode: str = "common"

    def __post_init__(self):
        check_keys_mode(self.keys_mode)

    @property
    def coords(self) -> dict[str, np.ndarray]:
        return {"lr": np.asarray(self.lrs), "batch_size": np.asarray(self.batch_sizes), "seed": np.asarray(self.seeds)}

    def _columns(self) -> dict[str, np.ndarray]:
        shape = (len(self.lrs), len(self.batch_sizes), len(self.seeds))
        i, j, k = (a.reshape(-1) for a in np.indices(shape))
        cols = {"lr": np.asarray(self.lrs, float)[i], "batch_size": np.asarray(self.batch_sizes, np.int64)[j],
                "seed": np.asarray(self.seeds, np.int64)[k], "n_steps": np.asarray(self.n_steps, np.int64)[j]}
        cols.update({m: np.asarray(v, float).reshape(-1) for m, v in self.metrics.items()})
        return cols

    def _dataset(self):
        dims = ("lr", "batch_size", "seed")
        data = {m: (dims, v) for m, v in self.metrics.items()}
        data.update({f"curve_{m}": (dims + ("record",), v) for m, v in self.curves.items()})
        data["curve_step"] = (("batch_size", "record"), self.curve_steps)
        data["n_steps"] = (("batch_size",), self.n_steps)
        return data, self.coords

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"lrs": self.lrs, "batch_sizes": self.batch_sizes, "seeds": self.seeds, "curve_steps": self.curve_steps, "n_steps": self.n_steps}
        arrays.update({f"metric__{k}": v for k, v in self.metrics.items()})
        arrays.update({f"curve__{k}": v for k, v in self.curves.items()})
        return {k: np.asarray(v) for k, v in arrays.items()}

    @classmethod
    def _from_bundle(cls, arrays, metadata, keys_mode, extra):
        pick = lambda p: {k[len(p):]: v for k, v in arrays.items() if k.startswith(p)}  # noqa: E731
        return cls(arrays["lrs"], arrays["batch_sizes"], arrays["seeds"], pick("metric__"), pick("curve__"),
                   arrays["curve_steps"], arrays["n_steps"], metadata, keys_mode)


def _checked_model_fn(model_fn, batch_sizes):
    """``model_fn`` whose every model is checked, as it is built, before anything is traced: an
    :class:`~sgd_sde.networks.models.AbstractModel` whose ghost batch sizes divide every batch size."""

    def build(key):
        model = model_fn(key)
        if not isinstance(model, AbstractModel):
            raise TypeError(f"model_fn must return an sgd_sde.networks model (MLP, CNN, AbstractModel), "
                            f"got {type(model).__name__}")
        for g in _ghost_sizes(model):
            bad = [int(b) for b in batch_sizes if b % g]
            if bad:
                raise ValueError(f"batch_sizes must be multiples of the ghost batch size {g} of model_fn's model, got {bad[0]}")
        return model

    return build


def _unit(k):
    """The constant schedule 1 (module level, so compilations are shared between sweeps)."""
    if isinstance(k, (int, np.integer, np.ndarray)):
        return np.ones_like(np.asarray(k), dtype=float)
    return jnp.ones_like(jnp.asarray(k), dtype=jnp.float32)


def _floats(name, values):
    vals = [V.positive(name, v) for v in V.flat_list(name, values)]
    if not vals:
        raise ValueError(f"{name} must not be empty")
    return np.asarray(vals, np.float64)


@eqx.filter_jit
def _final_metrics(model, state, model0, xtr, ytr, xte, yte):
    def ev(x, y):
        logits, _ = model(x, state, train=False)
        return jnp.mean(cross_entropy(logits, y)), jnp.mean(jnp.argmax(logits, -1) == y)

    p, p0 = eqx.filter(model, eqx.is_inexact_array), eqx.filter(model0, eqx.is_inexact_array)
    trl, tra = ev(xtr, ytr)
    tel, tea = ev(xte, yte)
    return jnp.stack([trl, tra, tel, tea, distance_from_init(p, p0), weight_norm(p)])


def sweep(
    key,
    model_fn: Callable[[Any], AbstractModel],
    data: Dataset,
    *,
    lrs: Sequence[float],
    batch_sizes: Sequence[int],
    seeds: Sequence[int] = (0,),
    n_steps: int | None = None,
    n_epochs: int | None = None,
    lr_shape: Callable | None = None,
    optimizer: str | Callable = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    clip_norm: float | None = None,
    record_every: int | None = None,
    vectorize: bool = True,
    progress: bool = False,
    keys: str = "common",
    devices=None,
    mesh=None,
    member_loop: str = "auto",
) -> SweepResult:
    r"""Train every (lr, batch size, seed) on ``data``; return one labelled table.

    Args:
        key: ``jax.random`` key (split into initial-weight and batch-order keys; see module doc).
        model_fn: ``key -> model`` (e.g. ``lambda k: MLP(shape, 10, key=k)``).
        data: a :class:`~sgd_sde.networks.Dataset`.
        lrs: peak learning rates (> 0); member ``lr`` follows ``η_k = lr · lr_shape(k)``.
        batch_sizes: batch sizes in ``[1, N_train]``.
        seeds: integer seeds in ``[0, 2**31 - 1]``.
        n_steps, n_epochs: run length per member (one of them; with ``n_epochs`` each batch size
            runs ``n_epochs · ⌊N/B⌋`` steps).
        lr_shape: callable ``k -> factor`` (default constant 1), e.g. a step decay with init 1;
            evaluated on the host on ``np.arange(n_steps)`` (one written for NumPy only is looked
            up in those values inside the compiled loop, as in :func:`~sgd_sde.networks.train`).
        optimizer, momentum, weight_decay, clip_norm: see :func:`~sgd_sde.networks.make_optimizer`.
        record_every: window (steps) of the loss curves (default ``max(1, n_steps // 50)``).
        vectorize: vmap the (lr, seed) members of each batch size (else call ``train`` per member).
        progress: tqdm bar over batch sizes.
        keys: ``"common"`` (default: seeds paired across every grid point, common random numbers)
            or ``"independent"`` (each ``(lr, B)`` point its own key; see the module docstring).
        devices: split each batch size's (lr, seed) members over these devices (a sequence of
            ``jax.Device``, or an int: the first that many of ``jax.devices()``), as
            :func:`sgd_sde.simulate` splits particles. Members need no communication, so on a
            CPU split into ``k`` devices (``XLA_FLAGS=--xla_force_host_platform_device_count=k``
            before JAX is imported) each device runs its share on its own core. When the
            member count is not a multiple of the device count, the last devices also run
            copies of member 0, whose results are dropped. Needs ``vectorize=True`` and devices
            of this process. The same draws as on one device; floats equal to rounding.
        mesh: alternatively a :class:`jax.sharding.Mesh`; members are split over all its axes.
        member_loop: how one program runs its (lr, seed) members (on each device): ``"vmap"``
            (batched: every product gets a member axis), ``"map"`` (``lax.map``: one member after
            another, each with the unbatched products of a single run) or ``"auto"`` (default:
            ``"map"`` on CPU, ``"vmap"`` on other platforms). On XLA:CPU the batched products of
            small layers ran slower than the members one by one (``benchmarks/training.py``);
            accelerators want the wide batched ones. The same draws either way; floats equal to
            rounding.

    Returns:
        :class:`SweepResult` (a :class:`sgd_sde.grid.GridResult`); its ``keys_mode`` says which keys.

    Raises:
        ValueError: a non-positive lr (naming ``lrs``), a batch size outside ``[1, N]`` or not a
            multiple of the model's ghost batch size (naming ``batch_sizes``), an ``lr_shape``
            giving a non-positive or non-finite ``lr · lr_shape(k)`` (naming ``lr_shape``), a seed
            outside ``[0, 2**31 - 1]``, a ragged list, both or neither run length, a count over
            ``2**31 - 1`` or a run too large for this machine's memory, ``keys`` not one of
            ``"common"``/``"independent"``, both ``devices`` and ``mesh``, devices with
            ``vectorize=False`` or of another process — before anything runs.
        TypeError: a ``key`` that is not a PRNG key, a ``model_fn`` that is not callable or does
            not return a model, an ``lr_shape`` that is not callable or fails on
            ``np.arange(n_steps)`` — before anything is traced.

    Examples:
        >>> import jax
        >>> from sgd_sde.networks import MLP, load_dataset
        >>> data = load_dataset("digits").subset(256, 64)
        >>> res = sweep(jax.random.key(0), lambda k: MLP(data.input_shape, 10, (16,), key=k), data,
        ...             lrs=[0.01, 0.1], batch_sizes=[32], seeds=[0, 1], n_steps=10)
        >>> res.metrics["test_acc"].shape, res.keys_mode
        ((2, 1, 2), 'common')
        >>> res.to_pandas()[["lr", "batch_size", "seed", "n_steps"]].shape  # one row per run
        (4, 4)

    References:
        Goyal et al. 2017, "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour" (linear
        scaling); Jastrzebski et al. 2017, "Three Factors Influencing Minima in SGD"; Smith & Le
        2018, "A Bayesian Perspective on Generalization and Stochastic Gradient Descent".
    """
    key = check_key(key)
    if not callable(model_fn):
        raise TypeError(f"model_fn must be a callable key -> model, got {type(model_fn).__name__}")
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be an sgd_sde.networks.Dataset, got {type(data).__name__}")
    N = data.n_train
    lr_arr = _floats("lrs", lrs)
    b_arr = np.asarray([V.count("batch_sizes", b) for b in V.flat_list("batch_sizes", batch_sizes)], np.int64)
    if b_arr.size == 0:
        raise ValueError("batch_sizes must not be empty")
    if np.any(b_arr > N):
        raise ValueError(f"batch_sizes must be <= the {N} training examples, got {b_arr.max()}")
    s_arr = np.asarray([V.count("seeds", s, minimum=0) for s in V.flat_list("seeds", seeds)], np.int64)
    if s_arr.size == 0:
        raise ValueError(f"seeds must be a non-empty list of non-negative ints, got {list(s_arr)}")
    check_keys_mode(keys)
    if (n_steps is None) == (n_epochs is None):
        raise ValueError(f"give exactly one of n_steps or n_epochs (got n_steps={n_steps}, n_epochs={n_epochs})")
    steps = np.asarray([V.count("n_steps", n_steps) if n_steps is not None else steps_for_epochs(int(b), n_epochs, N) for b in b_arr])
    if np.any(steps < 1):
        raise ValueError("n_epochs gives no complete batch for some batch size")
    for b, n in zip(b_arr, steps):  # the batch-index plan and the per-step losses of every member
        V.count("n_epochs" if n_steps is None else "n_steps", int(n))
        V.fits_in_memory("n_epochs" if n_steps is None else "n_steps", lr_arr.size * s_arr.size * int(n) * (4 * int(b) + 16),
                         f"a plan of {int(n)} steps of batch {int(b)} for {lr_arr.size * s_arr.size} runs")
    if lr_shape is not None and not callable(lr_shape):
        raise TypeError(f"lr_shape must be a callable k -> factor or None, got {type(lr_shape).__name__}")
    shape = lr_shape if lr_shape is not None else _unit
    factors = _values(_on_host("lr_shape", shape), int(steps.max()), "lr_shape")  # the steps of every batch size
    for lr in (lr_arr.min(), lr_arr.max()):
        bad = np.flatnonzero(~np.isfinite(lr * factors) | (lr * factors <= 0))
        if bad.size:
            k = int(bad[0])
            raise ValueError(f"lr_shape must give learning rates lr · lr_shape(k) that are finite and > 0 at every step, "
                             f"got {lr:g} · {factors[k]} = {lr * factors[k]} at step {k}")
    # inside the compiled loop: the shape itself, or its host values if it works on NumPy only
    traced_shape = shape if _traces_to_scalar(shape) else _LRTable(np.asarray(factors, np.float32))
    model_fn = _checked_model_fn(model_fn, b_arr)
    opt = make_optimizer(optimizer, momentum=momentum, weight_decay=weight_decay, clip_norm=clip_norm)
    rec = None if record_every is None else V.count("record_every", record_every)
    vectorize = V.flag("vectorize", vectorize)
    members = _member_sharding(devices, mesh, vectorize)
    loop = _member_loop(member_loop, members)

    nl, nb, ns = lr_arr.size, b_arr.size, s_arr.size
    if keys == "common":
        point_keys = [[jax.random.split(key)] * nl for _ in range(nb)]
    else:  # grid point (lr_i, B_j) is number i * n_B + j, as in sgd_sde.simulate.sweep
        point_keys = [[jax.random.split(jax.random.fold_in(key, i * nb + j)) for i in range(nl)] for j in range(nb)]
    windows = [max(1, int(n) // 50) if rec is None else rec for n in steps]
    n_rec = max(-(-int(n) // w) for n, w in zip(steps, windows))
    metrics = {m: np.full((nl, nb, ns), np.nan) for m in METRICS}
    curve = np.full((nl, nb, ns, n_rec), np.nan)
    curve_steps = np.full((nb, n_rec), -1, np.int64)
    bar = None
    built = {} if keys == "common" else None  # initial models, shared by the batch sizes (common keys)
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=nb, desc="sweep", unit="batch size", leave=False)
    for j, (B, n) in enumerate(zip(b_arr, steps)):
        B, n, w = int(B), int(n), windows[j]
        ends = np.minimum(np.arange(w, n + w, w), n)
        curve_steps[j, : ends.size] = ends
        if vectorize:
            finals, losses = _run_vectorized(model_fn, data, opt, traced_shape, lr_arr, s_arr, B, n, point_keys[j], members, loop, built)
        else:
            finals, losses = _run_sequential(model_fn, data, optimizer, momentum, weight_decay, clip_norm, shape, lr_arr, s_arr, B, n,
                                             point_keys[j])
        for m_i, m in enumerate(METRICS):
            metrics[m][:, j, :] = finals[..., m_i]
        starts = np.concatenate([[0], ends[:-1]])
        curve[:, j, :, : ends.size] = np.stack([losses[..., a:b].mean(axis=-1) for a, b in zip(starts, ends)], axis=-1)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    meta = {"n_train": N, "data": data.name, "optimizer": _fingerprint(optimizer),  # no memory address (a partial)
            "momentum": momentum, "weight_decay": weight_decay, "clip_norm": clip_norm, "vectorize": vectorize,
            "key": np.asarray(jax.random.key_data(key)).tolist(), "keys": keys,
            "lr_shape": None if lr_shape is None else _fingerprint(lr_shape), "n_steps": n_steps, "n_epochs": n_epochs}
    if vectorize:
        meta["member_loop"] = loop
    if members is not None:
        meta["devices"] = [str(dev) for dev in members.mesh.devices.flat]
    return SweepResult(lr_arr, b_arr, s_arr, metrics, {"train_loss": curve}, curve_steps, steps, meta, keys)


@eqx.filter_jit
def _vrun_jit(static, opt, shape, carry, X, Y, idx, ks, flags, scale, loop="vmap", members=None):
    # module-level and keyed on the hashed (static model, optimizer, lr shape, loop, sharding): a
    # second sweep of the same shapes reuses the compiled program (a jax.jit built inside each call
    # recompiled every time)
    run = make_runner(static, opt, shape, use_swa=False)

    def all_members(carry, X, Y, idx, ks, flags, scale):
        if loop == "vmap":
            return jax.vmap(run, in_axes=((0, 0, 0, None, None), None, None, 0, None, None, 0))(carry, X, Y, idx, ks, flags, scale)
        params, bn, opt_state, avg, n_avg = carry

        def one(member):  # lax.map: the members one after another, each with unbatched products
            p, b, o, ix, sc = member
            return run((p, b, o, avg, n_avg), X, Y, ix, ks, flags, sc)

        return jax.lax.map(one, (params, bn, opt_state, idx, scale))

    if members is None:
        return all_members(carry, X, Y, idx, ks, flags, scale)
    # each device runs its share of the members; nothing is communicated
    M, R = PartitionSpec(members.spec[0]), PartitionSpec()
    return jax.shard_map(all_members, mesh=members.mesh, in_specs=((M, M, M, R, R), R, R, M, R, R, M),
                         out_specs=((M, M, M, M, M), M))(carry, X, Y, idx, ks, flags, scale)


@eqx.filter_jit
def _members_final_metrics(static, params, bn, init, xtr, ytr, xte, yte):
    # compiled once per model shape (a filter_vmap built in each call re-traced every time: ~10 ms
    # per batch size on CPU)
    return jax.vmap(lambda p, st, p0: _final_metrics(eqx.combine(p, static), st, eqx.combine(p0, static),
                                                     xtr, ytr, xte, yte))(params, bn, init)


def _member_sharding(devices, mesh, vectorize):
    """The sharding of the members' leading axis (``None`` on one default device), checked."""
    if devices is None and mesh is None:
        return None
    if not vectorize:
        raise ValueError("devices= / mesh= split the members of a vmapped program; they need vectorize=True")
    s = particle_sharding(devices=devices, mesh=mesh)  # validates devices/mesh, names the argument
    here = jax.process_index()
    if any(dev.process_index != here for dev in s.mesh.devices.flat):
        raise ValueError("devices= / mesh= of networks.sweep must be devices of this process "
                         "(several processes: run one sweep per process on its own devices)")
    return NamedSharding(s.mesh, PartitionSpec(s.spec[-1]))


def _member_loop(member_loop, members):
    """``"vmap"`` or ``"map"``: ``member_loop`` checked, ``"auto"`` resolved for the platform."""
    if member_loop not in ("auto", "vmap", "map"):
        raise ValueError(f"member_loop must be one of 'auto', 'vmap', 'map', got {member_loop!r}")
    if member_loop != "auto":
        return member_loop
    device = next(iter(members.mesh.devices.flat)) if members is not None else jax.devices()[0]
    return "map" if device.platform == "cpu" else "vmap"


def _split_members(tree, sharding):
    """Pad every leaf's leading (member) axis to a multiple of the device count with copies of
    member 0 and place it split over ``sharding``; scalars are replicated."""
    k = sharding.mesh.size

    def put(x):
        x = jnp.asarray(x)
        if x.ndim == 0:
            return jax.device_put(x, NamedSharding(sharding.mesh, PartitionSpec()))
        pad = -x.shape[0] % k
        if pad:
            x = jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)])
        return jax.device_put(x, sharding)

    return jax.tree.map(put, tree)


@eqx.filter_jit
def _stack_members(opt, params, states):
    """The members' weights and model states stacked on a leading axis, and their optimizer
    states, in one compiled call (op by op, the stacks and ``vmap(opt.init)`` were ~10 ms per batch
    size on CPU)."""
    stack = lambda trees: jax.tree.map(lambda *xs: jnp.stack(xs), *trees)  # noqa: E731
    p = stack(params)
    return p, stack(states), jax.vmap(opt.init)(p)


def _tag(k):
    return np.asarray(jax.random.key_data(k)).tobytes()


def _run_vectorized(model_fn, data, opt, shape, lrs, seeds, B, n, lr_keys, members=None, loop="vmap", built=None):
    """``lr_keys[i] = (k_init, k_batch)`` of learning rate ``i`` (the same pair for common keys:
    then the members of different learning rates share their models and plans, built once).
    ``members``: the sharding of the member axis (see :func:`_member_sharding`), or ``None``;
    ``loop``: ``"vmap"`` or ``"map"`` (see :func:`sweep`'s ``member_loop``); ``built``: a dict
    shared by the batch sizes of one sweep, so that each initial model is built once."""
    N = data.n_train
    nl, ns = lrs.size, seeds.size
    built = {} if built is None else built
    plans = {}  # k_batch -> the seeds' batch plans for this (B, n)

    def model(ki, s):
        key = (_tag(ki), int(s))
        if key not in built:
            built[key] = model_fn(jax.random.fold_in(ki, int(s)))
        return built[key]

    models, idx = [], []  # member order: lr-major, then seed
    for ki, kb in lr_keys:
        models += [model(ki, s) for s in seeds]
        if _tag(kb) not in plans:
            plans[_tag(kb)] = [Plan(jax.random.fold_in(kb, int(s)), N, np.full(n, B)).indices(0, n) for s in seeds]
        idx += plans[_tag(kb)]
    static = eqx.partition(models[0], eqx.is_inexact_array)[1]
    params, bn, opt_state = _stack_members(opt, [eqx.filter(m, eqx.is_inexact_array) for m in models],
                                           [m.init_state() for m in models])
    init = params  # not donated: the start of distance_from_init
    idx = jnp.asarray(np.stack(idx))
    scale = jnp.asarray(np.repeat(lrs, ns), jnp.float32)
    X, Y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    carry = (params, bn, opt_state, None, jnp.zeros((), jnp.int32))
    if members is not None:  # X, Y and the step inputs replicated; members split, padded
        carry, idx, scale = _split_members((carry, idx, scale), members)
        X, Y = jax.device_put((X, Y), NamedSharding(members.mesh, PartitionSpec()))
    (params, bn, _, _, _), losses = _vrun_jit(static, opt, shape, carry, X, Y, idx, jnp.arange(n), jnp.zeros(n, bool), scale,
                                              loop, members)
    if members is not None:
        params, bn, losses = jax.tree.map(lambda x: x[: nl * ns], (params, bn, losses))
    finals = np.asarray(_members_final_metrics(static, params, bn, init, X, Y, jnp.asarray(data.x_test), jnp.asarray(data.y_test)),
                        np.float64).reshape(nl, ns, -1)
    return finals, np.asarray(losses, np.float64).reshape(nl, ns, n)


def _run_sequential(model_fn, data, optimizer, momentum, weight_decay, clip_norm, shape, lrs, seeds, B, n, lr_keys):
    finals = np.zeros((lrs.size, seeds.size, len(METRICS)))
    losses = np.zeros((lrs.size, seeds.size, n))
    for i, lr in enumerate(lrs):
        k_init, k_batch = lr_keys[i]
        for k, s in enumerate(seeds):
            model = model_fn(jax.random.fold_in(k_init, int(s)))
            sched = _ScaledSchedule(shape, np.float32(lr))
            loss_log = []
            out = train(jax.random.fold_in(k_batch, int(s)), model, data, optimizer=optimizer, momentum=momentum,
                        weight_decay=weight_decay, clip_norm=clip_norm, lr_schedule=sched, batch_schedule=B, n_steps=n,
                        probe_every=1, progress=False)
            loss_log = out.history["train_loss"][1:]
            losses[i, k] = loss_log
            finals[i, k] = np.asarray(_final_metrics(out.model, out.state, model, jnp.asarray(data.x_train), jnp.asarray(data.y_train),
                                                     jnp.asarray(data.x_test), jnp.asarray(data.y_test)), np.float64)
    return finals, losses
