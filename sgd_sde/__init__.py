"""sgd_sde: stochastic gradient descent as a stochastic differential equation.

Simulate SGD exactly (real minibatches) or as its SDE (Fisher/Hessian-shaped Langevin noise) over
thousands of particles, check the published claims about batch size, learning rate, momentum and
noise symbolically (:mod:`sgd_sde.theory`), in simulation (:mod:`sgd_sde.diffusion`,
:mod:`sgd_sde.stability`) and on real networks (:mod:`sgd_sde.networks`, :mod:`sgd_sde.measure`).

The front door is :func:`simulate`; landscapes, noise models and dynamics plug into it. The
heavier sub-packages are imported on first use.
"""

import importlib

from . import dynamics, landscapes, noise, schedules
from .grid import GridResult
from .simulate import simulate, sweep
from .trajectory import Trajectory

__version__ = "0.1.0"

_LAZY = (
    "theory", "diffusion", "stability", "measure", "networks", "sharding", "testing", "figures",
    "experiments", "lrbench", "claims", "verdicts", "provenance",
)

__all__ = ["simulate", "sweep", "Trajectory", "GridResult", "landscapes", "noise", "dynamics", "schedules", *_LAZY, "__version__"]


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
