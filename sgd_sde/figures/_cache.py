"""The figure-data cache: one checked bundle per figure, reused only when its provenance fits.

A figure's data is saved as ``<out_dir>/<name>.npz`` by :func:`sgd_sde.io.save_arrays` (arrays and
JSON metadata in one atomically written, digest-checked file). The metadata records ``provenance``
(:func:`sgd_sde.provenance.provenance`: package version, source digest, git commit, the figure's
config, the key and the date). A cached file is reused only if :func:`sgd_sde.provenance.stale_reason`
finds nothing wrong with it (same source digest, same config, same key); otherwise it is stale and
is recomputed, and the reason is reported. ``<out_dir>/<name>.json`` is a readable copy of the
metadata (with the arrays' digest) for people and ``git diff``; the code never reads it back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..io import arrays_digest, atomic_write_bytes, jsonable, load_arrays, save_arrays
from ..provenance import provenance, stale_reason

__all__ = ["cached", "why_stale", "write_readable_copy", "LAST_STATUS"]

log = logging.getLogger("sgd_sde.figures")

#: ``stem -> "reused" | "regenerated: <reason>"`` for the figure data handled in this process.
LAST_STATUS: dict[str, str] = {}


def why_stale(stem, config: Mapping[str, Any], key) -> str | None:
    """Why the saved data at ``stem`` cannot be reused for ``config``/``key`` with the running code
    (``None``: it can)."""
    try:
        _, meta = load_arrays(stem)
    except FileNotFoundError:
        return "no saved data"
    except ValueError as err:
        return f"unreadable ({err})"
    return stale_reason(meta.get("provenance"), config=config, key=key)


def cached(stem, config: Mapping[str, Any], key, compute: Callable[[], tuple[dict, dict]], *,
           force: bool = False) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load the figure data at ``stem``, or compute and save it when missing, stale or ``force``.

    Args:
        stem: ``<out_dir>/<name>`` (no suffix).
        config: everything the data depends on besides the code and the key (JSON-able).
        key: the integer seed.
        compute: ``() -> (arrays, extra)``: the arrays and the JSON-able measured numbers, stored
            at the top level of the metadata.
        force: recompute even if the saved data fits.

    Returns:
        ``(arrays, metadata)`` as read back from the saved file.
    """
    stem = Path(stem)
    reason = "forced" if force else why_stale(stem, config, key)
    if reason is None:
        LAST_STATUS[str(stem)] = "reused"
        return load_arrays(stem)
    log.info("computing %s (%s)", stem, reason)
    arrays, extra = compute()
    meta = {"figure": stem.name, **jsonable(dict(extra)), "key": key, "quick": config.get("quick"),
            "provenance": provenance(config, key=key)}  # the figure's config is provenance["config"]
    path = save_arrays(stem, arrays, meta)
    arrays, meta = load_arrays(stem)
    write_readable_copy(path, arrays, meta)
    LAST_STATUS[str(stem)] = f"regenerated: {reason}"
    return arrays, meta


def write_readable_copy(npz_path, arrays, meta) -> Path:
    """Write ``<stem>.json``: the metadata inside ``npz_path`` plus its arrays' digest (never read back)."""
    npz_path = Path(npz_path)
    out = npz_path.with_suffix(".json")
    doc = {"readable_copy_of": npz_path.name, "arrays_digest": arrays_digest(arrays), **meta}
    atomic_write_bytes(out, (json.dumps(jsonable(doc), indent=2, sort_keys=True) + "\n").encode())
    return out
