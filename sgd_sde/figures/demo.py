"""The demo figure: SGD against its SDE on a 2-D quadratic (what ``sgd-sde demo`` draws).

Left: mean loss over SDE time ``t = k·lr`` for minibatch SGD and for Euler–Maruyama on its SDE
(same key, coupled increments), against the exact Ornstein–Uhlenbeck value. Right: the stationary
cloud of SGD with the discrete (exact for SGD) and continuous (exact for the SDE) Lyapunov
covariance ellipses (Mandt, Hoffman & Blei 2017).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg as sla

from ..dynamics import SGD, EulerMaruyama
from ..landscapes import Quadratic
from ..noise import Dense
from ..simulate import simulate
from ._cache import cached
from .style import paper_style, plt, save_figure

__all__ = ["demo_data", "demo_figure"]

HESSIAN = np.diag([1.0, 10.0])
COV = np.array([[1.0, 0.5], [0.5, 2.0]])


def demo_data(key: int = 0, quick: bool = False, lr: float = 0.05, batch_size: int = 4) -> dict:
    """Simulate SGD and its SDE (EM, 8 substeps) from ``θ0 = (2, 1)``; return arrays for the figure."""
    n_particles = 2_000 if quick else 20_000
    n_steps = 400 if quick else 1_000
    q, noise = Quadratic(HESSIAN.astype(np.float32)), Dense(COV.astype(np.float32))  # float32 runs; exact forms in float64
    theta0 = jnp.array([2.0, 1.0])
    k = jax.random.key(key)
    common = dict(noise=noise, n_steps=n_steps, n_particles=n_particles, save_every=max(1, n_steps // 100),
                  observables=("loss",))
    sgd = simulate(k, q, SGD(lr, batch_size), theta0, **common)
    sde = simulate(k, q, EulerMaruyama(lr, batch_size, substeps=8), theta0, **common)
    last = simulate(k, q, SGD(lr, batch_size), theta0, **{**common, "observables": ("theta",), "save_every": n_steps})
    t = sgd.times
    lam = np.diag(HESSIAN)
    # exact OU: mean decays as e^{-λt}; variance (lr/B) C_ii/(2λ)(1 - e^{-2λt}) per eigen-direction
    var = lr / batch_size * np.diag(COV)[None] / (2 * lam[None]) * (1 - np.exp(-2 * lam[None] * t[:, None]))
    mean = np.asarray(theta0)[None] * np.exp(-lam[None] * t[:, None])
    exact_loss = 0.5 * np.sum(lam[None] * (mean**2 + var), axis=1)
    eye = np.eye(2)
    return {
        "times": t,
        "sgd_loss": sgd.saved["loss"].mean(1),
        "sde_loss": sde.saved["loss"].mean(1),
        "exact_loss": exact_loss,
        "final_theta": last.theta,
        "discrete_cov": sla.solve_discrete_lyapunov(eye - lr * HESSIAN, lr**2 * COV / batch_size),
        "continuous_cov": sla.solve_continuous_lyapunov(HESSIAN, lr * COV / batch_size),
        "lr": np.array(lr),
        "batch_size": np.array(batch_size),
    }


def _ellipse(ax, cov, **kw):
    lam, vec = np.linalg.eigh(cov)
    s = np.linspace(0, 2 * np.pi, 200)
    pts = vec @ (2 * np.sqrt(lam)[:, None] * np.stack([np.cos(s), np.sin(s)]))
    ax.plot(pts[0], pts[1], **kw)


def demo_figure(out_dir, key: int = 0, quick: bool = False, force: bool = False) -> Path:
    """Compute (or load, when made by the running code with the same ``key``/``quick``) the demo
    data ``out_dir/demo.npz`` and draw ``out_dir/demo.png``; ``force`` recomputes."""
    out_dir = Path(out_dir)
    data, meta = cached(out_dir / "demo", {"figure": "demo", "quick": quick}, key,
                        lambda: (demo_data(key=key, quick=quick), {}), force=force)
    with paper_style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(7.0, 2.8))
        a.semilogy(data["times"], data["sgd_loss"], label="SGD, Gaussian minibatch noise")
        a.semilogy(data["times"], data["sde_loss"], "--", label="SDE, Euler–Maruyama ×8")
        a.semilogy(data["times"], data["exact_loss"], ":", color="k", label="OU closed form")
        a.set_xlabel("SDE time t = k·lr")
        a.set_ylabel("mean loss")
        a.set_title(f"SGD vs its SDE (lr={float(data['lr'])}, B={int(data['batch_size'])})")
        a.legend(frameon=False)
        th = data["final_theta"]
        b.scatter(th[:, 0], th[:, 1], s=1, alpha=0.15, color="C0", rasterized=True)
        _ellipse(b, data["discrete_cov"], color="C3", label="discrete Lyapunov (SGD)")
        _ellipse(b, data["continuous_cov"], color="k", ls=":", label="continuous Lyapunov (SDE)")
        b.set_xlabel("θ₁ (flat, λ=1)")
        b.set_ylabel("θ₂ (sharp, λ=10)")
        b.set_title("stationary cloud, 2σ ellipses")
        b.legend(frameon=False, loc="upper right")
        fig.tight_layout()
        out = out_dir / "demo.png"
        save_figure(fig, out)
    return out
