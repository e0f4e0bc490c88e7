r"""One result type for grids: :class:`GridResult`, with labelled coordinates and tidy exports.

Both grid front doors return a :class:`GridResult`:

* :func:`sgd_sde.simulate.sweep` (also ``sgd_sde.sweep``), the grid ``lr × batch_size`` of
  simulated ensembles, returns a :class:`SimulationGrid`: one
  :class:`~sgd_sde.trajectory.Trajectory` per grid point. It is also a read-only mapping
  ``(lr, batch_size) -> Trajectory`` in grid order (lr-major), as the plain dict it replaces was.
* :func:`sgd_sde.networks.sweep`, the grid ``lr × batch_size × seed`` of trained networks, returns
  a :class:`sgd_sde.networks.SweepResult` (final metrics and loss curves).

What every grid result has:

* ``coords``: the grid's labelled coordinates, in order (``lr``, ``batch_size`` [, ``seed``]);
* ``keys_mode``: ``"common"`` (every grid point uses the same random key — common random numbers,
  so differences between points are low-variance) or ``"independent"`` (grid point ``i`` of the
  ``lr × batch_size`` grid in lr-major order uses ``fold_in(key, i)``). It is not called ``keys``
  because the simulation grid is a mapping, whose ``keys()`` lists the grid points;
* ``metadata``: the configuration, the key, versions; a saved and loaded result also carries the
  ``provenance`` (:func:`sgd_sde.provenance.provenance`) recorded when it was saved;
* ``to_pandas()``: a tidy ``pandas.DataFrame`` (one row per observation, one column per
  coordinate and per variable); ``to_records()``: the same rows as dicts;
* ``to_xarray()``: an ``xarray.Dataset`` whose dims are the coordinates (+ save step, particle,
  ...); xarray is imported only when asked for (``pip install sgd_sde[xarray]``);
* ``save(path)`` / ``GridResult.load(path)``: one checked ``.npz`` file
  (:func:`sgd_sde.io.save_bundle`: arrays, JSON metadata and a digest; never a pickle).
  ``GridResult.load`` returns the flavour that was saved;
* ``==``: the same flavour, coordinates, ``keys_mode``, arrays (dtype, shape, values; NaN equal to
  NaN in place) and metadata apart from ``provenance``. Grid results are not hashable.

:class:`GridResult` is abstract; :class:`SimulationGrid` and ``networks.SweepResult`` are final.
Two flavours and not one class because their per-point results differ in kind (a particle
ensemble with save steps against a table of final metrics per seed with curves per window); the
shared contract above lives here, once.
"""

from __future__ import annotations

import abc
import dataclasses
import json
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from .io import arrays_equal, jsonable, load_bundle, save_bundle
from .trajectory import Trajectory

__all__ = ["GridResult", "SimulationGrid", "KEYS_MODES", "check_keys_mode"]

#: The allowed values of ``keys_mode`` (and of the ``keys`` argument of the sweeps).
KEYS_MODES = ("common", "independent")

_KINDS: dict[str, type[GridResult]] = {}


def check_keys_mode(keys) -> str:
    """``keys`` as given to a sweep: ``"common"`` or ``"independent"``.

    Raises:
        ValueError: naming ``keys`` and the allowed values.
    """
    if not isinstance(keys, str) or keys not in KEYS_MODES:
        raise ValueError(f"keys must be 'common' or 'independent', got keys={keys!r}")
    return keys


def _strip(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata as compared by ``==``: JSON-normalised (tuples as lists), less ``provenance``."""
    return {k: v for k, v in json.loads(json.dumps(jsonable(dict(meta)))).items() if k != "provenance"}


class GridResult(abc.ABC):
    """The results of a grid of runs (abstract; see the module docstring for the contract).

    Subclasses set ``kind`` (the tag written by :meth:`save`) and write :attr:`coords`,
    :meth:`_columns`, :meth:`_dataset`, :meth:`_arrays` and :meth:`_from_bundle`.
    """

    kind: ClassVar[str]
    keys_mode: str
    metadata: dict[str, Any]

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "kind" in cls.__dict__:
            _KINDS[cls.kind] = cls

    # -- what a flavour writes ---------------------------------------------------------------
    @property
    @abc.abstractmethod
    def coords(self) -> dict[str, np.ndarray]:
        """The grid's coordinates, name -> 1-d array, in order."""

    @abc.abstractmethod
    def _columns(self) -> dict[str, np.ndarray]:
        """The tidy table as equal-length columns (coordinates first)."""

    @abc.abstractmethod
    def _dataset(self) -> tuple[dict[str, tuple[tuple[str, ...], np.ndarray]], dict[str, np.ndarray]]:
        """``(data_vars, coords)`` of :meth:`to_xarray`: ``name -> (dims, array)``, ``dim -> values``."""

    @abc.abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """Every array of the result, by a unique name (what :meth:`save` writes, ``==`` compares)."""

    @classmethod
    @abc.abstractmethod
    def _from_bundle(cls, arrays: dict[str, np.ndarray], metadata: dict[str, Any], keys_mode: str,
                     extra: dict[str, Any]) -> GridResult:
        """Rebuild from what :meth:`_arrays` gave, the metadata and :meth:`_extra_metadata`."""

    def _extra_metadata(self) -> dict[str, Any]:
        """More JSON saved beside ``metadata`` and compared by ``==`` (e.g. per-point metadata)."""
        return {}

    # -- the shared contract -----------------------------------------------------------------
    def to_pandas(self):
        """The tidy table as a ``pandas.DataFrame`` (pandas imported lazily); see the flavour's docstring
        for what one row is."""
        import pandas as pd

        return pd.DataFrame(self._columns())

    def to_records(self) -> list[dict[str, Any]]:
        """The rows of :meth:`to_pandas` as dicts of Python scalars."""
        cols = self._columns()
        names = list(cols)
        return [dict(zip(names, (v.item() if hasattr(v, "item") else v for v in row)))
                for row in zip(*(cols[n] for n in names))]

    def to_xarray(self):
        """An ``xarray.Dataset`` (xarray imported lazily) with the grid coordinates as dims; its attrs
        hold ``keys_mode`` and the metadata (as a JSON string)."""
        try:
            import xarray as xr
        except ImportError as err:  # optional dependency
            raise ImportError("to_xarray needs xarray: pip install 'sgd_sde[xarray]'") from err
        data, coords = self._dataset()
        attrs = {"kind": self.kind, "keys_mode": self.keys_mode, "metadata": json.dumps(jsonable(self.metadata))}
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def save(self, path):
        """Write one checked file ``<path>.npz`` atomically (:func:`sgd_sde.io.save_bundle`; no pickle).

        The metadata gets ``provenance`` (:func:`sgd_sde.provenance.provenance` of the metadata
        less ``versions``/``key``, with the run's ``key``) unless it already has one.

        Returns:
            the path written.
        """
        from .provenance import with_provenance

        meta = with_provenance(self.metadata)
        stored = {"kind": self.kind, "keys_mode": self.keys_mode, "metadata": meta, "extra": self._extra_metadata()}
        return save_bundle(path, self._arrays(), stored)

    @classmethod
    def load(cls, path) -> GridResult:
        """Read what :meth:`save` wrote, checking its digest; returns the flavour that was saved.

        Raises:
            FileNotFoundError: if the file is missing.
            ValueError: naming the file, if it is corrupt, does not match its digest, or does not
                hold a grid result (of this flavour, when called on a flavour).
        """
        arrays, meta = load_bundle(path)
        flavour = _KINDS.get(meta.get("kind"))
        if flavour is None and meta.get("kind") == "sgd_sde.networks.SweepResult":
            from .networks import sweep as _  # noqa: F401  (registers the network flavour)

            flavour = _KINDS.get(meta["kind"])
        if flavour is None or not issubclass(flavour, cls):
            want = "a grid result" if cls is GridResult else f"a saved {cls.__name__}"
            raise ValueError(f"{path!s} does not hold {want} (kind={meta.get('kind')!r})")
        keys_mode = check_keys_mode(meta.get("keys_mode", "common"))
        if "metadata" in meta:
            metadata = dict(meta["metadata"])
        else:  # written before grids had one type: the configuration sat beside "kind"
            metadata = {k: v for k, v in meta.items() if k not in ("kind", "provenance")}
        return flavour._from_bundle(arrays, metadata, keys_mode, dict(meta.get("extra", {})))

    def __eq__(self, other) -> bool:
        if not isinstance(other, GridResult):
            return NotImplemented
        if type(self) is not type(other) or self.keys_mode != other.keys_mode:
            return False
        return (arrays_equal(self._arrays(), other._arrays()) and _strip(self.metadata) == _strip(other.metadata)
                and _strip(self._extra_metadata()) == _strip(other._extra_metadata()))

    __hash__ = None  # mutable-by-content arrays: not hashable


def _column(values) -> np.ndarray:
    """A coordinate as an array: batch sizes with ``None`` (exact gradients) stay an object array."""
    vals = list(values)
    if any(v is None for v in vals):
        return np.asarray(vals, dtype=object)
    return np.asarray(vals)


@dataclasses.dataclass(frozen=True, eq=False)
class SimulationGrid(GridResult, Mapping):
    """The result of :func:`sgd_sde.simulate.sweep`: one Trajectory per ``(lr, batch_size)`` (final).

    A read-only mapping ``(lr, batch_size) -> Trajectory`` in grid order (every ``lr`` of ``lrs``,
    and for each every batch size of ``batch_sizes``): ``runs[(0.1, 8)]``, ``runs.items()``,
    ``len(runs)``, ``dict(runs)`` behave as for the dict sweeps returned before (learning rates
    given in float32 are found by their float32 value: ``runs[(0.1, 8)]`` after
    ``lrs=jnp.array([0.1])``). Compared with a plain mapping, ``==`` compares the items; with
    another SimulationGrid, the whole result.

    Attributes:
        lrs: the learning rates (the ``lr`` coordinate), as given.
        batch_sizes: the batch sizes (the ``batch_size`` coordinate); ``(None,)`` for exact
            gradients (``dynamics.batch_size=None``), which the tables show as ``None``/NaN.
        trajectories: one per grid point, lr-major (``trajectories[i * len(batch_sizes) + j]``).
        keys_mode: ``"common"`` or ``"independent"`` (see :mod:`sgd_sde.grid`); each Trajectory's
            metadata says the same (``"grid_keys"``, and its ``"grid_index"`` when independent).
        metadata: what the grid points share (landscape, dynamics less ``lr``/``batch_size``,
            noise, ``n_steps``, ``n_particles``, observables, key, versions).

    ``to_pandas()``: one row per grid point, save step and particle — columns ``lr``,
    ``batch_size``, ``step``, ``time``, ``particle``, ``diverged`` (the particle's state at this
    save is its frozen last finite one: ``step > divergence_step``), ``divergence_step``, then
    every observable whose per-particle value is a scalar (``"theta"`` and other vector
    observables are in :meth:`to_xarray` only). Reduce it
    yourself, e.g. ``df[~df.diverged].groupby(["lr", "batch_size", "step"]).loss.mean()``, and
    count the diverged particles, which no reduction here hides.

    ``to_xarray()``: dims ``lr``, ``batch_size``, ``step`` (the save steps), ``particle`` (and
    ``<name>_dim<k>`` for a vector observable, ``dim`` for ``theta_final``); variables: each
    observable ``(lr, batch_size, step, particle, ...)``, ``time (lr, batch_size, step)``,
    ``theta_final``, ``diverged`` and ``divergence_step`` ``(lr, batch_size, particle[, dim])``.
    """

    kind: ClassVar[str] = "sgd_sde.grid.SimulationGrid"
    lrs: tuple
    batch_sizes: tuple
    trajectories: tuple
    keys_mode: str = "common"
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        check_keys_mode(self.keys_mode)
        if len(self.trajectories) != len(self.lrs) * len(self.batch_sizes):
            raise ValueError(f"trajectories: need one per grid point ({len(self.lrs)} x {len(self.batch_sizes)}), "
                             f"got {len(self.trajectories)}")
        index = {g: i for i, g in enumerate((lr, b) for lr in self.lrs for b in self.batch_sizes)}
        if len(index) != len(self.trajectories):
            raise ValueError("lrs and batch_sizes must not repeat a value (each grid point is a key)")
        object.__setattr__(self, "_index", index)

    # -- the mapping ---------------------------------------------------------------------------
    def _find(self, point) -> int | None:
        """The index of ``point``; a learning rate given in float32 (``lrs=jnp.array([0.1, …])``
        runs at ``0.10000000149…``) is also found by the float32 value of the one looked up, when
        exactly one grid point has it."""
        try:
            return self._index[point]
        except (KeyError, TypeError):
            pass
        if not (isinstance(point, tuple) and len(point) == 2 and isinstance(point[0], (int, float, np.number))):
            return None
        lr32 = np.float32(point[0])
        near = [i for (lr, b), i in self._index.items() if b == point[1] and np.float32(lr) == lr32]
        return near[0] if len(near) == 1 else None

    def __getitem__(self, point) -> Trajectory:
        i = self._find(point)
        if i is None:
            raise KeyError(point)
        return self.trajectories[i]

    def __iter__(self) -> Iterator[tuple]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self.trajectories)

    def __contains__(self, point) -> bool:
        return self._find(point) is not None

    def __repr__(self) -> str:
        t = self.trajectories[0]
        return (f"SimulationGrid(lrs={list(self.lrs)}, batch_sizes={list(self.batch_sizes)}, keys_mode={self.keys_mode!r}, "
                f"P={t.n_particles}, saves={len(t.steps)})")

    def __eq__(self, other) -> bool:
        if isinstance(other, Mapping) and not isinstance(other, GridResult):
            return dict(self.items()) == dict(other.items())
        return GridResult.__eq__(self, other)

    __hash__ = None

    # -- the grid result -----------------------------------------------------------------------
    @property
    def coords(self) -> dict[str, np.ndarray]:
        return {"lr": np.asarray(self.lrs, dtype=float), "batch_size": _column(self.batch_sizes)}

    def _stacked(self, get) -> np.ndarray:
        """``get(trajectory)`` for every point, stacked to ``(n_lr, n_B, ...)``."""
        arr = np.stack([np.asarray(get(t)) for t in self.trajectories])
        return arr.reshape((len(self.lrs), len(self.batch_sizes)) + arr.shape[1:])

    def _columns(self) -> dict[str, np.ndarray]:
        t0 = self.trajectories[0]
        n_lr, n_b, n_s, p = len(self.lrs), len(self.batch_sizes), len(t0.steps), t0.n_particles
        shape = (n_lr, n_b, n_s, p)
        idx = np.indices(shape)
        flat = lambda a: np.broadcast_to(a, shape).reshape(-1)  # noqa: E731
        lr, b = self.coords["lr"], self.coords["batch_size"]
        steps = np.asarray(t0.steps)
        div_step = self._stacked(lambda t: t.divergence_step)[:, :, None, :]
        cols = {
            "lr": lr[idx[0].reshape(-1)],
            "batch_size": b[idx[1].reshape(-1)],
            "step": flat(steps[None, None, :, None]),
            "time": flat(self._stacked(lambda t: t.times)[:, :, :, None]),
            "particle": idx[3].reshape(-1),
            "diverged": flat((div_step >= 0) & (steps[None, None, :, None] > div_step)),
            "divergence_step": flat(div_step),
        }
        for name, v in t0.saved.items():
            if np.ndim(v) == 2:
                cols[name] = self._stacked(lambda t, n=name: t.saved[n]).reshape(-1)
        return cols

    def _dataset(self):
        t0 = self.trajectories[0]
        grid = ("lr", "batch_size")
        data = {}
        for name, v in t0.saved.items():
            extra = tuple(f"{name}_dim{k}" for k in range(np.ndim(v) - 2))
            data[name] = (grid + ("step", "particle") + extra, self._stacked(lambda t, n=name: t.saved[n]))
        data["time"] = (grid + ("step",), self._stacked(lambda t: t.times))
        data["theta_final"] = (grid + ("particle", "dim"), self._stacked(lambda t: t.theta))
        data["diverged"] = (grid + ("particle",), self._stacked(lambda t: t.diverged))
        data["divergence_step"] = (grid + ("particle",), self._stacked(lambda t: t.divergence_step))
        coords = {**self.coords, "step": np.asarray(t0.steps), "particle": np.arange(t0.n_particles)}
        return data, coords

    def _arrays(self) -> dict[str, np.ndarray]:
        b = np.asarray([-1 if v is None else v for v in self.batch_sizes], np.int64)  # -1: exact gradients
        out = {"lrs": np.asarray(self.lrs, np.float64), "batch_sizes": b, "steps": np.asarray(self.trajectories[0].steps)}
        for name, arr in self.trajectories[0]._arrays().items():
            if name != "steps":
                out[f"point__{name}"] = np.stack([np.asarray(t._arrays()[name]) for t in self.trajectories])
        for i, t in enumerate(self.trajectories):  # every point has the same save steps
            if not np.array_equal(t.steps, out["steps"]):
                out[f"point_steps__{i}"] = np.asarray(t.steps)
        return out

    def _extra_metadata(self):
        return {"points": [{k: v for k, v in t.metadata.items() if k != "provenance"} for t in self.trajectories]}

    @classmethod
    def _from_bundle(cls, arrays, metadata, keys_mode, extra):
        points = extra.get("points")
        lrs = tuple(float(v) for v in arrays["lrs"])
        bs = tuple(None if int(v) < 0 else int(v) for v in arrays["batch_sizes"])
        n = len(lrs) * len(bs)
        if points is None or len(points) != n:
            raise ValueError("saved SimulationGrid has no per-point metadata for every grid point")
        pre = "point__"
        trajs = []
        for i in range(n):
            a = {k[len(pre):]: v[i] for k, v in arrays.items() if k.startswith(pre)}
            saved = {k[len("saved__"):]: v for k, v in a.items() if k.startswith("saved__")}
            trajs.append(Trajectory(theta=a["theta"], saved=saved, steps=arrays.get(f"point_steps__{i}", arrays["steps"]),
                                    times=a["times"], diverged=a["diverged"], divergence_step=a["divergence_step"],
                                    metadata=points[i]))
        return cls(lrs, bs, tuple(trajs), keys_mode, metadata)

    @classmethod
    def from_points(cls, lrs, batch_sizes, trajectories, keys_mode: str) -> SimulationGrid:
        """The grid of ``trajectories`` (lr-major); ``metadata`` is what they share (their first
        Trajectory's, less the per-point ``lr``/``batch_size``/``grid_index``) with ``keys``."""
        meta = {k: v for k, v in trajectories[0].metadata.items() if k not in ("grid_index", "provenance")}
        if isinstance(meta.get("dynamics"), dict):
            meta["dynamics"] = {k: v for k, v in meta["dynamics"].items() if k not in ("lr", "batch_size")}
        meta["keys"] = keys_mode
        return cls(tuple(lrs), tuple(batch_sizes), tuple(trajectories), keys_mode, meta)
