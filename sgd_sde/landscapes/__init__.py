"""Synthetic and user-defined loss landscapes (all finite-sum aware).

See :class:`AbstractLandscape` for the interface the dynamics and noise models use.
"""

from .base import AbstractFiniteSum, AbstractLandscape
from .one_d import DoubleWell, SharpFlat1D
from .quadratic import Quadratic
from .regression import LinearRegression, LogisticRegression
from .wrap import ExampleLandscape, FunctionLandscape, from_examples, from_fn

__all__ = [
    "AbstractLandscape",
    "AbstractFiniteSum",
    "Quadratic",
    "LinearRegression",
    "LogisticRegression",
    "DoubleWell",
    "SharpFlat1D",
    "FunctionLandscape",
    "ExampleLandscape",
    "from_fn",
    "from_examples",
]


def __getattr__(name):
    # RandomPotential lives in its own module (issue 4) and is imported lazily.
    if name == "RandomPotential":
        from .random_potential import RandomPotential

        return RandomPotential
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
