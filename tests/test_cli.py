"""The sgd-sde command: the demo writes a figure and its data, deterministically for a key."""

import json

import numpy as np

from sgd_sde.cli import main


def test_demo_quick_writes_figure_and_data(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--quick", "--key", "3"]) == 0
    png = tmp_path / "demo.png"
    assert png.exists() and png.stat().st_size > 10_000
    meta = json.loads((tmp_path / "demo.json").read_text())
    assert meta["key"] == 3 and meta["quick"] is True
    with np.load(tmp_path / "demo.npz", allow_pickle=False) as data:
        first = data["sgd_loss"].copy()
        # SGD's stationary loss sits above the SDE's (discrete-time inflation, Mandt et al. 2017)
        assert data["sgd_loss"][-20:].mean() > data["sde_loss"][-20:].mean()
    # the figure is drawn from saved data: a second call reuses it
    (tmp_path / "demo.png").unlink()
    assert main(["demo", "--out", str(tmp_path), "--quick", "--key", "3"]) == 0
    with np.load(tmp_path / "demo.npz", allow_pickle=False) as data:
        np.testing.assert_array_equal(data["sgd_loss"], first)
    assert "wrote" in capsys.readouterr().out
