"""Which items share an item's ID prefix, at every prefix length (the item map's selection).

Picking one item on the map answers "what else sits in this cell of the ID tree?": the items
with the same level-0 code, the same first two codes, ..., the same full ID (its collision
group). :func:`prefix_members` counts them exactly and names the first few of each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rqvae.errors import InputError
from rqvae.id_metrics import check_codes


def prefix_members(codes, row: int, limit: int = 10) -> pd.DataFrame:
    """Items sharing item ``row``'s prefix, one row per prefix length 1 .. L.

    codes : int, shape (n_items, n_levels); row : the item (0-based row of ``codes``).
    Columns: ``prefix_length``, ``prefix`` ("12", "12-7", "12-7-3"), ``items`` (every item
    with that prefix, the chosen one included), ``rows`` (int64 array: the first ``limit`` of
    them in row order, the chosen item left out, so a group of one lists nobody).
    """
    codes = check_codes(codes)
    n_items, n_levels = codes.shape
    if not 0 <= row < n_items:
        raise InputError(f"item row {row} is outside 0..{n_items - 1}")
    same = np.ones(n_items, dtype=bool)  # shares the prefix so far; narrowed level by level
    records = []
    for level in range(n_levels):
        same &= codes[:, level] == codes[row, level]
        members = np.flatnonzero(same)
        others = members[members != row][:limit]
        records.append(
            {
                "prefix_length": level + 1,
                "prefix": "-".join(str(int(code)) for code in codes[row, : level + 1]),
                "items": int(len(members)),
                "rows": others.astype(np.int64),
            }
        )
    return pd.DataFrame(records)
