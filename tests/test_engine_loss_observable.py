"""The default ``"loss"`` observable is recorded from the step's own gradient evaluation.

The engine evaluates the observables of save point ``t`` on the state the first step of the next
interval starts from, in the same compiled computation as that step, and the loss comes from
``landscape.ensemble_value_and_grad`` (Quadratic: ``½ (θ − θ*)·(Hθ − Hθ*)``), so XLA computes
the product ``Hθ`` once. Checked here:

* values: the recorded loss equals ``landscape.loss`` of the recorded ``θ`` (float64 oracle) for
  every dynamics (DiffraxSDE, slow to compile, runs through the same engine path in
  tests/test_engine_diffrax.py), with chunking, uneven save points, frozen diverged particles and a grid;
* structure: with ``"loss"`` the compiled chunk holds exactly one more ``dot`` than without it
  (the chunk's last save point, evaluated on its own), not one more per save point.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_sde import observables as O
from sgd_sde import simulate
from sgd_sde._engine import Config, initial_carry, run_chunk, run_grid_chunk, with_array_lr
from sgd_sde.dynamics import SGD, SVAG, Adam, EMAMomentum, EulerMaruyama, Langevin
from sgd_sde.landscapes import DoubleWell, LinearRegression, Quadratic
from sgd_sde.noise import Dense, ExactMinibatch, Isotropic
from sgd_sde.simulate import sweep

D = 6
_rng = np.random.default_rng(0)
_A = _rng.standard_normal((D, D))
H = (_A @ _A.T / D + 0.1 * np.eye(D)).astype(np.float32)
THETA_STAR = _rng.standard_normal(D).astype(np.float32)  # a minimum off the origin: Hθ − Hθ* ≠ H(θ − θ*) in f32
EPS32 = float(np.finfo(np.float32).eps)


def _oracle_and_tolerance(theta):
    """float64 ``½ rᵀHr`` of the saved float32 ``θ`` and a float32 rounding bound per value.

    The engine computes ``g = Hθ − Hθ*`` (each component a d-term f32 dot: error ≤ d·ε·‖H‖(|θ| +
    |θ*|), Hθ* rounded once more) and ``½ r·g`` (error ≤ d·ε·|r||g|), with ``r = θ − θ*`` rounded
    (ε|r|). Summing: |ΔL| ≤ ½ |r| · 4 d ε ‖H‖₂ (|θ| + |θ*|) + ½ d ε |r| |g|; we use that with a
    factor 2 of slack. Today's ``½ r·(Hr)`` has the same order of error, so "equal to today's to
    float32 rounding" means within this bound.
    """
    theta = np.asarray(theta, np.float64)
    h, ts = H.astype(np.float64), THETA_STAR.astype(np.float64)
    r = theta - ts
    g = r @ h
    ref = 0.5 * np.sum(r * g, axis=-1)
    nr, ng = np.linalg.norm(r, axis=-1), np.linalg.norm(g, axis=-1)
    bound = 0.5 * nr * 4 * D * EPS32 * np.linalg.norm(h, 2) * (np.linalg.norm(theta, axis=-1) + np.linalg.norm(ts))
    return ref, 2 * (bound + 0.5 * D * EPS32 * nr * ng) + 1e-30


def _check(saved_loss, saved_theta):
    ref, tol = _oracle_and_tolerance(saved_theta)
    err = np.abs(np.asarray(saved_loss, np.float64) - ref)
    assert np.all(err <= tol), f"max error / tolerance {np.max(err / tol):.3g}"


DYNAMICS = [
    SGD(0.05, 4), SGD(0.05, 4, momentum=0.5), EMAMomentum(0.05, 4), Adam(0.01, 4),
    EulerMaruyama(0.05, 4), EulerMaruyama(0.05, 4, substeps=2), SVAG(0.05, 4, l=2.0), Langevin(0.05, 0.1),
]


@pytest.mark.parametrize("dyn", DYNAMICS, ids=lambda d: type(d).__name__)
def test_recorded_loss_is_the_loss_of_the_recorded_theta(dyn):
    q = Quadratic(H, THETA_STAR)
    noise = None if isinstance(dyn, Langevin) else Dense(H)
    t = simulate(jax.random.key(0), q, dyn, jnp.ones(D, jnp.float32), noise=noise, n_steps=70, n_particles=16,
                 save_every=10, observables=("loss", "theta", "grad_norm"), progress=False)
    assert t.saved["loss"].shape == (8, 16)
    _check(t.saved["loss"], t.saved["theta"])
    # grad_norm = |Hθ − Hθ*| from the same product: f32 error ≤ (d + 2) ε ‖H‖₂ (|θ| + |θ*|) (x2 slack)
    th = np.asarray(t.saved["theta"], np.float64)
    ref = np.linalg.norm((th - THETA_STAR) @ H.astype(np.float64), axis=-1)
    tol = 2 * (D + 2) * EPS32 * np.linalg.norm(H, 2) * (np.linalg.norm(th, axis=-1) + np.linalg.norm(THETA_STAR))
    assert np.all(np.abs(t.saved["grad_norm"] - ref) <= tol)


@pytest.mark.parametrize("extra", [dict(save_every=10, chunk_size=20), dict(save_at=[0, 3, 40, 41, 70])],
                         ids=["chunked", "uneven"])
def test_chunked_and_uneven_runs_record_the_same_loss(extra):
    """Chunked: one explicit evaluation per chunk; uneven save points: the dynamic interval loop."""
    q, dyn = Quadratic(H, THETA_STAR), SGD(0.05, 4, momentum=0.5)
    kw = dict(noise=Dense(H), n_steps=70, n_particles=16, observables=("loss", "theta"), progress=False)
    u = simulate(jax.random.key(0), q, dyn, jnp.ones(D, jnp.float32), **extra, **kw)
    _check(u.saved["loss"], u.saved["theta"])
    t = simulate(jax.random.key(0), q, dyn, jnp.ones(D, jnp.float32), save_every=10, **kw)
    # different compiled programs (loop shapes): the same keys and step arithmetic, so the final states
    # agree to rounding — 4 float32 ulp per step times the 70 steps, relative to the values' scale (as
    # in tests/test_sharding.py); not bit for bit, which would depend on how XLA fuses each program
    tol = 4 * EPS32 * 70
    np.testing.assert_allclose(u.theta, t.theta, rtol=tol, atol=tol * float(np.max(np.abs(t.theta))))
    # save point k holds the state after points[k] steps (not one interval early or late): the
    # same as a run that stops there, to a few ulp (same keys and arithmetic, compiled apart)
    for k in (1, 2, 3):
        stop = int(u.steps[k])
        s = simulate(jax.random.key(0), q, dyn, jnp.ones(D, jnp.float32), **dict(kw, n_steps=stop))
        np.testing.assert_allclose(u.saved["theta"][k], s.theta, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(u.saved["loss"][k], s.saved["loss"][-1], rtol=1e-6, atol=1e-6)


def test_frozen_diverged_particles_record_the_loss_of_their_frozen_state():
    """lr = 2.2/λ_max multiplies the top direction by −1.2 per step; particles start at distances
    1e-8 .. 1 from θ* along it, so the far ones cross the bound (and freeze at their last good
    state) at different steps and the nearest ones never do."""
    lam, vec = np.linalg.eigh(H.astype(np.float64))
    q = Quadratic(H, THETA_STAR)
    theta0 = (THETA_STAR + np.logspace(-8, 0, 16)[:, None] * vec[:, -1]).astype(np.float32)
    t = simulate(jax.random.key(0), q, SGD(float(2.2 / lam[-1]), 4), theta0, noise=Isotropic(1e-14), n_steps=96,
                 save_every=8, observables=("loss", "theta"), divergence_bound=1e3, progress=False)
    assert t.diverged.any() and not t.diverged.all() and len(set(t.divergence_step[t.diverged])) > 1
    _check(t.saved["loss"], t.saved["theta"])


def test_grid_records_the_loss_of_each_points_theta():
    q = Quadratic(H, THETA_STAR)
    g = sweep(jax.random.key(0), q, SGD(0.05, 4), jnp.ones(D, jnp.float32), lrs=[0.02, 0.05, 0.1],
              batch_sizes=[2, 8], noise=Dense(H), n_steps=40, n_particles=8, save_every=10,
              observables=("loss", "theta"), progress=False)
    for traj in g.values():
        _check(traj.saved["loss"], traj.saved["theta"])


@pytest.mark.parametrize("case", ["double_well", "exact_minibatch"])
def test_default_value_and_grad_gives_the_landscapes_loss(case):
    """Landscapes without an override: the loss is ``vmap(loss)`` (its gradient is dead code)."""
    if case == "double_well":
        land, dyn, noise, d = DoubleWell(), SGD(0.05, 4), Isotropic(0.5), 1
    else:
        x = _rng.standard_normal((64, 3)).astype(np.float32)
        land, dyn, noise, d = LinearRegression(x, x @ np.ones(3, np.float32)), SGD(0.05, 8), ExactMinibatch(), 3
    t = simulate(jax.random.key(1), land, dyn, jnp.full(d, 0.5, jnp.float32), noise=noise, n_steps=30,
                 n_particles=8, save_every=10, observables=("loss", "theta"), progress=False)
    ref = jax.vmap(jax.vmap(land.loss))(jnp.asarray(t.saved["theta"]))
    np.testing.assert_allclose(t.saved["loss"], ref, rtol=4 * EPS32, atol=4 * EPS32)


def test_value_and_grad_of_a_quadratic():
    q = Quadratic(H, THETA_STAR)
    th = jnp.asarray(_rng.standard_normal((D, 5)), jnp.float32)
    v, g = q.ensemble_value_and_grad(th)
    ref, tol = _oracle_and_tolerance(np.asarray(th).T)
    assert np.all(np.abs(np.asarray(v, np.float64) - ref) <= tol)
    np.testing.assert_array_equal(g, q.ensemble_grad(th))
    v1, g1 = q.value_and_grad(th[:, 0])
    assert abs(float(v1) - ref[0]) <= tol[0]
    np.testing.assert_array_equal(g1, q.grad(th[:, 0]))


def _dots(compiled_text):
    return len(re.findall(r"\bdot\(", compiled_text))


@pytest.mark.parametrize("grid", [False, True])
def test_loss_adds_one_matmul_per_chunk_not_per_save(grid):
    """Without CSE of the step's ``Hθ`` the loss would add a dot inside the interval loop, i.e.
    one more in the compiled text (and one per save point at run time)."""
    q, noise = Quadratic(H, THETA_STAR), Dense(H)
    dyn = with_array_lr(EulerMaruyama(0.05, 4), np.float32)
    p = 8
    theta_dp, carry = initial_carry(dyn, jnp.ones((p, D), jnp.float32), 3 if grid else None)
    starts = np.arange(0, 50, 10, dtype=np.int32)
    counts = {}
    for obs in ((), ("loss",)):
        cfg = Config(O.resolve(obs, q), None, None, 1e6, None, length=10, record_initial=True)
        args = (q, dyn, noise, cfg, jax.random.key(0), carry, theta_dp, starts, starts + 10)
        if grid:
            lowered = run_grid_chunk.lower(*args, np.asarray([0.01, 0.02, 0.05], np.float32), None, None)
        else:
            lowered = run_chunk.lower(*args)
        counts[obs] = _dots(lowered.compile().compiled.as_text())
    assert counts[("loss",)] == counts[()] + 1, counts
