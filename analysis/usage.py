"""Diagnostic 1: how evenly each level uses its codebook.

A level with K codes is healthy when many codes carry items and no single code takes a large
share. The counts here are the raw material of the entropy diagnostic and of the dashboard's
usage bars and Lorenz curve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.checks import check_codebook_size, check_codes


def code_counts(codes, codebook_size: int) -> np.ndarray:
    """Items per code at each level.

    codes : int, shape (n_items, n_levels), every code in [0, codebook_size).
    Returns int64, shape (n_levels, codebook_size): ``counts[l, k]`` = items with code k at
    level l.
    """
    codes = check_codes(codes)
    size = check_codebook_size(codebook_size, codes)
    return _code_counts(codes, size)


def _code_counts(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    return np.stack(
        [np.bincount(codes[:, level], minlength=codebook_size) for level in range(codes.shape[1])]
    ).astype(np.int64)


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of one level's code counts, zeros included.

    counts : shape (K,), non-negative. With counts sorted ascending x_1 <= ... <= x_K,
    ``G = sum_i (2i - K - 1) x_i / (K sum_i x_i)``, which equals the mean absolute difference
    between all pairs of codes divided by twice the mean count. 0 when every code has the same
    count; (K - 1) / K when one code takes every item; 0 for an all-zero level.
    """
    x = np.sort(np.asarray(counts, dtype=np.float64))
    total = x.sum()
    if total == 0:
        return 0.0
    k = len(x)
    weights = 2 * np.arange(1, k + 1) - k - 1
    return float(weights @ x / (k * total))


def codebook_usage(codes, codebook_size: int) -> pd.DataFrame:
    """One row per level: how many of the K codes carry items and how unevenly.

    codes : int, shape (n_items, n_levels); codebook_size : K.

    Columns
    -------
    level : 0-based level.
    codebook_size : K.
    used_codes : codes with at least one item.
    used_fraction : used_codes / K.
    dead_codes : K - used_codes (codes no item uses).
    largest_share : items of the most used code / n_items.
    gini : :func:`gini` of the K counts, zeros included (0 = even, (K-1)/K = one code).
    """
    codes = check_codes(codes)
    size = check_codebook_size(codebook_size, codes)
    counts = _code_counts(codes, size)
    used = (counts > 0).sum(axis=1)
    return pd.DataFrame(
        {
            "level": np.arange(codes.shape[1]),
            "codebook_size": size,
            "used_codes": used,
            "used_fraction": used / size,
            "dead_codes": size - used,
            "largest_share": counts.max(axis=1) / codes.shape[0],
            "gini": [gini(row) for row in counts],
        }
    )


def lorenz_curve(counts) -> pd.DataFrame:
    """Lorenz curve of code usage: codes sorted from least to most used.

    counts : shape (K,) for one level, or (n_levels, K) as from :func:`code_counts`.
    Returns columns ``level, code_share, item_share``: after the ``code_share`` fraction of the
    least-used codes, ``item_share`` of the items are covered. Each level starts at (0, 0) and
    ends at (1, 1); K + 1 points per level. The diagonal means perfectly even usage and the area
    between it and the curve is half the Gini coefficient.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim == 1:
        counts = counts[None, :]
    if counts.ndim != 2 or counts.shape[1] == 0:
        raise ValueError(f"counts has shape {counts.shape}, expected (K,) or (n_levels, K)")
    frames = []
    for level, row in enumerate(counts):
        cumulative = np.concatenate([[0.0], np.cumsum(np.sort(row))])
        total = cumulative[-1]
        frames.append(
            pd.DataFrame(
                {
                    "level": level,
                    "code_share": np.arange(len(row) + 1) / len(row),
                    "item_share": cumulative / total if total else cumulative,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
