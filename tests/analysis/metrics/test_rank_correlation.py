"""Rank correlation across runs (analysis.metrics.rank_correlation), on cases worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.metrics.rank_correlation import rank_correlation
from rqvae.errors import InputError


def test_one_swapped_pair():
    # ranks differ by d = (0, 1, -1, 0): rho = 1 - 6 * 2 / (4 * 15) = 0.8;
    # 6 pairs, one discordant (runs 2 and 3): tau = (5 - 1) / 6
    result = rank_correlation([1, 2, 3, 4], [10, 30, 20, 40], n_resamples=0)
    assert result.spearman == pytest.approx(0.8, rel=1e-12)
    assert result.kendall == pytest.approx(4 / 6, rel=1e-12)
    assert result.n_runs == 4 and result.resamples_used == 0
    assert all(math.isnan(v) for v in result.spearman_ci95)


def test_ties_use_mean_ranks_and_tau_b():
    # x ranks (1.5, 1.5, 3), y ranks (1, 2, 3): cov 1.5, var 1.5 and 2 -> rho = 1.5 / sqrt(3);
    # pairs: (1,2) tied in x, (1,3) and (2,3) concordant: tau_b = 2 / sqrt((3 - 1) * 3)
    result = rank_correlation([1, 1, 2], [5, 6, 7], n_resamples=0)
    assert result.spearman == pytest.approx(1.5 / math.sqrt(3), rel=1e-12)
    assert result.kendall == pytest.approx(2 / math.sqrt(6), rel=1e-12)


def test_perfect_order_has_a_point_interval_and_reversal_is_minus_one():
    result = rank_correlation(np.arange(8.0), np.arange(8.0) ** 2, n_resamples=200)
    assert result.spearman == pytest.approx(1.0, rel=1e-12)
    assert result.spearman_ci95 == pytest.approx((1.0, 1.0), rel=1e-12)
    assert result.kendall_ci95 == pytest.approx((1.0, 1.0), rel=1e-12)
    assert 0 < result.resamples_used <= 200
    assert rank_correlation([1, 2, 3], [3, 2, 1], n_resamples=0).kendall == pytest.approx(-1.0)


def test_interval_covers_the_estimate_and_is_reproducible():
    rng = np.random.default_rng(3)
    x = rng.normal(size=15)
    y = x + rng.normal(scale=1.0, size=15)
    first = rank_correlation(x, y, n_resamples=500, seed=1)
    again = rank_correlation(x, y, n_resamples=500, seed=1)
    assert first == again
    low, high = first.spearman_ci95
    assert -1 <= low < first.spearman < high <= 1


def test_missing_values_are_dropped_and_too_few_runs_give_nan():
    result = rank_correlation([1, np.nan, 3, 4, 5], [1, 2, np.nan, 4, 6], n_resamples=0)
    assert result.n_runs == 3 and result.spearman == pytest.approx(1.0)
    few = rank_correlation([1, 2], [1, 2])
    assert few.n_runs == 2 and math.isnan(few.spearman) and math.isnan(few.kendall)
    constant = rank_correlation([1, 1, 1, 1], [1, 2, 3, 4])
    assert math.isnan(constant.spearman)


def test_bad_shapes_are_refused():
    with pytest.raises(InputError, match="equal 1-D"):
        rank_correlation([1, 2, 3], [1, 2])
