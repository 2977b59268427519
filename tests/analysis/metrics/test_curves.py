"""Smoothing of training curves, worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from analysis.metrics.curves import smooth
from rqvae.errors import InputError


def test_ema_by_hand():
    # Window 3 -> alpha 2 / (3 + 1) = 0.5: 0, 0.5 * 10 + 0.5 * 0 = 5, 0.5 * 10 + 0.5 * 5 = 7.5.
    assert smooth([0, 10, 10], 3).tolist() == [0.0, 5.0, 7.5]
    # Window 4 -> alpha 0.4: 4, 0.4 * 3 + 0.6 * 4 = 3.6, 0.4 * 2 + 0.6 * 3.6 = 2.96.
    assert smooth([4.0, 3.0, 2.0], 4).tolist() == pytest.approx([4.0, 3.6, 2.96])


def test_rolling_mean_by_hand():
    # Trailing mean of the last 2 points, fewer at the start.
    assert smooth([0, 10, 10, 4], 2, method="rolling").tolist() == [0.0, 5.0, 10.0, 7.0]


def test_nan_is_skipped_and_kept_in_place():
    # alpha 0.5: 1, (NaN skipped, 1 carried), then 0.5 * 3 + 0.5 * 1 = 2.
    smoothed = smooth(pd.Series([1.0, np.nan, 3.0], index=[10, 20, 30]), 3)
    assert smoothed.index.tolist() == [10, 20, 30]
    assert smoothed.tolist() == [1.0, 1.0, 2.0]


def test_window_one_returns_the_values():
    values = pd.Series([1.0, np.nan, 3.0])
    smoothed = smooth(values, 1)
    pd.testing.assert_series_equal(smoothed, values)
    assert smoothed is not values


def test_unknown_method():
    with pytest.raises(InputError, match="expected 'ema' or 'rolling'"):
        smooth([1, 2], 2, method="median")
