"""Docstring examples of sgd_sde.measure and sgd_sde.networks run as tests."""

import doctest
import importlib

import pytest

MODULES = [
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
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
