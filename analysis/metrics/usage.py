"""Diagnostic 1: how evenly each level uses its codebook.

A level with K codes is healthy when many codes carry items and no single code takes a large
share. The counts (:func:`rqvae.id_metrics.code_counts`) are the raw material of the entropy
diagnostic and of the usage bars and Lorenz curve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rqvae.errors import InputError
from rqvae.id_metrics import check_codebook_sizes, check_codes, code_counts


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


def codebook_usage(codes, codebook_sizes: int | Sequence[int]) -> pd.DataFrame:
    """One row per level: how many of the K_l codes carry items and how unevenly.

    codes : int, shape (n_items, n_levels); codebook_sizes : K for every level, or K_l each.

    Columns
    -------
    level : 0-based level.
    codebook_size : K_l.
    used_codes : codes with at least one item.
    used_fraction : used_codes / K_l.
    dead_codes : K_l - used_codes (codes no item uses).
    largest_share : items of the most used code / n_items.
    gini : :func:`gini` of the K_l counts, zeros included (0 = even, (K-1)/K = one code).
    """
    codes = check_codes(codes)
    sizes = np.array(check_codebook_sizes(codebook_sizes, codes))
    counts = code_counts(codes, sizes)
    used = np.array([(level_counts > 0).sum() for level_counts in counts])
    return pd.DataFrame(
        {
            "level": np.arange(codes.shape[1]),
            "codebook_size": sizes,
            "used_codes": used,
            "used_fraction": used / sizes,
            "dead_codes": sizes - used,
            "largest_share": np.array([c.max() for c in counts]) / codes.shape[0],
            "gini": [gini(level_counts) for level_counts in counts],
        }
    )


def lorenz_curve(counts: Sequence[np.ndarray] | np.ndarray) -> pd.DataFrame:
    """Lorenz curve of code usage: codes sorted from least to most used.

    counts : one level's counts (K,), or a list of them (one per level) as from
    :func:`rqvae.id_metrics.code_counts`.
    Returns columns ``level, code_share, item_share``: after the ``code_share`` fraction of the
    least-used codes, ``item_share`` of the items are covered. Each level starts at (0, 0) and
    ends at (1, 1); K_l + 1 points per level. The diagonal means perfectly even usage and the
    area between it and the curve is half the Gini coefficient.
    """
    if isinstance(counts, np.ndarray) and counts.ndim == 1:
        counts = [counts]
    frames = []
    for level, row in enumerate(counts):
        row = np.asarray(row, dtype=np.float64)
        if row.ndim != 1 or len(row) == 0:
            raise InputError(f"counts of level {level} have shape {row.shape}, expected (K,)")
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
