"""``sgd_sde.theory.verify()``, the ``sgd-sde theory`` table, the public API and the docstring
examples of every theory module."""

import doctest
import importlib

import pytest

from sgd_sde import theory
from sgd_sde.theory.verify import TOPICS, main_theory

CONTRACT = ["eps_max", "eps_opt", "delta_l_opt", "b_noise", "b_simple", "stationary_covariance", "temperature",
            "robbins_monro", "minibatch_covariance", "mean_square_factor", "verify", "Check", "discrete_lyapunov",
            "kramers_time", "mean_first_passage_time_1d", "svag_coefficients", "ou_expected_loss",
            "zhu_escape_indicator", "mandt_optimal_lr", "expected_loss_after_step"]


def test_contract_names_exist():
    missing = [n for n in CONTRACT if not hasattr(theory, n)]
    assert not missing
    assert set(theory.__all__) >= set(CONTRACT)


def test_verify_passes_every_check():
    # no timing assertion (machine-dependent); the suite's total time bounds it
    checks = theory.verify()
    failed = [c for c in checks if not c.passed]
    assert not failed, failed
    assert len(checks) >= 50 and len({c.name for c in checks}) == len(checks)
    assert all(c.detail and c.source for c in checks)
    assert {c.name.split(".")[0] for c in checks} == set(TOPICS)


def test_main_theory_prints_a_table_and_returns_zero(capsys):
    assert main_theory(["--topic", "svag", "--topic", "minibatch"]) == 0
    out = capsys.readouterr().out
    assert "svag.squares" in out and "PASS" in out and "checks passed" in out


def test_main_theory_returns_nonzero_when_a_check_fails(monkeypatch, capsys):
    from sgd_sde.theory import svag

    monkeypatch.setattr(svag, "_checks", lambda: [theory.Check("svag.broken", False, "forced", "test")])
    assert main_theory(["--topic", "svag"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_unknown_topic():
    with pytest.raises(ValueError, match="topics must be among"):
        theory.verify(["nope"])


def test_import_does_not_load_sympy():
    import subprocess
    import sys

    code = "import sys, sgd_sde.theory; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


@pytest.mark.parametrize("name", ["_parse", "mccandlish", "gibbs", "lyapunov", "robbins_monro", "minibatch",
                                  "stability", "escape", "svag", "verify"])
def test_docstring_examples(name):
    module = importlib.import_module(f"sgd_sde.theory.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_main_theory_positional_topics_and_unknown_topic(capsys):
    assert main_theory(["svag"]) == 0
    assert "4 checks passed" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main_theory(["nope"])
