"""Docstring examples of sgd_sde.stability run as tests."""

import doctest
import importlib

import pytest

MODULES = ["sgd_sde.stability.escape", "sgd_sde.stability.radius", "sgd_sde.stability.mean_square"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_public_api_contract():
    import inspect

    import sgd_sde.stability as st

    assert list(inspect.signature(st.escape_time).parameters)[:5] == ["key", "landscape", "dynamics", "start", "end"]
    for kw in ("noise", "n_particles", "max_steps"):
        assert inspect.signature(st.escape_time).parameters[kw].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(inspect.signature(st.stability_radius).parameters)[:4] == ["key", "landscape", "dynamics", "minimum"]
    for kw in ("noise", "n_steps", "delta", "basin"):
        assert inspect.signature(st.stability_radius).parameters[kw].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(inspect.signature(st.mean_first_passage_time).parameters)[:4] == [
        "potential", "temperature", "start", "end"]
