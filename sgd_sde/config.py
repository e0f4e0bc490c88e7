"""``sgd-sde simulate CONFIG.toml``: a simulation described by a TOML file, validated before it runs.

The file names a landscape, a noise model, a dynamics and (optionally) learning-rate and
batch-size schedules from the library, and the run's size::

    [run]
    key = 0
    n_steps = 1000
    n_particles = 256
    theta0 = [1.0, 1.0]
    save_every = 10                 # optional
    observables = ["loss", "distance_from_init"]   # optional

    [landscape]
    kind = "Quadratic"
    diag = [1.0, 4.0]               # or hessian = [[...], [...]]

    [noise]                         # optional (default: exact gradients)
    kind = "Isotropic"
    variance = 1.0

    [dynamics]
    kind = "SGD"
    lr = 0.05
    batch_size = 4

    [lr_schedule]                   # optional
    kind = "step_decay"
    init_value = 0.05
    boundaries = [500]
    factor = 0.1

Everything is checked before anything is traced: an unknown section or key, a wrong type or an
out-of-range value raises :class:`ConfigError` (a ``ValueError``) that names the key and its line.
Values are plain TOML (parsed by :mod:`tomllib`); nothing is evaluated.

Examples:
    >>> cfg = parse_config('''
    ... [run]
    ... n_steps = 10
    ... n_particles = 2
    ... theta0 = [1.0]
    ... [landscape]
    ... kind = "DoubleWell"
    ... [dynamics]
    ... kind = "SGD"
    ... lr = 0.1
    ... batch_size = 1
    ... ''')
    >>> cfg["landscape"]["kind"], cfg["run"]["n_steps"]
    ('DoubleWell', 10)
    >>> parse_config('''
    ... [run]
    ... n_steps = -1
    ... theta0 = [1.0]
    ... [landscape]
    ... kind = "DoubleWell"
    ... [dynamics]
    ... kind = "SGD"
    ... lr = 0.1
    ... ''')
    Traceback (most recent call last):
    ...
    sgd_sde.config.ConfigError: line 3: run.n_steps must be an integer >= 1, got -1
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "parse_config", "load_config", "build", "run_config", "SCHEMA"]


class ConfigError(ValueError):
    """A bad simulation config; the message names the key (``section.key``) and its line."""


# --- value checkers: each returns the cleaned value or raises ValueError(reason) ---------------------------
def _real(lo=None, hi=None, lo_open=False, hi_open=False):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"must be a number, got {type(v).__name__} {v!r}")
        v = float(v)
        bad = not math.isfinite(v)
        if lo is not None:
            bad |= v <= lo if lo_open else v < lo
        if hi is not None:
            bad |= v >= hi if hi_open else v > hi
        if bad:
            # an infinite end is open: the value must be finite
            rng = (f"{'(' if lo_open or lo is None else '['}{'-inf' if lo is None else lo}, "
                   f"{'inf' if hi is None else hi}{')' if hi_open or hi is None else ']'}")
            raise ValueError(f"must be a finite number in {rng}, got {v!r}")
        return v

    return check


def _integer(lo=None):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"must be an integer, got {type(v).__name__} {v!r}")
        if lo is not None and v < lo:
            raise ValueError(f"must be an integer >= {lo}, got {v!r}")
        return v

    return check


def _boolean(v):
    if not isinstance(v, bool):
        raise TypeError(f"must be true or false, got {type(v).__name__} {v!r}")
    return v


def _vector(v):
    if not isinstance(v, list) or not v:
        raise TypeError(f"must be a non-empty list of numbers, got {v!r}")
    return [_real()(x) for x in v]


def _int_list(v):
    if not isinstance(v, list):
        raise TypeError(f"must be a list of integers, got {v!r}")
    return [_integer(0)(x) for x in v]


def _matrix(v):
    if not isinstance(v, list) or not v or not all(isinstance(r, list) for r in v):
        raise TypeError(f"must be a list of rows (a square matrix), got {v!r}")
    rows = [_vector(r) for r in v]
    if any(len(r) != len(rows) for r in rows):
        raise ValueError(f"must be square, got rows of lengths {[len(r) for r in rows]}")
    return rows


def _choice(*options):
    def check(v):
        if v not in options:
            raise ValueError(f"must be one of {list(options)}, got {v!r}")
        return v

    return check


POS, NONNEG, UNIT = _real(0, lo_open=True), _real(0), _real(0, 1, hi_open=True)
# kind -> {key: (checker, required)}
SCHEMA: dict[str, dict[str, dict[str, tuple[Callable, bool]]]] = {
    "landscape": {
        "Quadratic": {"diag": (_vector, False), "hessian": (_matrix, False), "minimum": (_vector, False)},
        "DoubleWell": {"barrier": (POS, False), "scale": (POS, False), "tilt": (_real(), False)},
        "SharpFlat1D": {"sharp_curvature": (POS, False), "flat_curvature": (POS, False), "sharp_at": (_real(), False),
                        "flat_at": (_real(), False), "steepness": (POS, False)},
        "LinearRegression": {"n_examples": (_integer(2), True), "dim": (_integer(1), True),
                             "label_noise": (NONNEG, False), "seed": (_integer(0), False)},
    },
    "noise": {
        "none": {},
        "Isotropic": {"variance": (NONNEG, True), "n_population": (_integer(1), False)},
        "Diagonal": {"variances": (_vector, True)},
        "Dense": {"cov": (_matrix, True)},
        "FisherShaped": {"scale": (NONNEG, False), "replace": (_boolean, False)},
        "HessianShaped": {"scale": (NONNEG, False), "shift": (NONNEG, False)},
        "HeavyTailed": {"alpha": (_real(0, 2, lo_open=True), True), "scale": (NONNEG, False)},
        "ExactMinibatch": {"replace": (_boolean, False)},
    },
    "dynamics": {
        "SGD": {"lr": (POS, True), "batch_size": (_integer(1), True), "momentum": (UNIT, False)},
        "EMAMomentum": {"lr": (POS, True), "batch_size": (_integer(1), True), "beta": (UNIT, False)},
        "EulerMaruyama": {"lr": (POS, True), "batch_size": (_integer(1), True), "substeps": (_integer(1), False)},
        "SVAG": {"lr": (POS, True), "batch_size": (_integer(1), True), "l": (_real(1), False)},
        "Langevin": {"lr": (POS, True), "temperature": (NONNEG, True), "batch_size": (_integer(1), False)},
    },
    "lr_schedule": {
        "constant": {"value": (POS, True)},
        "step_decay": {"init_value": (POS, True), "boundaries": (_int_list, True), "factor": (POS, False)},
        "exponential_decay": {"init_value": (POS, True), "decay_rate": (POS, True), "transition_steps": (_integer(1), False)},
        "inverse_power": {"init_value": (POS, True), "power": (NONNEG, True), "offset": (POS, False)},
        "cosine": {"init_value": (POS, True), "decay_steps": (_integer(1), True), "alpha": (NONNEG, False)},
        "cyclic": {"high": (POS, True), "low": (POS, True), "cycle": (_integer(1), True)},
        "warmup": {"peak": (POS, True), "warmup_steps": (_integer(1), True)},
    },
    "batch_schedule": {
        "increase_batch": {"init_batch": (_integer(1), True), "boundaries": (_int_list, True),
                           "factor": (_integer(1), False), "max_batch": (_integer(1), False)},
    },
}
RUN: dict[str, tuple[Callable, bool]] = {
    "key": (_integer(0), False), "n_steps": (_integer(1), True), "n_particles": (_integer(1), True),
    "theta0": (_vector, True), "save_every": (_integer(1), False), "out": (str, False),
    "observables": (lambda v: [_choice("loss", "distance_from_init", "grad_norm", "theta", "distance_from_minimum")(x)
                               for x in (v if isinstance(v, list) else [v])], False),
    "divergence_bound": (POS, False),
}
REQUIRED_SECTIONS = ("run", "landscape", "dynamics")


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """1-based line of ``key`` in ``[section]`` (or of the header when ``key`` is None)."""
    current = None
    for i, line in enumerate(text.splitlines(), 1):
        s = line.split("#", 1)[0].strip()
        m = re.match(r"^\[\s*([A-Za-z0-9_.\-]+)\s*\]$", s)
        if m:
            current = m.group(1)
            if key is None and current == section:
                return i
            continue
        if current == section and key is not None and re.match(rf"^{re.escape(key)}\s*=", s):
            return i
    return None


def _err(text, section, key, msg):
    line = _line_of(text, section, key)
    where = f"line {line}: " if line else ""
    name = section if key is None else f"{section}.{key}"
    return ConfigError(f"{where}{name} {msg}")


def _check_table(text, section, table, spec) -> dict:
    out = {}
    for k, v in table.items():
        if k not in spec:
            raise _err(text, section, k, f"is not a known key; allowed: {sorted(spec)}")
        checker, _ = spec[k]
        try:
            out[k] = checker(v) if checker is not str else _string(v)
        except (TypeError, ValueError) as e:
            raise _err(text, section, k, str(e)) from None
    missing = [k for k, (_, req) in spec.items() if req and k not in table]
    if missing:
        raise _err(text, section, None, f"is missing required key(s) {missing}")
    return out


def _string(v):
    if not isinstance(v, str):
        raise TypeError(f"must be a string, got {type(v).__name__} {v!r}")
    return v


def parse_config(text: str) -> dict[str, dict[str, Any]]:
    """Parse and validate a config (the TOML text); see the module docstring for the layout.

    Returns:
        ``{section: {key: value}}`` with every value checked (numbers as floats/ints).

    Raises:
        ConfigError: invalid TOML, an unknown section/key/kind, a wrong type, an out-of-range or
            missing value — the message names the key and its line.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}") from None
    allowed = ("run", *SCHEMA)
    for section, table in raw.items():
        if section not in allowed:
            raise _err(text, section, None, f"is not a known section; allowed: {list(allowed)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{section} must be a table [{section}], got {type(table).__name__}")
    for section in REQUIRED_SECTIONS:
        if section not in raw:
            raise ConfigError(f"missing required section [{section}]")
    cfg: dict[str, dict[str, Any]] = {"run": _check_table(text, "run", raw["run"], RUN)}
    for section, kinds in SCHEMA.items():
        if section not in raw:
            continue
        table = dict(raw[section])
        kind = table.pop("kind", None)
        if kind is None:
            raise _err(text, section, None, f"needs kind = one of {list(kinds)}")
        if kind not in kinds:
            raise _err(text, section, "kind", f"must be one of {list(kinds)}, got {kind!r}")
        cfg[section] = {"kind": kind, **_check_table(text, section, table, kinds[kind])}
    land = cfg["landscape"]
    if land["kind"] == "Quadratic" and ("diag" in land) == ("hessian" in land):
        raise _err(text, "landscape", None, "Quadratic needs exactly one of diag or hessian")
    cfg["_text"] = {"text": text}
    return cfg


def load_config(path) -> dict[str, dict[str, Any]]:
    """:func:`parse_config` of a file (the error message starts with the file name)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config {str(path)!r}: {e}") from None
    try:
        cfg = parse_config(text)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    cfg["_text"]["file"] = str(path)  # build's errors name the file too
    return cfg


def _construct(text, section, what: str, fn: Callable, kwargs: Mapping[str, Any],
               keys: Mapping[str, str | None] | None = None):
    """Call a library constructor; its own ValueError (naming the argument) gets the section and line.

    ``keys`` maps a constructor argument built from the config to the key the file holds (``None``:
    the section), so the message names what the user wrote (``landscape.diag``, not ``hessian``).
    """
    try:
        return fn(**kwargs)
    except (TypeError, ValueError) as e:
        arg = next((k for k in kwargs if re.search(rf"\b{re.escape(k)}\b", str(e))), None)
        key = (keys or {}).get(arg, arg)
        raise _err(text, section, key, f"rejected by {what}: {e}") from None


def build(cfg: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The library objects of a parsed config: landscape, noise, dynamics, schedule, theta0 and run kwargs.

    Raises:
        ConfigError: a value the library's constructors reject (named, with its line), or a
            ``theta0`` whose length differs from the landscape's dimension; the message starts
            with the file name when ``cfg`` comes from :func:`load_config`.
    """
    try:
        return _build(cfg)
    except ConfigError as e:
        file = cfg.get("_text", {}).get("file")
        if file is None:
            raise
        raise ConfigError(f"{file}: {e}") from None


def _build(cfg: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    import jax.numpy as jnp
    import numpy as np

    from . import dynamics as D
    from . import landscapes as L
    from . import noise as N
    from . import schedules as S

    text = cfg.get("_text", {}).get("text", "")
    land = dict(cfg["landscape"])
    kind = land.pop("kind")
    if kind == "Quadratic":
        h = np.diag(land["diag"]) if "diag" in land else np.asarray(land["hessian"])
        landscape = _construct(text, "landscape", "Quadratic", L.Quadratic,
                               {"hessian": jnp.asarray(h, jnp.float32), **({"minimum": jnp.asarray(land["minimum"], jnp.float32)}
                                                                           if "minimum" in land else {})},
                               {"hessian": "diag" if "diag" in land else "hessian"})
    elif kind == "LinearRegression":
        rng = np.random.default_rng(land.get("seed", 0))
        X = rng.normal(size=(land["n_examples"], land["dim"])).astype(np.float32)
        y = (X @ np.ones(land["dim"]) + land.get("label_noise", 0.5) * rng.normal(size=land["n_examples"])).astype(np.float32)
        landscape = _construct(text, "landscape", "LinearRegression", L.LinearRegression, {"X": X, "y": y},
                               {"X": None, "y": None})
    else:
        landscape = _construct(text, "landscape", kind, getattr(L, kind), land)
    noise = None
    if "noise" in cfg and cfg["noise"]["kind"] != "none":
        nz = dict(cfg["noise"])
        nk = nz.pop("kind")
        for k in ("cov",):
            if k in nz:
                nz[k] = jnp.asarray(nz[k], jnp.float32)
        if "variances" in nz:
            nz["variances"] = jnp.asarray(nz["variances"], jnp.float32)
        noise = _construct(text, "noise", nk, getattr(N, nk), nz)
    dyn = dict(cfg["dynamics"])
    dk = dyn.pop("kind")
    dynamics = _construct(text, "dynamics", dk, getattr(D, dk), dyn)
    schedule = None
    if "lr_schedule" in cfg or "batch_schedule" in cfg:
        parts = {}
        for section, field in (("lr_schedule", "lr"), ("batch_schedule", "batch_size")):
            if section in cfg:
                sc = dict(cfg[section])
                sk = sc.pop("kind")
                parts[field] = _construct(text, section, sk, getattr(S, sk), sc)
        schedule = S.Schedule(**parts)
    run = dict(cfg["run"])
    theta0 = np.asarray(run.pop("theta0"), np.float32)
    if theta0.shape != (landscape.dim,):
        raise _err(text, "run", "theta0", f"must have {landscape.dim} entries (the landscape's dimension), "
                                          f"got {theta0.shape[0]}")
    return {"landscape": landscape, "noise": noise, "dynamics": dynamics, "schedule": schedule,
            "theta0": jnp.asarray(theta0), "run": run}


def _unsavable(out: Path) -> str | None:
    """Why the Trajectory cannot be saved as ``out.npz`` (its folder is created), or ``None``."""
    from .io import paths_for

    npz = paths_for(out)[0]
    if npz.is_dir():
        return f"{str(npz)!r} is a directory"
    probe = npz.parent
    while not probe.exists() and probe != probe.parent:  # the nearest existing ancestor
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return f"{str(probe)!r} is not a directory"
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        return f"{str(probe)!r} is not writable"
    return None


def run_config(path, out=None, *, progress: bool | None = None):
    """Validate ``path``, run :func:`sgd_sde.simulate` and save the Trajectory.

    Args:
        path: the TOML file.
        out: where to save (default: ``run.out`` of the file, else the file's name without ``.toml``).

    Returns:
        ``(trajectory, saved path)``.

    Raises:
        ConfigError: see :func:`parse_config` and :func:`build`; also an output path (``out`` or
            ``run.out``) where the Trajectory cannot be saved — before anything runs.
    """
    import jax

    from .simulate import simulate

    cfg = load_config(path)
    from_file = out is None and "out" in cfg["run"]
    out = Path(out if out is not None else cfg["run"].get("out", Path(path).with_suffix("")))
    why = _unsavable(out)
    if why is not None and from_file:
        err = _err(cfg["_text"]["text"], "run", "out", f"names a place the Trajectory cannot be saved: {why}")
        raise ConfigError(f"{path}: {err}")
    if why is not None:
        raise ConfigError(f"out {str(out)!r}: the Trajectory cannot be saved there: {why}")
    objs = build(cfg)
    run = objs["run"]
    key = jax.random.key(run.pop("key", 0))
    run.pop("out", None)
    obs = tuple(run.pop("observables", ("loss", "distance_from_init")))
    traj = simulate(key, objs["landscape"], objs["dynamics"], objs["theta0"], noise=objs["noise"],
                    schedule=objs["schedule"], observables=obs, progress=progress, **run)
    saved = traj.save(out)
    return traj, Path(saved) if saved is not None else out
