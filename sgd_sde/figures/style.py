"""Shared matplotlib style for paper-style figures (Agg backend, deterministic output)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt", "paper_style", "save_figure"]

PAPER_RC = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "sgd_sde",
}


def paper_style():
    """A context manager applying the library's paper style."""
    return plt.rc_context(PAPER_RC)


def save_figure(fig, path) -> None:
    """Save ``fig`` as PNG without a timestamp in its metadata (byte-stable for a given input)."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
