"""Saving and loading results: one ``.npz`` per result (``allow_pickle=False``), metadata inside.

Every result object in sgd_sde (``Trajectory``, training results and checkpoints, sweep tables,
figure data) is stored as **one** file ``<stem>.npz``: the named arrays, plus the metadata as JSON
inside the same archive together with a SHA-256 digest of the arrays (:func:`save_bundle`). The file
is written atomically (temporary file in the same folder, ``fsync``, then ``os.replace``), so a
killed process leaves either the old file or the new one, never a mixture (plus, at worst, a hidden
``.<name>.<pid>.<random>.tmp`` that the next successful save of the same file removes); on load the arrays are
checked against the digest, so a tampered or mismatched archive is refused with a ``ValueError``
that names the file and says what does not match. Nothing is ever pickled, and nothing on a load
path unpickles.

Generated blocks of text files (the results tables of ``papers/*.md``, the verdict tables, the
fuzz report, benchmark sections) are rewritten by one helper, :func:`replace_between_markers`.

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
import re
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_write_bytes", "save_arrays", "load_arrays", "paths_for", "jsonable", "save_bundle", "load_bundle",
           "arrays_digest", "arrays_equal", "marker_pair", "split_at_markers", "replace_between_markers",
           "stale_temporaries"]


def paths_for(path: str | os.PathLike) -> tuple[Path, Path]:
    """Return ``(npz_path, json_path)`` for a result stem; a ``.npz``/``.json`` suffix is dropped."""
    p = Path(path)
    if p.suffix in (".npz", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".npz"), p.with_name(p.name + ".json")


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, ``fsync``, then
    ``os.replace``, so a reader (or a process killed mid-write) sees the old file or the new one.

    The temporary file is named ``.<name>.<pid>.<random>.tmp`` (hidden, next to ``path``). A process
    killed while writing (SIGKILL, power loss) leaves its temporary behind; the next successful
    write of the same ``path`` removes every such leftover of ``path`` that is older than the start
    of this write *and* whose writer process no longer exists on this machine, so a concurrent
    writer's file in progress is never touched.

    Examples:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp()
        >>> atomic_write_bytes(os.path.join(d, "a.txt"), b"hi")
        >>> sorted(os.listdir(d)), open(os.path.join(d, "a.txt"), "rb").read()
        (['a.txt'], b'hi')
    """
    import time

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    fd, tmp = tempfile.mkstemp(prefix=f"{_temporary_prefix(path)}{os.getpid()}.", suffix=".tmp", dir=path.parent)
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
    _remove_stale_temporaries(path, started)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def stale_temporaries(path: str | os.PathLike, before: float | None = None) -> list[Path]:
    """The temporaries of :func:`atomic_write_bytes` for ``path`` left by writers that no longer run
    (and, with ``before``, last modified before that time)."""
    path = Path(path)
    pattern = re.compile(re.escape(_temporary_prefix(path)) + r"(\d+)\.[A-Za-z0-9_]+\.tmp")
    out = []
    try:
        entries = list(os.scandir(path.parent))
    except FileNotFoundError:
        return out
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or _pid_alive(int(m[1])):
            continue
        try:
            if before is not None and entry.stat(follow_symlinks=False).st_mtime >= before:
                continue
        except FileNotFoundError:
            continue
        out.append(Path(entry.path))
    return sorted(out)


def _remove_stale_temporaries(path: Path, before: float) -> None:
    for tmp in stale_temporaries(path, before):
        try:
            tmp.unlink()
        except FileNotFoundError:  # removed by another writer meanwhile
            pass


# ------------------------------------------------------------------------------ generated text blocks
def marker_pair(name: str) -> tuple[str, str]:
    """The markers of a generated results block ``name``: ``<!-- results:NAME:start -->`` and
    ``<!-- results:NAME:end -->``.

    Raises:
        ValueError: ``name`` is not made of lowercase letters, digits and underscores.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"marker name must match [a-z0-9_]+, got {name!r}")
    return f"<!-- results:{name}:start -->", f"<!-- results:{name}:end -->"


def _markers(markers) -> tuple[str, str]:
    if isinstance(markers, str):
        return marker_pair(markers)
    if (isinstance(markers, tuple) and len(markers) == 2 and all(isinstance(m, str) and m for m in markers)
            and markers[0] != markers[1]):
        return markers
    raise TypeError(f"markers must be a block name or a (start, end) pair of distinct non-empty strings, "
                    f"got {markers!r}")


def split_at_markers(text: str, markers, *, where: str = "text") -> tuple[str, str, str]:
    """Split ``text`` at a pair of markers: ``(head, body, tail)`` with
    ``text == head + start + body + end + tail``.

    Args:
        text: the document.
        markers: a block name (see :func:`marker_pair`) or a ``(start, end)`` pair of strings.
        where: what to call the document in an error (e.g. its path).

    Raises:
        ValueError: naming ``where`` and the marker, if a marker is missing or appears more than
            once, or the end marker comes before the start marker.

    Examples:
        >>> split_at_markers("a<s>b<e>c", ("<s>", "<e>"))
        ('a', 'b', 'c')
    """
    start, end = _markers(markers)
    for m in (start, end):
        n = text.count(m)
        if n != 1:
            other = end if m == start else start
            raise ValueError(f"{where}: marker {m!r} appears {n} times (must appear exactly once, "
                             f"{'unmatched' if n == 0 else 'duplicated'}; its pair is {other!r})")
    i, j = text.index(start), text.index(end)
    if j < i + len(start):
        raise ValueError(f"{where}: end marker {end!r} comes before start marker {start!r}")
    return text[:i], text[i + len(start):j], text[j + len(end):]


def replace_between_markers(path: str | os.PathLike, markers, text: str) -> bool:
    r"""Replace what lies between a pair of markers in the UTF-8 file ``path`` by ``text``, atomically.

    The markers stay; everything strictly between them becomes ``text`` (which brings its own
    leading/trailing newlines). The file is rewritten (with :func:`atomic_write_bytes`) only if it
    changes.

    Args:
        path: the file (it must exist and hold each marker exactly once).
        markers: a block name (``"hoffer"`` -> ``<!-- results:hoffer:start -->`` ...
            ``<!-- results:hoffer:end -->``) or a ``(start, end)`` pair of strings.
        text: the new block content.

    Returns:
        whether the file changed.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: naming the file, if a marker is missing or duplicated (see :func:`split_at_markers`).
        TypeError: ``markers`` or ``text`` of the wrong type.

    Examples:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "note.md")
        >>> _ = open(p, "w").write("# Note\n<!-- results:x:start -->\nold\n<!-- results:x:end -->\n")
        >>> replace_between_markers(p, "x", "\nnew\n")
        True
        >>> open(p).read()
        '# Note\n<!-- results:x:start -->\nnew\n<!-- results:x:end -->\n'
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    start, end = _markers(markers)
    p = Path(path)
    old = p.read_text(encoding="utf-8")
    head, _, tail = split_at_markers(old, (start, end), where=str(p))
    new = head + start + text + end + tail
    if new == old:
        return False
    atomic_write_bytes(p, new.encode("utf-8"))
    return True


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
    """Save named arrays and metadata as one checked file ``<path>.npz`` (see :func:`save_bundle`); a
    ``.npz`` or ``.json`` suffix of ``path`` is dropped first, as :func:`load_arrays` drops it.

    A ``<path>.json`` left by the old two-file format is removed after the new file is in place
    (it would otherwise describe other arrays).

    Returns:
        the path written.

    Raises:
        ValueError: if an array has ``dtype=object`` (it could only be stored by pickling).
    """
    out = save_bundle(paths_for(path)[0], arrays, metadata)
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
