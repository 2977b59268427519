"""The ID metrics the trainer logs every epoch, defined on a code table.

``codes`` is int64, shape (n_items, n_levels), one code in ``[0, K)`` per level. The analysis
package has the full diagnostics; these are the few the training loop needs, and their
definitions match it.
"""

from __future__ import annotations

import numpy as np


def unique_id_ratio(codes: np.ndarray) -> float:
    """Distinct L-tuples divided by the number of items, in (0, 1]; 1 = no two items share an ID."""
    return len(np.unique(codes, axis=0)) / len(codes)


def codebook_usage(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    """Per level, the fraction of the K codes used by at least one item; float, (n_levels,)."""
    counts = code_counts(codes, codebook_size)
    return (counts > 0).mean(axis=1)


def perplexity(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    """Per level, ``exp(H(p))`` with ``p`` the share of items on each code and H in nats.

    Ranges from 1 (every item on one code) to K (all codes equally used); float, (n_levels,).
    """
    counts = code_counts(codes, codebook_size).astype(np.float64)
    shares = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(shares > 0, shares * np.log(shares), 0.0).sum(axis=1)
    return np.exp(entropy)


def code_counts(codes: np.ndarray, codebook_size: int) -> np.ndarray:
    """Items per code at each level, int64, shape (n_levels, K)."""
    return np.stack(
        [np.bincount(codes[:, level], minlength=codebook_size) for level in range(codes.shape[1])]
    )
