"""Docstring examples run as tests (STYLE: Examples are doctests)."""

import doctest
import importlib

import pytest

def _all_modules() -> list[str]:
    """Every module of the package (so a new module's examples run without being listed here)."""
    import pkgutil

    import sgd_sde

    names = ["sgd_sde"]
    for info in pkgutil.walk_packages(sgd_sde.__path__, prefix="sgd_sde."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


MODULES = _all_modules()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
