"""Per-user bootstrap: how much a probe metric would move with another draw of users.

Every probe metric is a mean over test users of a per-user value (:func:`rqvae.probe.ranking.
per_user_metrics`). One bootstrap resample draws n users with replacement from the n test
users and takes the mean; the 95% interval is the 2.5th and 97.5th percentile of the
resampled means (percentile bootstrap, numpy's default linear interpolation between order
statistics), over ``resamples`` resamples (1,000 by default) drawn from
``numpy.random.default_rng(seed)`` (seed 0 by default), so an interval is reproducible.

The paired difference of two probes on the same users resamples users once for both: each
resample's mean of (a_u - b_u), so what the two have in common (the same hard users) cancels,
and the interval is narrower than two separate intervals suggest.

The intervals are over users only: they do not include the variation from another training
seed, which a study over seeds measures.
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95
_CHUNK = 50  # resamples per matrix product (memory: 50 x n_users counts)


def bootstrap_means(values: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """Means of ``values`` float (n_users, n_metrics) over ``resamples`` resamples of users:
    float64 (resamples, n_metrics). Resample r draws ``n_users`` user indices uniformly with
    replacement from ``default_rng(seed)``, in order r = 0, 1, ..."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        raise ValueError(f"values has shape {values.shape}, expected (n_users >= 1, n_metrics)")
    if resamples < 1:
        raise ValueError(f"resamples is {resamples}, expected at least 1")
    n_users = values.shape[0]
    rng = np.random.default_rng(seed)
    means = np.empty((resamples, values.shape[1]))
    for start in range(0, resamples, _CHUNK):
        size = min(_CHUNK, resamples - start)
        drawn = rng.integers(0, n_users, size=(size, n_users))
        # how often each user was drawn in each resample: (size, n_users)
        offsets = drawn + np.arange(size)[:, None] * n_users
        counts = np.bincount(offsets.ravel(), minlength=size * n_users).reshape(size, n_users)
        means[start : start + size] = counts @ values / n_users
    return means


def intervals(
    values: dict[str, np.ndarray], resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, list[float]]:
    """``{name: [low, high]}``: the 95% percentile-bootstrap interval of the mean of each
    per-user array in ``values`` (all float (n_users,), the same users)."""
    names = list(values)
    means = bootstrap_means(np.column_stack([values[n] for n in names]), resamples, seed)
    low, high = np.quantile(means, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2], axis=0)
    return {name: [float(low[i]), float(high[i])] for i, name in enumerate(names)}


def paired_difference(
    a: dict[str, np.ndarray],
    b: dict[str, np.ndarray],
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, dict]:
    """Per metric: ``{"a", "b", "difference", "difference_ci95", "a_better_share"}`` of the
    per-user arrays ``a`` and ``b`` (same keys, same users in the same order). ``difference``
    is mean(a) - mean(b); ``a_better_share`` the share of resamples in which a's mean is
    above b's."""
    if set(a) != set(b):
        raise ValueError(f"a has metrics {sorted(a)}, b has {sorted(b)}: expected the same")
    names = list(a)
    for name in names:
        if np.shape(a[name]) != np.shape(b[name]):
            raise ValueError(
                f"{name}: a has shape {np.shape(a[name])}, b {np.shape(b[name])}; "
                "a paired comparison needs the same users"
            )
    difference = np.column_stack([np.asarray(a[n], float) - np.asarray(b[n], float) for n in names])
    means = bootstrap_means(difference, resamples, seed)
    low, high = np.quantile(means, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2], axis=0)
    return {
        name: {
            "a": float(np.mean(a[name])),
            "b": float(np.mean(b[name])),
            "difference": float(difference[:, i].mean()),
            "difference_ci95": [float(low[i]), float(high[i])],
            "a_better_share": float((means[:, i] > 0).mean()),
        }
        for i, name in enumerate(names)
    }
