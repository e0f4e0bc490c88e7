"""Provenance of a saved result: which code, configuration and key produced it, and when.

Every saved result (a :class:`~sgd_sde.trajectory.Trajectory`, an experiment result, a figure's
data) records ``provenance`` — the dict :func:`provenance` returns. The code is identified by a
**source digest**: a SHA-256 over the package's own ``.py`` files (path and content), so it
changes exactly when the code changes, in a git checkout or an installed wheel alike. The git
commit (when there is one) is recorded for people to read; staleness is decided on the digest.

A cache whose provenance does not match the running code, or was made with another config or
key, is stale (:func:`stale_reason`): regenerate it, or say that it is old.

Examples:
    >>> p = provenance({"lr": 0.1}, key=0)
    >>> sorted(p)
    ['code', 'config', 'date', 'git_commit', 'key', 'package', 'version', 'versions']
    >>> stale_reason(p, config={"lr": 0.1}, key=0) is None
    True
    >>> stale_reason(p, config={"lr": 0.2}, key=0)
    'config differs'
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .io import jsonable

__all__ = ["provenance", "with_provenance", "source_digest", "git_commit", "stale_reason", "key_data"]

_PACKAGE_DIR = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """``"sha256:<hex>"`` over every ``.py`` file of the installed ``sgd_sde`` package (sorted paths)."""
    h = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(_PACKAGE_DIR).as_posix()
        if "__pycache__" in rel:
            continue
        h.update(rel.encode() + b"\0")
        h.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return "sha256:" + h.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the checkout the package lives in (``"+dirty"`` if its sources changed), or
    ``"unknown"`` outside a git checkout."""
    try:
        top = _PACKAGE_DIR.parent
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=top, capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "sgd_sde"], cwd=top, capture_output=True,
                               text=True, timeout=10)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def key_data(key) -> Any:
    """A JSON-able form of a PRNG key: an int seed as is, a JAX key as its list of words."""
    if key is None or isinstance(key, int):
        return key
    import jax
    import numpy as np

    try:
        return np.asarray(jax.random.key_data(key)).tolist()
    except (TypeError, ValueError):
        return np.asarray(key).tolist()


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in ("sgd_sde", "jax", "jaxlib", "numpy", "equinox", "optax", "diffrax", "scipy", "sympy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return tuple(out.items())


def provenance(config: Mapping[str, Any] | None = None, *, key=None) -> dict[str, Any]:
    """The provenance record of a result made now by this code with ``config`` and ``key``.

    Returns:
        ``{"package", "version", "code" (source digest), "git_commit", "config", "key", "date",
        "versions"}`` — JSON-serialisable.
    """
    from . import __version__

    return {
        "package": "sgd_sde",
        "version": __version__,
        "code": source_digest(),
        "git_commit": git_commit(),
        "config": jsonable(dict(config or {})),
        "key": key_data(key),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": dict(_versions()),
    }


def with_provenance(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a result's ``metadata`` with ``provenance`` added unless it has one: the
    :func:`provenance` of the run's settings (the metadata less ``versions`` and ``key``) and its
    ``key``. What ``Trajectory.save`` and ``GridResult.save`` store."""
    meta = dict(metadata)
    if "provenance" not in meta:
        settings = {k: v for k, v in meta.items() if k not in ("versions", "key")}
        meta["provenance"] = provenance(settings, key=meta.get("key"))
    return meta


def stale_reason(saved: Mapping[str, Any] | None, *, config: Mapping[str, Any] | None = None, key=None) -> str | None:
    """Why a saved result's provenance does not fit the running code, ``config`` and ``key``
    (``None``: it fits and may be reused)."""
    if not isinstance(saved, Mapping) or "code" not in saved:
        return "no provenance"
    if saved["code"] != source_digest():
        return f"made by other code ({saved['code']} vs running {source_digest()})"
    if config is not None and saved.get("config") != jsonable(dict(config)):
        return "config differs"
    if key is not None and saved.get("key") != key_data(key):
        return "key differs"
    return None
