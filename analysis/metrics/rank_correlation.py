"""Does a diagnostic track downstream recall? Rank correlation across runs, with intervals.

A study (``rqvae study``) has one value of a diagnostic and one probe metric per run. With
n runs (a few dozen at most), both are ranked and compared:

- **Spearman's rho**: the Pearson correlation of the two rank vectors, ties given the mean of
  the ranks they span (``scipy.stats.spearmanr``). +1: the diagnostic orders the runs exactly as
  the probe does; 0: no monotone relation; -1: exactly reversed.
- **Kendall's tau-b**: ``(C - D) / sqrt((P - T_x) (P - T_y))`` over the ``P = n (n - 1) / 2``
  pairs of runs, C concordant and D discordant pairs, ``T_x`` / ``T_y`` the pairs tied in x / y
  (``scipy.stats.kendalltau``, variant b).
- **Bootstrap 95 % interval**: ``n_resamples`` resamples of the runs with replacement (fixed
  ``seed``), the statistic recomputed on each; the interval is the 2.5th and 97.5th percentile
  (numpy's linear interpolation). A resample in which either vector is constant has no rank
  correlation and is left out; ``resamples_used`` says how many counted. With few runs the
  interval is wide, which is the point: it says how much the ranking can be trusted.

Runs where either value is missing (NaN) are dropped first; ``n_runs`` counts the rest. Fewer
than 3 runs, or a constant vector, give NaN statistics (there is nothing to rank).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from rqvae.errors import InputError

N_RESAMPLES = 2000


@dataclass
class RankCorrelation:
    """Spearman's rho and Kendall's tau-b of ``n_runs`` paired values, each with its bootstrap
    95 % interval ``(low, high)`` (NaN when undefined)."""

    spearman: float
    spearman_ci95: tuple[float, float]
    kendall: float
    kendall_ci95: tuple[float, float]
    n_runs: int
    resamples_used: int


def rank_correlation(
    diagnostic, target, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> RankCorrelation:
    """Spearman and Kendall correlation of ``diagnostic`` with ``target`` across runs.

    Parameters
    ----------
    diagnostic, target : float, shape (n_runs,); NaN marks a run without that value.
    n_resamples : bootstrap resamples of the runs (with replacement).
    seed : the bootstrap's random seed.
    """
    x = np.asarray(diagnostic, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise InputError(
            f"diagnostic and target must be two equal 1-D arrays, got {x.shape}, {y.shape}"
        )
    if n_resamples < 0:
        raise InputError(f"n_resamples must be >= 0, got {n_resamples}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    nan = float("nan")
    if len(x) < 3 or _constant(x) or _constant(y):
        return RankCorrelation(nan, (nan, nan), nan, (nan, nan), int(len(x)), 0)
    rng = np.random.default_rng(seed)
    spearmans, kendalls = [], []
    for _ in range(n_resamples):
        rows = rng.integers(0, len(x), size=len(x))
        if _constant(x[rows]) or _constant(y[rows]):
            continue
        spearman, kendall = _statistics(x[rows], y[rows])
        spearmans.append(spearman)
        kendalls.append(kendall)
    spearman, kendall = _statistics(x, y)
    return RankCorrelation(
        spearman=spearman,
        spearman_ci95=_interval(spearmans),
        kendall=kendall,
        kendall_ci95=_interval(kendalls),
        n_runs=int(len(x)),
        resamples_used=len(spearmans),
    )


def _constant(values: np.ndarray) -> bool:
    return bool(np.all(values == values[0]))


def _statistics(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on ties it handles exactly
        spearman = float(stats.spearmanr(x, y).statistic)
        kendall = float(stats.kendalltau(x, y, variant="b").statistic)
    return spearman, kendall


def _interval(values: list[float]) -> tuple[float, float]:
    if not values:
        return (float("nan"), float("nan"))
    low, high = np.percentile(np.asarray(values), [2.5, 97.5])
    return (float(low), float(high))
