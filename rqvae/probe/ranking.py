"""Ranking metrics of the probe: one held-out target per user, ranked over the full catalog.

With ``rank`` the 0-based position of the target in the model's ranking (``inf`` when it is
not among the items returned):

    Recall@k = mean over users of [rank < k]        (one target: the hit rate)
    NDCG@k   = mean over users of [rank < k] / log2(rank + 2)

(the ideal DCG of a single relevant item is 1). No sampled negatives: every catalog item
competes.
"""

from __future__ import annotations

import numpy as np

K = 10


def ranking_metrics(ranks: np.ndarray, k: int = K) -> dict[str, float]:
    """``recall_at_{k}`` and ``ndcg_at_{k}`` for 0-based ranks (float (n_users,), inf = missed)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.ndim != 1 or len(ranks) == 0:
        raise ValueError(f"ranks has shape {ranks.shape}, expected (n_users,) with n_users >= 1")
    hit = ranks < k
    gain = np.zeros(len(ranks))
    gain[hit] = 1.0 / np.log2(ranks[hit] + 2.0)
    return {f"recall_at_{k}": float(hit.mean()), f"ndcg_at_{k}": float(gain.mean())}


def ranks_from_scores(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target among all items: items scoring strictly higher, plus ties
    with a lower index (a fixed tie rule). scores : (n_users, n_items); targets : (n_users,)."""
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets][:, None]
    above = (scores > target_scores).sum(axis=1)
    tied_before = ((scores == target_scores) & (np.arange(scores.shape[1]) < targets[:, None])).sum(
        axis=1
    )
    return (above + tied_before).astype(np.float64)


def ranks_from_lists(ranked_items: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based position of each target in its list (n_users, width); inf when absent."""
    found = ranked_items == targets[:, None]
    return np.where(found.any(axis=1), found.argmax(axis=1), np.inf).astype(np.float64)
