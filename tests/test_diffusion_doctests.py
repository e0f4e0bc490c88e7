"""Docstring examples of the diffusion modules run as tests (STYLE: Examples are doctests)."""

import doctest
import importlib

import pytest

MODULES = [
    "sgd_sde.diffusion.sinai",
    "sgd_sde.diffusion.fit",
    "sgd_sde.diffusion.fractional",
    "sgd_sde.diffusion.hoffer",
    "sgd_sde.landscapes.random_potential",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
