"""A claim's simulation is a function of its integer key alone: the same in every process.

Found by regenerating the verdict tables: the stationary-moment checks salted their key with
``hash(dynamics)``, and Python salts ``hash(str)`` per process (``PYTHONHASHSEED``), so every run of
``sgd-sde reproduce`` measured a different number. Two interpreters with different hash seeds must
measure the same moments bit for bit (same program, same machine).
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = (
    "from sgd_sde.claims._sim import stationary_moments\n"
    "r = stationary_moments(0, True, 'ema', 0.9, lrs=(0.04,), batch_sizes=(2,))\n"
    "m, se = r[(0.04, 2)]\n"
    "print(repr([float(x) for x in m]))\n"
)


def _run(hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout.strip().splitlines()[-1]


def test_stationary_moments_do_not_depend_on_the_process_hash_seed():
    assert _run("1") == _run("2")
