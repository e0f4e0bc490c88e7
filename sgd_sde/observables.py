"""Per-particle observables recorded by :func:`sgd_sde.simulate` at each save point.

An observable is ``fn(landscape, theta, theta0) -> array`` for one particle (``theta`` of shape
``(d,)``); built-ins are named by string. They are reduced on device inside the scan; only their
values at save points are kept. The engine evaluates them on the state the next step starts from,
in the same compiled computation as that step, so the built-ins ``"loss"`` and ``"grad_norm"``
share the step's gradient evaluation (:meth:`~sgd_sde.landscapes.AbstractLandscape.ensemble_value_and_grad`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax.numpy as jnp

__all__ = ["BUILTIN", "ENSEMBLE", "resolve"]


def _loss(landscape, theta, theta0):
    return landscape.loss(theta)


def _distance_from_init(landscape, theta, theta0):
    return jnp.sqrt(jnp.sum((theta - theta0) ** 2))


def _grad_norm(landscape, theta, theta0):
    return jnp.sqrt(jnp.sum(landscape.grad(theta) ** 2))


def _theta(landscape, theta, theta0):
    return theta


def _distance_from_minimum(landscape, theta, theta0):
    return jnp.sqrt(jnp.sum((theta - landscape.minimum().astype(theta.dtype)) ** 2))


def _ensemble_loss(landscape, theta, theta0):
    # (d, P) -> (P,): from the landscape's value_and_grad, which shares the gradient's work with
    # the step that starts from this state (no second gradient-sized matmul for a Quadratic)
    return landscape.ensemble_value_and_grad(theta)[0]


BUILTIN: dict[str, Callable] = {
    "loss": _loss,
    "distance_from_init": _distance_from_init,
    "grad_norm": _grad_norm,
    "theta": _theta,
    "distance_from_minimum": _distance_from_minimum,
}


def _ensemble_grad_norm(landscape, theta, theta0):
    return jnp.sqrt(jnp.sum(landscape.ensemble_value_and_grad(theta)[1] ** 2, axis=0))


# ensemble forms ``fn(landscape, theta (d, P), theta0 (d, P)) -> (P, ...)`` of built-ins, used by
# the engine in place of ``vmap`` of the per-particle function (same values to float rounding)
ENSEMBLE: dict[Callable, Callable] = {_loss: _ensemble_loss, _grad_norm: _ensemble_grad_norm}


def resolve(observables, landscape) -> tuple[tuple[str, Callable], ...]:
    """Turn a sequence of names and/or a mapping ``name -> fn`` into ``((name, fn), ...)``.

    Raises:
        ValueError: on an unknown name, or ``distance_from_minimum`` on a landscape with no known minimum.
        TypeError: on a non-callable custom observable.
    """
    if observables is None:
        return ()
    if isinstance(observables, str):
        observables = (observables,)
    items: list[tuple[str, Callable]] = []
    if isinstance(observables, Mapping):
        pairs = list(observables.items())
    elif isinstance(observables, Sequence):
        pairs = [(o, None) if isinstance(o, str) else (getattr(o, "__name__", repr(o)), o) for o in observables]
    else:
        raise TypeError(f"observables must be a sequence of names or a mapping name -> fn, got {type(observables).__name__}")
    for name, fn in pairs:
        if fn is None or isinstance(fn, str):
            key = name if fn is None else fn
            if key not in BUILTIN:
                raise ValueError(f"observables: unknown name {key!r}; built-ins are {sorted(BUILTIN)} (or pass a callable)")
            if key == "distance_from_minimum" and landscape.minimum() is None:
                raise ValueError("observables: 'distance_from_minimum' needs a landscape with a known minimum()")
            fn = BUILTIN[key]
        elif not callable(fn):
            raise TypeError(f"observables[{name!r}] must be callable, got {type(fn).__name__}")
        items.append((str(name), fn))
    names = [n for n, _ in items]
    if len(set(names)) != len(names):
        raise ValueError(f"observables: duplicate names {names}")
    return tuple(items)
