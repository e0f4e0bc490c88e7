"""Figure recipes: each computes (or loads) its data, saves it as one checked bundle with its
provenance, then plots from the saved data.

:func:`regenerate_all` (or :func:`regenerate` for one figure) brings every committed figure's data
up to date with the running code: data whose provenance does not fit (other code, config or key;
see :mod:`sgd_sde.figures._cache`) is recomputed, data that fits is reused (``force=True``
recomputes everything). :func:`write_paper_tables` then writes the results tables of ``papers/``
from that data.

Examples:
    >>> sorted(FIGURES)[:3]
    ['demo', 'escape', 'first_passage']
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

__all__ = ["FIGURES", "READS", "regenerate", "regenerate_all", "write_paper_tables", "check_paper_tables"]

#: figure name -> (sub-folder of the figures root, "module:function"); in regeneration order
#: (a figure after those whose data it reads, :data:`READS`).
FIGURES: dict[str, tuple[str, str]] = {
    "demo": ("demo", "sgd_sde.figures.demo:demo_figure"),
    "wu_ma_e": ("stability", "sgd_sde.figures.stability:wu_ma_e_figure"),
    "zhu": ("stability", "sgd_sde.figures.stability:zhu_figure"),
    "radius": ("stability", "sgd_sde.figures.stability:radius_figure"),
    "escape": ("stability", "sgd_sde.figures.stability:escape_figure"),
    "sinai": ("diffusion", "sgd_sde.figures.diffusion:sinai_figure"),
    "fractional": ("diffusion", "sgd_sde.figures.diffusion:fractional_figure"),
    "first_passage": ("diffusion", "sgd_sde.figures.diffusion:first_passage_figure"),
    "hoffer": ("diffusion", "sgd_sde.figures.diffusion:hoffer_figure"),
}

#: figure name -> the figures whose saved data it also draws: drawn after them (the order of
#: :data:`FIGURES`; ``sgd-sde reproduce`` redraws it once they are drawn).
READS: dict[str, tuple[str, ...]] = {"first_passage": ("fractional",)}


def regenerate(name: str, out_root="figures", quick: bool = False, force: bool = False, key: int = 0) -> dict[str, Any]:
    """Bring figure ``name``'s data under ``out_root`` up to date with the running code, and redraw it.

    Args:
        name: a key of :data:`FIGURES`.
        out_root: the figures root (the figure goes to ``out_root/<sub-folder>/<name>.png|npz|json``).
        quick: the smaller, same-code-path settings.
        force: recompute even when the saved data fits the running code.
        key: the integer seed.

    Returns:
        ``{"figure", "png", "data", "status", "seconds"}``; ``status`` is ``"reused"`` or
        ``"regenerated: <why>"``.

    Raises:
        ValueError: an unknown ``name``.
    """
    if name not in FIGURES:
        raise ValueError(f"name must be one of {sorted(FIGURES)}, got {name!r}")
    from ._cache import LAST_STATUS

    folder, target = FIGURES[name]
    module, func = target.split(":")
    draw = getattr(importlib.import_module(module), func)
    out_dir = Path(out_root) / folder
    t0 = time.perf_counter()
    png = draw(out_dir, quick=quick, key=key, force=force)
    stem = out_dir / name
    return {"figure": name, "png": str(png), "data": str(stem) + ".npz",
            "status": LAST_STATUS.get(str(stem), "unknown"), "seconds": time.perf_counter() - t0}


def regenerate_all(out_root="figures", quick: bool = False, force: bool = False, key: int = 0,
                   names=None) -> list[dict[str, Any]]:
    """:func:`regenerate` every figure (or those in ``names``), in the order of :data:`FIGURES`.

    One command for all committed figure data: ``python -c "import sgd_sde.figures as f;
    f.regenerate_all(); f.write_paper_tables()"``. Full settings take hours on two CPU cores
    (Sinai 2²² steps, first passage to L = 1.3·10⁵, Hoffer 2¹⁶ updates): see each figure's
    ``seconds`` in the returned records.

    Returns:
        one :func:`regenerate` record per figure.
    """
    chosen = list(FIGURES) if names is None else [n for n in FIGURES if n in set(names)]
    unknown = set(names or ()) - set(FIGURES)
    if unknown:
        raise ValueError(f"names must be a subset of {sorted(FIGURES)}, got unknown {sorted(unknown)}")
    return [regenerate(n, out_root, quick=quick, force=force, key=key) for n in chosen]


def write_paper_tables(papers_dir="papers", figures_dir="figures") -> dict[str, list[str]]:
    """Write every generated results table in ``papers_dir/*.md`` from the figure data; see
    :func:`sgd_sde.figures.tables.write_paper_tables`."""
    from .tables import write_paper_tables as _write

    return _write(papers_dir, figures_dir)


def check_paper_tables(papers_dir="papers", figures_dir="figures") -> list[str]:
    """The tables in ``papers_dir`` that differ from what their data gives; see
    :func:`sgd_sde.figures.tables.check_paper_tables`."""
    from .tables import check_paper_tables as _check

    return _check(papers_dir, figures_dir)
