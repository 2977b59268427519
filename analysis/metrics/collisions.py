"""Diagnostic 3: unique-ID ratio and collisions, at every prefix length.

Two items *collide* when they get the same L-tuple of codes. A generative recommender then
needs an extra token (the *collision index*, :func:`rqvae.id_metrics.collision_index`) to tell
them apart. Everything here works on one lexicographic sort of the rows, so 1,000,000 x 4
codes take about a second and no Python loop runs over items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.metrics.checks import check_vector
from rqvae.id_metrics import PrefixGroups, collision_index, prefix_strings, sorted_codes


@dataclass
class CollisionReport:
    """Collisions of one set of IDs (see :func:`collision_report` for every definition)."""

    n_items: int
    n_levels: int
    unique_id_ratio: float  # distinct L-tuples / items
    collision_share: float  # items in groups of size > 1 / items
    largest_group: int  # items in the largest group of identical L-tuples
    unique_id_ratio_with_collision: float  # same, with the collision index as level L
    collision_given: bool  # True: collision column came from the run; False: computed here
    prefixes: pd.DataFrame  # prefix_length, distinct, unique_id_ratio, largest_group, ...
    group_sizes: pd.DataFrame  # size, groups, items
    largest_groups: pd.DataFrame  # rank, prefix, size, item_ids, rows

    def to_dict(self) -> dict:
        """JSON-ready form (tables as lists of records)."""
        largest = self.largest_groups.drop(columns=["rows"])
        return {
            "n_items": self.n_items,
            "n_levels": self.n_levels,
            "unique_id_ratio": self.unique_id_ratio,
            "collision_share": self.collision_share,
            "largest_group": self.largest_group,
            "unique_id_ratio_with_collision": self.unique_id_ratio_with_collision,
            "collision_given": self.collision_given,
            "prefixes": self.prefixes.to_dict(orient="records"),
            "group_sizes": self.group_sizes.to_dict(orient="records"),
            "largest_groups": largest.to_dict(orient="records"),
        }


def collision_report(codes, item_ids=None, collision=None, top: int = 20) -> CollisionReport:
    """Unique-ID ratio per prefix length, collision-group sizes and the largest groups.

    Parameters
    ----------
    codes : int, shape (n_items, n_levels)
    item_ids : sequence of str, length n_items, or a function ``rows -> list of str`` (so that
        a table of millions converts only the listed groups' ids), optional (default: row
        numbers as strings)
    collision : int, shape (n_items,), optional
        The run's collision column. When absent it is computed with :func:`collision_index`.
    top : how many of the largest groups to list.

    Definitions
    -----------
    - ``prefixes`` (one row per prefix length l = 1..L): ``distinct`` = number of distinct
      l-prefixes; ``unique_id_ratio`` = distinct / n_items; ``largest_group`` = items sharing the
      most common l-prefix; ``collision_share`` = items whose l-prefix is shared / n_items.
    - ``group_sizes``: for the full L-tuple, ``groups`` = number of groups of exactly ``size``
      items and ``items`` = size x groups (sums to n_items).
    - ``collision_share`` = items in groups of size > 1 / n_items (0 when every ID is unique).
    - ``largest_groups``: the ``top`` largest groups of identical L-tuples, ties broken by
      prefix order, with their item ids; only groups of size > 1 are listed.
    - ``unique_id_ratio_with_collision``: the ratio with the collision index appended as level L;
      1.0 for a valid collision column.

    ``unique_id_ratio`` is :func:`rqvae.id_metrics.unique_id_ratio`: distinct L-tuples / items.
    """
    index = sorted_codes(codes)  # checked and sorted once, for every prefix length
    codes = index.codes
    n_items, n_levels = codes.shape
    if item_ids is None:
        ids_of = _row_numbers
    elif callable(item_ids):
        ids_of = item_ids
    else:
        item_ids = check_vector(np.asarray(item_ids, dtype=object), n_items, "item_ids")
        ids_of = lambda rows: item_ids[rows].tolist()  # noqa: E731
    collision_given = collision is not None
    if collision_given:
        collision = check_vector(collision, n_items, "collision")
    else:
        collision = collision_index(index)

    # One sort serves every prefix length.
    order = index.order
    prefix_rows = []
    for length in range(1, n_levels + 1):
        groups = index.groups(length)
        prefix_rows.append(
            {
                "prefix_length": length,
                "distinct": len(groups.sizes),
                "unique_id_ratio": len(groups.sizes) / n_items,
                "largest_group": int(groups.sizes.max()),
                "collision_share": float(groups.sizes[groups.sizes > 1].sum() / n_items),
            }
        )
    full = groups  # the loop ends with length == n_levels

    sizes, counts = np.unique(full.sizes, return_counts=True)
    group_sizes = pd.DataFrame({"size": sizes, "groups": counts, "items": sizes * counts})

    # Largest groups first; a stable sort keeps prefix order among equal sizes.
    ranked = np.argsort(-full.sizes, kind="stable")[:top]
    ranked = ranked[full.sizes[ranked] > 1]
    # `order` lists the rows group by group (in row order inside a group).
    group_start = np.concatenate([[0], np.cumsum(full.sizes)[:-1]])
    largest_rows = [order[group_start[g] : group_start[g] + full.sizes[g]] for g in ranked]
    largest_groups = pd.DataFrame(
        {
            "rank": np.arange(1, len(ranked) + 1),
            "prefix": prefix_strings(codes, full.first_rows[ranked], n_levels),
            "size": full.sizes[ranked],
            "item_ids": [list(ids_of(rows)) for rows in largest_rows],
            "rows": [rows.tolist() for rows in largest_rows],
        }
    )

    return CollisionReport(
        n_items=n_items,
        n_levels=n_levels,
        unique_id_ratio=prefix_rows[-1]["unique_id_ratio"],
        collision_share=prefix_rows[-1]["collision_share"],
        largest_group=prefix_rows[-1]["largest_group"],
        unique_id_ratio_with_collision=_distinct_with(full, order, _as_codes(collision)) / n_items,
        collision_given=collision_given,
        prefixes=pd.DataFrame(prefix_rows),
        group_sizes=group_sizes,
        largest_groups=largest_groups,
    )


def _row_numbers(rows: np.ndarray) -> list[str]:
    return [str(row) for row in rows.tolist()]


def _distinct_with(full: PrefixGroups, order: np.ndarray, extra: np.ndarray) -> int:
    """Distinct (L-tuple, extra) pairs: the L-tuple's group number and ``extra`` packed into one
    int64 (the full code table with one more column would be n_levels + 1 int64 per item).

    ``order`` sorts the rows by L-tuple, stable in rows; a valid collision column counts up in
    row order inside each group, so the packed pairs are then already sorted and no second sort
    is needed (numpy's hash-based ``unique`` takes seconds at ten million items)."""
    span = int(extra.max()) + 1 if len(extra) else 1
    if len(full.sizes) * span >= 2**62:
        return len(sorted_codes(np.column_stack([full.group, extra])).groups(2).sizes)
    pairs = full.group[order] * span
    pairs += extra[order]
    if not (pairs[1:] >= pairs[:-1]).all():
        pairs.sort()
    return int(np.count_nonzero(pairs[1:] != pairs[:-1])) + min(len(pairs), 1)


def _as_codes(collision: np.ndarray) -> np.ndarray:
    """Collision values as non-negative int64 codes (any labels are mapped to 0, 1, ...)."""
    if collision.dtype.kind in "iu" and (len(collision) == 0 or collision.min() >= 0):
        return collision.astype(np.int64)
    return pd.factorize(collision)[0].astype(np.int64)
