"""Saving and loading results: ``.npz`` (``allow_pickle=False``) plus a JSON sidecar.

Every result object in sgd_sde (``Trajectory``, training histories, sweep tables) is stored as
two files written atomically (write to a temporary file in the same folder, ``fsync``, then
``os.replace``), so a killed process never leaves a half-written result behind. Nothing is ever
pickled, and nothing on a load path unpickles.

Examples:
    >>> import numpy as np, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> save_arrays(os.path.join(d, "run"), {"x": np.arange(3.0)}, {"lr": 0.1})
    >>> arrays, meta = load_arrays(os.path.join(d, "run"))
    >>> arrays["x"].tolist(), meta["lr"]
    ([0.0, 1.0, 2.0], 0.1)
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_write_bytes", "save_arrays", "load_arrays", "paths_for", "jsonable"]


def paths_for(path: str | os.PathLike) -> tuple[Path, Path]:
    """Return ``(npz_path, json_path)`` for a result stem; a ``.npz``/``.json`` suffix is dropped."""
    p = Path(path)
    if p.suffix in (".npz", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".npz"), p.with_name(p.name + ".json")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def jsonable(obj: Any) -> Any:
    """Convert numpy/JAX scalars and arrays, tuples and paths into JSON-serialisable values."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (str, bool, type(None))):
        return obj
    if isinstance(obj, (int, float)):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        arr = np.asarray(obj)
        return arr.item() if arr.ndim == 0 else arr.tolist()
    return repr(obj)


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
    """Save named arrays to ``<path>.npz`` and metadata to ``<path>.json``, each atomically.

    Raises:
        ValueError: if an array has ``dtype=object`` (it could only be stored by pickling).
    """
    npz_path, json_path = paths_for(path)
    clean = {}
    for name, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype == object:
            raise ValueError(f"array {name!r} has dtype=object; only numeric/bool/str arrays can be saved")
        clean[name] = arr
    import io as _io

    buf = _io.BytesIO()
    np.savez(buf, **clean)
    atomic_write_bytes(npz_path, buf.getvalue())
    atomic_write_bytes(json_path, json.dumps(jsonable(metadata), indent=2, sort_keys=True).encode())


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load what :func:`save_arrays` wrote. Never unpickles (``allow_pickle=False``).

    Raises:
        FileNotFoundError: if either file is missing.
        ValueError: if a file is corrupt.
    """
    npz_path, json_path = paths_for(path)
    for p in (npz_path, json_path):
        if not p.exists():
            raise FileNotFoundError(f"result file {str(p)!r} does not exist")
    try:
        with np.load(npz_path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"result file {str(npz_path)!r} is corrupt or not an npz archive: {err}") from err
    try:
        metadata = json.loads(json_path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"metadata file {str(json_path)!r} is not valid JSON: {err}") from err
    return arrays, metadata
