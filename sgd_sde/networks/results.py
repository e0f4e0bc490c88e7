"""Saved training results and checkpoints: PyTree leaves flattened into one checked ``.npz`` with
the JSON metadata inside (atomic, via :func:`sgd_sde.io.save_arrays`; nothing is pickled). A model
is rebuilt from a template of the same architecture, whose structure is reused and whose leaves are
checked for shape and dtype.

A checkpoint holds the training carry, the history, the losses since the last probe and the step,
all in one file: the step is stored as an array too and cross-checked on resume against the
metadata, the history and the number of pending losses, so a checkpoint whose parts disagree is
refused instead of resumed.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..io import arrays_equal, load_arrays, paths_for, save_arrays
from .models import AbstractModel

__all__ = ["TrainResult"]


@dataclasses.dataclass(frozen=True, eq=False)
class TrainResult:
    """Output of :func:`train`.

    Attributes:
        model: final model; state: its batch-norm statistics.
        history: per-probe arrays (``step``, ``epoch``, ``lr``, ``batch_size``, ``train_loss`` —
            the mean minibatch loss since the previous probe, NaN at step 0 — plus every probe's
            keys), each with leading axis = probe points. ``epoch`` counts completed epochs: the
            epoch the next batch draws from; at the last probe, ``n_epochs`` when that set the run
            length, else the epoch a further batch of the last size would draw from.
        swa_model, swa_state: SWA average with recomputed batch-norm statistics (or ``None``).
        diverged_step: first step whose minibatch loss was not finite (−1 if none).
        metadata: configuration, wall time, versions; a loaded result also has ``provenance``.

    Two results are equal (``==``) when every array (model, state and SWA leaves, history) is equal
    in dtype, shape and value (NaN equal to NaN in the same place), the models have the same
    structure, and ``diverged_step`` and the metadata apart from ``provenance`` are equal.
    Results are not hashable.
    """

    model: AbstractModel
    state: Any
    history: dict[str, np.ndarray]
    swa_model: AbstractModel | None = None
    swa_state: Any = None
    diverged_step: int = -1
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"history__{k}": np.asarray(v) for k, v in self.history.items()}
        for tag, tree in (("model", _params(self.model)), ("state", self.state), ("swa_model", _params(self.swa_model) if self.swa_model is not None else None), ("swa_state", self.swa_state)):
            for i, leaf in enumerate(jax.tree_util.tree_leaves(tree)):
                arrays[f"{tag}__{i:05d}"] = np.asarray(leaf)
        return arrays

    def __eq__(self, other) -> bool:
        if not isinstance(other, TrainResult):
            return NotImplemented
        strip = lambda m: {k: v for k, v in m.items() if k != "provenance"}  # noqa: E731
        same_tree = all(jax.tree_util.tree_structure(_params(a)) == jax.tree_util.tree_structure(_params(b))
                        for a, b in ((self.model, other.model), (self.swa_model, other.swa_model)))
        return (same_tree and self.diverged_step == other.diverged_step
                and arrays_equal(self._arrays(), other._arrays()) and strip(self.metadata) == strip(other.metadata))

    __hash__ = None

    def save(self, path):
        """Write one checked file ``<path>.npz`` atomically (leaves of model, state, SWA; history;
        metadata with ``provenance``). Returns the path written."""
        from ..provenance import provenance

        meta = dict(self.metadata)
        if "provenance" not in meta:
            cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
            meta["provenance"] = provenance(cfg, key=cfg.get("key"))
        return save_arrays(path, self._arrays(), {"kind": "sgd_sde.networks.TrainResult", "diverged_step": self.diverged_step,
                                                  "has_swa": self.swa_model is not None, **meta})

    @classmethod
    def load(cls, path, like: AbstractModel) -> TrainResult:
        """Read what :meth:`save` wrote; ``like`` is a model of the same architecture (its
        structure is reused, its values are replaced).

        Raises:
            FileNotFoundError: missing file. ValueError: a corrupt file, one that does not match its
            digest or is an old unchecked two-file pair (:func:`sgd_sde.io.load_arrays`), the wrong
            kind, or a ``like`` model whose leaves do not match.
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


_CKPT_KIND = "sgd_sde.networks.checkpoint"


def _save_checkpoint(path, carry, history, step, config, diverged, pending):
    """One checked file holding carry, history, pending losses and ``step`` (as metadata *and* array)."""
    from ..provenance import provenance

    arrays = {f"carry__{i:05d}": np.asarray(x) for i, x in enumerate(jax.tree_util.tree_leaves(carry))}
    for k, v in history.items():
        arrays[f"history__{k}"] = np.stack(v)
    arrays["pending"] = np.asarray(pending, np.float64)
    arrays["step"] = np.asarray(step, np.int64)
    save_arrays(path, arrays, {"kind": _CKPT_KIND, "step": int(step), "diverged": diverged, "config": config,
                               "provenance": provenance(config, key=config.get("key"))})


def _load_checkpoint(path, carry, config):
    """Resume state from the checkpoint at ``path``, or ``None`` if there is none.

    Refuses (``ValueError`` naming the file and what does not match) a checkpoint that is corrupt,
    fails its digest, is an old two-file pair (or half of one), was written by another
    configuration, or whose step disagrees with its arrays. Warns when it was written by other code
    (resuming then is not guaranteed to reproduce an uninterrupted run bit for bit).
    """
    npz, js = paths_for(path)
    if not npz.exists() and not js.exists():
        return None
    where = f"checkpoint {str(npz)!r}"
    try:
        arrays, meta = load_arrays(path)
    except ValueError as err:
        raise ValueError(f"{where} cannot be resumed: {err}") from err
    if meta.get("kind") != _CKPT_KIND:
        raise ValueError(f"{where} is not a training checkpoint (kind={meta.get('kind')!r})")
    if json.dumps(meta.get("config"), sort_keys=True) != json.dumps(json.loads(json.dumps(config)), sort_keys=True):
        raise ValueError(f"{where} was written by a different configuration (data, model, schedules, key); "
                         "use another checkpoint path or delete it")
    step = _check_step(where, arrays, meta, config)
    from ..provenance import stale_reason

    why = stale_reason(meta.get("provenance"))
    if why is not None:
        warnings.warn(f"{where} was {why}: the resumed run may differ from an uninterrupted one", stacklevel=3)
    try:
        carry = _restore(carry, _group(arrays, "carry"), where)
    except ValueError as err:
        raise ValueError(str(err)) from err
    history = {k[len("history__"):]: list(v) for k, v in arrays.items() if k.startswith("history__")}
    return carry, history, step, arrays["pending"].tolist(), int(meta.get("diverged", -1))


def _check_step(where, arrays, meta, config) -> int:
    """The checkpoint's step, after checking it against the arrays saved with it."""
    if "step" not in arrays or "pending" not in arrays or "history__step" not in arrays:
        raise ValueError(f"{where} lacks the step, pending losses or history arrays")
    step = int(arrays["step"])
    if meta.get("step") != step:
        raise ValueError(f"{where}: the step in its metadata ({meta.get('step')}) does not match its arrays ({step})")
    if not 0 < step <= int(config["n_steps"]):
        raise ValueError(f"{where}: step {step} is outside [1, n_steps={config['n_steps']}]")
    probed = np.asarray(arrays["history__step"])
    last = int(probed[-1]) if probed.size else -1
    if probed.size == 0 or np.any(np.diff(probed) <= 0) or last > step:
        raise ValueError(f"{where}: its history (probe steps {probed.tolist()}) does not fit step {step}")
    if arrays["pending"].size != step - last:
        raise ValueError(f"{where}: holds {arrays['pending'].size} losses since the last probe at step {last}, "
                         f"but step {step} needs {step - last}")
    return step
