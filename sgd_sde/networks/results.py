"""Saved training results and checkpoints: PyTree leaves flattened to ``.npz`` + JSON (atomic, via
:mod:`sgd_sde.io`; nothing is pickled). A model is rebuilt from a template of the same
architecture, whose structure is reused and whose leaves are checked for shape and dtype.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..io import load_arrays, save_arrays
from .models import AbstractModel

__all__ = ["TrainResult"]


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """Output of :func:`train`.

    Attributes:
        model: final model; state: its batch-norm statistics.
        history: per-probe arrays (``step``, ``epoch``, ``lr``, ``batch_size``, ``train_loss`` —
            the mean minibatch loss since the previous probe, NaN at step 0 — plus every probe's
            keys), each with leading axis = probe points.
        swa_model, swa_state: SWA average with recomputed batch-norm statistics (or ``None``).
        diverged_step: first step whose minibatch loss was not finite (−1 if none).
        metadata: configuration, wall time, versions.
    """

    model: AbstractModel
    state: Any
    history: dict[str, np.ndarray]
    swa_model: AbstractModel | None = None
    swa_state: Any = None
    diverged_step: int = -1
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def save(self, path) -> None:
        """Write ``<path>.npz``/``.json`` atomically (leaves of model, state, SWA; history)."""
        arrays = {f"history__{k}": v for k, v in self.history.items()}
        for tag, tree in (("model", _params(self.model)), ("state", self.state), ("swa_model", _params(self.swa_model) if self.swa_model is not None else None), ("swa_state", self.swa_state)):
            for i, leaf in enumerate(jax.tree_util.tree_leaves(tree)):
                arrays[f"{tag}__{i:05d}"] = np.asarray(leaf)
        save_arrays(path, arrays, {"kind": "sgd_sde.networks.TrainResult", "diverged_step": self.diverged_step, "has_swa": self.swa_model is not None, **self.metadata})

    @classmethod
    def load(cls, path, like: AbstractModel) -> TrainResult:
        """Read what :meth:`save` wrote; ``like`` is a model of the same architecture (its
        structure is reused, its values are replaced).

        Raises:
            FileNotFoundError: missing files. ValueError: corrupt files, wrong kind, or a ``like``
            model whose leaves do not match.
        """
        arrays, meta = load_arrays(path)
        if meta.get("kind") != "sgd_sde.networks.TrainResult":
            raise ValueError(f"{path!s} does not hold a saved TrainResult (kind={meta.get('kind')!r})")
        hist = {k[len("history__"):]: v for k, v in arrays.items() if k.startswith("history__")}
        model = _restore_model(like, _group(arrays, "model"), "like")
        state = _restore(like.init_state(), _group(arrays, "state"), "like")
        swa_model = swa_state = None
        if meta.get("has_swa"):
            swa_model = _restore_model(like, _group(arrays, "swa_model"), "like")
            swa_state = _restore(like.init_state(), _group(arrays, "swa_state"), "like")
        d = meta.pop("diverged_step", -1)
        meta = {k: v for k, v in meta.items() if k not in ("kind", "has_swa")}
        return cls(model, state, hist, swa_model, swa_state, int(d), meta)


# ---------------------------------------------------------------------------- PyTree <-> arrays
def _params(model):
    return eqx.filter(model, eqx.is_inexact_array)


def _group(arrays, tag):
    keys = sorted(k for k in arrays if k.startswith(tag + "__"))
    return [arrays[k] for k in keys]


def _restore(template, leaves, name):
    t_leaves, treedef = jax.tree_util.tree_flatten(template)
    if len(t_leaves) != len(leaves):
        raise ValueError(f"{name}: expected {len(t_leaves)} arrays, found {len(leaves)}")
    out = []
    for t, a in zip(t_leaves, leaves):
        t = np.asarray(t)
        if t.shape != a.shape or t.dtype != a.dtype:
            raise ValueError(f"{name}: array of shape {a.shape} {a.dtype} does not match {t.shape} {t.dtype}")
        out.append(jnp.asarray(a))
    return jax.tree_util.tree_unflatten(treedef, out)


def _restore_model(like, leaves, name):
    params, static = eqx.partition(like, eqx.is_inexact_array)
    return eqx.combine(_restore(params, leaves, name), static)


def _save_checkpoint(path, carry, history, step, config, diverged, pending):
    arrays = {f"carry__{i:05d}": np.asarray(x) for i, x in enumerate(jax.tree_util.tree_leaves(carry))}
    for k, v in history.items():
        arrays[f"history__{k}"] = np.stack(v)
    arrays["pending"] = np.asarray(pending, np.float64)
    save_arrays(path, arrays, {"kind": "sgd_sde.networks.checkpoint", "step": step, "diverged": diverged, "config": config})


def _load_checkpoint(path, carry, config):
    try:
        arrays, meta = load_arrays(path)
    except ValueError as err:
        raise ValueError(f"checkpoint {str(path)!r} is corrupt: {err}") from err
    if meta.get("kind") != "sgd_sde.networks.checkpoint":
        raise ValueError(f"checkpoint {str(path)!r} is not a training checkpoint (kind={meta.get('kind')!r})")
    if json.dumps(meta.get("config"), sort_keys=True) != json.dumps(json.loads(json.dumps(config)), sort_keys=True):
        raise ValueError(f"checkpoint {str(path)!r} was written by a different configuration (data, model, schedules, key); "
                         "use another checkpoint path or delete it")
    try:
        carry = _restore(carry, _group(arrays, "carry"), f"checkpoint {str(path)!r}")
    except ValueError as err:
        raise ValueError(str(err)) from err
    history = {k[len("history__"):]: list(v) for k, v in arrays.items() if k.startswith("history__")}
    return carry, history, int(meta["step"]), arrays["pending"].tolist(), int(meta.get("diverged", -1))
