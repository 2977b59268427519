"""The shape of the prefix tree: how many prefixes are in use and how many children each has.

The IDs of a catalog form a tree: the root, one node per distinct prefix ``c_0..c_l`` that
some item has (an *active* prefix), and below each node the distinct codes of the next level
that follow it (its *children*). A generative recommender decodes down this tree, so its
shape says how much each level still decides: a level whose prefixes have one child each
splits nothing, one whose fan-out reaches ``K_l`` everywhere spreads items as thin as it can.

Everything comes from the prefix groups of one sort (:class:`rqvae.id_metrics.SortedCodes`):
a million items take milliseconds once the groups exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.metrics.checks import checked_sizes
from rqvae.id_metrics import sorted_codes

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass
class PrefixStructure:
    """Active prefixes and fan-out per level (see :func:`prefix_structure` for definitions).

    levels : one row per level.
    histogram : one row per (level, fan-out bin): how many parents have that many children.
    """

    levels: pd.DataFrame
    histogram: pd.DataFrame


def children_per_prefix(codes, level: int) -> np.ndarray:
    """Distinct level-``level`` codes that follow each active prefix of length ``level``.

    codes : int, shape (n_items, n_levels), or a :class:`rqvae.id_metrics.SortedCodes`;
    level : 0..n_levels-1.
    Returns int64, shape (n_parents,), the parents in lexicographic order of their prefix
    (the order of ``groups(level)``); for level 0 the one parent is the root, whose children
    are the level-0 codes in use.
    """
    index = sorted_codes(codes)
    children = index.groups(level + 1)
    if level == 0:
        return np.array([len(children.sizes)], dtype=np.int64)
    parents = index.groups(level)
    # each child group lies under exactly one parent: the parent of its first row
    return np.bincount(parents.group[children.first_rows], minlength=len(parents.sizes)).astype(
        np.int64
    )


def prefix_structure(codes, codebook_sizes: int | Sequence[int]) -> PrefixStructure:
    """Active prefixes per level and the distribution of the fan-out.

    codes : int, shape (n_items, n_levels) (or a :class:`rqvae.id_metrics.SortedCodes`);
    codebook_sizes : K for every level, or K_l each.

    ``levels``, one row per level l (0-based):

    - ``codebook_size`` : K_l.
    - ``parents`` : active prefixes of length l (1 for level 0: the root).
    - ``active_prefixes`` : active prefixes of length l + 1 (distinct ``c_0..c_l``); the sum
      of the parents' children, so ``active_prefixes = parents x fanout_mean``.
    - ``possible_prefixes`` : ``K_0 x ... x K_l``, the prefixes the codebooks could make
      (a float: it overflows int64 for deep codes); ``active_share`` = active / possible.
    - ``fanout_min, fanout_median, fanout_mean, fanout_max`` and ``fanout_p10, fanout_p25,
      fanout_p75, fanout_p90`` : of the children per parent (quantiles by numpy's default
      linear interpolation between order statistics; p50 is the median).
    - ``fanout_fill`` : fanout_mean / K_l, the share of a parent's possible children in use.
    - ``single_child_share`` : parents with exactly one child / parents (the level decides
      nothing for their items).

    ``histogram``: one row per level and power-of-two bin of the fan-out: ``bin`` ("1", "2-3",
    "4-7", ...; the last bin ends at K_l), ``low``, ``high`` (inclusive) and ``parents`` (how
    many parents have a fan-out in the bin; bins up to K_l are listed even when empty).
    """
    index = sorted_codes(codes)
    sizes = checked_sizes(index, codebook_sizes)
    rows, bins = [], []
    possible = 1.0
    for level, size in enumerate(sizes):
        fanout = children_per_prefix(index, level)
        possible *= size
        active = int(fanout.sum())
        quantiles = np.quantile(fanout, QUANTILES)
        rows.append(
            {
                "level": level,
                "codebook_size": size,
                "parents": len(fanout),
                "active_prefixes": active,
                "possible_prefixes": possible,
                "active_share": active / possible,
                "fanout_min": int(fanout.min()),
                "fanout_median": float(quantiles[2]),
                "fanout_mean": float(fanout.mean()),
                "fanout_max": int(fanout.max()),
                "fanout_p10": float(quantiles[0]),
                "fanout_p25": float(quantiles[1]),
                "fanout_p75": float(quantiles[3]),
                "fanout_p90": float(quantiles[4]),
                "fanout_fill": float(fanout.mean()) / size,
                "single_child_share": float((fanout == 1).mean()),
            }
        )
        bins.append(fanout_histogram(fanout, size).assign(level=level))
    histogram = pd.concat(bins, ignore_index=True)[["level", "bin", "low", "high", "parents"]]
    return PrefixStructure(levels=pd.DataFrame(rows), histogram=histogram)


def fanout_histogram(fanout: np.ndarray, codebook_size: int) -> pd.DataFrame:
    """Parents per power-of-two fan-out bin [1], [2, 3], [4, 7], ..., the last ending at K.

    fanout : int, shape (n_parents,), every value in 1..codebook_size. Returns ``bin, low,
    high, parents`` (``low``/``high`` inclusive).
    """
    lows = [1]
    while lows[-1] * 2 <= codebook_size:
        lows.append(lows[-1] * 2)
    highs = [low * 2 - 1 for low in lows[:-1]] + [codebook_size]
    # bin of each parent: floor(log2(fanout)), the last bin also taking values up to K
    which = np.minimum(np.floor(np.log2(fanout)).astype(np.int64), len(lows) - 1)
    counts = np.bincount(which, minlength=len(lows))
    return pd.DataFrame(
        {
            "bin": [
                str(low) if low == high else f"{low}-{high}"
                for low, high in zip(lows, highs, strict=True)
            ],
            "low": lows,
            "high": highs,
            "parents": counts.astype(np.int64),
        }
    )
