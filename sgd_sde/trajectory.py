"""The result of :func:`sgd_sde.simulate`: final parameters, saved observables, divergence flags."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .io import arrays_equal, load_arrays, save_arrays

__all__ = ["Trajectory"]

_SAVED_PREFIX = "saved__"


@dataclasses.dataclass(frozen=True, eq=False)
class Trajectory:
    """An ensemble run.

    Attributes:
        theta: final parameters, shape ``(P, d)`` (a diverged particle keeps its last finite value).
        saved: observables, each with leading axes ``(n_saves, P)``.
        steps: the step index of each save, shape ``(n_saves,)`` (0 is the initial point).
        times: SDE time of each save (``Σ lr`` over the steps before it; SVAG: ``Σ lr / l``).
        diverged: ``(P,)`` bool, particles that went non-finite or beyond the bound.
        divergence_step: ``(P,)`` int, the 0-based index of the step whose update went non-finite or
            beyond the bound (−1 if none did): the saves at steps ``≤ divergence_step`` hold the
            particle's real states, and the later ones its frozen last finite state.
        metadata: config, key, versions (JSON-serialisable); a loaded Trajectory also has the
            ``provenance`` recorded when it was saved.

    Two Trajectories are equal (``==``) when every array is equal — same dtype, shape and values,
    NaN equal to NaN in the same place — and their metadata are equal apart from ``provenance``
    (which records who saved a result and when, not what it is). So ``Trajectory.load(p) == traj``
    after ``traj.save(p)``. Trajectories are not hashable.
    """

    theta: np.ndarray
    saved: dict[str, np.ndarray]
    steps: np.ndarray
    times: np.ndarray
    diverged: np.ndarray
    divergence_step: np.ndarray
    metadata: dict[str, Any]

    @property
    def n_particles(self) -> int:
        return int(self.theta.shape[0])

    def __repr__(self) -> str:
        obs = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.saved.items())
        return (
            f"Trajectory(P={self.n_particles}, d={self.theta.shape[1]}, saves={len(self.steps)}, "
            f"last_step={int(self.steps[-1]) if len(self.steps) else 0}, diverged={int(self.diverged.sum())}, "
            f"saved=[{obs}])"
        )

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"theta": self.theta, "steps": self.steps, "times": self.times, "diverged": self.diverged,
                  "divergence_step": self.divergence_step}
        for name, value in self.saved.items():
            arrays[_SAVED_PREFIX + name] = value
        return arrays

    def __eq__(self, other) -> bool:
        if not isinstance(other, Trajectory):
            return NotImplemented
        strip = lambda m: {k: v for k, v in m.items() if k != "provenance"}  # noqa: E731
        return arrays_equal(self._arrays(), other._arrays()) and strip(self.metadata) == strip(other.metadata)

    __hash__ = None

    def save(self, path):
        """Write one checked file ``<path>.npz`` atomically (arrays, metadata and provenance; no pickle).

        The metadata gets ``provenance`` (:func:`sgd_sde.provenance.provenance` of the run's
        settings — the metadata less ``versions`` and ``key`` — and its ``key``) unless it has one.

        Returns:
            the path written.
        """
        from .provenance import with_provenance

        meta = with_provenance(self.metadata)
        return save_arrays(path, self._arrays(), {"kind": "sgd_sde.Trajectory", **meta})

    @classmethod
    def load(cls, path) -> Trajectory:
        """Read what :meth:`save` wrote (``allow_pickle=False``), checking its digest.

        Raises:
            FileNotFoundError: if the file is missing.
            ValueError: naming the file, if it is corrupt, does not match its digest, is an old
                unchecked two-file pair (see :func:`sgd_sde.io.load_arrays`), or is not a saved
                Trajectory.
        """
        arrays, meta = load_arrays(path)
        if meta.get("kind") != "sgd_sde.Trajectory":
            raise ValueError(f"{path!s} does not hold a saved Trajectory (kind={meta.get('kind')!r})")
        missing = {"theta", "steps", "times", "diverged", "divergence_step"} - set(arrays)
        if missing:
            raise ValueError(f"{path!s} is missing arrays {sorted(missing)}")
        saved = {k[len(_SAVED_PREFIX):]: v for k, v in arrays.items() if k.startswith(_SAVED_PREFIX)}
        meta = {k: v for k, v in meta.items() if k != "kind"}
        return cls(
            theta=arrays["theta"],
            saved=saved,
            steps=arrays["steps"],
            times=arrays["times"],
            diverged=arrays["diverged"],
            divergence_step=arrays["divergence_step"],
            metadata=meta,
        )
