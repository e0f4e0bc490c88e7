"""Several hosts, proven on one: two processes joined by ``jax.distributed`` on loopback.

Each process gets 2 forced CPU devices (``--xla_force_host_platform_device_count=2``) and gloo CPU
collectives (``jax_cpu_collectives_implementation="gloo"``); a coordinator on 127.0.0.1 and a free
port joins them into one runtime of 4 global devices, and both call :func:`sgd_sde.simulate` and
:func:`sgd_sde.simulate.sweep` on one mesh spanning all 4. The gathered results are compared with

* a single-process run on **1** device (the reference a user has): the random draws bit for bit,
  divergence flags and steps exactly, floats to the float32 rounding bound of
  ``tests/test_sharding.py`` (4 ulp per step times the steps, relative to the values' scale) —
  the shard shape changes, so XLA:CPU may pick another matmul kernel and reduction order;
* a single-process run on **4** forced devices, bit for bit. This comparison is legitimate where the
  one above is not: the global mesh has the same 4 shards of the same shape ``(d, P/4)``, the SPMD
  partitioner emits the same per-device program for them, the step needs no collective (particles
  are independent; the only cross-device operations are the boolean ``any`` that decides whether a
  block of steps is re-run after a divergence, and the gathers at the end: no float arithmetic), and both runs execute on this same CPU with the same compiler — the
  reduction order cannot differ. What the 2-process runtime could change (device ids, process
  boundaries, gloo transport) touches no float.

Both processes must also hold identical gathered results (``process_allgather`` to every process).
Everything runs on loopback under timeouts; the workers exit by themselves and are killed if not.
"""

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 150  # per process; the test uses ~25 s of CPU in all (70 s wall at load average 16 on 2 cores)

# The run every process does, written so the same code serves the 2-process workers and the
# single-process references: MODE is "dist" (after jax.distributed.initialize) or "ref" (one process
# with 4 forced devices, which writes the 1-device run and the 4-device run).
_RUN = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    MODE, OUT = sys.argv[1], sys.argv[2]
    import jax
    if MODE == "dist":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=os.environ["SGD_SDE_COORD"], num_processes=2,
                                   process_id=int(os.environ["SGD_SDE_PID"]), initialization_timeout=60)
        assert jax.process_count() == 2 and jax.device_count() == 4 and jax.local_device_count() == 2, jax.devices()
    import jax.numpy as jnp
    from jax.experimental import multihost_utils
    from jax.sharding import NamedSharding, PartitionSpec
    from sgd_sde import simulate
    from sgd_sde.dynamics import SGD
    from sgd_sde.landscapes import LinearRegression, Quadratic
    from sgd_sde.noise import Dense, FisherShaped
    from sgd_sde.simulate import sweep

    A = np.diag([1.0, 10.0]).astype(np.float32); C = np.array([[1.0, 0.5], [0.5, 2.0]], np.float32)
    rng = np.random.default_rng(0)
    land = LinearRegression(rng.normal(size=(64, 5)).astype(np.float32), rng.normal(size=64).astype(np.float32))

    def run(where):
        out = {}

        # 1. the draws a step consumes, generated with the particle axis split over the global mesh
        cases = ((Dense(C).bind(Quadratic(A)), Quadratic(A), 2), (FisherShaped().bind(land), land, 8))
        def draw(k):
            return tuple(jnp.stack([n.sample(jax.random.fold_in(k, t), l, 64, b, jnp.float32) for t in (0, 7, 99)])
                         for n, l, b in cases)
        if "mesh" in where:
            spec = NamedSharding(where["mesh"], PartitionSpec(None, None, "particles"))
            z = jax.jit(draw, out_shardings=(spec, spec))(jax.random.key(5))
            z = [multihost_utils.process_allgather(x, tiled=True) for x in z]
        else:
            z = jax.jit(draw)(jax.random.key(5))
        out["draws_dense"], out["draws_fisher"] = map(np.asarray, z)

        # 2. a run with momentum and saved observables
        t = simulate(jax.random.key(1), Quadratic(A), SGD(0.05, 2, momentum=0.5), jnp.ones(2), noise=Dense(C),
                     n_steps=120, n_particles=64, save_every=40, **where)
        out.update(sim_theta=t.theta, sim_loss=t.saved["loss"], sim_dist=t.saved["distance_from_init"],
                   sim_div=t.diverged, sim_step=t.divergence_step)

        # 3. divergence across shards: lr = 0.21 gives |1 - 0.21*10| = 1.1 on the second axis, negligible
        # noise; particle j starts at 1.1**(j + c) so it crosses the bound 1e6 at a known step, with the
        # crossing cleared by a factor 1.1**0.5 (4.9%) either side -- never decided by rounding.
        import math
        L = math.log(1e6) / math.log(1.1)
        c = (L - math.floor(L)) - 0.5
        j = np.arange(64)
        theta0 = np.stack([np.ones(64), 1.1 ** (j + c) * np.where(j % 2, 1.0, -1.0)], axis=1).astype(np.float32)
        t = simulate(jax.random.key(0), Quadratic(A), SGD(0.21, 1), theta0, noise=Dense(1e-12 * C), n_steps=300,
                     observables=("loss",), **where)
        out.update(div_theta=t.theta, div_div=t.diverged, div_step=t.divergence_step,
                   div_expected=math.floor(L - c) - j)

        # 4. a (lr, B) grid, Fisher-shaped noise on a regression (B enters the noise scale)
        g = sweep(jax.random.key(2), land, SGD(0.1, 1), jnp.zeros(5), lrs=[0.02, 0.3], batch_sizes=[1, 8],
                  noise=FisherShaped(), n_steps=80, n_particles=32, save_every=20, observables=("loss",), **where)
        for i, (lr, b) in enumerate(g):
            tr = g[(lr, b)]
            out.update({f"sweep{i}_theta": tr.theta, f"sweep{i}_loss": tr.saved["loss"],
                        f"sweep{i}_div": tr.diverged, f"sweep{i}_step": tr.divergence_step,
                        f"sweep{i}_lrb": np.array([lr, b])})
        return out

    if MODE == "dist":
        np.savez(OUT.format(jax.process_index()), **run(dict(mesh=jax.make_mesh((4,), ("particles",), devices=jax.devices()))))
    else:  # one process, 4 forced devices: the 1-device run, then the 4-device run
        assert jax.device_count() == 4
        np.savez(OUT.format("one"), **run({}))
        np.savez(OUT.format("four"), **run(dict(devices=4)))
    print("OK", MODE, flush=True)
    """
)

_STEPS = {"sim": 120, "div": 300, "sweep": 80}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(n_devices: int, **extra) -> dict:
    # a cluster's own variables must not steer the local runtime
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "PMI_", "JAX_COORDINATOR"))}
    env.update(XLA_FLAGS=f"--xla_force_host_platform_device_count={n_devices}", JAX_PLATFORMS="cpu",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra)
    return env


def _finish(procs):
    """Wait for every process (bounded), kill any left, return their (rc, stdout, stderr)."""
    res = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=TIMEOUT_S)
            res.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    return res


def _close(a, b, n_steps, what):
    # the rule of tests/test_sharding.py: 4 float32 ulp of rounding per step, times the steps,
    # relative to the values' scale (the maps here grow an error by at most their own growth)
    tol = 4 * float(np.finfo(np.float32).eps) * n_steps
    scale = float(np.max(np.abs(a[np.isfinite(a)]))) if a.size else 0.0
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=what)


@pytest.mark.slow
def test_two_processes_match_single_process(tmp_path):
    coord = f"127.0.0.1:{_free_port()}"
    script = tmp_path / "run.py"
    script.write_text(_RUN)
    out = str(tmp_path / "{}.npz")
    popen = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    procs = [subprocess.Popen([sys.executable, str(script), "dist", out],
                              env=_env(2, SGD_SDE_COORD=coord, SGD_SDE_PID=str(i)), **popen) for i in (0, 1)]
    procs.append(subprocess.Popen([sys.executable, str(script), "ref", out], env=_env(4), **popen))
    for (rc, stdout, err), name in zip(_finish(procs), ("process 0", "process 1", "reference")):
        assert rc == 0 and "OK" in stdout, f"{name}: rc={rc}\n{err[-3000:]}"

    d0, d1, one, four = (dict(np.load(out.format(k))) for k in (0, 1, "one", "four"))
    assert sorted(d0) == sorted(one) == sorted(four)
    for k in d0:
        # every process holds the full gathered result, and it is the 4-device run bit for bit
        np.testing.assert_array_equal(d0[k], d1[k], err_msg=k)
        np.testing.assert_array_equal(d0[k], four[k], err_msg=k)
        assert d0[k].dtype == one[k].dtype and d0[k].shape == one[k].shape, k
        if k.startswith("draws_") or k.endswith(("_div", "_step", "_expected", "_lrb")):
            # random draws, flags, divergence steps, grid labels: exactly the 1-device run
            np.testing.assert_array_equal(d0[k], one[k], err_msg=k)
        else:
            _close(d0[k], one[k], _STEPS[k.split("_")[0].rstrip("0123456789")], k)
    # the divergence run tests per-particle flags: every particle crossed at its own known step
    np.testing.assert_array_equal(d0["div_step"], d0["div_expected"])
    assert d0["div_div"].all() and len(np.unique(d0["div_step"])) == 64
