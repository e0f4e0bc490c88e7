"""`sgd-sde lrbench [--quick] [--policies NAME...] [--out DIR]`: parsing and an end-to-end run (the
benchmark shrunk to a few steps by wrapping the library function, the rest of the path unchanged)."""

import functools
import importlib

import pytest

from sgd_sde.cli import build_parser, main
from sgd_sde.lrbench import BenchmarkResult
from sgd_sde.networks import MLP


def test_parser_knows_lrbench():
    args = build_parser().parse_args(["lrbench", "--quick", "--policies", "FIX", "COS", "--out", "x"])
    assert (args.quick, args.policies, args.out, args.key) == (True, ["FIX", "COS"], "x", 0)
    args = build_parser().parse_args(["lrbench"])
    assert (args.quick, args.policies, args.out) == (False, None, "figures/lrbench")


def test_lrbench_command_writes_the_table_and_figures(tmp_path, monkeypatch, capsys):
    bm = importlib.import_module("sgd_sde.lrbench.benchmark")  # the package's `benchmark` attribute is the function

    small = functools.partial(bm.benchmark, seeds=[0, 1], n_steps=20, eval_every=10,
                              model_fn=lambda k: MLP((1, 8, 8), 10, (8,), key=k))
    monkeypatch.setattr(bm, "benchmark", small)
    assert main(["lrbench", "--quick", "--policies", "fix", "COSRSW", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "COSRSW" in out and "wrote" in out
    for name in ("benchmark.npz", "metrics.csv", "summary.csv", "policies.png", "accuracy.png", "metrics.png"):
        assert (tmp_path / name).stat().st_size > 0
    res = BenchmarkResult.load(tmp_path / "benchmark.npz")
    assert res.labels == ("FIX", "COSRSW") and res.metadata["config"]["quick"] is True
    assert res.metadata["provenance"]["key"] is not None and res.metadata["provenance"]["code"]


def test_lrbench_command_rejects_unknown_policies(tmp_path, capsys):
    # a clean usage error (exit 2, no traceback), as the other commands give for bad arguments
    assert main(["lrbench", "--quick", "--policies", "NOPE", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "unknown labels" in err and "Traceback" not in err
