"""Claims of LRBench / LRBench++ (Wu et al. 2019; Jin et al. 2023): the learning-rate policy matters,
and it can be compared and chosen with one benchmark.

Network checks run :func:`sgd_sde.lrbench.benchmark` (every LRBench family on the digits MLP,
several seeds; one run per ``reproduce``) and compare final test accuracies across policies with
bootstrap intervals over seeds.

References:
    Wu, Liu, Chow et al. 2019, "Demystifying Learning Rate Policies for High Accuracy Training of
    Deep Neural Networks"; Jin, Wei, Wang, Zhang & Wu 2023, "Rethinking Learning Rate Tuning in the
    Era of Large Language Models" (LRBench++).
"""

from __future__ import annotations

import numpy as np

from ._common import decide, lrbench_result, np_rng
from ._registry import Claim, register

CITATION = ("Jin, Wei, Wang, Zhang & Wu 2023, Rethinking Learning Rate Tuning in the Era of Large Language Models "
            "(LRBench++); Wu et al. 2019, Demystifying Learning Rate Policies")
S = "lrbench2023"


def _final(res):
    """Final test accuracy per (policy, seed); a diverged run counts (its accuracy is what it reached)."""
    return np.asarray(res.test_acc, dtype=float)[:, :, -1]


def _boot(key, acc, stat, n_boot=1000):
    rng = np_rng(key, 1202)
    n_seed = acc.shape[1]
    return np.array([stat(acc[:, rng.integers(0, n_seed, n_seed)]) for _ in range(n_boot)])


def _spread(key, quick):
    res = lrbench_result(key, quick)
    acc = _final(res)
    stat = lambda a: float(np.nanmax(a.mean(1)) - np.nanmin(a.mean(1)))  # noqa: E731
    est = stat(acc)
    lo, hi = np.percentile(_boot(key, acc, stat), [2.5, 97.5])
    means = acc.mean(1)
    best, worst = res.labels[int(np.nanargmax(means))], res.labels[int(np.nanargmin(means))]
    return decide(f"{S}.policy_choice_matters", "network", est, 0.0, kind="greater", ci=(float(lo), float(hi)),
                  key=key, config={"policies": list(res.labels), "seeds": np.asarray(res.seeds).tolist()},
                  note=f"final test accuracy, best policy {best} {means.max():.3f} vs worst {worst} {means.min():.3f} "
                       f"(mean over {acc.shape[1]} seeds)", figure="lrbench")


def _beats_fixed(key, quick):
    res = lrbench_result(key, quick)
    acc = _final(res)
    labels = list(res.labels)
    if "FIX" not in labels:
        raise ValueError(f"the benchmark has no FIX policy: {labels}")
    j = labels.index("FIX")
    others = [i for i in range(len(labels)) if i != j]

    def stat(a):
        m = a.mean(1)
        return float(np.nanmax(m[others]) - m[j])

    est = stat(acc)
    lo, hi = np.percentile(_boot(key, acc, stat), [2.5, 97.5])
    best = labels[others[int(np.nanargmax(acc.mean(1)[others]))]]
    return decide(f"{S}.tuned_policy_beats_fixed", "network", est, 0.0, kind="greater", ci=(float(lo), float(hi)),
                  key=key, config={"policies": labels},
                  note=f"best non-constant policy {best} minus FIX in final test accuracy: {est:+.3f} (the maximum over "
                       "policies is optimistic: a selection, as in the benchmark)", figure="lrbench")


CLAIMS = [
    Claim(f"{S}.policy_choice_matters",
          "The learning-rate policy changes the final test accuracy by more than seed-to-seed noise (best − worst "
          "policy > 0 with a bootstrap CI over seeds).", CITATION, {"network": _spread}, figure="lrbench"),
    Claim(f"{S}.tuned_policy_beats_fixed",
          "A decaying or cyclic policy reaches a higher final test accuracy than the fixed learning rate it starts "
          "from.", CITATION, {"network": _beats_fixed}, figure="lrbench"),
]
for _c in CLAIMS:
    register(_c)
