r"""Small classifiers as equinox modules: :class:`MLP` (optional (ghost) batch norm) and
:class:`CNN`.

Every model is called on a *batch*, ``model(x, state, *, train) -> (logits, new_state)``, where
``state`` holds batch-norm running statistics (``()`` without batch norm; ``model.init_state()``
makes it). Parameters are the model's floating-point leaves (``eqx.partition(model,
eqx.is_inexact_array)``), float32 by default. :func:`example_loss` turns a model into the
per-example ``loss_fn(params, x, y)`` that :mod:`sgd_sde.measure` expects (inference mode).
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from .. import _validate as V
from .ghost_bn import BatchNorm

__all__ = ["AbstractModel", "MLP", "CNN", "Dense", "Conv", "cross_entropy", "example_loss", "example_accuracy"]


class AbstractModel(eqx.Module):
    """A classifier called on a batch: ``model(x, state, *, train) -> (logits, state)``."""

    @abc.abstractmethod
    def init_state(self):
        """Initial batch-norm running statistics (a tuple, possibly empty)."""

    @abc.abstractmethod
    def __call__(self, x, state=(), *, train: bool = False, bn_momentum=None):
        """Logits ``(B, n_classes)`` and the updated state (``bn_momentum`` overrides the layers')."""

    @property
    def has_batch_norm(self) -> bool:
        return len(self.init_state()) > 0


def _sizes(name: str, value) -> tuple[int, ...]:
    """A positive integer or a flat sequence (tuple, list, 1-D array) of them, each ``<= 2³¹ − 1``.

    Anything else (``None``, a string, a set, a dict, a complex or non-integral number, a nested
    or 2-D sequence) is refused with an error naming ``name``.
    """
    if isinstance(value, (list, tuple)):
        items = value
    elif isinstance(value, (np.ndarray, jax.Array)):
        arr = np.asarray(value)
        if arr.ndim > 1:
            raise ValueError(f"{name} must be an integer or a flat sequence of integers, got shape {arr.shape}")
        items = arr.reshape(-1).tolist()
    elif isinstance(value, (numbers.Number, np.generic)):
        items = [value]
    else:  # None, str, bytes, set (unordered), dict, arbitrary objects
        raise TypeError(f"{name} must be an integer or a sequence of integers, got {type(value).__name__}")
    out = []
    for v in items:
        if isinstance(v, (float, np.floating)) and not float(v).is_integer():
            raise TypeError(f"{name} entries must be integers, got {v!r}")
        out.append(V.count(name, v))
    return tuple(out)


def _features(in_shape) -> int:
    shape = _sizes("in_shape", in_shape)
    if not shape:
        raise ValueError("in_shape must be a positive int or a non-empty shape tuple")
    n = math.prod(shape)
    if n > V.MAX_COUNT:
        raise ValueError(f"in_shape must have at most {V.MAX_COUNT} elements in all, got in_shape={shape} ({n})")
    return n


def _widths(widths, name: str = "widths") -> tuple[int, ...]:
    return _sizes(name, widths)


def _check_parameter_count(n_params: int) -> None:
    """Refuse an architecture whose parameters cannot be drawn or held (before any allocation).

    The initial weights come from *one* float32 uniform draw of ``n_params`` values (a JAX shape:
    at most ``2³¹ − 1``), copied to the host and then into per-layer arrays (about 12 bytes each).
    """
    what = "in_shape, widths, n_classes (channels)"
    if n_params > V.MAX_COUNT:
        raise ValueError(f"{what} give {n_params} parameters, more than {V.MAX_COUNT}; reduce them")
    V.fits_in_memory(what, 12.0 * n_params, "the initial parameters")


class Dense(eqx.Module):
    """Affine layer on a batch: ``x @ weightᵀ + bias`` (``weight`` is ``(out, in)``)."""

    weight: Array
    bias: Array

    def __call__(self, x):
        return x @ self.weight.T + self.bias


class Conv(eqx.Module):
    """3×3 'same' convolution on a batch ``(B, C, H, W)``; ``weight`` is ``(out, in, 3, 3)``."""

    weight: Array
    bias: Array

    def __call__(self, x):
        y = jax.lax.conv_general_dilated(x, self.weight, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + self.bias[None, :, None, None]


def _init_layers(key, shapes, dtype=jnp.float32):
    """PyTorch's default init, ``U(−1/√fan_in, 1/√fan_in)`` for weights and biases, from *one*
    uniform draw split across layers (one random-number program per architecture, not per layer).

    ``shapes``: list of weight shapes ``(out, in, ...)``; returns ``[(weight, bias), ...]``.
    """
    sizes = []
    for w in shapes:
        sizes += [int(np.prod(w)), int(w[0])]
    u = jax.random.uniform(key, (sum(sizes),), dtype, -1.0, 1.0)
    u = np.asarray(u)
    out, pos = [], 0
    for w in shapes:
        bound = 1.0 / np.sqrt(np.prod(w[1:]))
        nw, nb = int(np.prod(w)), int(w[0])
        weight = jnp.asarray((u[pos : pos + nw] * bound).reshape(w), dtype)
        bias = jnp.asarray(u[pos + nw : pos + nw + nb] * bound, dtype)
        out.append((weight, bias))
        pos += nw + nb
    return out


def _dense(layer, x):
    return layer(x)


class MLP(AbstractModel):
    """Multilayer perceptron ``in → widths[0] → … → n_classes`` with ReLU (by default) and
    optional (ghost) batch norm after each hidden linear layer (Hoffer et al.'s F1 layout).

    Args:
        in_shape: input size or shape (inputs are flattened).
        n_classes: output size.
        widths: hidden widths (default ``(128, 128)``).
        key: ``jax.random`` key for the initial weights (PyTorch's default
            ``U(−1/√fan_in, 1/√fan_in)``).
        batch_norm: add batch norm after every hidden layer.
        ghost_batch_size: ``B_S`` for ghost batch norm (requires ``batch_norm=True``).
        bn_momentum: running-statistics momentum.
        activation: elementwise nonlinearity.

    Raises:
        TypeError: if ``in_shape``, ``widths`` or ``n_classes`` is not an integer (or, for the
            first two, a flat sequence of integers).
        ValueError: on a size outside ``[1, 2³¹ − 1]``, or an architecture whose parameters (one
            float32 draw) exceed ``2³¹ − 1`` or this machine's memory.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> m = MLP(64, 10, (32,), key=jax.random.key(0))
        >>> logits, state = m(jnp.zeros((5, 1, 8, 8)), m.init_state())
        >>> logits.shape, logits.dtype, state
        ((5, 10), dtype('float32'), ())

    References:
        Hoffer, Hubara & Soudry 2017, "Train Longer, Generalize Better" (model F1, ghost BN).
    """

    layers: tuple
    norms: tuple
    activation: Callable = eqx.field(static=True)

    def __init__(self, in_shape, n_classes: int, widths: Sequence[int] = (128, 128), *, key, batch_norm: bool = False,
                 ghost_batch_size: int | None = None, bn_momentum: float = 0.1, activation: Callable = jax.nn.relu):
        d_in = _features(in_shape)
        c = V.count("n_classes", n_classes)
        ws = _widths(widths)
        if ghost_batch_size is not None and not batch_norm:
            raise ValueError("ghost_batch_size requires batch_norm=True")
        sizes = (d_in,) + ws + (c,)
        _check_parameter_count(sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])))
        self.layers = tuple(Dense(w, b) for w, b in _init_layers(key, [(b, a) for a, b in zip(sizes[:-1], sizes[1:])]))
        self.norms = tuple(BatchNorm(w, ghost_size=ghost_batch_size, momentum=bn_momentum) for w in ws) if batch_norm else ()
        self.activation = activation

    def init_state(self):
        return tuple(n.init_stats() for n in self.norms)

    def __call__(self, x, state=(), *, train: bool = False, bn_momentum=None):
        h = x.reshape(x.shape[0], -1)
        new = []
        for i, layer in enumerate(self.layers[:-1]):
            h = _dense(layer, h)
            if self.norms:
                h, s = self.norms[i](h, state[i], train=train, momentum=bn_momentum)
                new.append(s)
            h = self.activation(h)
        return _dense(self.layers[-1], h), tuple(new)


def _pool(x):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


class CNN(AbstractModel):
    """Small convolutional net: ``[conv3×3 → (BN) → ReLU → maxpool2] × len(channels) → linear``.

    Args:
        in_shape: ``(C, H, W)``.
        n_classes: output size.
        channels: output channels per conv block (default ``(16, 32)``).
        key: ``jax.random`` key.
        batch_norm, ghost_batch_size, bn_momentum: as for :class:`MLP`.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> m = CNN((1, 8, 8), 10, key=jax.random.key(0), batch_norm=True)
        >>> m.head.weight.shape, len(m.init_state())
        ((10, 128), 2)
    """

    convs: tuple
    norms: tuple
    head: Dense

    def __init__(self, in_shape, n_classes: int, channels: Sequence[int] = (16, 32), *, key, batch_norm: bool = False,
                 ghost_batch_size: int | None = None, bn_momentum: float = 0.1):
        shape = _sizes("in_shape", in_shape)
        if len(shape) != 3:
            raise ValueError(f"in_shape must be (C, H, W), got {in_shape!r}")
        c, h, w = shape
        chans = _widths(channels, "channels")
        n_cls = V.count("n_classes", n_classes)
        if ghost_batch_size is not None and not batch_norm:
            raise ValueError("ghost_batch_size requires batch_norm=True")
        shapes, cin = [], c
        for co in chans:
            shapes.append((co, cin, 3, 3))
            cin = co
            h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(f"in_shape {in_shape} is too small for {len(chans)} pooling stages")
        _check_parameter_count(sum(math.prod(s) + s[0] for s in shapes) + (cin * h * w + 1) * n_cls)
        params = _init_layers(key, shapes + [(n_cls, cin * h * w)])
        self.convs = tuple(Conv(wt, b) for wt, b in params[:-1])
        self.norms = tuple(BatchNorm(co, ghost_size=ghost_batch_size, momentum=bn_momentum) for co in chans) if batch_norm else ()
        self.head = Dense(*params[-1])

    def init_state(self):
        return tuple(n.init_stats() for n in self.norms)

    def __call__(self, x, state=(), *, train: bool = False, bn_momentum=None):
        new = []
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if self.norms:
                x, s = self.norms[i](x, state[i], train=train, momentum=bn_momentum)
                new.append(s)
            x = _pool(jax.nn.relu(x))
        return _dense(self.head, x.reshape(x.shape[0], -1)), tuple(new)


def cross_entropy(logits, labels):
    """Per-example softmax cross-entropy with integer labels."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


class _ExampleLoss(eqx.Module):
    """Per-example loss of a model split into (params, static); ``state`` arrays are traced."""

    static: AbstractModel
    state: tuple
    metric: str = eqx.field(static=True, default="loss")

    def __call__(self, p, x, y):
        logits, _ = eqx.combine(p, self.static)(x[None], self.state, train=False)
        if self.metric == "accuracy":
            return (jnp.argmax(logits[0]) == y).astype(logits.dtype)
        return cross_entropy(logits, jnp.asarray(y)[None])[0]


def example_loss(model: AbstractModel, state=()):
    """Split ``model`` into ``(loss_fn, params)`` for :mod:`sgd_sde.measure`.

    ``loss_fn(params, x, y)`` is the cross-entropy of one example in inference mode (batch norm
    uses the running statistics in ``state``, as PyHessian puts the model in ``eval()`` mode). It
    is an equinox Module, so measurements of models with the same architecture share compiled code.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> loss_fn, params = example_loss(MLP(4, 3, (8,), key=jax.random.key(0)))
        >>> loss_fn(params, jnp.zeros(4), 1).shape
        ()
    """
    params, static = eqx.partition(model, eqx.is_inexact_array)
    return _ExampleLoss(static, tuple(state)), params


def example_accuracy(model: AbstractModel, state=()):
    """Like :func:`example_loss` but ``metric_fn(params, x, y)`` is the 0/1 correctness."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    return _ExampleLoss(static, tuple(state), "accuracy"), params
