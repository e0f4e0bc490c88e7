"""The source papers' claims tested on real networks: one module per paper.

Every module exposes ``run(key, *, quick: bool, ...) -> ExperimentResult``
(:class:`sgd_sde.verdicts.ExperimentResult`: measured values, predictions, tolerances, CIs and
verdicts, the arrays behind the figure, config and provenance) and ``figure(result, out)`` that
draws the paper-style figure from a (saved) result without re-running anything.

Batch size, learning rate and temperature: :mod:`.mccandlish`, :mod:`.smith_le`, :mod:`.smith`,
:mod:`.temperature`, :mod:`.svag`. Sharpness, flat minima and generalisation: :mod:`.keskar`,
:mod:`.hoffer`, :mod:`.swa`, :mod:`.golmant`.
"""

import importlib

EXPERIMENTS = ("mccandlish", "smith_le", "smith", "temperature", "svag", "keskar", "hoffer", "swa", "golmant")

__all__ = ["EXPERIMENTS", "get", *EXPERIMENTS]


def get(name: str):
    """The module of experiment ``name`` (one of :data:`EXPERIMENTS`).

    Raises:
        ValueError: on an unknown name.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {EXPERIMENTS}")
    return importlib.import_module(f".{name}", __name__)


def __getattr__(name):
    if name in EXPERIMENTS:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
