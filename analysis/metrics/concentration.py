"""How concentrated the items are: on a few codes of each level, and in a few prefix cells.

Usage (:mod:`analysis.metrics.usage`) asks how many codes carry items; concentration asks
how much of the catalog the heaviest codes and cells take, and how many cells are a single
item. A *cell* of level l is the set of items sharing one prefix ``c_0..c_l``; the cells of
the last level are the groups of identical IDs, so its largest cell is the largest collision
group (:attr:`analysis.metrics.collisions.CollisionReport.largest_group`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.metrics.checks import checked_sizes
from analysis.metrics.usage import gini
from rqvae.errors import InputError
from rqvae.id_metrics import code_counts, sorted_codes

TOP_CODES = 5  # the "top-5 code mass"


def code_concentration(
    codes, codebook_sizes: int | Sequence[int], counts: Sequence[np.ndarray] | None = None
) -> pd.DataFrame:
    """One row per level: the share of items on the heaviest codes and in the heaviest cells.

    codes : int, shape (n_items, n_levels) (or a :class:`rqvae.id_metrics.SortedCodes`, whose
    sort and prefix groups are reused); codebook_sizes : K for every level, or K_l each.
    counts : the items per code of each level (:func:`rqvae.id_metrics.code_counts`) when
    already made (the diagnosis passes usage's); made here otherwise.

    Columns (n = n_items; level l is 0-based):

    - ``codebook_size`` : K_l.
    - ``gini`` : :func:`analysis.metrics.usage.gini` of the K_l code counts of level l, zeros
      included (the same number as the usage table's).
    - ``top1_mass`` : items on the most used code of level l / n.
    - ``top5_mass`` : items on the 5 most used codes of level l / n (all codes when K_l < 5).
    - ``cells`` : distinct prefixes ``c_0..c_l`` (cells with at least one item).
    - ``singleton_cells`` : cells holding exactly one item.
    - ``singleton_cell_share`` : singleton_cells / cells.
    - ``singleton_item_share`` : items alone in their cell / n (= singleton_cells / n).
    - ``largest_cell`` : items in the largest cell, i.e. the largest group of items sharing
      the prefix up to level l (at the last level: the largest collision group).
    - ``largest_cell_share`` : largest_cell / n.
    """
    index = sorted_codes(codes)
    n_items = index.shape[0]
    sizes = checked_sizes(index, codebook_sizes)
    if counts is None:
        counts = code_counts(index, sizes)
    elif [len(level_counts) for level_counts in counts] != sizes:
        raise InputError(f"counts have {[len(c) for c in counts]} codes, expected {sizes}")
    rows = []
    for level, level_counts in enumerate(counts):
        heaviest = np.sort(level_counts)[::-1]
        cells = index.groups(level + 1).sizes
        singletons = int((cells == 1).sum())
        rows.append(
            {
                "level": level,
                "codebook_size": sizes[level],
                "gini": gini(level_counts),
                "top1_mass": heaviest[0] / n_items,
                "top5_mass": heaviest[:TOP_CODES].sum() / n_items,
                "cells": len(cells),
                "singleton_cells": singletons,
                "singleton_cell_share": singletons / len(cells),
                "singleton_item_share": singletons / n_items,
                "largest_cell": int(cells.max()),
                "largest_cell_share": cells.max() / n_items,
            }
        )
    return pd.DataFrame(rows)
