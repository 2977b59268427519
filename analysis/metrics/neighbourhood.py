"""Neighbourhood agreement: are an item's nearest neighbours in embedding space also the items
nearest to it in ID space?

Coherence (:mod:`analysis.metrics.coherence`) asks whether neighbours share a prefix; this
compares the two neighbour *lists* themselves, for the same seeded sample of query items and
the same exact cosine search (:func:`analysis.metrics.coherence.neighbour_search`, made once
per diagnosis).

Definitions, for a query item q of a catalog of n items with L-level codes c(i):

- **Embedding neighbours** ``E_k(q)``: the k other items most similar to q by cosine
  similarity, most similar first (:func:`analysis.metrics.coherence.nearest_neighbors`).
- **ID neighbours** ``I_k(q)``: every other item j ranked by, in this order, the longest
  shared prefix ``s(q, j)`` = the largest s with ``c_0..c_{s-1}`` equal (0..L, longest first),
  then the Hamming distance ``h(q, j)`` = levels whose codes differ (0..L, smallest first),
  then the row index j (smallest first: a deterministic tie-break, nothing semantic); the
  first k. The collision column is not a level: items with identical codes tie at s = L,
  h = 0 and are ordered by row.
- **Jaccard@k** = ``|E_k ∩ I_k| / |E_k ∪ I_k|``, in [0, 1].
- **RBO@k**, rank-biased overlap (Webber, Moffat and Zobel, "A similarity measure for
  indefinite rankings", TOIS 2010), in its *extrapolated* form for two lists evaluated to the
  same depth k (their eq. 32): with ``X_d = |E_d ∩ I_d|`` the overlap of the first d of each
  list and ``A_d = X_d / d``, ``RBO_ext = (1 - p) sum_{d=1..k} p^(d-1) A_d + p^k A_k``.
  Persistence ``p = 0.9`` (:data:`PERSISTENCE`): the first 10 ranks carry 65 % of the weight
  of an infinite list. 1 for identical lists, 0 for disjoint ones. (The truncated lower bound
  ``RBO_min`` would drop the ``p^k A_k`` term and never reach 1 at finite k.)

The diagnosis reports the mean of each over the query items, for k = 10 and 20
(:data:`DEPTHS`); a catalog of n items has only n - 1 others, so k is capped there
(``k_used``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.metrics.coherence import NeighbourSearch
from rqvae.errors import InputError
from rqvae.id_metrics import sorted_codes

DEPTHS = (10, 20)
PERSISTENCE = 0.9


@dataclass
class NeighbourhoodAgreement:
    """Embedding against ID neighbour lists of a sample of query items (module docstring).

    table : one row per depth: ``k`` (asked), ``k_used`` (min(k, n_items - 1)), ``jaccard``
        and ``rbo``, each the mean over the query items.
    queries : query items averaged over; n_items : the catalog; seed : of the query draw.
    persistence : RBO's p.
    """

    table: pd.DataFrame
    queries: int
    n_items: int
    seed: int
    persistence: float

    def at_k(self, column: str) -> dict[int, float]:
        """``{k: mean}`` of ``column`` ("jaccard" or "rbo")."""
        return dict(zip(self.table["k"].tolist(), self.table[column].tolist(), strict=True))

    def to_dict(self) -> dict:
        """The JSON form: ``jaccard_at_k`` / ``rbo_at_k`` keyed by k, and the sample."""
        return {
            "jaccard_at_k": {str(k): value for k, value in self.at_k("jaccard").items()},
            "rbo_at_k": {str(k): value for k, value in self.at_k("rbo").items()},
            "rbo_persistence": self.persistence,
            "rbo_form": "extrapolated (Webber et al. 2010, eq. 32)",
            "queries": self.queries,
            "n_items": self.n_items,
            "sampled": self.queries < self.n_items,
            "seed": self.seed,
            "depths": self.table.to_dict(orient="records"),
        }


def neighbourhood_agreement(
    codes,
    search: NeighbourSearch,
    depths: tuple[int, ...] = DEPTHS,
    persistence: float = PERSISTENCE,
) -> NeighbourhoodAgreement:
    """Mean Jaccard@k and RBO@k between the embedding and ID neighbours of ``search.queries``.

    codes : int, shape (n_items, n_levels) (or a :class:`rqvae.id_metrics.SortedCodes`).
    search : the embedding neighbours of the query items
        (:func:`analysis.metrics.coherence.neighbour_search`), at least ``min(max(depths),
        n_items - 1)`` deep. depths : the k's. persistence : RBO's p, in (0, 1).
    """
    index = sorted_codes(codes)
    n_items = index.shape[0]
    if not 0 < persistence < 1:
        raise InputError(f"persistence is {persistence}, expected a value in (0, 1)")
    if not depths or min(depths) < 1:
        raise InputError(f"depths are {depths}, expected positive integers")
    deepest = min(max(depths), n_items - 1)
    if search.n_items != n_items or search.k < deepest:
        raise InputError(
            f"the neighbour search covers {search.n_items} items with {search.k} neighbours, "
            f"expected {n_items} items with at least {deepest}"
        )
    by_id = id_neighbors(index, search.queries, deepest)  # (n_queries, deepest)
    rows = []
    for k in depths:
        used = min(k, n_items - 1)
        first, second = search.neighbors[:, :used], by_id[:, :used]
        rows.append(
            {
                "k": k,
                "k_used": used,
                "jaccard": float(jaccard(first, second).mean()),
                "rbo": float(rank_biased_overlap(first, second, persistence).mean()),
            }
        )
    return NeighbourhoodAgreement(
        table=pd.DataFrame(rows),
        queries=len(search.queries),
        n_items=n_items,
        seed=search.seed,
        persistence=persistence,
    )


def id_neighbors(codes, queries: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` items of each query's ID-space ranking (module docstring).

    codes : int, shape (n_items, n_levels) (or a SortedCodes); queries : int, shape
    (n_queries,); k <= n_items - 1. Returns int64, shape (n_queries, k).

    The items sharing exactly s codes with q are its prefix-s group minus its prefix-(s+1)
    group: two stretches of the sorted rows either side of a nested one. Walking s from L
    down, each step ranks only that group's items, so a query costs the size of the smallest
    prefix group that holds k other items, not n (the whole catalog only for an item whose
    level-0 cell has at most k items).
    """
    index = sorted_codes(codes)
    codes = index.codes
    n_items, n_levels = index.shape
    queries = np.asarray(queries, dtype=np.int64)
    if not 1 <= k <= n_items - 1:
        raise InputError(f"k is {k}, expected 1..{n_items - 1} (the other items)")
    order = index.order  # rows sorted by code tuple, in row order within equal tuples
    groups = [index.groups(length) for length in range(1, n_levels + 1)]
    ends = [np.cumsum(group.sizes) for group in groups]  # end of each group in ``order``
    found = np.empty((len(queries), k), dtype=np.int64)
    for position, query in enumerate(queries.tolist()):
        taken = 0
        inner = None  # (start, end) in ``order`` of the group already ranked
        for shared in range(n_levels, -1, -1):
            if shared == 0:
                start, end = 0, n_items
            else:
                group = groups[shared - 1].group[query]
                end = int(ends[shared - 1][group])
                start = end - int(groups[shared - 1].sizes[group])
            if inner is None:  # identical codes: Hamming 0, already in row order
                members = order[start:end]
                members = members[members != query]
            else:
                members = np.concatenate([order[start : inner[0]], order[inner[1] : end]])
                # rank by (Hamming distance, row): one int64 key, both parts exact
                distance = np.count_nonzero(codes[members] != codes[query], axis=1)
                key = distance * n_items + members
                need = k - taken
                if len(key) > need:
                    key = key[np.argpartition(key, need - 1)[:need]]
                members = np.sort(key) % n_items
            members = members[: k - taken]
            found[position, taken : taken + len(members)] = members
            taken += len(members)
            inner = (start, end)
            if taken == k:
                break
    return found


def jaccard(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Per row, ``|A ∩ B| / |A ∪ B|`` of the sets of the two rows.

    first, second : int, shape (m, k), each row without repeated items. Returns float64 (m,).
    """
    first, second = _check_lists(first, second)
    common = (first[:, :, None] == second[:, None, :]).any(axis=2).sum(axis=1)
    union = first.shape[1] + second.shape[1] - common
    return common / union


def rank_biased_overlap(first: np.ndarray, second: np.ndarray, persistence: float) -> np.ndarray:
    """Extrapolated rank-biased overlap of each pair of rows (module docstring), float64 (m,).

    first, second : int, shape (m, k), ranked lists (best first) without repeated items.
    """
    first, second = _check_lists(first, second)
    m, k = first.shape
    if second.shape[1] != k:
        raise InputError(f"the lists have depths {k} and {second.shape[1]}, expected one depth")
    equal = first[:, :, None] == second[:, None, :]  # (m, k, k)
    # first[j] is in both prefixes of depth d iff it is in second, at a position < d, and j < d
    in_second = equal.any(axis=2)
    depth = np.where(in_second, np.maximum(np.arange(k), equal.argmax(axis=2)), k)  # 0-based
    overlap = (depth[:, :, None] <= np.arange(k)[None, None, :]).sum(axis=1)  # X_d, (m, k)
    agreement = overlap / np.arange(1, k + 1)  # A_d
    weights = (1 - persistence) * persistence ** np.arange(k)  # (1 - p) p^(d-1)
    return agreement @ weights + persistence**k * agreement[:, -1]


def _check_lists(first, second) -> tuple[np.ndarray, np.ndarray]:
    first, second = np.asarray(first), np.asarray(second)
    if first.ndim != 2 or second.ndim != 2 or len(first) != len(second):
        raise InputError(
            f"neighbour lists have shapes {first.shape} and {second.shape}, expected (m, k) each"
        )
    if first.shape[1] == 0 or second.shape[1] == 0:
        raise InputError("neighbour lists are empty, expected at least one item per row")
    return first, second
