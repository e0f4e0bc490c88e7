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
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
