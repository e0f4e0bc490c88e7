"""Docstring examples of sgd_sde.lrbench run as tests (the benchmark's and search's are skipped
there: they compile for seconds and tests/test_lrbench_benchmark.py runs the same calls)."""

import doctest
import importlib

import pytest

MODULES = ["sgd_sde.lrbench.policies", "sgd_sde.lrbench.compose", "sgd_sde.lrbench.plateau", "sgd_sde.lrbench.explore",
           "sgd_sde.lrbench.benchmark"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
