"""Training curves: smoothing for display (the curves themselves are ``metrics.jsonl``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rqvae.errors import InputError


def smooth(values, window: int, method: str = "ema") -> pd.Series:
    """Smoothed copy of a curve, same length and index.

    ``method="ema"``: exponential moving average with alpha = 2 / (window + 1), started at the
    first value (``adjust=False``). ``method="rolling"``: trailing mean of the last ``window``
    points (fewer at the start). ``window <= 1`` returns the values unchanged. NaNs are skipped.
    """
    series = pd.Series(values, dtype=np.float64) if not isinstance(values, pd.Series) else values
    series = series.astype(np.float64)
    if window <= 1:
        return series.copy()
    if method == "ema":
        return series.ewm(alpha=2 / (window + 1), adjust=False, ignore_na=True).mean()
    if method == "rolling":
        return series.rolling(window, min_periods=1).mean()
    raise InputError(f"smoothing method is {method!r}, expected 'ema' or 'rolling'")
