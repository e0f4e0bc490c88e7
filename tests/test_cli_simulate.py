"""`sgd-sde simulate CONFIG.toml`: a good config runs and saves a Trajectory; bad ones name key and line."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from sgd_sde.cli import main
from sgd_sde.config import ConfigError, build, parse_config
from sgd_sde.trajectory import Trajectory

GOOD = textwrap.dedent("""\
    [run]
    key = 3
    n_steps = 200
    n_particles = 64
    theta0 = [1.0, 1.0]
    save_every = 50

    [landscape]
    kind = "Quadratic"
    diag = [1.0, 4.0]

    [noise]
    kind = "Isotropic"
    variance = 1.0

    [dynamics]
    kind = "SGD"
    lr = 0.05
    batch_size = 4

    [lr_schedule]
    kind = "step_decay"
    init_value = 0.05
    boundaries = [100]
    factor = 0.5
    """)


def test_good_config_runs_and_saves(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(GOOD)
    assert main(["simulate", str(cfg), "--out", str(tmp_path / "traj")]) == 0
    assert "wrote" in capsys.readouterr().out
    traj = Trajectory.load(tmp_path / "traj")
    assert traj.theta.shape == (64, 2) and list(traj.steps) == [0, 50, 100, 150, 200]
    assert not traj.diverged.any()
    # the same file gives the same draws (key = 3)
    assert main(["simulate", str(cfg), "--out", str(tmp_path / "again")]) == 0
    np.testing.assert_array_equal(Trajectory.load(tmp_path / "again").theta, traj.theta)


def _replace(old, new):
    assert old in GOOD
    return GOOD.replace(old, new)


@pytest.mark.parametrize("text,match", [
    (_replace("variance = 1.0", "variance = 1.0\nvarience = 2.0"), r"line 15: noise.varience is not a known key"),
    (_replace("batch_size = 4", 'batch_size = "4"'), r"line 19: dynamics.batch_size must be an integer"),
    (_replace("lr = 0.05", "lr = -0.05"), r"line 18: dynamics.lr must be a finite number in \(0, inf\)"),
    (_replace("n_steps = 200", "n_steps = 0"), r"line 3: run.n_steps must be an integer >= 1"),
    (_replace('kind = "SGD"', 'kind = "Adam"'), r"line 17: dynamics.kind must be one of"),
    (_replace("[noise]", "[noize]"), r"line 12: noize is not a known section"),
    (GOOD + "momentum = 1.5\n", r"line 26: lr_schedule.momentum is not a known key"),
    (GOOD.split("[dynamics]")[0], r"missing required section \[dynamics\]"),
    (_replace("theta0 = [1.0, 1.0]", "theta0 = [1.0, true]"), r"line 5: run.theta0 must be a number"),
    (_replace("lr = 0.05", "lr = 0.05\nmomentum = 1.0"), r"line 19: dynamics.momentum must be a finite number in \[0, 1\)"),
    ("[run\nn_steps = 1", r"invalid TOML"),
])
def test_bad_configs_name_the_key_and_line(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_config(text)


def test_values_the_library_rejects_are_named_with_their_line():
    cfg = parse_config(_replace("theta0 = [1.0, 1.0]", "theta0 = [1.0, 1.0, 1.0]"))
    with pytest.raises(ConfigError, match=r"line 5: run.theta0 must have 2 entries"):
        build(cfg)
    dense = _replace('kind = "Isotropic"\nvariance = 1.0', 'kind = "Dense"\ncov = [[1.0, 2.0], [2.0, 1.0]]')
    with pytest.raises(ConfigError, match=r"line 14: noise.cov rejected by Dense"):
        build(parse_config(dense))


def test_bad_config_exits_2_with_the_message(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(_replace("lr = 0.05", "lr = 0"))
    assert main(["simulate", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "line 18: dynamics.lr" in err
