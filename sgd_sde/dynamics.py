r"""Update rules that plug into :func:`sgd_sde.simulate`.

A dynamics acts on the whole ensemble at once: its state is a dict of arrays of shape
``(d, P)`` (particles on the minor axis, the fast layout for small ``d``), and
:meth:`AbstractDynamics.step` advances it by one step using per-particle kernels batched with
``jax.vmap``. All of them share the same two kernels — :func:`stochastic_gradient` (SGD side) and
:func:`diffusion` (SDE side) — taken from the noise model, so SGD, its SDE and SVAG cannot drift
apart.

Key discipline: step ``k`` uses ``key_k = fold_in(key, k)`` (done by the engine) and
``step(key_k, state, landscape, noise)`` takes it first, as in BlackJAX. SGD's noise and the
Euler–Maruyama increment of the same step come from the *same* ``key_k``, so the two are coupled;
with ``substeps > 1`` the substep increments are a discrete Brownian bridge conditioned to sum to
that same increment. Further draws in a step use the tags of :mod:`sgd_sde._streams`.

The learning rate and batch size are fields of the dynamics and nothing else: a driver that
varies them (a schedule, a grid) sets the fields (``eqx.tree_at``) before calling ``step``.
The batch scale ``c(B)`` is the noise model's (:meth:`~sgd_sde.noise.AbstractNoise.batch_scale`).

Adding a dynamics: subclass :class:`AbstractDynamics`, declare ``lr``, ``batch_size`` (and your
own fields), ``weak_order``, ``strong_order`` and ``citation``, and write :meth:`~AbstractDynamics.step`
(and :meth:`~AbstractDynamics.init` if the state holds more than ``theta``).

Time: SGD step ``k`` corresponds to SDE time ``t = k · lr`` (SVAG: ``t = k · lr / l``).
"""


import abc
import math
from typing import ClassVar

import equinox as eqx
from equinox import AbstractClassVar, AbstractVar
import jax
import jax.numpy as jnp

from . import _streams
from . import _validate as V
from ._samplers import standard_normal
from .noise import AbstractNoise

__all__ = [
    "AbstractDynamics",
    "SGD",
    "EMAMomentum",
    "Adam",
    "EulerMaruyama",
    "SVAG",
    "Langevin",
    "DiffraxSDE",
    "stochastic_gradient",
    "diffusion",
    "drift",
]

# --------------------------------------------------------------------------- shared kernels
def drift(landscape, theta):
    """``∇L`` for every particle: ``theta`` ``(d, P)`` → ``(d, P)``."""
    return landscape.ensemble_grad(theta)


def stochastic_gradient(landscape, noise: AbstractNoise, theta, sample, batch_size):
    """Minibatch gradient for every particle, from one draw of ``noise.sample``."""
    return noise.ensemble_stochastic_gradient(landscape, theta, sample, batch_size)


def diffusion(landscape, noise: AbstractNoise, theta, z):
    """``C(θ)^{1/2} z`` for every particle."""
    return noise.ensemble_diffusion(landscape, theta, z)


def _sgd_gradient(landscape, noise, theta, key, batch_size):
    sample = noise.sample(key, landscape, theta.shape[1], batch_size, theta.dtype)
    return stochastic_gradient(landscape, noise, theta, sample, batch_size)


# --------------------------------------------------------------------------- base
def _batch_size_optional(cls) -> bool:
    """Whether ``cls`` declares ``batch_size`` with the default ``None`` (no minibatch unless given)."""
    f = getattr(cls, "__dataclass_fields__", {}).get("batch_size")
    return f is not None and f.default is None


def _default_solver():
    import diffrax

    return diffrax.Heun()


class AbstractDynamics(eqx.Module):
    """Base of all update rules.

    Abstract or final: every concrete dynamics declares the abstract attributes below and writes
    :meth:`step`; nothing else is overridden except :meth:`init` and :meth:`time_per_step`,
    whose defaults suit a state ``{"theta"}`` and ``t = kη``.

    Attributes:
        lr: learning rate ``η > 0`` (a ``schedule`` passed to :func:`sgd_sde.simulate` replaces it).
        batch_size: batch size ``B ≥ 1`` (``None`` where no minibatch is involved).
        weak_order, strong_order: convergence orders *of the discretisation of the SDE*
            (for SGD itself: as an approximation of its SDE, Li, Tai & E 2017).
        citation: the paper the rule comes from.
        costly_step: class attribute, ``True`` where one step is a large program (a diffrax
            solve): :func:`sgd_sde.simulate` then compiles the step once (see below).
    """

    # every concrete dynamics also declares ``batch_size: int`` (or ``int | None``); it is not an
    # AbstractVar here only because dataclass field order would then put it before a subclass's
    # own required fields (``Langevin(lr, temperature)``)
    lr: AbstractVar[float]
    weak_order: AbstractVar[float]
    strong_order: AbstractVar[float]
    citation: AbstractClassVar[str]
    #: ``True`` where one step is a large program (a diffrax solve): the engine then compiles the
    #: step once, running every step with its per-particle divergence freeze, instead of a fast
    #: block, its exact re-run and a peeled first step (several copies of the step, each compiled)
    costly_step: ClassVar[bool] = False

    def __check_init__(self):
        V.positive("lr", self.lr)
        if self.batch_size is not None or not _batch_size_optional(type(self)):
            V.positive_int("batch_size", self.batch_size)

    def time_per_step(self, lr):
        """SDE time advanced by one step at learning rate ``lr``."""
        return lr

    def init(self, theta):
        """Initial state for ``theta`` of shape ``(d, P)``."""
        return {"theta": theta}

    @abc.abstractmethod
    def step(self, key, state, landscape, noise):
        """Advance ``state`` (a dict of ``(d, P)`` arrays) by one step with ``self.lr`` and
        ``self.batch_size``, drawing from ``key`` (this step's key)."""


class SGD(AbstractDynamics):
    r"""Minibatch SGD with heavy-ball momentum in the PyTorch parameterisation:

    .. math:: v_{k+1} = \mu v_k + \hat g(\theta_k), \qquad \theta_{k+1} = \theta_k - \eta\, v_{k+1}.

    With ``momentum = 0`` this is plain SGD, ``θ ← θ − η ĝ``. Its SDE (first order) is
    ``dθ = −∇L dt + sqrt(η/B) C^{1/2} dW`` with ``t = kη``; with momentum the effective learning
    rate is ``η/(1 − μ)``.

    Args:
        lr: ``η > 0``.
        batch_size: ``B ≥ 1``.
        momentum: ``μ ∈ [0, 1)``.

    Examples:
        >>> SGD(lr=0.1, batch_size=32, momentum=0.9).momentum
        0.9

    References:
        Robbins & Monro 1951, "A Stochastic Approximation Method"; Polyak 1964, "Some methods of
        speeding up the convergence of iteration methods"; Li, Tai & E 2017, "Stochastic Modified
        Equations and Adaptive Stochastic Gradient Algorithms".
    """

    lr: float
    batch_size: int
    momentum: float = 0.0
    weak_order: ClassVar[float] = 1.0
    strong_order: ClassVar[float] = 0.5
    citation: ClassVar[str] = (
        "Robbins & Monro 1951, A Stochastic Approximation Method; Li, Tai & E 2017, "
        "Stochastic Modified Equations and Adaptive Stochastic Gradient Algorithms"
    )

    def __check_init__(self):
        m = V.as_float("momentum", self.momentum)
        if not 0.0 <= m < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got momentum={m}")

    def init(self, theta):
        if self.momentum == 0.0:
            return {"theta": theta}
        return {"theta": theta, "velocity": jnp.zeros_like(theta)}

    def step(self, key, state, landscape, noise):
        theta = state["theta"]
        g = _sgd_gradient(landscape, noise, theta, key, self.batch_size)
        if self.momentum == 0.0:
            return {"theta": theta - self.lr * g}
        v = self.momentum * state["velocity"] + g
        return {"theta": theta - self.lr * v, "velocity": v}


class EMAMomentum(AbstractDynamics):
    r"""Momentum as an exponential moving average of gradients (total weight 1):

    .. math:: m_{k+1} = \beta m_k + (1-\beta)\hat g(\theta_k), \qquad \theta_{k+1} = \theta_k - \eta\, m_{k+1}.

    Unlike heavy-ball momentum the temperature ``η/B`` does not grow with ``1/(1−β)``
    (McAllester 2023, TTIC 31230 lecture "The Learning Rate as Temperature").

    Args:
        lr: ``η > 0``.
        batch_size: ``B ≥ 1``.
        beta: ``β ∈ [0, 1)``.

    References:
        McAllester 2023, TTIC 31230 "Fundamentals of Deep Learning", SGD lecture; Kingma & Ba 2015,
        "Adam: A Method for Stochastic Optimization" (the first-moment EMA).
    """

    lr: float
    batch_size: int
    beta: float = 0.9
    weak_order: ClassVar[float] = 1.0
    strong_order: ClassVar[float] = 0.5
    citation: ClassVar[str] = "McAllester 2023, TTIC 31230 lecture on SGD temperature"

    def __check_init__(self):
        b = V.as_float("beta", self.beta)
        if not 0.0 <= b < 1.0:
            raise ValueError(f"beta must lie in [0, 1), got beta={b}")

    def init(self, theta):
        return {"theta": theta, "average": jnp.zeros_like(theta)}

    def step(self, key, state, landscape, noise):
        g = _sgd_gradient(landscape, noise, state["theta"], key, self.batch_size)
        m = self.beta * state["average"] + (1.0 - self.beta) * g
        return {"theta": state["theta"] - self.lr * m, "average": m}


class Adam(AbstractDynamics):
    r"""Adam with bias correction (Kingma & Ba 2015), on the minibatch gradient ``ĝ`` of the noise model:

    .. math::
        m_{k+1} = \beta_1 m_k + (1-\beta_1)\hat g_k,\quad v_{k+1} = \beta_2 v_k + (1-\beta_2)\hat g_k^2,\quad
        \theta_{k+1} = \theta_k - \eta\,\frac{m_{k+1}/(1-\beta_1^{k+1})}{\sqrt{v_{k+1}/(1-\beta_2^{k+1})} + \epsilon}.

    The same update, in the same order of operations, as ``optax.adam`` (tested step for step).
    The step count is kept per particle (a frozen, diverged particle keeps its own).
    Its SDE (Malladi et al. 2022) is not provided: it is a coupled SDE for ``(θ, m, v)`` under the
    square-root scaling rule, not a drift + ``c(B) C^{1/2}`` diffusion of the kind this module's SDEs share.

    Args:
        lr: ``η > 0``.
        batch_size: ``B ≥ 1``.
        b1: ``β₁ ∈ [0, 1)``.
        b2: ``β₂ ∈ [0, 1)``.
        eps: ``ε > 0``.

    Examples:
        >>> Adam(lr=1e-3, batch_size=32).b2
        0.999

    References:
        Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization"; Malladi, Lyu, Panigrahi &
        Arora 2022, "On the SDEs and Scaling Rules for Adaptive Gradient Algorithms".
    """

    lr: float
    batch_size: int
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    weak_order: ClassVar[float] = 1.0
    strong_order: ClassVar[float] = 0.5
    citation: ClassVar[str] = "Kingma & Ba 2015, Adam: A Method for Stochastic Optimization"

    def __check_init__(self):
        for name in ("b1", "b2"):
            b = V.as_float(name, getattr(self, name))
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {name}={b}")
        V.positive("eps", self.eps)

    def init(self, theta):
        zeros = jnp.zeros_like(theta)
        return {"theta": theta, "mu": zeros, "nu": zeros, "count": jnp.zeros(theta.shape[1:], jnp.int32)}

    def step(self, key, state, landscape, noise):
        theta = state["theta"]
        g = _sgd_gradient(landscape, noise, theta, key, self.batch_size)
        mu = (1 - self.b1) * g + self.b1 * state["mu"]
        nu = (1 - self.b2) * (g * g) + self.b2 * state["nu"]
        count = state["count"] + 1
        t = count.astype(theta.dtype)
        mu_hat = mu / (1 - jnp.asarray(self.b1, theta.dtype) ** t)
        nu_hat = nu / (1 - jnp.asarray(self.b2, theta.dtype) ** t)
        update = mu_hat / (jnp.sqrt(nu_hat) + self.eps)
        return {"theta": theta - self.lr * update, "mu": mu, "nu": nu, "count": count}


def bridge_increments(key, z_total, substeps: int):
    """Split a standard increment ``z_total`` (shape ``(m, P)``) into ``substeps`` standard
    increments ``z_j`` with ``Σ_j z_j = sqrt(substeps) · z_total`` (a discrete Brownian bridge):
    each ``z_j`` is ``N(0, I)`` marginally, independent of the others, and the coarse increment is
    unchanged — so SGD (one coarse step) and the SDE at any ``substeps`` share one Brownian path.

    For ``substeps = 2^m`` the split is the Lévy (dyadic midpoint) construction keyed by level, so
    paths are *nested*: the path at ``2^m`` substeps is the aggregate of the path at ``2^{m+1}``.
    That makes step-size convergence studies coupled (differences have tiny variance).
    Otherwise one flat bridge is drawn.
    """
    if substeps == 1:
        return z_total[None]
    levels = substeps.bit_length() - 1
    if substeps == 1 << levels:
        zs = z_total[None]
        for level in range(levels):
            xi = standard_normal(jax.random.fold_in(key, level), zs.shape[zs.shape[0] == 1:], zs.dtype).reshape(zs.shape)
            zs = jnp.stack([zs + xi, zs - xi], axis=1).reshape((2 * zs.shape[0],) + zs.shape[1:]) / math.sqrt(2.0)
        return zs
    fine = standard_normal(key, (substeps,) + z_total.shape, z_total.dtype)
    return fine - jnp.mean(fine, axis=0) + z_total / math.sqrt(substeps)


class EulerMaruyama(AbstractDynamics):
    r"""Euler–Maruyama for the SGD SDE (first-order stochastic modified equation)

    .. math:: d\theta = -\nabla L(\theta)\,dt + \sqrt{\eta}\,c(B)\; C(\theta)^{1/2}\, dW_t,

    with ``t = kη`` and the noise model's batch scale ``c(B)``
    (:meth:`~sgd_sde.noise.AbstractNoise.batch_scale`: ``c² = 1/B`` with replacement,
    ``(N−B)/(B(N−1))`` without). One call of :meth:`step` advances SDE time by ``η`` in
    ``substeps`` sub-steps of ``dt = η / substeps``. For α-stable noise
    (:class:`~sgd_sde.noise.HeavyTailed`) ``dW`` is an α-stable Lévy increment scaled by
    ``dt^{1/α}`` and the prefactor is ``η^{1−1/α} c(B)`` with ``c(B) = B^{1/α−1}``.
    With ``substeps = 1`` and Gaussian noise it is *the same map* as SGD with that noise (same key,
    same increment, same floating-point operations), which makes SGD-vs-SDE comparisons coupled.

    Weak order 1, strong order 1/2 (1 for additive noise).

    Args:
        lr: ``η > 0``.
        batch_size: ``B ≥ 1``.
        substeps: number of Euler–Maruyama sub-steps per SGD step (≥ 1).

    References:
        Li, Tai & E 2017, "Stochastic Modified Equations and Adaptive Stochastic Gradient
        Algorithms"; Kloeden & Platen 1992, "Numerical Solution of Stochastic Differential Equations".
    """

    lr: float
    batch_size: int
    substeps: int = 1
    weak_order: ClassVar[float] = 1.0
    strong_order: ClassVar[float] = 0.5
    citation: ClassVar[str] = "Li, Tai & E 2017, Stochastic Modified Equations and Adaptive Stochastic Gradient Algorithms"

    def __check_init__(self):
        V.positive_int("substeps", self.substeps)

    def step(self, key, state, landscape, noise):
        theta = state["theta"]
        alpha = float(noise.stable_index)
        n = int(self.substeps)
        dt = self.lr / n
        z = noise.increment(key, landscape, theta.shape[1], theta.dtype)
        if alpha == 2.0:
            zs = bridge_increments(jax.random.fold_in(key, _streams.BRIDGE), z, n)
        else:  # Lévy increments have no bridge with a closed form; substeps draw independently
            zs = jnp.stack([z] + [noise.increment(jax.random.fold_in(key, _streams.levy_substep(j)), landscape,
                                                  theta.shape[1], theta.dtype) for j in range(1, n)])
        # the noise over one sub-step is η^{1−1/α} c(B) dt^{1/α} C^{1/2} z_j = dt · s · C^{1/2} z_j with
        # s = c(B) · n^{1−1/α}; c(B) comes from the noise model (with or without replacement,
        # α-stable). For n = 1 the sub-step is θ − η(∇L + c(B) C^{1/2} z): SGD's map, op for op.
        c = noise.batch_scale(landscape, self.batch_size, theta.dtype)
        s = c if n == 1 else c * float(n) ** (1.0 - 1.0 / alpha)

        def sub(th, zj):
            return th - dt * (drift(landscape, th) + s * diffusion(landscape, noise, th, zj)), None

        theta = sub(theta, zs[0])[0] if n == 1 else jax.lax.scan(sub, theta, zs)[0]
        return {"theta": theta}


class SVAG(AbstractDynamics):
    r"""Stochastic Variance Amplified Gradient (Li, Malladi & Arora 2021):

    .. math:: \theta_{k+1} = \theta_k - \frac{\eta}{l}\big(r_1 \hat g_1 + r_2 \hat g_2\big),
              \quad r_{1,2} = \frac{1 \pm \sqrt{2l-1}}{2},

    with ``ĝ_1, ĝ_2`` two independent minibatch gradients. Since ``r_1 + r_2 = 1`` and
    ``r_1² + r_2² = l``, the noise per unit time equals SGD's, and as ``l → ∞`` the iterates are an
    order-1 weak approximation of the SDE at *finite* ``η``. Time per step is ``η / l``: run
    ``l`` times more steps to cover the same SDE time.

    Args:
        lr: ``η > 0``.
        batch_size: ``B ≥ 1``.
        l: amplification ``l ≥ 1`` (``l = 1`` is SGD).

    References:
        Li, Malladi & Arora 2021, "On the Validity of Modeling SGD with Stochastic Differential
        Equations (SDEs)".
    """

    lr: float
    batch_size: int
    l: float = 1.0
    weak_order: ClassVar[float] = 1.0
    strong_order: ClassVar[float] = 0.5
    citation: ClassVar[str] = "Li, Malladi & Arora 2021, On the Validity of Modeling SGD with SDEs"

    def __check_init__(self):
        if V.as_float("l", self.l) < 1.0:
            raise ValueError(f"l must be >= 1, got l={self.l}")

    @property
    def coefficients(self) -> tuple[float, float]:
        """``(r_1, r_2)`` from :func:`sgd_sde.theory.svag_coefficients` (one source of truth)."""
        from .theory import svag_coefficients

        return svag_coefficients(self.l)

    def time_per_step(self, lr):
        return lr / self.l

    def step(self, key, state, landscape, noise):
        theta = state["theta"]
        r1, r2 = self.coefficients
        g1 = _sgd_gradient(landscape, noise, theta, jax.random.fold_in(key, _streams.SVAG_FIRST), self.batch_size)
        g2 = _sgd_gradient(landscape, noise, theta, jax.random.fold_in(key, _streams.SVAG_SECOND), self.batch_size)
        return {"theta": theta - (self.lr / self.l) * (r1 * g1 + r2 * g2)}


class Langevin(AbstractDynamics):
    r"""(Stochastic-gradient) Langevin dynamics at temperature ``T``:

    .. math:: \theta_{k+1} = \theta_k - \eta\,\hat g(\theta_k) + \sqrt{2\eta T}\,\xi_k,\qquad \xi_k\sim N(0, I),

    the Euler–Maruyama discretisation of ``dθ = −∇L dt + sqrt(2T) dW`` whose stationary law is
    ``p ∝ exp(−L/T)``. With the default ``noise=None`` of :func:`simulate` the gradient is exact
    and no batch size is involved; with a noise model it is SGLD, and ``batch_size`` is the ``B``
    of that model's minibatch gradient (required then).

    Args:
        lr: ``η > 0``.
        temperature: ``T ≥ 0``.
        batch_size: ``B ≥ 1`` when a gradient-noise model is used; ``None`` (default): exact gradients.

    References:
        Welling & Teh 2011, "Bayesian Learning via Stochastic Gradient Langevin Dynamics";
        Roberts & Tweedie 1996, "Exponential convergence of Langevin distributions and their
        discrete approximations".
    """

    lr: float
    temperature: float
    batch_size: int | None = None
    weak_order: ClassVar[float] = 1.0
    strong_order: ClassVar[float] = 1.0  # additive noise: Euler–Maruyama is Milstein
    citation: ClassVar[str] = "Welling & Teh 2011, Bayesian Learning via Stochastic Gradient Langevin Dynamics"

    def __check_init__(self):
        V.nonnegative("temperature", self.temperature)

    def step(self, key, state, landscape, noise):
        theta = state["theta"]
        g = _sgd_gradient(landscape, noise, theta, key, self.batch_size)
        xi = standard_normal(jax.random.fold_in(key, _streams.THERMAL), theta.shape, theta.dtype)
        return {"theta": theta - self.lr * g + jnp.sqrt(2.0 * self.lr * self.temperature) * xi}


class DiffraxSDE(AbstractDynamics):
    r"""The SGD SDE ``dθ = −∇L dt + sqrt(η) c(B) C(θ)^{1/2} dW`` handed to a diffrax solver
    (``c(B)`` from the noise model, as for :class:`EulerMaruyama`).

    Each step integrates SDE time ``[0, η]`` with fixed steps ``dt0 = η / substeps`` using a
    :class:`diffrax.VirtualBrownianTree` keyed by the step key and the particle index, so results
    do not depend on chunking. Use it for higher-order solvers (Heun, Milstein, SRA1, ShARK, ...);
    the plain Euler–Maruyama case is faster in :class:`EulerMaruyama`. Gaussian noise models only.

    Failure is data: the state carries ``solver_failed`` per particle (diffrax's ``sol.result``
    was not ``successful`` in some step). A failed particle keeps its last state from then on (it
    is not counted as diverged), and :func:`sgd_sde.simulate` saves the flag as
    ``Trajectory.saved["solver_failed"]``.

    Args:
        lr: ``η > 0``.
        batch_size: ``B ≥ 1``.
        solver: a diffrax solver instance (default ``diffrax.Heun()``).
        substeps: fixed sub-steps per SGD step (≥ 1).
        weak: the solver's weak order for this noise (for checks; default 1).
        strong: its strong order (default: the solver's own ``strong_order``, else 0.5).

    References:
        Kidger 2021, "On Neural Differential Equations" (diffrax); Rößler 2010, "Runge–Kutta
        Methods for the Strong Approximation of Solutions of Stochastic Differential Equations".
    """

    lr: float
    batch_size: int
    solver: object = eqx.field(default_factory=_default_solver)
    substeps: int = 1
    weak: float = 1.0
    strong: float | None = None
    citation: ClassVar[str] = "Kidger 2021, On Neural Differential Equations (diffrax)"
    costly_step: ClassVar[bool] = True

    def __check_init__(self):
        V.positive_int("substeps", self.substeps)
        import diffrax

        if not isinstance(self.solver, diffrax.AbstractSolver):
            raise TypeError(f"solver must be a diffrax solver instance (e.g. diffrax.Heun()), got {self.solver!r}")

    def _solver(self):
        import diffrax

        return diffrax.Heun() if self.solver is None else self.solver

    @property
    def weak_order(self) -> float:
        return self.weak

    @property
    def strong_order(self) -> float:
        """``strong`` if given, else the solver's ``strong_order`` (diffrax), else 0.5."""
        if self.strong is not None:
            return self.strong
        order = getattr(self._solver(), "strong_order", None)
        try:
            value = order(None) if callable(order) else order
        except Exception:  # a solver whose order needs real terms: fall back
            value = None
        return 0.5 if value is None else float(value)

    def init(self, theta):
        return {"theta": theta, "solver_failed": jnp.zeros(theta.shape[1:], bool)}

    def step(self, key, state, landscape, noise):
        import diffrax

        if float(noise.stable_index) != 2.0:
            raise ValueError("DiffraxSDE supports Gaussian noise models only")
        solver = self._solver()
        theta = state["theta"]
        d, n_particles = theta.shape
        m = noise.noise_dim(landscape)
        scale = jnp.sqrt(jnp.asarray(self.lr, theta.dtype)) * noise.batch_scale(landscape, self.batch_size, theta.dtype)
        t1 = jnp.asarray(self.lr, theta.dtype)

        def one(th, pkey):
            bm = diffrax.VirtualBrownianTree(0.0, t1, tol=t1 / (4 * self.substeps), shape=(m,), key=pkey)
            terms = diffrax.MultiTerm(
                diffrax.ODETerm(lambda t, y, a: -landscape.grad(y)),
                diffrax.ControlTerm(
                    lambda t, y, a: jax.jacfwd(lambda zz: scale * noise.diffusion(landscape, y, zz))(jnp.zeros(m, y.dtype)),
                    bm,
                ),
            )
            sol = diffrax.diffeqsolve(
                terms, solver, 0.0, t1, t1 / self.substeps, th, saveat=diffrax.SaveAt(t1=True),
                max_steps=4 * self.substeps + 16, throw=False,
            )
            return sol.ys[-1], sol.result != diffrax.RESULTS.successful

        keys = jax.vmap(lambda i: jax.random.fold_in(key, _streams.particle(i)))(jnp.arange(n_particles))
        new, failed_now = jax.vmap(one, in_axes=(1, 0), out_axes=(1, 0))(theta, keys)
        failed = state["solver_failed"] | failed_now
        return {"theta": jnp.where(failed, theta, new), "solver_failed": failed}
