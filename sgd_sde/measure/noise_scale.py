r"""Gradient noise scale: exact per-example statistics and McCandlish's two-batch estimator.

Notation (mean-loss convention): per-example gradients ``g_i``, full-data gradient
``G = (1/N) Σ g_i``, per-example covariance ``Σ = (1/N) Σ (g_i − G)(g_i − G)ᵀ`` (biased, like
BackPACK's ``Variance``), Hessian ``H`` of the mean loss.

* ``B_simple = tr Σ / |G|²``
* ``B_noise  = tr(HΣ) / GᵀHG``, with ``tr(HΣ) = (1/N) Σ (g_i − G)ᵀ H (g_i − G)`` from
  Hessian-vector products (``H`` is never formed).

References:
    McCandlish, Kaplan, Amodei & OpenAI Dota Team 2018, "An Empirical Model of Large-Batch
    Training" (arXiv:1812.06162), Appendix A.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as V
from ._core import Objective, as_key, batch_mean_grad, check_vector, count

__all__ = [
    "NoiseStats",
    "gradient_noise_stats",
    "two_batch_estimates",
    "ema_noise_scale",
    "two_batch_noise_scale",
]


@dataclasses.dataclass(frozen=True)
class NoiseStats(Mapping):
    """Gradient-noise statistics (floats); also a read-only mapping (``stats["b_simple"]``).

    Attributes:
        grad_sq_norm: ``|G|²``.
        trace_cov: ``tr Σ``.
        b_simple: ``tr Σ / |G|²``.
        grad_h_grad: ``GᵀHG`` (NaN if Hessian products were skipped).
        trace_h_cov: ``tr(HΣ)`` (NaN if skipped).
        b_noise: ``tr(HΣ) / GᵀHG`` (NaN if skipped).
        n_examples: ``N``.
        n_hvp_examples: how many deviations entered ``tr(HΣ)`` (``N`` when exact).

    Derived quantities (each computed by :mod:`sgd_sde.theory.mccandlish`, the one place of the
    formulas; NaN where the Hessian products were skipped or ``GᵀHG ≤ 0``):

    * :attr:`eps_max` — ``|G|²/GᵀHG``, the best step along the exact gradient.
    * :attr:`delta_l_max` — ``½|G|⁴/GᵀHG``, the best one-step improvement.
    * :meth:`eps_opt` ``(batch_size, momentum=0)`` — the best step at batch ``B``,
      ``ε_max/(1 + B_noise/B)``; with heavy-ball momentum ``μ`` the learning rate whose
      effective step ``η/(1−μ)`` equals it, ``(1−μ) ε_opt``.
    * :attr:`b_crit` — the critical batch ``E_min/S_min`` of the Pareto front, which the
      model predicts equals ``B_noise``.
    * :meth:`effective_lr` ``(lr, momentum)`` — ``η/(1−μ)``, the step a persistent gradient
      makes per iteration under heavy-ball momentum (Smith & Le 2018's ``ε/(1−m)``).

    Examples:
        >>> s = NoiseStats(grad_sq_norm=1.0, trace_cov=4.0, b_simple=4.0, grad_h_grad=2.0, trace_h_cov=20.0, b_noise=10.0)
        >>> s.eps_max, s.b_crit, float(s.eps_opt(10)), round(float(s.eps_opt(10, momentum=0.9)), 12)
        (0.5, 10.0, 0.25, 0.025)
        >>> round(s.effective_lr(0.01, momentum=0.9), 12)
        0.1
    """

    grad_sq_norm: float
    trace_cov: float
    b_simple: float
    grad_h_grad: float = float("nan")
    trace_h_cov: float = float("nan")
    b_noise: float = float("nan")
    n_examples: int = 0
    n_hvp_examples: int = 0

    def __getitem__(self, name: str):
        if name not in self._names():
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def _names(self):
        return [f.name for f in dataclasses.fields(self)]

    def _curved(self) -> bool:
        return bool(np.isfinite(self.grad_h_grad) and self.grad_h_grad > 0)

    @property
    def eps_max(self) -> float:
        """``|G|²/GᵀHG`` (:func:`sgd_sde.theory.eps_max`); NaN without positive curvature along ``G``."""
        from ..theory._numeric import compiled

        return float(compiled("mccandlish", "eps_max")(self.grad_sq_norm, self.grad_h_grad)) if self._curved() else float("nan")

    @property
    def delta_l_max(self) -> float:
        """``½|G|⁴/GᵀHG`` (:func:`sgd_sde.theory.delta_l_max`); NaN without positive curvature."""
        from ..theory._numeric import compiled

        return float(compiled("mccandlish", "delta_l_max")(self.grad_sq_norm, self.grad_h_grad)) if self._curved() else float("nan")

    @property
    def b_crit(self) -> float:
        """The critical batch predicted by the model, ``B_crit = E_min/S_min = B_noise``
        (:func:`sgd_sde.theory.steps_and_examples`)."""
        return float(self.b_noise)

    def eps_opt(self, batch_size, momentum: float = 0.0):
        """Best step at ``batch_size`` (:func:`sgd_sde.theory.eps_opt`); with heavy-ball
        ``momentum`` μ the learning rate ``(1−μ) ε_opt`` whose effective step equals it.

        Raises:
            ValueError: ``batch_size ≤ 0`` or ``momentum`` outside ``[0, 1)``.
        """
        from ..theory import eps_opt

        mu = _momentum(momentum)
        em = self.eps_max
        if not (np.isfinite(em) and np.isfinite(self.b_noise) and self.b_noise >= 0):
            b = np.asarray(batch_size, np.float64)
            if np.any(b <= 0):
                raise ValueError(f"batch_size must be > 0, got batch_size={batch_size!r}")
            return float("nan") if b.ndim == 0 else np.full(b.shape, np.nan)
        return (1.0 - mu) * eps_opt(batch_size, em, self.b_noise)

    @staticmethod
    def effective_lr(lr, momentum: float = 0.0):
        """``η/(1−μ)``: the per-step displacement of a persistent gradient under heavy ball.

        Raises:
            ValueError: ``lr ≤ 0`` or ``momentum`` outside ``[0, 1)``.
        """
        mu = _momentum(momentum)
        lr_v = np.asarray(lr, np.float64)
        if np.any(~np.isfinite(lr_v)) or np.any(lr_v <= 0):
            raise ValueError(f"lr must be finite and > 0, got lr={lr!r}")
        out = lr_v / (1.0 - mu)
        return float(out) if out.ndim == 0 else out


def _momentum(momentum) -> float:
    mu = V.as_float("momentum", momentum)
    if not 0.0 <= mu < 1.0:
        raise ValueError(f"momentum must lie in [0, 1), got momentum={mu}")
    return mu


def gradient_noise_stats(
    loss_fn: Callable,
    params: Any,
    X,
    y,
    *,
    hessian: bool = True,
    max_hvp_examples: int | None = None,
    key=None,
    chunk_size: int = 256,
) -> NoiseStats:
    r"""Exact per-example gradient statistics ``|G|²``, ``tr Σ``, ``B_simple`` and ``B_noise``.

    Per-example gradients come from ``jax.vmap(jax.grad(loss_fn))`` in chunks of ``chunk_size``;
    ``GᵀHG`` is one Hessian-vector product; ``tr(HΣ) = (1/N) Σ_i d_iᵀ H d_i`` with
    ``d_i = g_i − G`` costs one HVP (a full data pass) per example, i.e. ``O(N²)`` loss
    evaluations. For large ``N`` pass ``max_hvp_examples`` (and a ``key``): ``tr(HΣ)`` is then
    the unbiased average over that many deviations drawn uniformly without replacement.

    Args:
        loss_fn: per-example loss ``loss_fn(params, x, y) -> scalar``.
        params: PyTree of floating-point arrays.
        X, y: data with a shared leading example axis.
        hessian: compute ``GᵀHG``, ``tr(HΣ)`` and ``B_noise`` (else they are NaN).
        max_hvp_examples: subsample size for ``tr(HΣ)`` (``None``: all ``N``, exact).
        key: ``jax.random`` key, needed only when subsampling.
        chunk_size: examples per vmapped block.

    Returns:
        :class:`NoiseStats`.

    Raises:
        ValueError: on mismatched data, a non-positive ``chunk_size``/``max_hvp_examples``.
        TypeError: if ``loss_fn`` is not callable, ``hessian`` is not a bool, or ``key`` is missing
            when subsampling.

    Examples:
        >>> import jax.numpy as jnp
        >>> X = jnp.array([[1.0, 0.0], [3.0, 2.0]]); y = jnp.zeros(2)
        >>> loss = lambda p, x, t: jnp.dot(p, x)      # per-example gradient g_i = x_i
        >>> s = gradient_noise_stats(loss, jnp.zeros(2), X, y, hessian=False)
        >>> round(s.grad_sq_norm, 6), round(s.trace_cov, 6), round(s["b_simple"], 6)
        (5.0, 2.0, 0.4)

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", eqs. 2.7–2.8 (B_noise,
        B_simple).
    """
    hessian = V.flag("hessian", hessian)
    obj = Objective(loss_fn, params, X, y, chunk_size=chunk_size)
    n = obj.n_examples
    if max_hvp_examples is not None:
        m = V.positive_int("max_hvp_examples", max_hvp_examples)
        if m < n:
            key = as_key(key)
    G = np.zeros(obj.dim)
    for _, gb in obj.grad_blocks():
        G += np.asarray(gb, np.float64).sum(axis=0)
    G /= n
    tr_cov = 0.0
    for _, gb in obj.grad_blocks():
        tr_cov += float(np.sum((np.asarray(gb, np.float64) - G) ** 2))
    tr_cov /= n
    g2 = float(G @ G)
    out = dict(grad_sq_norm=g2, trace_cov=tr_cov, b_simple=tr_cov / g2 if g2 > 0 else float("inf"), n_examples=n)
    if not hessian:
        return NoiseStats(**out)
    grad_h_grad = float(G @ np.asarray(obj.hvp(G), np.float64))
    if max_hvp_examples is None or max_hvp_examples >= n:
        idx = np.arange(n)
    else:
        idx = np.sort(np.asarray(jax.random.choice(key, n, (max_hvp_examples,), replace=False)))
    acc = 0.0
    block = min(obj.chunk_size, idx.size)
    pad = (-idx.size) % block
    rows_all = np.concatenate([idx, np.full(pad, idx[0])])
    valid = np.concatenate([np.ones(idx.size), np.zeros(pad)])
    for s in range(0, rows_all.size, block):
        rows = rows_all[s : s + block]
        d = (np.asarray(obj.per_example_grads_of(obj.X[rows], obj.y[rows]), np.float64) - G) * valid[s : s + block, None]
        hd = np.asarray(obj.hvps(d), np.float64)
        acc += float(np.sum(d * hd))
    tr_hcov = acc / idx.size
    return NoiseStats(
        **out,
        grad_h_grad=grad_h_grad,
        trace_h_cov=tr_hcov,
        b_noise=tr_hcov / grad_h_grad if grad_h_grad != 0 else float("nan"),
        n_hvp_examples=int(idx.size),
    )


def _batch_factor(b, n_population):
    """``E|G_B|² − |G|² = c(B) tr Σ``: ``c = 1/B`` with replacement, ``(N−B)/(B(N−1))`` without."""
    b = np.asarray(b, dtype=np.float64)
    if n_population is None:
        return 1.0 / b
    return (n_population - b) / (b * (n_population - 1.0))


def two_batch_estimates(grad_sq_small, grad_sq_big, b_small: int, b_big: int, *, n_population: int | None = None):
    r"""Unbiased ``|G|²`` and ``tr Σ`` from squared norms of a small- and a big-batch gradient.

    Since ``E|G_B|² = |G|² + tr Σ / B`` (with replacement),

    ``|G|²_est = (B_big |G_big|² − B_small |G_small|²) / (B_big − B_small)`` and
    ``trΣ_est = (|G_small|² − |G_big|²) / (1/B_small − 1/B_big)``.

    With ``n_population=N`` (batches drawn without replacement) ``1/B`` becomes
    ``(N−B)/(B(N−1))``. Works elementwise on arrays (one entry per batch pair).

    Args:
        grad_sq_small, grad_sq_big: ``|G_small|²`` and ``|G_big|²`` (scalars or arrays).
        b_small, b_big: batch sizes, ``1 ≤ b_small < b_big``.
        n_population: data-set size when batches were drawn without replacement.

    Returns:
        ``(grad_sq_est, trace_cov_est)`` as float64 NumPy arrays.

    Raises:
        ValueError: unless ``1 ≤ b_small < b_big`` (``≤ n_population``); on non-finite, empty or
            mismatched ``grad_sq_small`` / ``grad_sq_big``.
        TypeError: on non-numeric ``grad_sq_small`` / ``grad_sq_big``.

    Examples:
        >>> g2, tr = two_batch_estimates(1.0 + 100 / 8, 1.0 + 100 / 128, 8, 128)
        >>> round(float(g2), 9), round(float(tr), 9)
        (1.0, 100.0)

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", Appendix A.1.
    """
    bs, bb = _check_batches(b_small, b_big, n_population)
    cs, cb = _batch_factor(bs, n_population), _batch_factor(bb, n_population)
    s = V.finite_array("grad_sq_small", grad_sq_small).astype(np.float64)
    b = V.finite_array("grad_sq_big", grad_sq_big).astype(np.float64)
    if s.shape != b.shape or s.size == 0:
        raise ValueError(f"grad_sq_small and grad_sq_big must be non-empty and of the same shape, got {s.shape} and {b.shape}")
    trace = (s - b) / (cs - cb)
    g2 = b - cb * trace  # = (B_big|G_big|² − B_small|G_small|²)/(B_big − B_small) when c = 1/B
    return g2, trace


def _check_batches(b_small, b_big, n_population):
    bs = V.positive_int("b_small", b_small)
    bb = V.positive_int("b_big", b_big)
    if not bb > bs:
        raise ValueError(f"b_big must be > b_small, got b_small={bs}, b_big={bb}")
    if n_population is not None:
        n = V.positive_int("n_population", n_population)
        if bb > n:
            raise ValueError(f"b_big must be <= n_population={n} (sampling without replacement), got b_big={bb}")
    return bs, bb


def ema_noise_scale(grad_sq_est, trace_cov_est, *, beta: float = 0.99) -> dict[str, np.ndarray]:
    r"""Bias-corrected exponential moving averages of ``|G|²_est`` and ``trΣ_est`` and their ratio.

    ``m_t = β m_{t−1} + (1−β) x_t``, ``m̂_t = m_t / (1 − β^t)``; the noise scale is the ratio of
    the two EMAs, ``B_simple,t = m̂_t[trΣ] / m̂_t[|G|²]`` — not the EMA of per-step ratios, whose
    denominator is too noisy to average.

    Args:
        grad_sq_est, trace_cov_est: sequences (one entry per step or probe).
        beta: EMA decay in [0, 1).

    Returns:
        dict with ``grad_sq_norm``, ``trace_cov`` (the corrected EMAs) and ``b_simple``, each an
        array over the sequence.

    Raises:
        ValueError: if the sequences differ in length, are empty, or ``beta`` is outside [0, 1).

    Examples:
        >>> out = ema_noise_scale([1.0, 1.0, 1.0], [90.0, 100.0, 110.0], beta=0.5)
        >>> [round(float(v), 4) for v in out["b_simple"]]
        [90.0, 96.6667, 104.2857]

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", Appendix A.1;
        Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization" (bias correction).
    """
    g = check_vector("grad_sq_est", np.reshape(V.finite_array("grad_sq_est", grad_sq_est), -1))
    t = check_vector("trace_cov_est", np.reshape(V.finite_array("trace_cov_est", trace_cov_est), -1), size=g.size)
    if g.size == 0 or g.shape != t.shape:
        raise ValueError(f"grad_sq_est and trace_cov_est must be non-empty and of equal length, got {g.size} and {t.size}")
    b = V.as_float("beta", beta)
    if not 0.0 <= b < 1.0:
        raise ValueError(f"beta must lie in [0, 1), got beta={b}")
    mg, mt = np.empty_like(g), np.empty_like(t)
    eg = et = 0.0
    for i in range(g.size):
        eg = b * eg + (1.0 - b) * g[i]
        et = b * et + (1.0 - b) * t[i]
        corr = 1.0 - b ** (i + 1)
        mg[i], mt[i] = eg / corr, et / corr
    return {"grad_sq_norm": mg, "trace_cov": mt, "b_simple": mt / mg}


@eqx.filter_jit
def _pair_norms(loss_fn, spec, theta, X, y, key, n_pairs: int, bs: int, bb: int, replace: bool):
    n = X.shape[0]

    def pair(k):
        k1, k2 = jax.random.split(k)
        i1 = jax.random.choice(k1, n, (bs,), replace=replace)
        i2 = jax.random.choice(k2, n, (bb,), replace=replace)
        gs = batch_mean_grad(loss_fn, spec, theta, X[i1], y[i1])
        gb = batch_mean_grad(loss_fn, spec, theta, X[i2], y[i2])
        return gs @ gs, gb @ gb

    keys = jax.vmap(lambda j: jax.random.fold_in(key, j))(jnp.arange(n_pairs))
    return jax.lax.map(pair, keys)


def two_batch_noise_scale(
    loss_fn: Callable,
    params: Any,
    X,
    y,
    *,
    key,
    b_small: int,
    b_big: int,
    n_pairs: int = 100,
    beta: float = 0.99,
    replace: bool = True,
) -> dict[str, Any]:
    r"""McCandlish's two-batch estimate of ``|G|²``, ``trΣ`` and ``B_simple`` at fixed params.

    For each of ``n_pairs`` independent pairs, draw a batch of ``b_small`` and one of ``b_big``
    examples (independently; with or without replacement inside a batch), take the squared norms
    of their mean gradients and apply :func:`two_batch_estimates`; then smooth with
    :func:`ema_noise_scale` (the ratio of bias-corrected EMAs). The same estimator is available
    as a training probe (:func:`sgd_sde.networks.probes.noise_scale_probe`).

    Args:
        loss_fn, params, X, y: as in :func:`gradient_noise_stats`.
        key: ``jax.random`` key (pair ``j`` uses ``fold_in(key, j)``).
        b_small, b_big: batch sizes ``b_small < b_big ≤ N``.
        n_pairs: number of batch pairs.
        beta: EMA decay.
        replace: draw examples with replacement (the estimator is then exactly unbiased); with
            ``False`` the finite-population factor ``(N−B)/(B(N−1))`` is used instead of ``1/B``.

    Returns:
        dict: ``grad_sq_norm``, ``trace_cov``, ``b_simple`` (final EMA values, floats) and arrays
        ``grad_sq_small``, ``grad_sq_big``, ``grad_sq_est``, ``trace_cov_est`` (per pair) and
        ``b_simple_ema`` (over pairs).

    Raises:
        ValueError: unless ``1 ≤ b_small < b_big ≤ N`` and ``n_pairs ≥ 1``.

    References:
        McCandlish et al. 2018, "An Empirical Model of Large-Batch Training", Appendix A.1.
    """
    obj = Objective(loss_fn, params, X, y)
    n = obj.n_examples
    bs, bb = _check_batches(b_small, b_big, None if replace else n)
    if bb > n:
        raise ValueError(f"b_big must be <= the number of examples N={n}, got b_big={bb}")
    n_pairs = count("n_pairs", n_pairs, item_bytes=8 * (bs + bb + obj.dim))
    key = as_key(key)
    replace = V.flag("replace", replace)

    s, b = _pair_norms(obj.loss_fn, obj.spec, obj.theta, obj.X, obj.y, key, n_pairs, bs, bb, replace)
    s, b = np.asarray(s, np.float64), np.asarray(b, np.float64)
    g2, tr = two_batch_estimates(s, b, bs, bb, n_population=None if replace else n)
    ema = ema_noise_scale(g2, tr, beta=beta)
    return {
        "grad_sq_norm": float(ema["grad_sq_norm"][-1]),
        "trace_cov": float(ema["trace_cov"][-1]),
        "b_simple": float(ema["b_simple"][-1]),
        "grad_sq_small": s,
        "grad_sq_big": b,
        "grad_sq_est": g2,
        "trace_cov_est": tr,
        "b_simple_ema": ema["b_simple"],
    }
