"""Popularity allocation: where do popular and unpopular items land in the ID tree?

An item's **popularity** is its number of interactions in the user sequences. Items are split
into three groups: ``head``, the ``ceil(head_fraction * n_seen)`` most popular of the
``n_seen`` items with at least one interaction (ties broken by row, lower first); ``tail``,
the other items with interactions; ``cold``, items without any.

For each group and prefix length l + 1 (:func:`popularity_allocation`, table ``groups``):
``mean_group_size`` is the mean, over the group's items, of the number of items sharing the
item's prefix (itself included), and ``shared_share`` the share of the group's items whose
prefix is shared with at least one other item. At the full length L that is the collision
share: popular items stuck in collision groups need the collision index to be told apart,
which a generative recommender then has to guess. Tail items compressed together show as a
``mean_group_size`` far above the head's.

Per prefix (table ``prefixes``, prefix lengths 1..L-1): ``items``, ``interactions`` (sum over
its items) and ``fanout`` (distinct codes that follow it). Per prefix length (table
``levels``): Gini coefficients of items and of interactions over the used prefixes (is traffic
crowded into few prefixes?) and Spearman correlations of fan-out with interactions and with
items (does the tree spend resolution where the traffic is?).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from analysis.metrics.usage import gini
from rqvae.errors import InputError
from rqvae.id_metrics import check_codes, lexicographic_order, prefix_groups, prefix_strings

DEFAULT_HEAD_FRACTION = 0.1
GROUPS = ("head", "tail", "cold")


@dataclass
class PopularityAllocation:
    """Diagnostic: popularity against the ID tree (:func:`popularity_allocation`).

    popularity : int64 (n_items,), interactions per item. group : object (n_items,), the item's
    popularity group. groups, prefixes, levels : see the module docstring.
    interaction_collision_share : share of all interactions whose item shares its full ID.
    """

    popularity: np.ndarray
    group: np.ndarray
    head_fraction: float
    groups: pd.DataFrame
    prefixes: pd.DataFrame
    levels: pd.DataFrame
    interaction_collision_share: float

    def collision_share(self, group: str) -> float:
        """Share of the group's items that share their full ID (NaN for an empty group)."""
        rows = self.groups[(self.groups["group"] == group)]
        last = rows[rows["prefix_length"] == rows["prefix_length"].max()]
        return float(last["shared_share"].iloc[0]) if len(last) else math.nan

    def summary(self) -> dict:
        counts = {g: int((self.group == g).sum()) for g in GROUPS}
        return {
            "head_fraction": self.head_fraction,
            **{f"{g}_items": counts[g] for g in GROUPS},
            "interactions": int(self.popularity.sum()),
            "head_interaction_share": float(
                self.popularity[self.group == "head"].sum() / max(self.popularity.sum(), 1)
            ),
            "head_collision_share": self.collision_share("head"),
            "tail_collision_share": self.collision_share("tail"),
            "interaction_collision_share": self.interaction_collision_share,
        }


def item_popularity(rows, n_items: int) -> np.ndarray:
    """Interactions per item, int64 (n_items,), from interaction item rows (-1 = unknown)."""
    rows = np.asarray(rows, dtype=np.int64)
    known = rows[rows >= 0]
    if len(known) and known.max() >= n_items:
        raise InputError(f"interaction rows go up to {known.max()}, but there are {n_items} items")
    return np.bincount(known, minlength=n_items).astype(np.int64)


def popularity_groups(popularity: np.ndarray, head_fraction: float) -> np.ndarray:
    """``"head"``, ``"tail"`` or ``"cold"`` per item (see the module docstring)."""
    group = np.full(len(popularity), "cold", dtype=object)
    seen = np.flatnonzero(popularity > 0)
    # Most popular first; np.lexsort is stable, so equal counts keep row order.
    ranked = seen[np.lexsort((seen, -popularity[seen]))]
    n_head = math.ceil(head_fraction * len(seen))
    group[ranked[:n_head]] = "head"
    group[ranked[n_head:]] = "tail"
    return group


def popularity_allocation(
    codes, popularity, head_fraction: float = DEFAULT_HEAD_FRACTION
) -> PopularityAllocation:
    """Where items of each popularity land: group sizes, collisions, fan-out per prefix.

    codes : int, shape (n_items, n_levels); popularity : int, shape (n_items,), interactions
    per item (:func:`item_popularity`); head_fraction : in (0, 1].
    """
    codes = check_codes(codes)
    popularity = np.asarray(popularity)
    if popularity.shape != (len(codes),):
        raise InputError(f"popularity has shape {popularity.shape}, expected ({len(codes)},)")
    if popularity.dtype.kind not in "iu" or (popularity < 0).any():
        raise InputError("popularity must be non-negative integer counts")
    if not 0 < head_fraction <= 1:
        raise InputError(f"head_fraction is {head_fraction}, expected in (0, 1]")
    return _allocation(codes, popularity.astype(np.int64), head_fraction)


def _allocation(codes, popularity, head_fraction: float) -> PopularityAllocation:
    n_items, n_levels = codes.shape
    group = popularity_groups(popularity, head_fraction)
    order = lexicographic_order(codes)
    prefix = [prefix_groups(codes, length, order) for length in range(1, n_levels + 1)]

    # 1. Each popularity group's prefix-group sizes, per prefix length.
    rows = []
    for length, groups in enumerate(prefix, start=1):
        size = groups.sizes[groups.group]  # (n_items,) items sharing each item's prefix
        for name in GROUPS:
            members = group == name
            count = int(members.sum())
            rows.append(
                {
                    "group": name,
                    "prefix_length": length,
                    "items": count,
                    "interactions": int(popularity[members].sum()),
                    "mean_group_size": float(size[members].mean()) if count else math.nan,
                    "shared_share": float((size[members] > 1).mean()) if count else math.nan,
                }
            )
    group_table = pd.DataFrame(rows)
    full = prefix[-1]
    colliding = full.sizes[full.group] > 1
    total = popularity.sum()
    interaction_collision_share = float(popularity[colliding].sum() / total) if total else 0.0

    # 2. Every prefix node: items, interactions, fan-out; and per length, crowding and spearman.
    nodes, levels = [], []
    for length, groups in enumerate(prefix, start=1):
        interactions = np.bincount(groups.group, weights=popularity).astype(np.int64)
        level_row = {
            "prefix_length": length,
            "prefixes": len(groups.sizes),
            "item_gini": gini(groups.sizes),
            "interaction_gini": gini(interactions),
        }
        if length < n_levels:
            children = prefix[length]
            fanout = np.bincount(
                groups.group[children.first_rows], minlength=len(groups.sizes)
            ).astype(np.int64)
            nodes.append(
                pd.DataFrame(
                    {
                        "prefix_length": length,
                        "prefix": prefix_strings(codes, groups.first_rows, length),
                        "items": groups.sizes,
                        "interactions": interactions,
                        "fanout": fanout,
                    }
                )
            )
            level_row.update(
                mean_fanout=float(fanout.mean()),
                spearman_fanout_interactions=_spearman(fanout, interactions),
                spearman_fanout_items=_spearman(fanout, groups.sizes),
            )
        levels.append(level_row)
    columns = ["prefix_length", "prefix", "items", "interactions", "fanout"]
    prefixes = pd.concat(nodes, ignore_index=True) if nodes else pd.DataFrame(columns=columns)
    return PopularityAllocation(
        popularity=popularity,
        group=group,
        head_fraction=head_fraction,
        groups=group_table,
        prefixes=prefixes,
        levels=pd.DataFrame(levels),
        interaction_collision_share=interaction_collision_share,
    )


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; NaN when either side is constant or has < 3 values."""
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan
    return float(spearmanr(a, b).statistic)
