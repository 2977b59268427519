"""Which epoch is ``best``, and when training stops: the per-epoch semantic check and the rule.

The semantic check (``neighbor_share_l0`` in ``metrics.jsonl``): for a fixed sample of query
items, their k nearest neighbours by cosine similarity in embedding space are found once, before
training; each epoch logs the share of those (query, neighbour) pairs whose level-0 codes are
equal, and its ratio to chance. It is the level-0 ``neighbor_share`` of the coherence diagnostic
(``analysis.metrics.coherence``), restricted to a fixed query sample and to neighbours among the
items the ID metrics are computed on, so it costs one table lookup per epoch.

The rule (README, "Training defaults and the best checkpoint"): an epoch *qualifies* when

1. every level uses at least ``best_min_usage`` of its codes,
2. its ``neighbor_lift_l0`` (``neighbor_share_l0`` over the share of random item pairs with the
   same level-0 code) is at least ``best_min_neighbor_lift``: level-0 cells group embedding-space
   neighbours far more often than chance (IDs that are unique but meaningless, or cells that
   have collapsed into a few huge ones, fail this), and
3. it lies past the first ``best_after_fraction`` of the epochs (0 by default: the two checks
   above replace the old fixed skip of the first 20 %).

Among qualified epochs the highest ``best_metric`` (``unique_id_ratio``) wins, ties broken by the
lowest ``best_tiebreak`` (``val_loss_total``), then by the earlier epoch. While no epoch has
qualified, the highest ``best_metric`` wins.

Early stopping: after each epoch, if the best epoch is valid (qualified) and ``patience`` or more
epochs old, training stops (``patience = 0`` never stops early); ``status.json`` says
``"stopped": "early"`` and ``"stop_reason"``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from rqvae.model.config import TrainConfig

PROBE_QUERIES = 1000  # query items of the semantic check
PROBE_NEIGHBORS = 10  # neighbours per query
PROBE_CHUNK_ROWS = 8192  # rows per similarity block while searching


class NeighborProbe:
    """The fixed (query, neighbour) pairs of the semantic check, found once per run.

    ``rows`` are the items the ID metrics are computed on (every item, or the evaluation
    sample); queries are ``min(PROBE_QUERIES, len(rows))`` of them, drawn with ``seed`` by numpy
    (torch's random state is not touched, so training is the same with or without the probe),
    and neighbours are searched among ``rows`` only. Exact cosine search.
    """

    def __init__(self, array: np.ndarray, rows: np.ndarray, seed: int):
        n_rows = len(rows)
        k = min(PROBE_NEIGHBORS, n_rows - 1)
        sampler = np.random.default_rng([seed, 11])
        n_queries = min(PROBE_QUERIES, n_rows)
        self.queries = np.sort(sampler.choice(n_rows, n_queries, replace=False))  # positions
        self.neighbors = np.zeros((n_queries, max(k, 0)), dtype=np.int64)  # positions in rows
        if k < 1:
            return
        query_vectors = _unit(np.asarray(array[rows[self.queries]], dtype=np.float32))
        best_scores = np.full((n_queries, k), -np.inf, dtype=np.float32)
        best_rows = np.zeros((n_queries, k), dtype=np.int64)
        for start in range(0, n_rows, PROBE_CHUNK_ROWS):
            block = _unit(np.asarray(array[rows[start : start + PROBE_CHUNK_ROWS]], np.float32))
            scores = query_vectors @ block.T  # (n_queries, block)
            positions = np.arange(start, start + len(block))
            own = (self.queries >= start) & (self.queries < start + len(block))
            scores[np.nonzero(own)[0], self.queries[own] - start] = -np.inf  # not its own
            scores = np.concatenate([best_scores, scores], axis=1)
            candidates = np.concatenate(
                [best_rows, np.broadcast_to(positions, (n_queries, len(block)))], axis=1
            )
            top = _top_k_stable(scores, k)
            best_scores = np.take_along_axis(scores, top, axis=1)
            best_rows = np.take_along_axis(candidates, top, axis=1)
        self.neighbors = best_rows

    def measure(self, codes: np.ndarray) -> dict[str, float | None]:
        """The semantic check for ``codes`` (len(rows), L), int, aligned with ``rows``.

        ``neighbor_share_l0``: share of the (query, neighbour) pairs with equal level-0 codes.
        ``neighbor_lift_l0``: that share over the chance that two distinct items of ``rows``
        drawn at random share their level-0 code, ``sum_k n_k (n_k - 1) / (n (n - 1))`` over
        the level-0 code counts n_k (the coherence diagnostic's ``lift``). Both None without
        pairs; the lift is None when no two items share a level-0 code.
        """
        if self.neighbors.size == 0:
            return {"neighbor_share_l0": None, "neighbor_lift_l0": None}
        level0 = codes[:, 0]
        share = float((level0[self.neighbors] == level0[self.queries][:, None]).mean())
        counts = np.bincount(level0).astype(np.float64)
        n = float(len(level0))
        chance = float((counts * (counts - 1)).sum() / (n * (n - 1)))
        return {"neighbor_share_l0": share, "neighbor_lift_l0": share / chance if chance else None}


def _top_k_stable(scores: np.ndarray, k: int) -> np.ndarray:
    """Columns of the ``k`` highest scores per row, (rows, k), highest first, ties to the lower
    column: ``np.argsort(-scores, axis=1, kind="stable")[:, :k]``, without sorting whole rows.

    Each row's k-th highest score is found by partition; only the entries at or above it (ties
    included) are sorted.
    """
    negative = -scores
    kth = np.partition(negative, k - 1, axis=1)[:, k - 1 : k]
    row, column = np.nonzero(negative <= kth)  # row-major: columns ascending within a row
    order = np.lexsort((column, negative[row, column], row))
    row, column = row[order], column[order]
    rank = np.arange(len(row)) - np.searchsorted(row, row)
    return column[rank < k].reshape(len(scores), k)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class BestRule:
    """Ranks epochs for the ``best`` checkpoint and decides when to stop (module docstring)."""

    def __init__(self, train: TrainConfig):
        self.train = train

    def rank(self, record: dict[str, Any]) -> tuple[int, float, float]:
        """Sort key ``(qualified, best_metric, -best_tiebreak)``; the highest key is best.

        A missing tie-break value (no validation rows) ranks last; a missing
        ``neighbor_lift_l0`` (fewer than two items, or every level-0 code used once) passes the
        semantic check. Plain floats, so the key can be stored in JSON. Equal keys keep the
        earlier epoch.
        """
        train = self.train
        usage = [value for key, value in record.items() if key.startswith("codebook_usage_l")]
        warmed_up = record["epoch"] > train.best_after_fraction * train.epochs
        lift = record.get("neighbor_lift_l0")
        semantic = lift is None or lift >= train.best_min_neighbor_lift
        qualified = int(min(usage) >= train.best_min_usage and warmed_up and semantic)
        tiebreak = record.get(train.best_tiebreak)
        tiebreak = sys.float_info.max if tiebreak is None else float(tiebreak)
        return (qualified, float(record[train.best_metric]), -tiebreak)

    def stop_reason(self, epoch: int, best: dict[str, Any]) -> str | None:
        """Why training stops after ``epoch``, or None to go on.

        ``best`` is the best epoch's record ``{"epoch", "rank"}``. Only a valid best epoch
        (``rank[0] == 1``) starts the patience clock: a run still looking for a valid epoch (a
        codebook not yet fully used after a collapse) goes on.
        """
        patience, best_epoch = self.train.patience, best["epoch"]
        valid = bool(best["rank"][0])
        if valid and patience > 0 and epoch - best_epoch >= patience and epoch < self.train.epochs:
            return (
                f"early stop: the best-rule score has not improved for {epoch - best_epoch} "
                f"epochs (patience {patience}); best epoch {best_epoch}"
            )
        return None
