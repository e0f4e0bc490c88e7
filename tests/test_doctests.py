"""Docstring examples run as tests (STYLE: Examples are doctests)."""

import doctest
import importlib

import pytest

MODULES = [
    "sgd_sde.io",
    "sgd_sde.testing",
    "sgd_sde.simulate",
    "sgd_sde.dynamics",
    "sgd_sde.landscapes.quadratic",
    "sgd_sde.landscapes.regression",
    "sgd_sde.landscapes.one_d",
    "sgd_sde.landscapes.wrap",
    "sgd_sde.diffusion.sinai",
    "sgd_sde.diffusion.fit",
    "sgd_sde.diffusion.fractional",
    "sgd_sde.diffusion.hoffer",
    "sgd_sde.landscapes.random_potential",
    "sgd_sde.measure.noise_scale",
    "sgd_sde.measure.hessian",
    "sgd_sde.measure.sharpness",
    "sgd_sde.measure.tail_index",
    "sgd_sde.measure.weights",
    "sgd_sde.measure.landscape_slices",
    "sgd_sde.networks.datasets",
    "sgd_sde.networks.ghost_bn",
    "sgd_sde.networks.models",
    "sgd_sde.networks.swa",
    "sgd_sde.networks.train",
    "sgd_sde.networks.sweep",
    "sgd_sde.networks.results",
    "sgd_sde.networks.probes",
    "sgd_sde.measure.alignment",
    "sgd_sde.stability.escape",
    "sgd_sde.stability.radius",
    "sgd_sde.stability.mean_square",
    "sgd_sde.noise",
    "sgd_sde.sharding",
    "sgd_sde.schedules",
    "sgd_sde.trajectory",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
