"""Shared machinery for :mod:`sgd_sde.measure`: flat parameter vectors, chunked data passes,
per-example gradients and Hessian-vector products of the mean loss.

Every estimator takes a *per-example* loss ``loss_fn(params, x, y) -> scalar`` (one example ``x``,
one label ``y``) and a PyTree ``params``; the objective is the mean loss
``L(θ) = (1/N) Σ_i loss_fn(θ, X[i], y[i])``. Data are processed in chunks of ``chunk_size``
examples (padded with zero weight), so memory stays bounded and each pass compiles once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .. import _validate as V

__all__ = ["Objective", "objective", "check_data", "check_params", "check_vector", "count"]


def check_data(X, y, *, name_x: str = "X", name_y: str = "y") -> int:
    """Check ``X`` and ``y``: numeric, finite (no NaN/inf), with a shared non-empty leading axis;
    return ``N``.

    Raises:
        TypeError: on non-numeric data.
        ValueError: on non-finite values, a missing example axis or mismatched lengths.
    """
    for name, a in ((name_x, X), (name_y, y)):
        if not hasattr(a, "shape") or len(a.shape) < 1:
            raise ValueError(f"{name} must be an array with a leading example axis, got {type(a).__name__}")
    V.finite_array(name_x, X)  # same check as the landscapes' data (NaN/inf, dtype)
    V.finite_array(name_y, y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{name_x} and {name_y} must have the same number of examples, got {X.shape[0]} and {y.shape[0]}")
    if X.shape[0] == 0:
        raise ValueError(f"{name_x} must contain at least one example")
    return int(X.shape[0])


def check_params(params, name: str = "params") -> None:
    """Check a params PyTree before it is flattened: at least one leaf, every leaf a real
    floating-point array (or Python float), finite where concrete.

    Raises:
        TypeError: a leaf that is not a floating-point array (a string, a set, an object, ints).
        ValueError: no leaves, or a NaN/inf entry.
    """
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError(f"{name} must contain at least one array leaf, got {type(params).__name__}")
    for leaf in leaves:
        if isinstance(leaf, jax.core.Tracer):
            continue
        if isinstance(leaf, (bool, np.bool_)) or not isinstance(leaf, (float, np.floating, np.ndarray, jax.Array)):
            raise TypeError(f"{name} must have floating-point array leaves, got a leaf of type {type(leaf).__name__}")
        dtype = np.asarray(leaf).dtype if not isinstance(leaf, jax.Array) else leaf.dtype
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"{name} must have floating-point leaves, got dtype {dtype}")
        if not bool(np.all(np.isfinite(np.asarray(leaf)))):
            raise ValueError(f"{name} must contain only finite values (no NaN/inf)")


def check_vector(name: str, value, *, size: int | None = None) -> np.ndarray:
    """A finite real 1-D array (float64), non-empty, of ``size`` entries when given."""
    arr = V.finite_array(name, value, ndim=1)
    if arr.size == 0:
        raise ValueError(f"{name} must be non-empty")
    if size is not None and arr.size != size:
        raise ValueError(f"{name} must have {size} entries to match the other arguments, got {arr.size}")
    return arr.astype(np.float64)


def _chunked(X, y, chunk_size: int):
    """Pad to a multiple of ``chunk_size`` (NumPy, no device ops); return ``(Xc, yc, wc)`` with
    leading ``(n_chunks, c)`` and weights ``1/N`` on real examples, 0 on padding."""
    n = X.shape[0]
    c = min(chunk_size, n)
    n_chunks = -(-n // c)
    pad = n_chunks * c - n
    w = np.full((n,), 1.0 / n)
    if pad:
        X = np.concatenate([X, np.repeat(X[:1], pad, axis=0)])
        y = np.concatenate([y, np.repeat(y[:1], pad, axis=0)])
        w = np.concatenate([w, np.zeros((pad,))])
    resh = lambda a: a.reshape((n_chunks, c) + a.shape[1:])
    return resh(X), resh(y), resh(w)


def _spec(params):
    leaves, treedef = jax.tree_util.tree_flatten(params)
    return treedef, tuple(tuple(np.shape(x)) for x in leaves), tuple(jnp.asarray(x).dtype.name for x in leaves)


def _unravel(spec, th):
    treedef, shapes, dtypes = spec
    sizes = [int(np.prod(s)) for s in shapes]
    parts = jnp.split(th, np.cumsum(sizes)[:-1].tolist()) if len(sizes) > 1 else [th]
    return jax.tree_util.tree_unflatten(treedef, [p.reshape(s).astype(d) for p, s, d in zip(parts, shapes, dtypes)])


def _flat_losses(loss_fn, spec, th, xb, yb):
    return jax.vmap(loss_fn, in_axes=(None, 0, 0))(_unravel(spec, th), xb, yb)


def _value_impl(loss_fn, spec, th, Xc, yc, wc):
    if Xc.shape[0] == 1:  # one chunk: no scan (simpler program, faster compile)
        return jnp.sum(wc[0] * _flat_losses(loss_fn, spec, th, Xc[0], yc[0]))

    def body(acc, chunk):
        xb, yb, wb = chunk
        return acc + jnp.sum(wb * _flat_losses(loss_fn, spec, th, xb, yb)), None

    out, _ = jax.lax.scan(body, jnp.zeros((), th.dtype), (Xc, yc, wc))
    return out


def _hvp_impl(loss_fn, spec, th, Xc, yc, wc, v):
    g = lambda t: jax.grad(_value_impl, argnums=2)(loss_fn, spec, t, Xc, yc, wc)
    return jax.jvp(g, (th,), (v,))[1]


# Module-level compiled kernels: ``loss_fn`` and the params spec are static (hashed), so repeated
# measurements with the same loss function reuse one compilation. A loss_fn that is an
# ``eqx.Module`` (e.g. :func:`sgd_sde.networks.example_loss`) has its arrays traced, not baked in.
_value_jit = eqx.filter_jit(_value_impl)
_grad_jit = eqx.filter_jit(jax.grad(_value_impl, argnums=2))
_value_and_grad_jit = eqx.filter_jit(jax.value_and_grad(_value_impl, argnums=2))
_hvp_jit = eqx.filter_jit(_hvp_impl)
_hvps_jit = eqx.filter_jit(lambda f, spec, th, Xc, yc, wc, vs: jax.vmap(lambda v: _hvp_impl(f, spec, th, Xc, yc, wc, v))(vs))
_peg_jit = eqx.filter_jit(
    lambda f, spec, th, xb, yb: jax.vmap(jax.grad(lambda t, xx, yy: f(_unravel(spec, t), xx, yy)), in_axes=(None, 0, 0))(th, xb, yb)
)


class Objective:
    """The mean loss of ``loss_fn`` over ``(X, y)`` as a function of a flat parameter vector.

    Attributes:
        theta: the flat parameter vector (dtype of the params' leaves).
        unravel: flat vector -> params PyTree.
        n_examples, dim: ``N`` and ``d``.

    Methods (compiled once per loss function and shapes): :meth:`value`, :meth:`grad`,
    :meth:`hvp` (``H v`` of the mean loss, never forming ``H``), :meth:`hvps`,
    :meth:`per_example_grads`, :meth:`grad_blocks`.
    """

    def __init__(self, loss_fn: Callable, params: Any, X, y, *, chunk_size: int = 256):
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        self.n_examples = check_data(X, y)
        self.chunk_size = V.positive_int("chunk_size", chunk_size)
        check_params(params)
        self._check_loss_fn(loss_fn, params, X, y)
        theta, unravel = ravel_pytree(params)
        if not jnp.issubdtype(theta.dtype, jnp.floating):
            raise TypeError(f"params must have floating-point leaves, got dtype {theta.dtype}")
        if not bool(np.all(np.isfinite(V.concrete("params", theta)))):
            raise ValueError("params must contain only finite values (no NaN/inf)")
        self.theta = theta
        self.unravel = unravel
        self.spec = _spec(params)
        self.dim = int(theta.shape[0])
        self.dtype = theta.dtype
        self.loss_fn = loss_fn
        self.X = np.asarray(X)
        self.y = np.asarray(y)
        Xc, yc, wc = _chunked(self.X, self.y, self.chunk_size)
        self._Xc, self._yc = Xc, yc
        self._data_dev = (jnp.asarray(Xc), jnp.asarray(yc), jnp.asarray(wc, self.dtype))

    @staticmethod
    def _check_loss_fn(loss_fn, params, X, y):
        """Trace ``loss_fn(params, X[0], y[0])`` abstractly (no FLOPs): a mismatch between the
        params, the data and the function, or a non-scalar loss, is reported here by name."""
        x0 = jax.ShapeDtypeStruct(np.shape(X)[1:], np.asarray(X[:1]).dtype)
        y0 = jax.ShapeDtypeStruct(np.shape(y)[1:], np.asarray(y[:1]).dtype)
        try:
            out = jax.eval_shape(loss_fn, params, x0, y0)
        except Exception as err:  # noqa: BLE001 — re-raised with the arguments named
            raise ValueError(
                f"loss_fn(params, X[i], y[i]) fails for these params and data ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:200]}); check that params, X and y match what loss_fn expects"
            ) from err
        if not hasattr(out, "shape") or out.shape != ():
            shape = getattr(out, "shape", type(out).__name__)
            raise ValueError(f"loss_fn must return a scalar loss per example (params, x, y), got {shape}")

    def _data(self):
        return self._data_dev

    def value(self, theta=None):
        return _value_jit(self.loss_fn, self.spec, self.theta if theta is None else theta, *self._data())

    def grad(self, theta=None):
        return _grad_jit(self.loss_fn, self.spec, self.theta if theta is None else theta, *self._data())

    def value_and_grad(self, theta=None):
        return _value_and_grad_jit(self.loss_fn, self.spec, self.theta if theta is None else theta, *self._data())

    def hvp(self, v, theta=None):
        """``H v`` with ``H`` the Hessian of the mean loss at ``theta`` (default: the params)."""
        th = self.theta if theta is None else theta
        return _hvp_jit(self.loss_fn, self.spec, th, *self._data(), jnp.asarray(v, self.dtype))

    def hvps(self, vs, *, block: int = 32) -> np.ndarray:
        """``H v`` for each row of ``vs`` (``(m, d)``), ``block`` rows at a time (the last block is
        zero-padded, so one compilation serves every call). Returns a NumPy array."""
        vs = np.asarray(vs, self.dtype)
        m = vs.shape[0]
        if m == 0:
            return np.zeros((0, self.dim), self.dtype)
        block = min(block, m)
        pad = (-m) % block
        if pad:
            vs = np.concatenate([vs, np.zeros((pad, self.dim), self.dtype)])
        out = [np.asarray(_hvps_jit(self.loss_fn, self.spec, self.theta, *self._data(), vs[i : i + block])) for i in range(0, vs.shape[0], block)]
        return np.concatenate(out)[:m]

    def per_example_grads_of(self, xb, yb) -> np.ndarray:
        """Per-example gradients ``(len(xb), d)`` of the given examples (NumPy)."""
        return np.asarray(_peg_jit(self.loss_fn, self.spec, self.theta, xb, yb))

    def per_example_grads(self, start: int, stop: int) -> np.ndarray:
        """Per-example gradients ``g_i`` of examples ``start … stop−1``, shape ``(stop−start, d)``."""
        return self.per_example_grads_of(self.X[start:stop], self.y[start:stop])

    def grad_blocks(self):
        """Yield ``(start, g_block)`` (NumPy) over the data in blocks of ``chunk_size`` examples (the
        last block is computed padded, then trimmed, so one compilation serves every block)."""
        c = self._Xc.shape[1]
        for i in range(self._Xc.shape[0]):
            s = i * c
            g = self.per_example_grads_of(self._Xc[i], self._yc[i])
            yield s, g[: min(c, self.n_examples - s)]


def batch_mean_grad(loss_fn, spec, th, xb, yb):
    """Gradient of the mean loss over one batch (traceable)."""
    return jax.grad(lambda t: jnp.mean(_flat_losses(loss_fn, spec, t, xb, yb)))(th)


def objective(loss_fn: Callable, params: Any, X, y, *, chunk_size: int = 256) -> Objective:
    """Build an :class:`Objective` (validated eagerly)."""
    return Objective(loss_fn, params, X, y, chunk_size=chunk_size)


def as_key(key, name: str = "key"):
    """Accept a typed or raw ``jax.random`` key; refuse ints (keys must be explicit), batches of
    keys and anything else (via :func:`sgd_sde._keys.check_key`)."""
    from .._keys import check_key

    if key is None:
        raise TypeError(f"{name} must be a jax.random key, got None")
    if isinstance(key, (int, np.integer)):
        raise TypeError(f"{name} must be a jax.random key (jax.random.key(seed)), got int {key}")
    try:
        return check_key(key)
    except (TypeError, ValueError) as err:
        raise type(err)(str(err).replace("key", name, 1)) from err


MAX_BYTES = 4 << 30  # one allocation a count may ask for (a clear error instead of an OOM kill)


def count(name: str, value, *, item_bytes: int = 8) -> int:
    """A positive int count that fits int32 and whose ``count · item_bytes`` fits :data:`MAX_BYTES`.

    Raises:
        TypeError / ValueError: naming ``name``.
    """
    n = V.positive_int(name, value)
    if n > np.iinfo(np.int32).max or n * item_bytes > MAX_BYTES:
        limit = min(np.iinfo(np.int32).max, MAX_BYTES // max(item_bytes, 1))
        raise ValueError(f"{name} must be <= {limit} here (memory: {item_bytes} bytes each), got {name}={n}")
    return n
