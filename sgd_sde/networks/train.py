r"""Training loop for real networks: jit-compiled ``lax.scan`` chunks between probe points.

``train(key, model, data, ...)`` runs minibatch SGD (heavy-ball or Nesterov momentum) or Adam via
optax, with a learning-rate schedule, a batch-size schedule (Smith et al. 2018), optional
gradient-norm clipping, weight decay and SWA (Izmailov et al. 2018); evaluates *probes* every
``probe_every`` steps; checkpoints atomically (no pickle) so a killed run resumes bit-for-bit.

The update at step ``k`` with minibatch gradient ``g_k`` is ``θ ← θ + η_k u_k`` where ``u_k`` is the
optax direction at unit learning rate (``−v_k`` with ``v_k = g_k + μ v_{k−1}`` for heavy ball,
PyTorch's convention) and ``η_k = lr_schedule(k)``. The learning rate is applied last, which is
where every optax alias applies it, so ``optimizer`` can be any ``learning_rate -> optax``
factory.

A probe is ``probe(model, state, data, step) -> dict[str, scalar | array]`` with ``model`` the
current model, ``state`` a :class:`TrainState`, ``data`` the :class:`~sgd_sde.networks.Dataset` and
``step`` the number of completed steps; :mod:`sgd_sde.networks.probes` has ready ones.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import _validate as V
from .._keys import check_key
from ._plan import Plan, batch_sizes, device_indices, learning_rates, steps_for_epochs
from .datasets import Dataset
from .models import AbstractModel, cross_entropy
from .results import TrainResult, _load_checkpoint, _save_checkpoint
from .swa import SWA, bn_update, swa_flags, swa_update

__all__ = ["TrainState", "TrainResult", "train", "make_optimizer"]

_BUILTIN = ("step", "epoch", "lr", "batch_size", "train_loss")
_MOMENTUM = 0.9  # the default momentum of make_optimizer, train and sweep


@dataclasses.dataclass(frozen=True)
class TrainState:
    """What a probe sees besides the model.

    Attributes:
        bn_state: batch-norm running statistics.
        opt_state: the optax state.
        init_model: the model at step 0 (for ``‖w_t − w_0‖``).
        swa_model: the current SWA average (``None`` without SWA or before the first average).
        step: completed steps; epoch: completed epochs (the epoch the next batch draws from; at the
        end, see ``history["epoch"]`` in :class:`TrainResult`); lr, batch_size: those of the last step.
    """

    bn_state: Any
    opt_state: Any
    init_model: AbstractModel
    swa_model: AbstractModel | None
    step: int
    epoch: int
    lr: float
    batch_size: int


# ---------------------------------------------------------------------------- optimizer
def make_optimizer(optimizer: str | Callable = "sgd", *, momentum: float = 0.9, nesterov: bool = False,
                   weight_decay: float = 0.0, clip_norm: float | None = None) -> optax.GradientTransformation:
    """The optax chain at unit learning rate: ``[clip_by_global_norm] → [add_decayed_weights] → base``.

    Args:
        optimizer: ``"sgd"`` (heavy ball with ``momentum``; 0 for plain SGD), ``"adam"``, or a
            factory ``learning_rate -> optax.GradientTransformation`` whose learning rate is its
            final scaling (true of every optax alias), called with ``1.0``.
        momentum: heavy-ball coefficient ``μ ∈ [0, 1)`` for ``"sgd"``.
        nesterov: Nesterov momentum for ``"sgd"``.
        weight_decay: L2 coefficient added to the gradient (``≥ 0``).
        clip_norm: global gradient-norm clip (Hoffer et al. clip at 5), or ``None``.

    Raises:
        ValueError: unknown name, momentum outside [0, 1), ``nesterov`` with ``momentum=0``, a
            ``momentum`` other than the default 0.9 or ``nesterov`` with an optimizer other than
            ``"sgd"`` (which would ignore them: set Adam's β₁ in a factory,
            ``functools.partial(optax.adam, b1=0.8)``), negative weight decay, ``clip_norm ≤ 0``.

    References:
        Polyak 1964, "Some methods of speeding up the convergence of iteration methods"; Kingma &
        Ba 2015, "Adam: A Method for Stochastic Optimization".
    """
    try:
        hash((optimizer, momentum, nesterov, weight_decay, clip_norm))
    except TypeError:
        return _make_optimizer(optimizer, momentum, nesterov, weight_decay, clip_norm)
    return _make_optimizer_cached(optimizer, momentum, nesterov, weight_decay, clip_norm)


@functools.lru_cache(maxsize=64)
def _make_optimizer_cached(optimizer, momentum, nesterov, weight_decay, clip_norm):
    # the same configuration returns the same object, so compiled training steps are reused
    return _make_optimizer(optimizer, momentum, nesterov, weight_decay, clip_norm)


def _make_optimizer(optimizer, momentum, nesterov, weight_decay, clip_norm) -> optax.GradientTransformation:
    """Build the chain (uncached); see :func:`make_optimizer`."""
    if optimizer == "sgd":
        mu = V.as_float("momentum", momentum)
        if not 0.0 <= mu < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got momentum={mu}")
        if nesterov and mu == 0:
            raise ValueError("nesterov=True needs momentum in (0, 1) (with momentum=0 it is plain SGD), got momentum=0")
        base = optax.sgd(1.0, momentum=mu if mu > 0 else None, nesterov=bool(nesterov))
    elif optimizer == "adam" or callable(optimizer):
        # momentum and nesterov are "sgd"'s heavy ball: another optimizer would silently ignore them
        mu = V.as_float("momentum", momentum)
        if mu != _MOMENTUM or nesterov:
            name, what = ("momentum", f"momentum={mu}") if mu != _MOMENTUM else ("nesterov", f"nesterov={nesterov!r}")
            raise ValueError(f"{name} applies to optimizer='sgd' only; optimizer={optimizer!r} would ignore it (set Adam's "
                             f"b1 in a factory, e.g. functools.partial(optax.adam, b1=0.8)), got {what}")
        base = optax.adam(1.0) if optimizer == "adam" else optimizer(1.0)
        if not isinstance(base, optax.GradientTransformation):
            raise TypeError(f"optimizer(1.0) must return an optax.GradientTransformation, got {type(base).__name__}")
    else:
        raise ValueError(f"optimizer must be 'sgd', 'adam' or a learning_rate -> optax factory, got {optimizer!r}")
    chain = []
    if clip_norm is not None:
        chain.append(optax.clip_by_global_norm(V.positive("clip_norm", clip_norm)))
    if V.nonnegative("weight_decay", weight_decay) > 0:
        chain.append(optax.add_decayed_weights(float(weight_decay)))
    chain.append(base)
    return optax.chain(*chain)


class _ConstantLR(eqx.Module):
    value: Any  # an array leaf: traced, so runs at different learning rates share one compilation

    def __call__(self, k):
        return jnp.asarray(self.value, jnp.float32)


class _ScaledSchedule(eqx.Module):
    """``k -> scale · shape(k)`` with ``scale`` traced (one compilation for every scale)."""

    shape: Callable = eqx.field(static=True)
    scale: Any

    def __call__(self, k):
        return self.shape(k) * self.scale


class _LRTable(eqx.Module):
    """``k -> table[k]``: the learning rates tabulated on the host, traced (a schedule written for
    NumPy only: ``np.exp`` of the step, a list of values)."""

    table: Any

    def __call__(self, k):
        return self.table[k]


def _traces_to_scalar(fn) -> bool:
    """Whether ``fn(k)`` on a traced int32 step gives one number (what the compiled loop calls)."""
    try:  # through a lambda: jax.jit needs a weak reference to what it traces, which a __slots__ schedule has not
        out = jax.eval_shape(lambda k: fn(k), jax.ShapeDtypeStruct((), jnp.int32))
    except Exception:  # noqa: BLE001 -- any failure to trace (np.asarray of a tracer, list arithmetic, ...)
        return False
    return isinstance(out, jax.ShapeDtypeStruct) and out.shape == () and jnp.issubdtype(out.dtype, jnp.number)


def _jnp_lr(lr_schedule, table):
    """The learning rate inside the compiled loop: a constant, the schedule itself when it traces
    to a number, else its host values ``table`` (the ones validated; one compilation per length)."""
    if not callable(lr_schedule):
        return _ConstantLR(np.float32(lr_schedule))
    return lr_schedule if _traces_to_scalar(lr_schedule) else _LRTable(np.asarray(table, np.float32))


def _on_host(name, schedule):
    """``schedule`` as :func:`~._plan.learning_rates` / :func:`~._plan.batch_sizes` call it (on
    ``np.arange(n_steps)``), a failure of the call re-raised as a TypeError naming ``name``."""
    if not callable(schedule):
        return schedule

    def call(k):
        try:
            return schedule(k)
        except Exception as err:  # noqa: BLE001 -- the user's code: name the argument, keep the cause
            raise TypeError(f"{name} must accept an array of steps (it is evaluated on np.arange(n_steps) on the host; "
                            f"branch with np.where / jnp.where, not `if`), but {name}(np.arange(...)) raised "
                            f"{type(err).__name__}: {err}") from err

    return call


def _split(tree):
    """``(arrays, hashable rest)`` of a pytree — what ``eqx.filter_jit`` does on every call, done
    here once per :func:`train` call; the rest is ``(treedef, non-array leaves)``."""
    dyn, rest = eqx.partition(tree, eqx.is_array)
    leaves, treedef = jax.tree_util.tree_flatten(rest)
    return dyn, (treedef, tuple(leaves))


def _join(dyn, rest):
    treedef, leaves = rest
    return eqx.combine(dyn, jax.tree_util.tree_unflatten(treedef, leaves))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5))
def _run_jit(static, opt, lr_fn, use_swa, n, B, dyn, carry, X, Y, key, epoch0, offset, a, flags, lr_scale):
    """Steps ``a … a+n−1`` (batch size ``B``) as one compiled call. The minibatch indices are drawn
    inside it (:func:`~._plan.device_indices`) from where the chunk starts in the plan
    (``epoch0 = Plan.epoch[a]``, ``offset = Plan.start[a]``), as a hand-written loop draws its
    permutations: no host-side index plan or index transfer sits before a chunk.

    ``static``, ``opt``, ``lr_fn`` are the hashable parts from :func:`_split` (their arrays travel in
    ``dyn``), so equal configurations share compilations, cached per chunk length ``n`` and batch
    size ``B``; ``epoch0``, ``offset``, ``a`` are traced. Plain ``jax.jit`` returns at dispatch
    (``eqx.filter_jit`` blocks until the result is ready), so :func:`train`'s host work after the
    call overlaps the compiled loop."""
    d_static, d_opt, d_lr = dyn
    static, opt, lr_fn = _join(d_static, static), _join(d_opt, opt), _join(d_lr, lr_fn)
    idx = device_indices(key, epoch0, offset, n, B, X.shape[0])
    ks = jnp.arange(n) + a  # the dtype of jnp.arange(a, a + n)
    if flags is None:  # no SWA: the flags are never read
        flags = jnp.zeros(n, bool)
    return make_runner(static, opt, lr_fn, use_swa=use_swa)(carry, X, Y, idx, ks, flags, lr_scale)


@functools.partial(jax.jit, static_argnums=0)
def _init_opt_jit(opt, dyn, params):
    return _join(dyn, opt).init(params), jnp.zeros((), jnp.int32)


def _init_opt(opt, params):
    """``(opt.init(params), int32 0)`` in one compiled call (eagerly, ``opt.init`` dispatches once per leaf)."""
    dyn, rest = _split(opt)
    return _init_opt_jit(rest, dyn, params)


def make_runner(static, opt, lr_fn, *, use_swa: bool):
    """Pure ``run(carry, X, Y, idx, ks, avg_flags, lr_scale) -> (carry, losses)``: one
    ``lax.scan`` over the steps in ``idx`` (``(n, B)``). ``carry = (params, bn_state, opt_state,
    swa_avg, swa_n)``. vmap-able over the carry, ``idx`` and ``lr_scale`` (used by sweeps)."""

    def batch_loss(params, bn_state, xb, yb):
        logits, new_bn = eqx.combine(params, static)(xb, bn_state, train=True)
        return jnp.mean(cross_entropy(logits, yb)), new_bn

    grad_fn = jax.value_and_grad(batch_loss, has_aux=True)

    def run(carry, X, Y, idx, ks, flags, lr_scale):
        def step(c, inp):
            params, bn_state, opt_state, swa_avg, swa_n = c
            ix, k, flag = inp
            (loss, bn_new), grads = grad_fn(params, bn_state, X[ix], Y[ix])
            updates, opt_state = opt.update(grads, opt_state, params)
            lr = lr_fn(k) * lr_scale
            updates = jax.tree.map(lambda u: (lr * u).astype(u.dtype), updates)
            params = optax.apply_updates(params, updates)
            if use_swa:
                new_avg, new_n = swa_update(swa_avg, swa_n, params)
                swa_avg = jax.tree.map(lambda a, b: jnp.where(flag, a, b), new_avg, swa_avg)
                swa_n = jnp.where(flag, new_n, swa_n)
            return (params, bn_new, opt_state, swa_avg, swa_n), loss

        return jax.lax.scan(step, carry, (idx, ks, flags))

    return run


# ---------------------------------------------------------------------------- train
def _check_model(model):
    if not isinstance(model, AbstractModel):
        raise TypeError(f"model must be an sgd_sde.networks model (MLP, CNN, AbstractModel), got {type(model).__name__}")


def _check_state(state, model):
    """``state`` must have the tree structure, leaf shapes and dtypes of ``model.init_state()``
    (the compiled loop carries it from step to step)."""

    def spec(tree):  # the tree with every leaf as "dtype[shape]"
        return jax.tree.map(lambda x: f"{jnp.result_type(x).name}{list(np.shape(x))}", tree)

    want = spec(model.init_state())
    try:
        got = spec(state)
    except (TypeError, ValueError):  # a leaf that is neither an array nor a number
        got = type(state).__name__
    flat = jax.tree_util.tree_flatten
    if flat(got) != flat(want):
        raise TypeError(f"state must be batch-norm statistics like model.init_state() (the same structure, shapes and "
                        f"dtypes: {want}), got {got}")


def _ghost_sizes(model) -> list[int]:
    """The ghost batch sizes of ``model``'s batch-norm layers (every batch must be a multiple of each)."""
    return [nm.ghost_size for nm in getattr(model, "norms", ()) if getattr(nm, "ghost_size", None)]


def _check_data(data):
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be an sgd_sde.networks.Dataset (see load_dataset), got {type(data).__name__}")


def _boundaries(n_steps, sizes, probe_every, checkpoint_every):
    cuts = {0, n_steps}
    if probe_every:
        cuts.update(range(0, n_steps, probe_every))
    if checkpoint_every:
        cuts.update(range(0, n_steps, checkpoint_every))
    cuts.update((np.flatnonzero(np.diff(sizes)) + 1).tolist())
    return sorted(c for c in cuts if 0 <= c <= n_steps)


def _state_policy(lr_schedule):
    """``(policy, base)`` for a state-based policy (``init``/``update``/``base``), else ``(None, lr_schedule)``."""
    if all(hasattr(lr_schedule, a) for a in ("init", "update", "base", "monitor")):
        return lr_schedule, lr_schedule.base
    return None, lr_schedule


class _LRControl:
    """Host-side scale of a state-based policy, updated from the monitored history entry at each
    probe point after step 0 (replayed from the history on resume, so a resumed run continues exactly)."""

    def __init__(self, policy, history):
        self.policy, self.state = policy, policy.init() if policy is not None else None
        self.scale = 1.0
        if policy is not None:
            for step, value in zip(history.get("step", []), history.get(policy.monitor, [])):
                if int(step) > 0:
                    self.state = policy.update(self.state, float(value))
            self.scale = float(self.state.scale)

    def observe(self, history):
        if self.policy is None:
            return
        if self.policy.monitor not in history:
            raise ValueError(f"lr_schedule monitors {self.policy.monitor!r}, which no probe writes; history has {sorted(history)}")
        self.state = self.policy.update(self.state, float(history[self.policy.monitor][-1]))
        self.scale = float(self.state.scale)


def _first_divergence(losses, start, threshold):
    """``(step, criterion)`` of the first non-finite loss or loss above ``threshold`` in a chunk, else ``(-1, None)``."""
    finite = np.isfinite(losses)
    bad = ~finite if threshold is None else ~finite | (np.where(finite, losses, 0.0) > threshold)
    if not bad.any():
        return -1, None
    i = int(np.flatnonzero(bad)[0])
    return start + i, "non-finite loss" if not finite[i] else f"loss {losses[i]:.3g} > divergence_loss={threshold:g}"


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


_SCALARS = (bool, int, float, complex, str, bytes)
_PLAIN = (*_SCALARS, type(None))


def _cell(cell, fn):
    try:
        value = cell.cell_contents
    except ValueError:  # a cell not yet filled
        return "<empty>"
    return "<self>" if value is fn else value


def _describe(obj, depth: int = 0):
    """A JSON-able description of ``obj`` with no memory address in it, so equal in every process:
    plain values by ``repr``, containers and ``functools.partial`` recursively, arrays by digest, a
    function by module, qualname, bytecode, constants, names, defaults, closure cells and the plain
    values (numbers, strings) of the globals it names, a class, module or builtin by its name, and
    any other object by its type and attributes. Cut at depth 8 (a self-referencing closure)."""
    if depth > 8:
        return "..."
    d = functools.partial(_describe, depth=depth + 1)
    if isinstance(obj, _PLAIN):
        return repr(obj)
    if isinstance(obj, (tuple, list)):
        return [d(x) for x in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(json.dumps(d(x), sort_keys=True) for x in obj)
    if isinstance(obj, Mapping):
        return {repr(k): d(v) for k, v in obj.items()}
    if isinstance(obj, (np.ndarray, np.generic, jax.Array)):
        return "array:" + _digest(obj)
    if isinstance(obj, functools.partial):
        return {"partial": d(obj.func), "args": d(obj.args), "keywords": d(obj.keywords)}
    if isinstance(obj, types.CodeType):
        return {"code": obj.co_code.hex(), "consts": d(obj.co_consts), "names": list(obj.co_names)}
    if isinstance(obj, types.FunctionType):
        code = obj.__code__
        cells = [_cell(c, obj) for c in obj.__closure__ or ()]
        plain = {n: repr(obj.__globals__[n]) for n in code.co_names if isinstance(obj.__globals__.get(n), _SCALARS)}
        return {"function": f"{obj.__module__}.{obj.__qualname__}", "code": d(code), "defaults": d(obj.__defaults__),
                "kwdefaults": d(obj.__kwdefaults__), "closure": d(cells), "globals": plain}
    if isinstance(obj, types.MethodType):
        return {"method": d(obj.__func__), "self": d(obj.__self__)}
    if isinstance(obj, (type, types.ModuleType, types.BuiltinFunctionType)):
        return f"{getattr(obj, '__module__', None) or ''}.{getattr(obj, '__qualname__', obj.__name__)}"
    if dataclasses.is_dataclass(obj):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    else:
        fields = getattr(obj, "__dict__", {})
    return {"object": f"{type(obj).__module__}.{type(obj).__qualname__}", "fields": d(fields)}


def _fingerprint(obj) -> str:
    """``obj`` if a string, else its name and a digest of :func:`_describe` (for the checkpoint configuration)."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, functools.partial):
        name = f"partial({getattr(obj.func, '__qualname__', type(obj.func).__qualname__)})"
    else:
        name = getattr(obj, "__qualname__", type(obj).__qualname__)
    return f"{name}:{hashlib.sha256(json.dumps(_describe(obj), sort_keys=True).encode()).hexdigest()[:16]}"


def train(
    key,
    model: AbstractModel,
    data: Dataset,
    *,
    optimizer: str | Callable = "sgd",
    momentum: float = 0.9,
    nesterov: bool = False,
    lr_schedule: float | Callable = 0.05,
    batch_schedule: int | Callable = 64,
    n_steps: int | None = None,
    n_epochs: int | None = None,
    weight_decay: float = 0.0,
    clip_norm: float | None = None,
    swa: SWA | None = None,
    probes: Sequence[Callable] | Mapping[str, Callable] = (),
    probe_every: int | Sequence[int] | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    state=None,
    progress: bool = True,
    divergence_loss: float | None = 1e3,
) -> TrainResult:
    r"""Train ``model`` on ``data`` with minibatch SGD/Adam; return the final model and a history.

    Every argument is validated (and both schedules evaluated on the host for every step) before
    anything is traced or written. Steps between probe points run as one jit-compiled
    ``lax.scan``; compilations are cached per (chunk length, batch size).

    Args:
        key: ``jax.random`` key for the batch order (the model carries its own initial weights).
        model: an :class:`~sgd_sde.networks.MLP`, :class:`~sgd_sde.networks.CNN` or other
            :class:`~sgd_sde.networks.models.AbstractModel`.
        data: a :class:`~sgd_sde.networks.Dataset`.
        optimizer, momentum, nesterov, weight_decay, clip_norm: see :func:`make_optimizer`.
        lr_schedule: float or callable ``k -> η_k``, evaluated on the host on ``np.arange(n_steps)``;
            must be finite and > 0 at every step. One that also works on a traced int (everything
            in :mod:`sgd_sde.schedules`, optax schedules) runs inside the compiled loop; one
            written for NumPy only (``np.exp(-np.asarray(k))``) is looked up in its host values.
        batch_schedule: int or callable ``k -> B_k`` (e.g. :func:`sgd_sde.schedules.increase_batch`),
            evaluated on the host on ``np.arange(n_steps)`` like ``lr_schedule`` (branch with
            ``np.where``, not ``if``); integers in ``[1, N_train]``; with ghost batch norm each must
            be a multiple of ``B_S``.
        n_steps, n_epochs: run length (give at most one; default ``n_epochs=30``).
        swa: :class:`~sgd_sde.networks.SWA` settings or ``None``.
        probes: callables ``probe(model, state, data, step) -> dict`` (a list, one probe, or a
            mapping name -> probe, whose keys are then prefixed ``"name/"``), run at step 0, every
            ``probe_every`` steps and at the end.
        probe_every: steps between probe points, or an explicit list of steps (e.g.
            ``np.unique(np.geomspace(1, n_steps, 30).astype(int))`` for a log-time axis); default:
            only start and end.
        checkpoint: path stem for an atomic checkpoint (one checked ``.npz``, metadata inside); if
            it exists and was written by the same configuration the run resumes from it, at its
            step, and ends with the parameters of an uninterrupted run; one that is corrupt, torn or
            inconsistent with its step is refused. ``probe_every`` and ``checkpoint_every`` are not
            part of the configuration and may change on resume: the probes up to the checkpoint
            come from its history, the later ones (and one at its step if that is a probe point
            only of the new cadence) follow the new ones — except with a state-based
            ``lr_schedule``, whose learning rate depends on the probe steps, which must then be
            the same. A callable ``optimizer`` is identified by a digest that is the same in every
            process: a ``functools.partial`` by its function, arguments and keywords; a function
            by its module, qualified name, bytecode, constants, the names it uses, defaults,
            closure values and the numbers and strings it reads from its globals, recursively;
            another object by its type and attributes. Not covered: other globals (only their
            names count), the code of the functions it calls (optax's own: a checkpoint written by
            other code warns), and another Python version's bytecode (refused as another
            configuration).
        checkpoint_every: steps between checkpoints (default: ``probe_every``, else only the end).
        state: initial batch-norm statistics (default ``model.init_state()``; the same tree
            structure, shapes and dtypes).
        progress: show a tqdm progress bar.
        divergence_loss: a minibatch loss above this flags the run as diverged (besides a
            non-finite loss); ``None``: only non-finite losses count. The default 1e3 is ~430× the
            cross-entropy at chance for 10 classes (ln 10): logits of order 10³ on wrong classes.
            The first such step is ``diverged_step``; ``metadata["divergence"]`` says which criterion.

    Returns:
        :class:`TrainResult`.

    Raises:
        TypeError: wrong ``model``/``data``/``key``/``probes`` types, a ``state`` unlike
            ``model.init_state()``, an ``lr_schedule`` or ``batch_schedule`` that fails on
            ``np.arange(n_steps)``.
        ValueError: a non-positive or non-finite learning rate at any step (naming
            ``lr_schedule`` and the step), a batch size outside ``[1, N_train]`` or not a multiple
            of the ghost batch size (naming ``batch_schedule``), both run lengths, a run length
            outside ``[1, 2³¹ − 1]`` steps or whose per-step schedules exceed memory, bad
            optimizer settings (:func:`make_optimizer`: ``nesterov`` without momentum, ``momentum``
            with ``"adam"``), bad intervals, a checkpoint from a different configuration (naming
            ``checkpoint``), or one written with other probe steps under a state-based
            ``lr_schedule`` (naming ``probe_every``).

    Examples:
        >>> import jax
        >>> from sgd_sde.networks import MLP, load_dataset
        >>> data = load_dataset("digits").subset(256, 128)
        >>> model = MLP(data.input_shape, 10, (32,), key=jax.random.key(0))
        >>> out = train(jax.random.key(1), model, data, n_steps=20, batch_schedule=32, progress=False)
        >>> out.history["step"].tolist()
        [0, 20]

    References:
        Robbins & Monro 1951 (SGD); Polyak 1964 (heavy ball); Smith, Kindermans, Ying & Le 2018,
        "Don't Decay the Learning Rate, Increase the Batch Size"; Izmailov et al. 2018 (SWA);
        Hoffer, Hubara & Soudry 2017 (ghost batch norm, gradient clipping).
    """
    # ------------------------------------------------------------------ validation (no tracing)
    _check_model(model)
    _check_data(data)
    key = check_key(key)
    N = data.n_train
    if n_steps is not None and n_epochs is not None:
        raise ValueError(f"give n_steps or n_epochs, not both (got n_steps={n_steps}, n_epochs={n_epochs})")
    steps_from = "n_steps"
    batch_schedule = _on_host("batch_schedule", batch_schedule)  # like lr_schedule: called on arrays of steps
    if n_steps is None:
        n_epochs = 30 if n_epochs is None else n_epochs
        n_steps = steps_for_epochs(batch_schedule, n_epochs, N)
        if n_steps < 1:
            raise ValueError(f"n_epochs gives no complete batch (batch larger than the {N} training examples)")
        if n_steps > V.MAX_COUNT:
            raise ValueError(f"n_epochs={n_epochs} gives {n_steps} steps, more than {V.MAX_COUNT} (the int32 step counter)")
        steps_from = "n_epochs"
    n_steps = V.count(steps_from, n_steps)  # int32 step counter
    # per-step host arrays before they are allocated: learning rates and batch sizes (float64,
    # then int64), the plan's epoch and offset (int64), the SWA flags
    V.fits_in_memory(steps_from, 48.0 * n_steps, "per-step schedules")
    sizes = batch_sizes(batch_schedule, n_steps, N)
    for g in _ghost_sizes(model):
        bad = np.flatnonzero(sizes % g)
        if bad.size:
            raise ValueError(f"batch_schedule must give multiples of the ghost batch size {g}, got {sizes[bad[0]]} at step {bad[0]}")
    state_policy, lr_schedule = _state_policy(lr_schedule)  # state-based policies (sgd_sde.lrbench.plateau)
    lrs = learning_rates(_on_host("lr_schedule", lr_schedule), n_steps)
    divergence_loss = None if divergence_loss is None else V.positive("divergence_loss", divergence_loss)
    opt = make_optimizer(optimizer, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, clip_norm=clip_norm)
    if swa is not None and not isinstance(swa, SWA):
        raise TypeError(f"swa must be an SWA(...) or None, got {type(swa).__name__}")
    if swa is not None and swa.start > n_steps:
        raise ValueError(f"swa.start must be <= n_steps={n_steps}, got {swa.start}")
    probe_list: set[int] = set()
    if probe_every is not None and not isinstance(probe_every, (int, np.integer)):
        arr = np.unique(np.asarray(probe_every))  # explicit steps, e.g. log-spaced for ‖w_t − w_0‖ vs log t
        if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() > n_steps:
            raise ValueError(f"probe_every must be a positive int or a list of integer steps in [0, {n_steps}], got {probe_every!r}")
        probe_list = {int(v) for v in arr}
        probe_every = None
    probe_every = None if probe_every is None else V.positive_int("probe_every", probe_every)
    checkpoint_every = probe_every if checkpoint_every is None else V.positive_int("checkpoint_every", checkpoint_every)
    if isinstance(probes, Mapping):
        named = [(str(k), p) for k, p in probes.items()]
    elif callable(probes):  # one probe, e.g. probes=probes.metrics()
        named = [(None, probes)]
    elif isinstance(probes, (str, bytes)) or not isinstance(probes, Iterable):
        raise TypeError(f"probes must be a probe, a list of probes or a mapping name -> probe, got {type(probes).__name__}")
    else:
        named = [(None, p) for p in probes]
    for name, p in named:
        if not callable(p):
            raise TypeError(f"probes must be callables probe(model, state, data, step), got {type(p).__name__}")
    if state is not None:
        _check_state(state, model)
    bn_state0 = model.init_state() if state is None else state
    flags = swa_flags(swa, n_steps)

    params0, static = eqx.partition(model, eqx.is_inexact_array)

    def make_config():
        """The configuration a checkpoint must match (digests of schedules, data and initial weights)."""
        config = {
            "n_steps": n_steps, "n_train": N, "data": data.name,
            "key": np.asarray(jax.random.key_data(key)).tolist(),
            "lr": _digest(lrs), "batch": _digest(sizes), "data_digest": _digest(data.x_train[:512], data.y_train),
            "init": _digest(*jax.tree_util.tree_leaves(params0)),
            "optimizer": _fingerprint(optimizer),
            "momentum": float(momentum), "nesterov": bool(nesterov), "weight_decay": float(weight_decay),
            "clip_norm": clip_norm, "swa": dataclasses.asdict(swa) if swa else None,
            "model": type(model).__name__, "shapes": [list(np.shape(x)) for x in jax.tree_util.tree_leaves(params0)],
        }
        if state_policy is not None:
            config["lr_state_policy"] = _fingerprint(state_policy)  # no memory address: resumable in a new process
        return config

    # ------------------------------------------------------------------ state and resume
    opt_state0, swa_n0 = _init_opt(opt, params0)
    carry = (params0, bn_state0, opt_state0, params0 if swa else None, swa_n0)
    history: dict[str, list] = {}
    start, pending, diverged = 0, [], -1
    ckpt = config = None
    if checkpoint is not None:
        ckpt, config = Path(checkpoint), make_config()
        resumed = _load_checkpoint(ckpt, carry, config)  # None: no checkpoint yet; refuses a mismatched one
        if resumed is not None:
            carry, history, start, pending, diverged = resumed
    probe_points = {0, n_steps} | probe_list | (set(range(0, n_steps, probe_every)) if probe_every else set())
    if state_policy is not None and start > 0:
        probed = [int(s) for s in history["step"]]
        if probed != sorted(p for p in probe_points if p <= start):
            raise ValueError(f"probe_every must give the probe steps the checkpoint {str(ckpt)!r} was written with "
                             f"({probed} up to its step {start}), got {sorted(p for p in probe_points if p <= start)}: "
                             "the state-based lr_schedule changes the learning rate at each probe point")

    plan = Plan(key, N, sizes)
    # completed epochs at the last probe, where there is no next batch: n_epochs when it set the run
    # length, else the epoch a further batch of the last size would draw from
    end_epoch = (int(n_epochs) if steps_from == "n_epochs"
                 else int(plan.epoch[-1]) + int(plan.start[-1] + 2 * sizes[-1] > N))
    X, Y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    lr_fn, use_swa = _jnp_lr(lr_schedule, lrs), swa is not None
    (d_static, h_static), (d_opt, h_opt), (d_lr, h_lr) = _split(static), _split(opt), _split(lr_fn)

    def run(a, b, carry):
        return _run_jit(h_static, h_opt, h_lr, use_swa, b - a, int(sizes[a]), (d_static, d_opt, d_lr), carry, X, Y, key,
                        np.int32(plan.epoch[a]), np.int32(plan.start[a]), np.int32(a), flags[a:b] if use_swa else None,
                        np.float32(lr_ctl.scale))
    # a resumed run starts at the checkpoint step, whatever the cadence the checkpoint was written with
    cuts = sorted(set(_boundaries(n_steps, sizes, probe_every, checkpoint_every)) | probe_list | {start})
    ckpt_points = {n_steps} | (set(range(0, n_steps, checkpoint_every)) if checkpoint_every else set())
    lr_ctl = _LRControl(state_policy, history if start > 0 else {})  # scale of a state-based policy (1 otherwise)
    why = "restored from checkpoint" if diverged >= 0 else None

    def do_probes(step, carry):
        epoch = int(plan.epoch[step]) if step < n_steps else end_epoch  # completed epochs: the next batch's epoch
        lr, bsz = float(lrs[max(step - 1, 0)]) * lr_ctl.scale, int(sizes[max(step - 1, 0)])
        row = {"step": step, "epoch": epoch, "lr": lr, "batch_size": bsz,
               "train_loss": float(np.mean(pending)) if pending else float("nan")}
        if named:
            params, bn_state, opt_state, swa_avg, swa_n = carry
            cur = eqx.combine(params, static)
            ts = TrainState(bn_state, opt_state, model, eqx.combine(swa_avg, static) if swa is not None and int(swa_n) > 0 else None,
                            step, epoch, lr, bsz)
        for name, p in named:
            out = p(cur, ts, data, step)
            if not isinstance(out, Mapping):
                raise TypeError(f"probe {getattr(p, '__name__', p)!r} must return a dict, got {type(out).__name__}")
            for k, v in out.items():
                k = f"{name}/{k}" if name else str(k)
                if k in row:
                    raise ValueError(f"probe output {k!r} clashes with another probe or a built-in history key")
                row[k] = np.asarray(v)
        for k, v in row.items():
            history.setdefault(k, []).append(np.asarray(v))
        pending.clear()

    t0 = time.perf_counter()
    bar = _bar(progress, n_steps, start)
    try:
        if start > 0 and start in probe_points and int(history["step"][-1]) < start:
            do_probes(start, carry)  # a probe point of this cadence that the checkpoint's cadence skipped
            lr_ctl.observe(history)
        for a, b in zip(cuts[:-1], cuts[1:]):
            if b <= start:
                continue
            before = carry
            carry, losses = run(a, b, carry)  # returns at dispatch: the host work up to np.asarray(losses) overlaps it
            if config is None:
                config = make_config()
            if a == 0:  # not resumed: the probes at step 0 see the initial state
                do_probes(0, before)
            losses = np.asarray(losses)
            pending.extend(losses.tolist())
            if diverged < 0:
                diverged, why = _first_divergence(losses, a, divergence_loss)
            if bar is not None:
                bar.update(b - a)
                bar.set_postfix(loss=f"{float(np.mean(losses)):.4f}")
            if b in probe_points:
                do_probes(b, carry)
                lr_ctl.observe(history)
            if b in ckpt_points and ckpt is not None:
                _save_checkpoint(ckpt, carry, history, b, config, diverged, pending)
    finally:
        if bar is not None:
            bar.close()
    if config is None:  # no chunk ran
        config = make_config()
    params, bn_state, opt_state, swa_avg, swa_n = carry
    final = eqx.combine(params, static)
    swa_model = swa_state = None
    if swa is not None and int(swa_n) > 0:
        swa_model = eqx.combine(swa_avg, static)
        swa_state = bn_update(swa_model, bn_state, data.x_train, batch_size=swa.bn_batch_size)
    hist = {k: np.stack(v) for k, v in history.items()}
    meta = {"config": config, "wall_time_s": time.perf_counter() - t0, "resumed_from": start, "jax": jax.__version__, "swa_count": int(swa_n),
            "divergence": {"step": diverged, "criterion": why, "divergence_loss": divergence_loss}}
    return TrainResult(final, bn_state, hist, swa_model, swa_state, diverged, meta)


def _bar(progress, n_steps, start):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=n_steps, initial=start, desc="train", unit="step", leave=False)
