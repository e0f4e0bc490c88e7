"""`sgd-sde theory --topic NAME` (the option keeps its value), `list`, `figure`."""

from __future__ import annotations

import subprocess
import sys

from sgd_sde.cli import main


def test_theory_topic_option_takes_its_value(capsys):
    assert main(["theory", "--topic", "svag"]) == 0
    out = capsys.readouterr().out
    assert "svag.sum" in out and "gibbs." not in out


def test_theory_topic_option_from_the_shell():
    """The console entry point: `--topic gibbs` used to exit 2 with 'expected one argument'."""
    proc = subprocess.run([sys.executable, "-m", "sgd_sde.cli", "theory", "--topic", "gibbs", "--failed-only"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "checks passed (gibbs)" in proc.stdout


def test_theory_unknown_topic_is_a_usage_error(capsys):
    try:
        main(["theory", "--topic", "nope"])
    except SystemExit as e:
        assert e.code == 2
    assert "unknown topic" in capsys.readouterr().err


def test_list_shows_claims_and_figures(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "mccandlish2018.eps_opt_formula" in out and "claims (" in out and "figures:" in out


def test_figure_unknown_name_exits_2(capsys, tmp_path):
    assert main(["figure", "no_such_figure", "--out", str(tmp_path)]) == 2
    assert "unknown figure" in capsys.readouterr().err
