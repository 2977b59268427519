"""Behavioural alignment: do items that users consume together share an ID prefix?

Co-occurring pairs come from user sequences: every pair of items at most ``window`` positions
apart in one user's sequence, counted once per occurrence ((user, position t, offset k) with
1 <= k <= window gives the pair ``(s_t, s_{t+k})``). Pairs of an item with itself (repeat
purchases) and pairs that touch an item the run does not have are skipped and counted.

For each prefix length l + 1 the share of those pairs whose first l + 1 codes are equal is set
against two chance levels, both exact expectations (no pairs are sampled, so they carry no
sampling noise):

- ``random_share``: two distinct items drawn uniformly from the whole catalog,
  ``sum_g n_g (n_g - 1) / (n (n - 1))`` over prefix groups g of n_g items;
- ``popularity_share``: popularity-matched random pairs: two items drawn independently with
  probability ``p_i`` = item i's share of the pair endpoints (so they are as popular as the
  items in co-occurring pairs), conditioned on being distinct:
  ``sum_g (P_g^2 - sum_{i in g} p_i^2) / (1 - sum_i p_i^2)`` with ``P_g = sum_{i in g} p_i``.

A prefix that follows behaviour has ``cooccurring_share`` far above both; one whose lift over
the popularity-matched pairs is near 1 ignores behaviour (its apparent alignment is only
popular items sharing codes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.id_metrics import check_codes, lexicographic_order, prefix_groups

DEFAULT_WINDOW = 3


@dataclass
class CooccurrencePairs:
    """Pairs of item rows that co-occur within a window (:func:`cooccurrence_pairs`).

    first, second : int64, shape (n_pairs,), item rows (first earlier in the sequence).
    repeats : pairs skipped because both positions hold the same item.
    unknown : pairs skipped because a position holds an item the run does not have (row -1).
    """

    first: np.ndarray
    second: np.ndarray
    window: int
    repeats: int
    unknown: int


@dataclass
class BehaviourAlignment:
    """Diagnostic: co-occurring pairs sharing an ID prefix (:func:`behavioural_alignment`).

    levels : one row per level l with ``level, prefix_length, pairs, cooccurring_share,
        random_share, popularity_share, lift_random, lift_popularity`` (lifts are NaN when the
        chance share is 0).
    """

    levels: pd.DataFrame
    window: int
    n_users: int
    n_interactions: int
    n_unknown_interactions: int
    n_pairs: int
    n_repeat_pairs: int
    n_unknown_pairs: int
    items_seen: int  # items with at least one interaction

    def summary(self) -> dict:
        return {
            "window": self.window,
            "n_users": self.n_users,
            "n_interactions": self.n_interactions,
            "n_unknown_interactions": self.n_unknown_interactions,
            "n_pairs": self.n_pairs,
            "n_repeat_pairs": self.n_repeat_pairs,
            "n_unknown_pairs": self.n_unknown_pairs,
            "items_seen": self.items_seen,
        }


def cooccurrence_pairs(rows, offsets, window: int = DEFAULT_WINDOW) -> CooccurrencePairs:
    """Item pairs at most ``window`` positions apart inside one user's sequence.

    rows : int, shape (n_interactions,), item row per interaction, -1 for unknown items;
    offsets : int, shape (n_users + 1,), user u's sequence is ``rows[offsets[u]:offsets[u+1]]``.
    A sequence of length m gives ``sum_{k=1..window} max(m - k, 0)`` position pairs.
    """
    rows = np.asarray(rows, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    if window < 1:
        raise InputError(f"window is {window}, expected 1 or more")
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(rows):
        raise InputError("offsets must start at 0 and end at the number of interactions")
    if (np.diff(offsets) < 0).any():
        raise InputError("offsets must not decrease")
    user = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))  # (n_interactions,)
    firsts, seconds = [], []
    repeats = unknown = 0
    for k in range(1, window + 1):
        a, b = rows[:-k], rows[k:]
        same_user = user[:-k] == user[k:]
        a, b = a[same_user], b[same_user]
        known = (a >= 0) & (b >= 0)
        unknown += int((~known).sum())
        a, b = a[known], b[known]
        distinct = a != b
        repeats += int((~distinct).sum())
        firsts.append(a[distinct])
        seconds.append(b[distinct])
    empty = np.zeros(0, dtype=np.int64)
    return CooccurrencePairs(
        first=np.concatenate(firsts) if firsts else empty,
        second=np.concatenate(seconds) if seconds else empty,
        window=window,
        repeats=repeats,
        unknown=unknown,
    )


def behavioural_alignment(codes, rows, offsets, window: int = DEFAULT_WINDOW) -> BehaviourAlignment:
    """Share of co-occurring item pairs that share the ID prefix, per level, against chance.

    codes : int, shape (n_items, n_levels), the run's IDs; rows / offsets : user sequences as
    in :func:`cooccurrence_pairs` (item rows index ``codes``). See the module docstring for
    every column. No co-occurring pair at all: :class:`DiagnosticUnavailable`.
    """
    codes = check_codes(codes)
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) and rows.max() >= len(codes):
        raise InputError(f"sequence rows go up to {rows.max()}, but there are {len(codes)} items")
    pairs = cooccurrence_pairs(rows, offsets, window)
    if len(pairs.first) == 0:
        raise DiagnosticUnavailable(
            f"no co-occurring pairs of distinct known items within {window} positions"
        )
    return _alignment(codes, rows, len(offsets) - 1, pairs)


def _alignment(codes, rows, n_users: int, pairs: CooccurrencePairs) -> BehaviourAlignment:
    n_items, n_levels = codes.shape
    endpoints = np.bincount(np.concatenate([pairs.first, pairs.second]), minlength=n_items)
    p = endpoints / endpoints.sum()  # (n_items,) endpoint share: the popularity-matched draw
    repeat_mass = float((p**2).sum())  # chance both draws are the same item
    order = lexicographic_order(codes)
    table = []
    for level in range(n_levels):
        group = prefix_groups(codes, level + 1, order).group  # (n_items,)
        same = group[pairs.first] == group[pairs.second]
        sizes = np.bincount(group).astype(np.float64)
        random_share = float((sizes * (sizes - 1)).sum() / (n_items * (n_items - 1.0)))
        group_mass = np.bincount(group, weights=p)
        group_squares = np.bincount(group, weights=p**2)
        popularity_share = float((group_mass**2 - group_squares).sum() / (1.0 - repeat_mass))
        share = float(same.mean())
        table.append(
            {
                "level": level,
                "prefix_length": level + 1,
                "pairs": len(same),
                "cooccurring_share": share,
                "random_share": random_share,
                "popularity_share": popularity_share,
                "lift_random": share / random_share if random_share > 0 else np.nan,
                "lift_popularity": share / popularity_share if popularity_share > 0 else np.nan,
            }
        )
    return BehaviourAlignment(
        levels=pd.DataFrame(table),
        window=pairs.window,
        n_users=n_users,
        n_interactions=len(rows),
        n_unknown_interactions=int((rows < 0).sum()),
        n_pairs=len(pairs.first),
        n_repeat_pairs=pairs.repeats,
        n_unknown_pairs=pairs.unknown,
        items_seen=int((np.bincount(rows[rows >= 0], minlength=n_items) > 0).sum()),
    )
