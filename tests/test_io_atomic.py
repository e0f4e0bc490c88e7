"""Saved results are one checked unit: single-file bundles, refused torn/old pairs, SIGKILL crash test.

The crash test kills real training processes (``networks.train`` with a checkpoint after every step)
with SIGKILL at random moments, resumes each killed run, and compares the result with an
uninterrupted run: every resume must either refuse with a clear ``ValueError`` or finish
bit-identical. Bit-identity is legitimate here: the same code compiles the same computation on the
same machine with the same flags in every process (each a fresh interpreter started by exec), only
split at a different step.
"""

import json
import os
import select
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sgd_sde.io import arrays_equal, load_arrays, load_bundle, save_arrays, save_bundle


# ----------------------------------------------------------------------------------------- the format
@pytest.mark.parametrize("name", ["r", "r.npz", "r.json"])
def test_a_path_saved_to_is_the_path_loaded_from(tmp_path, name):
    # save and load drop the same suffixes: "r.json" was saved as r.json.npz and loaded from r.npz
    path = save_arrays(tmp_path / name, {"x": np.arange(3.0)}, {"lr": 0.1})
    assert path == tmp_path / "r.npz" and sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]
    assert load_arrays(tmp_path / name)[1]["lr"] == 0.1


def test_one_file_with_metadata_inside_and_digest_checked(tmp_path):
    path = save_arrays(tmp_path / "r", {"x": np.arange(4.0), "k": np.int32(3)}, {"lr": 0.1, "note": "a"})
    assert path == tmp_path / "r.npz" and sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]
    arrays, meta = load_arrays(tmp_path / "r")
    assert arrays_equal(arrays, {"x": np.arange(4.0), "k": np.asarray(np.int32(3))}) and meta["lr"] == 0.1
    assert load_arrays(tmp_path / "r.npz")[1] == meta == load_bundle(tmp_path / "r")[1]
    # a member rewritten after the digest was taken: refused, naming the file and the digest
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    import io

    buf = io.BytesIO()
    np.save(buf, np.arange(4.0) + 1)
    members["x.npy"] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    with pytest.raises(ValueError, match=r"r\.npz.*do not match the digest"):
        load_arrays(tmp_path / "r")
    # a truncated file (what a non-atomic writer would leave): refused, naming the file
    blob = save_arrays(tmp_path / "t", {"x": np.arange(1000.0)}, {}).read_bytes()
    (tmp_path / "t.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"t\.npz.*corrupt"):
        load_arrays(tmp_path / "t")
    with pytest.raises(FileNotFoundError, match="nothing"):
        load_arrays(tmp_path / "nothing")


def test_old_two_file_pair_is_refused_unless_asked_for(tmp_path):
    """The old format (arrays in .npz, metadata in .json, each renamed on its own) cannot tell a new
    .npz beside an old .json: it is refused by default, read only with ``legacy=True``."""
    np.savez(tmp_path / "old.npz", x=np.arange(3.0))
    (tmp_path / "old.json").write_text(json.dumps({"step": 10}))
    with pytest.raises(ValueError, match=r"old\.npz.*old two-file format.*legacy=True"):
        load_arrays(tmp_path / "old")
    arrays, meta = load_arrays(tmp_path / "old", legacy=True)
    assert arrays["x"].tolist() == [0.0, 1.0, 2.0] and meta == {"step": 10}
    # half of a pair: a lone .json, or an .npz without metadata and without its .json
    (tmp_path / "old.npz").unlink()
    with pytest.raises(ValueError, match=r"old\.npz.*torn two-file result"):
        load_arrays(tmp_path / "old", legacy=True)
    np.savez(tmp_path / "lone.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match=r"lone\.npz.*does not exist"):
        load_arrays(tmp_path / "lone", legacy=True)
    # saving in the new format removes the stale old .json (it would describe other arrays)
    save_arrays(tmp_path / "old", {"x": np.ones(2)}, {"step": 20})
    assert not (tmp_path / "old.json").exists() and load_arrays(tmp_path / "old")[1] == {"step": 20}


def test_arrays_equal_checks_dtype_shape_values_and_nan():
    a = {"x": np.array([1.0, np.nan]), "i": np.arange(3)}
    assert arrays_equal(a, {"x": np.array([1.0, np.nan]), "i": np.arange(3)})
    assert not arrays_equal(a, {"x": np.array([1.0, np.nan], np.float32), "i": np.arange(3)})  # dtype
    assert not arrays_equal(a, {"x": np.array([[1.0, np.nan]]), "i": np.arange(3)})  # shape
    assert not arrays_equal(a, {"x": np.array([1.0, 2.0]), "i": np.arange(3)})  # value
    assert not arrays_equal(a, {"x": a["x"]})  # names


def test_trajectory_equality_and_round_trip(tmp_path):
    import dataclasses

    import jax

    from sgd_sde import Trajectory, simulate
    from sgd_sde.dynamics import SGD
    from sgd_sde.landscapes import Quadratic
    from sgd_sde.noise import Isotropic

    traj = simulate(jax.random.key(0), Quadratic(np.eye(2)), SGD(0.1, 1), np.ones(2), noise=Isotropic(1.0),
                    n_steps=5, n_particles=4, save_every=1, observables=("loss",), progress=False)
    p = traj.save(tmp_path / "t")
    back = Trajectory.load(p)
    assert back == traj and traj == back and not (back != traj)  # was: "truth value ... is ambiguous"
    assert back.metadata["provenance"]["code"].startswith("sha256:")  # recorded, not part of equality
    assert traj != dataclasses.replace(traj, theta=traj.theta.astype(np.float64))  # dtype
    assert traj != dataclasses.replace(traj, saved={"loss": traj.saved["loss"] + 1})  # values
    assert traj != dataclasses.replace(traj, metadata={**traj.metadata, "n_steps": 6})  # metadata
    assert traj != "not a trajectory"
    with pytest.raises(TypeError):
        hash(traj)


def test_next_save_removes_temporaries_left_by_killed_writers_only(tmp_path):
    """A writer killed inside atomic_write_bytes leaves ``.<name>.<pid>.<random>.tmp``; the next
    successful save of the same target removes those of dead writers that are older than the save,
    and leaves a live writer's file, a newer file and other targets' files alone."""
    from sgd_sde.io import stale_temporaries

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # that process has exited
    old = time.time() - 60
    files = {"stale": f".r.npz.{dead_pid}.abc_12.tmp", "live": f".r.npz.{os.getpid()}.zz9.tmp",
             "other": f".q.npz.{dead_pid}.abc.tmp", "not_ours": ".r.npz.notapid.tmp"}
    for name in files.values():
        (tmp_path / name).write_bytes(b"partial")
        os.utime(tmp_path / name, (old, old))
    (tmp_path / f".r.npz.{dead_pid}.new.tmp").write_bytes(b"newer than the save")
    os.utime(tmp_path / f".r.npz.{dead_pid}.new.tmp", (time.time() + 60,) * 2)
    assert stale_temporaries(tmp_path / "r.npz") == [tmp_path / files["stale"], tmp_path / f".r.npz.{dead_pid}.new.tmp"]
    save_bundle(tmp_path / "r", {"x": np.ones(2)}, {})
    left = sorted(p.name for p in tmp_path.iterdir())
    assert files["stale"] not in left
    assert {files["live"], files["other"], files["not_ours"], f".r.npz.{dead_pid}.new.tmp", "r.npz"} == set(left)


# ----------------------------------------------------------------------------------------- crash test
_WORKER = r"""
import json, sys
import jax
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
import equinox as eqx
import numpy as np
from sgd_sde import provenance
from sgd_sde.io import save_bundle
from sgd_sde.networks import MLP, load_dataset, train
provenance.source_digest(), provenance.git_commit()
data = load_dataset("digits").subset(96, 32)
KW = dict(n_steps=int(sys.argv[2]), batch_schedule=16, probe_every=5, checkpoint_every=1, progress=False)

def run(ck):
    model = MLP(data.input_shape, 10, (8,), key=jax.random.key(0))
    res = train(jax.random.key(1), model, data, checkpoint=ck, **KW)
    arrays = {f"leaf{i}": np.asarray(x) for i, x in enumerate(jax.tree_util.tree_leaves(eqx.filter(res.model, eqx.is_inexact_array)))}
    arrays.update({f"history__{k}": v for k, v in res.history.items()})
    return arrays, res.metadata["resumed_from"]

print("ready", flush=True)
cmd = json.loads(sys.stdin.readline())
if cmd["op"] == "run":
    run(cmd["ck"])
else:
    for name, ck in cmd["cks"].items():
        try:
            arrays, start = run(ck)
            save_bundle(cmd["out"] + "/" + name, arrays, {"resumed_from": start})
        except ValueError as err:
            with open(cmd["out"] + "/" + name + ".refused", "w") as fh:
                fh.write(str(err))
"""


class _Worker:
    """A fresh interpreter (started by exec, never forked from a process that imported JAX) that
    imports sgd_sde, says "ready" and runs one command. Started ahead of need, so its imports
    overlap with the run before it."""

    def __init__(self, script, cache, n_steps):
        env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")  # the code under test
        self.proc = subprocess.Popen([sys.executable, str(script), str(cache), str(n_steps)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.pid = self.proc.pid

    def go(self, cmd, timeout=180.0):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        assert line.split() == ["ready"], f"worker did not start (rc={self.proc.poll()}, said {line!r})"
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.close()

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self, timeout=300.0) -> int:
        return self.proc.wait(timeout=timeout)


def _inode(path):
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _temporaries(folder, name):
    return {p.name for p in folder.iterdir() if p.name.startswith(f".{name}.npz.") and p.name.endswith(".tmp")}


@pytest.mark.slow
def test_sigkill_during_checkpointing_never_resumes_silently(tmp_path):
    """≥ 20 SIGKILLs of training processes at random moments of the checkpoint loop (a checkpoint is
    written after every step, so most of the loop is the write path). After each kill the file on
    disk loads cleanly (old or new, never a mixture); chained runs resume from it and are killed
    again; finally every chain is resumed to the end and must equal the uninterrupted run bit for
    bit, or refuse with a ValueError naming the file, and no temporary file of a killed writer may
    remain. Counts and wall time are printed (pytest -s).

    Every training process is a fresh interpreter started by exec (no fork after JAX is imported:
    a forked child once stalled). Bit-identity is legitimate here: the same code compiles the same
    computation on the same machine with the same flags in every process, only split at a
    different step. The chains run concurrently, each with its next worker already importing."""
    n_steps, n_chains, kills_per_chain = 24, 5, 4
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    cache = tmp_path / "xla_cache"
    spawn = lambda: _Worker(script, cache, n_steps)  # noqa: E731
    t0 = time.perf_counter()
    workers = []  # every worker started, to be reaped
    try:
        # uninterrupted reference (it also fills the compilation cache and times one write loop)
        ref_ck = tmp_path / "reference"
        ref = spawn()
        workers.append(ref)
        spares = [spawn() for _ in range(n_chains)]  # import while the reference runs
        workers += spares
        ref.go({"op": "run", "ck": str(ref_ck)})
        while _inode(str(ref_ck) + ".npz") is None and ref.proc.poll() is None:
            time.sleep(0.002)
        t_first = time.perf_counter()
        assert ref.wait() == 0
        loop = time.perf_counter() - t_first
        assert load_bundle(ref_ck)[1]["step"] == n_steps

        def chain(i):
            name, ck = f"c{i}", tmp_path / f"c{i}"
            rng = np.random.default_rng([20240601, i])
            nxt = spares[i]
            kills = mid_write = attempts = 0
            while kills < kills_per_chain:
                attempts += 1
                assert attempts <= 6 * kills_per_chain, "kills keep missing the training loop"
                if nxt is None:  # the last kill missed: one more worker
                    nxt = spawn()
                    workers.append(nxt)
                w, nxt = nxt, None
                if kills < kills_per_chain - 1:  # the next worker imports while this one trains
                    nxt = spawn()
                    workers.append(nxt)
                before = _inode(str(ck) + ".npz")
                tmps = _temporaries(tmp_path, name)
                w.go({"op": "run", "ck": str(ck)})
                deadline = time.perf_counter() + 60
                while _inode(str(ck) + ".npz") == before and w.proc.poll() is None and time.perf_counter() < deadline:
                    time.sleep(0.001)  # the child is inside the loop once it has replaced the file
                time.sleep(rng.uniform(0.0, 0.6 * loop * (1 - 0.15 * kills)))  # the rest of the loop shrinks as the chain advances
                w.kill()
                rc = w.wait()
                if rc != -signal.SIGKILL:
                    assert rc == 0
                    ck.with_suffix(".npz").unlink()  # finished before the kill: start this chain again
                    continue
                kills += 1
                mid_write += bool(_temporaries(tmp_path, name) - tmps)  # killed inside atomic_write_bytes
                arrays, meta = load_bundle(ck)  # what a kill leaves is always a whole checkpoint
                assert 0 < meta["step"] <= n_steps and int(arrays["step"]) == meta["step"]
            return name, kills, mid_write, attempts

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(n_chains) as pool:
            done = list(pool.map(chain, range(n_chains)))
        kills, mid_write, attempts = (sum(d[k] for d in done) for k in (1, 2, 3))
        chains = [d[0] for d in done]
        left_by_kills = sum(len(_temporaries(tmp_path, name)) for name in chains)
        out = tmp_path / "resumed"
        out.mkdir()
        cks = {"_reference": str(tmp_path / "fresh"), **{n: str(tmp_path / n) for n in chains}}  # fresh: from step 0
        w = spawn()
        workers.append(w)
        w.go({"op": "resume", "cks": cks, "out": str(out)})
        assert w.wait() == 0
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.kill()
            w.wait()
            w.proc.stdout.close()
    reference, meta = load_bundle(out / "_reference")
    assert meta["resumed_from"] == 0
    refused, identical, silent = [], 0, []
    for name in chains:
        if (out / f"{name}.refused").exists():
            msg = (out / f"{name}.refused").read_text()
            assert f"{name}.npz" in msg, msg  # a refusal names the file
            refused.append(msg)
            continue
        arrays, meta = load_bundle(out / name)
        if arrays_equal(arrays, reference):
            identical += 1
        else:
            silent.append((name, meta["resumed_from"]))
    stale = {name: _temporaries(tmp_path, name) for name in chains if _temporaries(tmp_path, name)}
    print(f"\nSIGKILL crash test: {kills} kills ({mid_write} with a temporary file present, i.e. inside "
          f"atomic_write_bytes) in {attempts} attempts; resumes: {identical} bit-identical, {len(refused)} "
          f"refused, {len(silent)} silently different; {left_by_kills} temporaries left by kills, "
          f"{sum(map(len, stale.values()))} after the resumes; {time.perf_counter() - t0:.1f} s")
    assert kills >= 20
    assert silent == [], f"resumed runs that differ from the uninterrupted one: {silent}"
    assert identical + len(refused) == n_chains
    assert refused == [], f"a kill left a checkpoint that cannot be resumed: {refused}"
    assert stale == {}, f"temporary files of killed writers left after a successful resume: {stale}"
