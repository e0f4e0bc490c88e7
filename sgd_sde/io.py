"""Saving and loading results: one ``.npz`` per result (``allow_pickle=False``), metadata inside.

Every result object in sgd_sde (``Trajectory``, training results and checkpoints, sweep tables,
figure data) is stored as **one** file ``<stem>.npz``: the named arrays, plus the metadata as JSON
inside the same archive together with a SHA-256 digest of the arrays (:func:`save_bundle`). The file
is written atomically (temporary file in the same folder, ``fsync``, then ``os.replace``), so a
killed process leaves either the old file or the new one, never a mixture; on load the arrays are
checked against the digest, so a tampered or mismatched archive is refused with a ``ValueError``
that names the file and says what does not match. Nothing is ever pickled, and nothing on a load
path unpickles.

Older versions wrote two files (``<stem>.npz`` with the arrays, ``<stem>.json`` with the metadata),
each renamed on its own, so a crash between the two renames could leave a new ``.npz`` beside an old
``.json`` and nothing could tell. Such a pair carries no digest and cannot be checked:
:func:`load_arrays` refuses it unless the caller passes ``legacy=True`` to say that it knows the two
files belong together (training checkpoints never do). :func:`save_arrays` removes a stale
``<stem>.json`` once the new single file is in place.

Examples:
    >>> import numpy as np, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> path = save_arrays(os.path.join(d, "run"), {"x": np.arange(3.0)}, {"lr": 0.1})
    >>> path.name, sorted(os.listdir(d))
    ('run.npz', ['run.npz'])
    >>> arrays, meta = load_arrays(os.path.join(d, "run"))
    >>> arrays["x"].tolist(), meta["lr"]
    ([0.0, 1.0, 2.0], 0.1)
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_write_bytes", "save_arrays", "load_arrays", "paths_for", "jsonable", "save_bundle", "load_bundle",
           "arrays_digest", "arrays_equal"]


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


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, Any], metadata: Mapping[str, Any]) -> Path:
    """Save named arrays and metadata as one checked file ``<path>.npz`` (see :func:`save_bundle`).

    A ``<path>.json`` left by the old two-file format is removed after the new file is in place
    (it would otherwise describe other arrays).

    Returns:
        the path written.

    Raises:
        ValueError: if an array has ``dtype=object`` (it could only be stored by pickling).
    """
    out = save_bundle(path, arrays, metadata)
    sidecar = out.with_suffix(".json")
    if sidecar.exists():
        sidecar.unlink()
    return out


def load_arrays(path: str | os.PathLike, *, legacy: bool = False) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load what :func:`save_arrays` wrote, checking the arrays against their stored digest.

    Args:
        path: the result's stem or its ``.npz`` (a ``.json`` suffix is dropped too).
        legacy: also read an unchecked pair in the old two-file format (arrays in ``<stem>.npz``,
            metadata in ``<stem>.json``). Only pass ``True`` for a pair you know belongs together:
            nothing in it says whether the two files were written by the same save.

    Raises:
        FileNotFoundError: if there is no result at ``path``.
        ValueError: naming the file: it is corrupt; its arrays do not match its digest; it is an
            old two-file pair (and ``legacy`` is false) or half of one.
    """
    npz_path, json_path = paths_for(path)
    if not npz_path.exists():
        if json_path.exists():
            raise ValueError(f"result {str(npz_path)!r} is missing but its old-format metadata file "
                             f"{str(json_path)!r} exists: a torn two-file result; remove it or re-create the result")
        raise FileNotFoundError(f"result file {str(npz_path)!r} does not exist")
    try:
        return load_bundle(npz_path)
    except _LegacyFormat:
        pass
    if not legacy:
        hint = (f"metadata in {str(json_path)!r}" if json_path.exists() else f"and no metadata file {str(json_path)!r}")
        raise ValueError(f"result file {str(npz_path)!r} is in the old two-file format (arrays only, {hint}): "
                         "nothing checks that the two files belong to the same save, so it is not loaded; "
                         "re-create the result, or pass legacy=True if you know the pair belongs together")
    if not json_path.exists():
        raise ValueError(f"result file {str(npz_path)!r} holds no metadata and {str(json_path)!r} does not exist")
    with np.load(npz_path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    try:
        metadata = json.loads(json_path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"metadata file {str(json_path)!r} is not valid JSON: {err}") from err
    return arrays, metadata


def arrays_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """``True`` if two mappings of arrays have the same names, dtypes, shapes and values (NaN equals
    NaN in the same place) — the equality used by the result classes."""
    if set(a) != set(b):
        return False
    for name in a:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        if x.dtype != y.dtype or x.shape != y.shape:
            return False
        nan_ok = np.issubdtype(x.dtype, np.inexact)
        if not np.array_equal(x, y, equal_nan=nan_ok):
            return False
    return True


class _LegacyFormat(ValueError):
    """An ``.npz`` without embedded metadata (old two-file format)."""


_META_KEY = "__metadata_json__"


def arrays_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """``"sha256:<hex>"`` over the names, dtypes, shapes and bytes of ``arrays`` (sorted by name)."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}".encode() + b"\0")
        h.update(arr.tobytes())
    return "sha256:" + h.hexdigest()


def _bundle_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p if p.suffix == ".npz" else p.with_name(p.name + ".npz")


def save_bundle(path: str | os.PathLike, arrays: Mapping[str, Any], metadata: Mapping[str, Any]) -> Path:
    """Save arrays *and* metadata as **one** file ``<path>.npz``, written atomically.

    The metadata is stored as JSON inside the archive, together with a content digest of the
    arrays (:func:`arrays_digest`) that :func:`load_bundle` checks: there is no pair of files that
    could be torn, and a tampered or truncated archive is refused.

    Returns:
        the path written.

    Raises:
        ValueError: if an array has ``dtype=object`` or a name collides with the metadata entry.
    """
    out = _bundle_path(path)
    clean = {}
    for name, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype == object:
            raise ValueError(f"array {name!r} has dtype=object; only numeric/bool/str arrays can be saved")
        if name == _META_KEY:
            raise ValueError(f"array name {_META_KEY!r} is reserved")
        clean[name] = arr
    meta = {**jsonable(metadata), "arrays_digest": arrays_digest(clean)}
    blob = np.frombuffer(json.dumps(meta, indent=1, sort_keys=True).encode(), dtype=np.uint8)
    import io as _io

    buf = _io.BytesIO()
    np.savez(buf, **clean, **{_META_KEY: blob})
    atomic_write_bytes(out, buf.getvalue())
    return out


def load_bundle(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load what :func:`save_bundle` wrote, checking the arrays against the stored digest.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: naming the file, if it is corrupt, has no metadata, or its arrays do not match
            the digest stored with the metadata.
    """
    p = _bundle_path(path)
    if not p.exists():
        raise FileNotFoundError(f"result file {str(p)!r} does not exist")
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"result file {str(p)!r} is corrupt or not an npz archive: {err}") from err
    if _META_KEY not in arrays:
        raise _LegacyFormat(f"result file {str(p)!r} holds no metadata (not written by save_bundle)")
    try:
        meta = json.loads(arrays.pop(_META_KEY).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"result file {str(p)!r} has unreadable metadata: {err}") from err
    want = meta.pop("arrays_digest", None)
    got = arrays_digest(arrays)
    if want != got:
        raise ValueError(f"result file {str(p)!r}: arrays do not match the digest stored with its metadata "
                         f"(stored {want}, found {got})")
    return arrays, meta
