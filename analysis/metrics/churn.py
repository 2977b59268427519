"""ID churn between two runs on one catalog: how many items change their ID, or its prefix?

Code labels are arbitrary per run: two trainings that find the same partition may call it by
other numbers. So churn is reported twice, for every prefix length l + 1:

- ``raw_churn``: share of items whose first l + 1 codes differ between run A and run B;
- ``matched_churn``: the same after renaming A's codes to B's by maximum overlap, level by
  level and within each prefix. At level 0 the contingency table of A codes x B codes over all
  items is solved as an assignment problem (Hungarian algorithm,
  :func:`scipy.optimize.linear_sum_assignment`, maximising the number of items kept), giving a
  one-to-one renaming. At level l > 0 the same is done separately inside every prefix whose
  items still agree after renaming, because a level-l code only means something under its
  prefix in a tree of IDs. An item's matched prefix of length l + 1 is unchanged when every
  one of its first l + 1 codes was renamed onto B's code.

For a generative recommender trained on the IDs, what matters is the tokens its user
histories hold: :func:`history_churn` counts, over the interactions of a sequences file, the
tokens (codes and collision index) that differ between the two runs' IDs, raw.

Matching inside a prefix is lenient where prefixes hold few items: with one or two items per
prefix almost any relabelling can be matched away, so at deep levels matched churn is a lower
bound (a million items whose last level is redrawn at random keep 94.5 % of their matched full
IDs when each 2-level prefix holds ~15 items). Read it with the level-0 number, where every
prefix holds many items. ``matched_churn <= raw_churn`` always; a copy of a run with every
level's labels permuted has raw churn near 1 and matched churn 0. Only the prefix lengths both
runs have are compared; the full-ID churn needs both runs to have the same number of levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from rqvae.errors import InputError
from rqvae.id_metrics import check_codes


@dataclass
class Churn:
    """ID churn between two aligned code tables (:func:`id_churn`).

    levels : one row per common prefix length: ``level, prefix_length, items, raw_changed,
        raw_churn, matched_changed, matched_churn``.
    full_id_raw, full_id_matched : the churn of the full L-tuple, or None when the runs have
        different numbers of levels.
    """

    levels: pd.DataFrame
    n_levels_a: int
    n_levels_b: int
    full_id_raw: float | None
    full_id_matched: float | None

    @property
    def n_items(self) -> int:
        return int(self.levels["items"].iloc[0]) if len(self.levels) else 0


def id_churn(codes_a, codes_b) -> Churn:
    """Raw and matched churn of every common prefix length between two runs' codes.

    codes_a : int, shape (n_items, L_a); codes_b : int, shape (n_items, L_b); row i of both is
    the same item. See the module docstring for the definitions.
    """
    codes_a = check_codes(codes_a, name="codes of run A")
    codes_b = check_codes(codes_b, name="codes of run B")
    if len(codes_a) != len(codes_b):
        raise InputError(
            f"the runs have {len(codes_a)} and {len(codes_b)} rows, expected the same items"
        )
    return _churn(codes_a, codes_b)


def _churn(codes_a: np.ndarray, codes_b: np.ndarray) -> Churn:
    n_items = len(codes_a)
    depth = min(codes_a.shape[1], codes_b.shape[1])
    raw_changed = np.logical_or.accumulate(codes_a[:, :depth] != codes_b[:, :depth], axis=1)
    kept = np.ones(n_items, dtype=bool)  # matched prefix so far agrees
    parent = np.zeros(n_items, dtype=np.int64)  # B's prefix group of the kept items
    rows = []
    for level in range(depth):
        kept &= _matched(parent, codes_a[:, level], codes_b[:, level], kept)
        # The next level's parents: B's prefix of length level + 1 (for kept items it is also
        # A's renamed prefix, since the renaming inside a parent is one-to-one).
        _, parent = np.unique(_pair_keys(parent, codes_b[:, level]), return_inverse=True)
        parent = parent.reshape(-1).astype(np.int64)
        raw = int(raw_changed[:, level].sum())
        matched = int(n_items - kept.sum())
        rows.append(
            {
                "level": level,
                "prefix_length": level + 1,
                "items": n_items,
                "raw_changed": raw,
                "raw_churn": raw / n_items if n_items else np.nan,
                "matched_changed": matched,
                "matched_churn": matched / n_items if n_items else np.nan,
            }
        )
    levels = pd.DataFrame(rows)
    same_depth = codes_a.shape[1] == codes_b.shape[1] and n_items > 0
    return Churn(
        levels=levels,
        n_levels_a=codes_a.shape[1],
        n_levels_b=codes_b.shape[1],
        full_id_raw=float(levels["raw_churn"].iloc[-1]) if same_depth else None,
        full_id_matched=float(levels["matched_churn"].iloc[-1]) if same_depth else None,
    )


def _matched(parent: np.ndarray, a: np.ndarray, b: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Bool (n_items,): kept items whose code ``a`` is renamed onto ``b`` inside their parent.

    parent, a, b : int64 (n_items,). The renaming maximises, inside each parent, the number of
    kept items with ``rename(a) == b`` (one-to-one between the parent's A and B codes).
    """
    result = np.zeros(len(a), dtype=bool)
    rows = np.flatnonzero(kept)
    if len(rows) == 0:
        return result
    # Distinct (parent, a, b) triples among the kept items, and how many items each holds.
    keys = _pair_keys(_pair_keys(parent[rows], a[rows]), b[rows])
    _, first, inverse, counts = np.unique(
        keys, return_index=True, return_inverse=True, return_counts=True
    )
    inverse = inverse.reshape(-1)
    # Keys sort like (parent, a, b) tuples, so triples come grouped by parent.
    triples = np.stack([parent[rows][first], a[rows][first], b[rows][first]], axis=1)
    chosen = np.zeros(len(triples), dtype=bool)
    triple_parent = triples[:, 0]
    starts = np.flatnonzero(np.r_[True, triple_parent[1:] != triple_parent[:-1]])
    ends = np.r_[starts[1:], len(triples)]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        block_a, block_b = triples[start:end, 1], triples[start:end, 2]
        codes_a, local_a = np.unique(block_a, return_inverse=True)
        codes_b, local_b = np.unique(block_b, return_inverse=True)
        if len(codes_a) == 1 or len(codes_b) == 1:
            # One code on either side: the best renaming keeps the largest cell (lowest first).
            chosen[start + int(np.argmax(counts[start:end]))] = True
            continue
        table = np.zeros((len(codes_a), len(codes_b)), dtype=np.int64)  # (A codes, B codes)
        table[local_a, local_b] = counts[start:end]
        row_index, column_index = linear_sum_assignment(table, maximize=True)
        picked = set(zip(row_index.tolist(), column_index.tolist(), strict=True))
        for offset, cell in enumerate(zip(local_a.tolist(), local_b.tolist(), strict=True)):
            if cell in picked:
                chosen[start + offset] = True
    result[rows] = chosen[inverse]
    return result


def _pair_keys(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """One int64 per row that sorts like the tuple (high, low); both non-negative."""
    _, low_rank = np.unique(low, return_inverse=True)  # dense ranks keep the keys small
    base = int(low_rank.max()) + 1 if len(low_rank) else 1
    return high.astype(np.int64) * base + low_rank.reshape(-1)


@dataclass
class HistoryChurn:
    """How the tokens of user histories change when run A's IDs are replaced by run B's.

    A history holds each item as its ID's tokens: ``L_A`` level codes and the collision index,
    token j being ``<|sid_j_value|>`` (:func:`rqvae.runs.semantic_ids.sid_string`). Over every
    interaction with an item of run A:

    interactions : interactions with an item of run A (they hold A's tokens today);
        ``unknown``: interactions with items run A lacks (not counted).
    tokens : ``interactions x (L_A + 1)``; tokens_changed : those whose value at the same
        position differs under B's ID (position j of B's ID: its code j, or its collision
        index when j = L_B; a position B's ID lacks, or an item B lacks, changes every token).
    interactions_changed : interactions whose item's whole token sequence differs.
    positions : one row per token position: ``position`` (0..L_A), ``token`` ("level j" or
        "collision"), ``changed``, ``share`` (of the interactions).

    Raw, not matched: a renamed code is a new token for a model trained on the IDs.
    """

    interactions: int
    unknown: int
    tokens: int
    tokens_changed: int
    interactions_changed: int
    positions: pd.DataFrame

    @property
    def token_churn(self) -> float | None:
        return self.tokens_changed / self.tokens if self.tokens else None

    @property
    def interaction_churn(self) -> float | None:
        return self.interactions_changed / self.interactions if self.interactions else None


def history_churn(tokens_a, tokens_b, rows) -> HistoryChurn:
    """:class:`HistoryChurn` of user histories between two runs' IDs.

    tokens_a : int, shape (n_a, L_A + 1), run A's codes and collision index per item;
    tokens_b : int, shape (n_a, L_B + 1), run B's for the same items (row i = A's item i),
        every entry -1 where B lacks the item; rows : int (n_interactions,), A's row of each
        interaction in the histories, -1 for an item A lacks.
    """
    tokens_a = check_codes(tokens_a, name="tokens of run A")
    tokens_b = np.asarray(tokens_b, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    if tokens_b.ndim != 2 or len(tokens_b) != len(tokens_a):
        raise InputError(
            f"tokens of run B have shape {tokens_b.shape}, expected ({len(tokens_a)}, L_B + 1)"
        )
    if rows.ndim != 1 or (len(rows) and rows.max() >= len(tokens_a)) or (rows < -1).any():
        raise InputError(f"interaction rows must be -1 or 0..{len(tokens_a) - 1}")
    width = tokens_a.shape[1]
    b = np.full(tokens_a.shape, -1, dtype=np.int64)  # a position B's ID lacks never matches
    shared = min(width, tokens_b.shape[1])
    b[:, :shared] = tokens_b[:, :shared]
    changed = tokens_a != b  # (n_a, width)
    weights = np.bincount(rows[rows >= 0], minlength=len(tokens_a))  # interactions per item
    per_position = weights @ changed  # (width,)
    whole = changed.any(axis=1) | (tokens_b.shape[1] != width)
    interactions = int(weights.sum())
    positions = pd.DataFrame(
        {
            "position": np.arange(width),
            "token": [f"level {j}" for j in range(width - 1)] + ["collision"],
            "changed": per_position.astype(np.int64),
            "share": per_position / interactions if interactions else np.nan,
        }
    )
    return HistoryChurn(
        interactions=interactions,
        unknown=int((rows < 0).sum()),
        tokens=interactions * width,
        tokens_changed=int(per_position.sum()),
        interactions_changed=int(weights[whole].sum()),
        positions=positions,
    )
