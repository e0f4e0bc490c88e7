"""Figure data carries provenance; stale caches are recomputed; regenerating reproduces the committed data."""

import json
from pathlib import Path

import numpy as np
import pytest

from sgd_sde.figures import FIGURES, READS, regenerate
from sgd_sde.figures._cache import LAST_STATUS, cached
from sgd_sde.io import load_arrays, load_bundle, save_bundle
from sgd_sde.provenance import source_digest

ROOT = Path(__file__).resolve().parents[1]
FIGS = ROOT / "figures"
PROVENANCE_KEYS = {"package", "version", "code", "git_commit", "config", "key", "date", "versions"}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_committed_figure_has_data_with_provenance(name):
    """Each figure's committed data is one checked bundle whose metadata records provenance (code
    digest, version, commit, config, key, date), and its readable .json copy says the same."""
    folder, _ = FIGURES[name]
    arrays, meta = load_arrays(FIGS / folder / name)  # digest-checked; old two-file pairs are refused
    prov = meta["provenance"]
    assert PROVENANCE_KEYS <= set(prov) and prov["code"].startswith("sha256:") and prov["version"]
    assert prov["config"]["quick"] is False and prov["key"] in (0, [0, 0])
    readable = json.loads((FIGS / folder / f"{name}.json").read_text())
    assert readable["provenance"] == prov and readable["readable_copy_of"] == f"{name}.npz"
    from sgd_sde.io import arrays_digest

    assert readable["arrays_digest"] == arrays_digest(arrays)


def test_a_figure_is_regenerated_after_the_figures_it_reads():
    order = list(FIGURES)
    for name, inputs in READS.items():
        assert all(i in FIGURES and order.index(i) < order.index(name) for i in inputs), (name, inputs)


def test_cache_is_reused_only_when_provenance_fits(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3.0) + len(calls)}, {"results": {"n": len(calls)}}

    stem = tmp_path / "fig"
    a1, m1 = cached(stem, {"figure": "fig", "quick": True}, 0, compute)
    assert len(calls) == 1 and m1["provenance"]["code"] == source_digest() and m1["results"] == {"n": 1}
    a2, _ = cached(stem, {"figure": "fig", "quick": True}, 0, compute)
    assert len(calls) == 1 and LAST_STATUS[str(stem)] == "reused" and np.array_equal(a1["x"], a2["x"])
    cached(stem, {"figure": "fig", "quick": True}, 1, compute)  # another key
    assert len(calls) == 2 and "key differs" in LAST_STATUS[str(stem)]
    cached(stem, {"figure": "fig", "quick": False}, 1, compute)  # another config
    assert len(calls) == 3 and "config differs" in LAST_STATUS[str(stem)]
    # data made by other code (the old, pre-provenance caches were reused whatever the code)
    arrays, meta = load_bundle(stem)
    meta["provenance"]["code"] = "sha256:0000000000000000"
    save_bundle(stem, arrays, meta)
    cached(stem, {"figure": "fig", "quick": False}, 1, compute)
    assert len(calls) == 4 and "made by other code" in LAST_STATUS[str(stem)]
    cached(stem, {"figure": "fig", "quick": False}, 1, compute, force=True)
    assert len(calls) == 5 and LAST_STATUS[str(stem)] == "regenerated: forced"
    # an old two-file cache (no provenance, no digest) is never reused
    (tmp_path / "old.json").write_text(json.dumps({"figure": "old", "key": 0, "quick": True}))
    np.savez(tmp_path / "old.npz", x=np.zeros(3))
    cached(tmp_path / "old", {"figure": "old", "quick": True}, 0, compute)
    assert "old two-file format" in LAST_STATUS[str(tmp_path / "old")]
    assert load_arrays(tmp_path / "old")[1]["provenance"]["key"] == 0
    assert json.loads((tmp_path / "old.json").read_text())["readable_copy_of"] == "old.npz"


def test_regenerating_the_demo_reproduces_its_committed_data(tmp_path):
    """Regenerate the demo figure's data (full settings, key 0) with the running code and compare it
    with the committed figures/demo/demo.npz. Same random draws (the keys fix them); floats to a
    tolerance that covers another CPU's float32 rounding: every particle is a contracting OU
    recursion (|1 − lr·λ| ≤ 0.5), so a per-step rounding difference of a few ulp (≈ 1e-7
    relative) stays ≈ 1e-6 of the state; 1e-4 relative (1e-5 absolute for θ of size ≈ 0.1) is
    ≥ 10× that. The float64 closed forms (times, exact loss, Lyapunov covariances) agree to 1e-10.
    A test that can fail: any change to simulate/noise/dynamics that alters the numbers, or a
    change of the demo's settings, makes the committed data disagree (regenerate it then)."""
    rec = regenerate("demo", out_root=tmp_path, force=True)
    assert rec["status"] == "regenerated: forced"
    new, new_meta = load_arrays(tmp_path / "demo" / "demo")
    old, old_meta = load_arrays(FIGS / "demo" / "demo")
    assert set(new) == set(old) and new_meta["provenance"]["config"] == old_meta["provenance"]["config"]
    for k in ("times", "exact_loss", "discrete_cov", "continuous_cov", "lr", "batch_size"):
        np.testing.assert_allclose(new[k], old[k], rtol=1e-10, err_msg=k)
    for k in ("sgd_loss", "sde_loss"):
        np.testing.assert_allclose(new[k], old[k], rtol=1e-4, err_msg=k)
    np.testing.assert_allclose(new["final_theta"], old["final_theta"], rtol=1e-4, atol=1e-5)
