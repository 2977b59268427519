"""Ranking metrics of the probe: one held-out target per user, ranked over the full catalog.

With ``rank`` the 0-based position of the target in the model's ranking (``inf`` when it is
not among the items returned) and ``weight`` the share of a hit the user's target is worth
(1, except for IDs shared by several items; see below):

    Recall@k = mean over users of weight * [rank < k]               (one target: the hit rate)
    NDCG@k   = mean over users of weight * [rank < k] / log2(rank + 2)

(the ideal DCG of a single relevant item is 1). No sampled negatives: every catalog item
competes. Keys: ``recall_at_5``, ``ndcg_at_5``, ``recall_at_10``, ``ndcg_at_10``.

Shared IDs (``--collisions shared``; "Faithful Evaluation of Semantic-ID Tokenizers", CIKM'26).
When the G items of a group share one semantic ID, the model generates IDs, not items: a list
of IDs is ranked, and ``rank`` is the position of the target item's ID in it. The naive
metric counts the user as a full hit when that ID is in the top k (weight 1), although the ID
stands for G items of which only one is the target. The collision-corrected metric gives the
hit weight 1 / G: ItemHit@k = mean of [rank < k] / G and ItemNDCG@k = mean of
[rank < k] / (G * log2(rank + 2)), i.e. the expected metric of a system that turns
each generated ID into one of its G items, picked uniformly at random, in the ID's place. The
inflation of a metric is naive / corrected - 1 (0 when no target's ID is shared).
"""

from __future__ import annotations

import numpy as np

KS = (5, 10)  # every k reported


def ranking_metrics(
    ranks: np.ndarray, k: int | tuple[int, ...] = KS, weights: np.ndarray | None = None
) -> dict[str, float]:
    """``recall_at_{k}`` and ``ndcg_at_{k}`` for every k, from 0-based ranks (float (n_users,),
    inf = missed) and hit weights (float (n_users,) in (0, 1]; default all 1)."""
    values = per_user_metrics(ranks, k, weights)
    return {name: float(column.mean()) for name, column in values.items()}


def per_user_metrics(
    ranks: np.ndarray, k: int | tuple[int, ...] = KS, weights: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Each user's contribution to each metric: float64 (n_users,) per key (their means are
    :func:`ranking_metrics`)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.ndim != 1 or len(ranks) == 0:
        raise ValueError(f"ranks has shape {ranks.shape}, expected (n_users,) with n_users >= 1")
    if weights is None:
        weights = np.ones(len(ranks))
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != ranks.shape:
        raise ValueError(f"weights has shape {weights.shape}, expected {ranks.shape}")
    values = {}
    for cut in (k,) if isinstance(k, int) else k:
        hit = ranks < cut
        gain = np.zeros(len(ranks))
        gain[hit] = 1.0 / np.log2(ranks[hit] + 2.0)
        values[f"recall_at_{cut}"] = hit * weights
        values[f"ndcg_at_{cut}"] = gain * weights
    return values


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


def ranks_from_shared_scores(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """:func:`ranks_from_scores` when every user has the same ``scores`` (n_items,), as
    popularity does, without an (n_users, n_items) matrix: an item's rank is its position in
    the order by score (highest first), then index (lowest first)."""
    scores = np.asarray(scores)
    order = np.lexsort((np.arange(len(scores)), -scores))
    rank_of_item = np.empty(len(scores), dtype=np.float64)
    rank_of_item[order] = np.arange(len(scores))
    return rank_of_item[np.asarray(targets)]


def ranks_from_lists(ranked_items: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based position of each target in its list (n_users, width); inf when absent."""
    found = ranked_items == targets[:, None]
    return np.where(found.any(axis=1), found.argmax(axis=1), np.inf).astype(np.float64)
