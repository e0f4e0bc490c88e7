r"""Ready-made training probes: ``probe(model, state, data, step) -> dict``.

Each factory returns a probe for :func:`sgd_sde.networks.train`'s ``probes=``; stochastic probes
take their own key and fold in the step (``fold_in(key, step)``), so their draws do not depend
on the probe interval or on a resume.

* :func:`metrics` — train/test loss and accuracy (inference mode).
* :func:`distance` — ``‖w_t − w_0‖`` and ``‖w_t‖`` (Hoffer et al. 2017).
* :func:`noise_scale` — McCandlish et al.'s two-batch raw estimates; smooth the history with
  :func:`sgd_sde.measure.ema_noise_scale`.
* :func:`exact_noise` — exact per-example ``|G|², trΣ, B_simple`` (and ``B_noise``) on a subset.
* :func:`top_eigenvalue` — top Hessian eigenvalues (Lanczos).
* :func:`sharpness` — Keskar et al.'s ε-sharpness.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as V
from .. import measure
from .models import cross_entropy, example_loss

__all__ = ["evaluate", "metrics", "distance", "noise_scale", "exact_noise", "top_eigenvalue", "sharpness", "params_snapshot"]


@eqx.filter_jit
def _eval_batch(model, state, xb, yb):
    logits, _ = model(xb, state, train=False)
    return jnp.sum(cross_entropy(logits, yb)), jnp.sum(jnp.argmax(logits, axis=-1) == yb)


def evaluate(model, state, x, y, *, batch_size: int = 1024) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (inference mode) on ``(x, y)``."""
    b = V.positive_int("batch_size", batch_size)
    n = x.shape[0]
    tot_l = tot_a = 0.0
    for s in range(0, n, b):
        l, a = _eval_batch(model, state, jnp.asarray(x[s : s + b]), jnp.asarray(y[s : s + b]))
        tot_l += float(l)
        tot_a += float(a)
    return tot_l / n, tot_a / n


def metrics(*, batch_size: int = 1024, train: bool = True, test: bool = True) -> Callable:
    """Probe: ``train_loss_full``, ``train_acc``, ``test_loss``, ``test_acc`` (inference mode)."""
    b = V.positive_int("batch_size", batch_size)

    def probe(model, state, data, step):
        out = {}
        if train:
            out["train_loss_full"], out["train_acc"] = evaluate(model, state.bn_state, data.x_train, data.y_train, batch_size=b)
        if test:
            out["test_loss"], out["test_acc"] = evaluate(model, state.bn_state, data.x_test, data.y_test, batch_size=b)
        return out

    return probe


def distance() -> Callable:
    """Probe: ``distance_from_init`` ``‖w_t − w_0‖`` and ``weight_norm`` ``‖w_t‖``.

    References:
        Hoffer, Hubara & Soudry 2017, "Train Longer, Generalize Better" (``‖w_t − w_0‖ ∼ log t``).
    """

    def probe(model, state, data, step):
        p, p0 = eqx.filter(model, eqx.is_inexact_array), eqx.filter(state.init_model, eqx.is_inexact_array)
        return {"distance_from_init": float(measure.distance_from_init(p, p0)), "weight_norm": float(measure.weight_norm(p))}

    return probe


def params_snapshot() -> Callable:
    """Probe: the flat parameter vector ``params`` (for small models: SWA checks, trajectories)."""

    def probe(model, state, data, step):
        return {"params": np.asarray(jax.flatten_util.ravel_pytree(eqx.filter(model, eqx.is_inexact_array))[0])}

    return probe


def _subset(data, n, key):
    if n is None or n >= data.n_train:
        return data.x_train, data.y_train
    idx = np.sort(np.asarray(jax.random.choice(key, data.n_train, (n,), replace=False)))
    return data.x_train[idx], data.y_train[idx]


def noise_scale(key, *, b_small: int, b_big: int, n_pairs: int = 1, replace: bool = True) -> Callable:
    r"""Probe: McCandlish et al.'s two-batch raw estimates at the current params.

    Returns ``grad_sq_small``, ``grad_sq_big`` (means over ``n_pairs`` pairs) and the unbiased
    ``grad_sq_est``, ``trace_cov_est``. Smooth over the run with
    ``sgd_sde.measure.ema_noise_scale(h["grad_sq_est"], h["trace_cov_est"])`` — the ratio of
    bias-corrected EMAs.

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", Appendix A.1.
    """
    bs, bb, n_pairs = V.positive_int("b_small", b_small), V.positive_int("b_big", b_big), V.positive_int("n_pairs", n_pairs)
    if bb <= bs:
        raise ValueError(f"b_big must be > b_small, got b_small={bs}, b_big={bb}")

    def probe(model, state, data, step):
        loss_fn, params = example_loss(model, state.bn_state)
        out = measure.two_batch_noise_scale(loss_fn, params, data.x_train, data.y_train, key=jax.random.fold_in(key, step),
                                            b_small=bs, b_big=bb, n_pairs=n_pairs, replace=replace)
        g2, tr = measure.two_batch_estimates(out["grad_sq_small"].mean(), out["grad_sq_big"].mean(), bs, bb,
                                             n_population=None if replace else data.n_train)
        return {"grad_sq_small": float(out["grad_sq_small"].mean()), "grad_sq_big": float(out["grad_sq_big"].mean()),
                "grad_sq_est": float(g2), "trace_cov_est": float(tr)}

    return probe


def exact_noise(key=None, *, max_examples: int | None = None, hessian: bool = False, max_hvp_examples: int | None = None) -> Callable:
    """Probe: exact ``grad_sq_norm``, ``trace_cov``, ``b_simple`` (and ``b_noise`` if ``hessian``) on
    the training set or a random subset of ``max_examples``.

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training".
    """
    if (max_examples is not None or max_hvp_examples is not None) and key is None:
        raise TypeError("key must be a jax.random key when max_examples or max_hvp_examples is given")

    def probe(model, state, data, step):
        k = None if key is None else jax.random.fold_in(key, step)
        x, y = _subset(data, max_examples, k)
        loss_fn, params = example_loss(model, state.bn_state)
        s = measure.gradient_noise_stats(loss_fn, params, x, y, hessian=hessian, max_hvp_examples=max_hvp_examples, key=k)
        names = ("grad_sq_norm", "trace_cov", "b_simple") + (("grad_h_grad", "trace_h_cov", "b_noise") if hessian else ())
        return {n: s[n] for n in names}

    return probe


def top_eigenvalue(k: int = 1, *, max_examples: int | None = None, key=None, max_iter: int = 100, tol: float = 1e-3) -> Callable:
    """Probe: ``hessian_top_eigs`` (``(k,)`` descending) of the training loss (or a subset).

    References:
        Yao et al. 2020, "PyHessian"; Keskar et al. 2017 (sharpness grows with batch size).
    """
    if max_examples is not None and key is None:
        raise TypeError("key must be a jax.random key when max_examples is given")

    def probe(model, state, data, step):
        kk = None if key is None else jax.random.fold_in(key, step)
        x, y = _subset(data, max_examples, kk)
        loss_fn, params = example_loss(model, state.bn_state)
        e = measure.hessian_top_eigs(loss_fn, params, x, y, k, key=kk, max_iter=max_iter, tol=tol)
        return {"hessian_top_eigs": e}

    return probe


def sharpness(eps: float = 1e-3, *, subspace=None, max_examples: int | None = None, key=None, max_iter: int = 10) -> Callable:
    """Probe: Keskar et al.'s ``sharpness`` (L-BFGS-B, ``max_iter`` iterations as in the paper).

    References:
        Keskar et al. 2017, "On Large-Batch Training for Deep Learning: Generalization Gap and Sharp
        Minima", Metric 2.1.
    """
    if max_examples is not None and key is None:
        raise TypeError("key must be a jax.random key when max_examples is given")

    def probe(model, state, data, step):
        kk = jax.random.key(0) if key is None else jax.random.fold_in(key, step)
        x, y = _subset(data, max_examples, kk)
        loss_fn, params = example_loss(model, state.bn_state)
        return {"sharpness": float(measure.keskar_sharpness(loss_fn, params, x, y, eps, subspace, key=kk, max_iter=max_iter))}

    return probe
