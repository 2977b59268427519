"""Diagnostic 7: do items that are close in embedding space share an ID prefix?

For a sample of query items, find each one's k nearest neighbours by cosine similarity among
*all* items (exact search, not an index), and count how many of those pairs share the first
l + 1 codes. Compare with the chance that two random distinct items share that prefix. A good
semantic ID has a neighbour share far above the random share at every level.

The search streams over the items in chunks, so a memory-mapped matrix of 1,000,000 x 384
float32 is read once per call and peak memory stays at about
``n_queries x chunk x 4`` bytes for the similarity block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.metrics.checks import check_embeddings
from rqvae.data.embeddings import check_finite_chunk
from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.id_metrics import sorted_codes


def semantic_coherence(
    embeddings,
    codes,
    n_queries: int = 2000,
    k: int = 10,
    seed: int = 0,
    chunk: int = 8192,
    search: NeighbourSearch | None = None,
) -> pd.DataFrame:
    """Share of nearest-neighbour pairs sharing the ID prefix, per level, against random pairs.

    Parameters
    ----------
    embeddings : float, shape (n_items, dim); rows aligned with ``codes``. May be a memmap; it is
        read ``chunk`` rows at a time and rows are L2-normalised on the fly (cosine similarity).
    codes : int, shape (n_items, n_levels)
    n_queries : query items, drawn without replacement with ``seed`` (all items if fewer).
    k : neighbours per query (the query itself excluded); a catalog of n items has only
        n - 1 other items, so at most that many are used (the ``k`` column says how many).
        Fewer than 2 items have no neighbours: :class:`DiagnosticUnavailable`.
    search : a :func:`neighbour_search` already made for these items with at least ``k``
        neighbours (the diagnosis makes one and shares it with
        :mod:`analysis.metrics.neighbourhood`); its queries are used and ``embeddings``,
        ``n_queries``, ``seed`` and ``chunk`` are not read. The first k of a deeper search are
        the k nearest, so the numbers are those of a search with ``k``.

    Returns
    -------
    One row per level l (0-based), for the prefix c_0..c_l (``prefix_length`` = l + 1):
    ``neighbor_share`` = fraction of the n_queries x k (query, neighbour) pairs whose prefixes are
    equal; ``random_share`` = probability that two distinct items drawn uniformly at random share
    the prefix, exactly ``sum_g n_g (n_g - 1) / (n (n - 1))`` over prefix groups g (no sampling);
    ``lift`` = neighbor_share / random_share (NaN when random_share is 0). Also ``queries``, ``k``.
    Exact duplicates tied at the k-th place may be picked either way (deterministically).
    """
    index = sorted_codes(codes)
    n_items, n_levels = index.shape
    if search is None:
        search = neighbour_search(embeddings, n_items, n_queries, k, seed, chunk)
    elif k < 1:
        raise InputError(f"k must be positive, got {k}")
    k = min(k, n_items - 1)
    if search.n_items != n_items or search.k < k:
        raise InputError(
            f"the neighbour search covers {search.n_items} items with {search.k} neighbours, "
            f"expected {n_items} items with at least {k}"
        )
    queries, neighbors = search.queries, search.neighbors[:, :k]  # (n_queries,), (n_queries, k)

    rows = []
    for level in range(n_levels):
        group = index.groups(level + 1)
        same = group.group[neighbors] == group.group[queries][:, None]  # (n_queries, k)
        sizes = group.sizes.astype(np.float64)
        random_share = float((sizes * (sizes - 1)).sum() / (n_items * (n_items - 1.0)))
        neighbor_share = float(same.mean())
        rows.append(
            {
                "level": level,
                "prefix_length": level + 1,
                "queries": len(queries),
                "k": k,
                "neighbor_share": neighbor_share,
                "random_share": random_share,
                "lift": neighbor_share / random_share if random_share > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows)


@dataclass
class NeighbourSearch:
    """The exact cosine neighbours of a seeded sample of query items, found once.

    queries : int64, shape (n_queries,): item rows drawn without replacement with ``seed``
        (every item when the catalog has no more than n_queries), in ascending order.
    neighbors : int64, shape (n_queries, k): each query's k nearest other items, most similar
        first (:func:`nearest_neighbors`).
    n_items : items searched (the catalog). seed : the seed of the draw.
    """

    queries: np.ndarray
    neighbors: np.ndarray
    n_items: int
    seed: int

    @property
    def k(self) -> int:
        return self.neighbors.shape[1]


def neighbour_search(
    embeddings, n_items: int, n_queries: int = 2000, k: int = 10, seed: int = 0, chunk: int = 8192
) -> NeighbourSearch:
    """Draw the query sample and find each query's ``min(k, n_items - 1)`` nearest neighbours.

    embeddings : float, shape (n_items, dim), read ``chunk`` rows at a time. The query rows are
    ``np.sort(default_rng(seed).choice(n_items, min(n_queries, n_items), replace=False))``.
    Fewer than 2 items have no neighbours: :class:`DiagnosticUnavailable`.
    """
    embeddings = check_embeddings(embeddings, n_items)
    if k < 1 or n_queries < 1 or chunk < 1:
        raise InputError(f"k, n_queries and chunk must be positive, got {k}, {n_queries}, {chunk}")
    if n_items < 2:
        raise DiagnosticUnavailable(f"no neighbours: the run has {n_items} item")
    k = min(k, n_items - 1)
    rng = np.random.default_rng(seed)
    queries = np.sort(rng.choice(n_items, size=min(n_queries, n_items), replace=False))
    neighbors = nearest_neighbors(embeddings, queries, k, chunk)  # (n_queries, k)
    return NeighbourSearch(queries, neighbors, n_items, seed)


def nearest_neighbors(embeddings, queries: np.ndarray, k: int, chunk: int = 8192) -> np.ndarray:
    """Exact cosine k nearest neighbours of ``embeddings[queries]`` among all rows.

    embeddings : float, shape (n_items, dim); queries : int, shape (n_queries,).
    Returns int64, shape (n_queries, k): neighbour rows, most similar first, each query's own row
    excluded. Streams over ``chunk`` rows at a time, keeping a running top k; the k-th place
    among exactly tied similarities is filled deterministically but not by row order.
    """
    query_vectors = _normalized(np.asarray(embeddings[queries], dtype=np.float32))  # (q, dim)
    n_queries = len(queries)
    best_similarity = np.full((n_queries, k), -np.inf, dtype=np.float32)
    best_rows = np.full((n_queries, k), -1, dtype=np.int64)
    for start in range(0, embeddings.shape[0], chunk):
        block = np.asarray(embeddings[start : start + chunk], dtype=np.float32)
        check_finite_chunk(block, start)
        similarity = query_vectors @ _normalized(block).T  # (q, rows in block)
        # A query is never its own neighbour.
        inside = (queries >= start) & (queries < start + len(block))
        similarity[np.flatnonzero(inside), queries[inside] - start] = -np.inf
        # Only queries with a row above their current k-th best can change: the others would
        # keep their k best anyway (a tie loses to the earlier, lower row). Skipping them is
        # exact and skips most of the work once the first blocks have been seen.
        active = np.flatnonzero((similarity > best_similarity[:, -1:]).any(axis=1))
        if len(active) == 0:
            continue
        similarity = similarity[active]
        # Top k of this block (argpartition is linear), then merge with the running best.
        take = min(k, len(block))
        block_top = np.argpartition(similarity, -take, axis=1)[:, -take:]  # (active, take)
        candidates = np.concatenate(
            [best_similarity[active], np.take_along_axis(similarity, block_top, axis=1)], axis=1
        )
        candidate_rows = np.concatenate([best_rows[active], block_top + start], axis=1)
        # Most similar first; among equal similarities the lower row first.
        keep = np.lexsort((candidate_rows, -candidates), axis=1)[:, :k]
        best_similarity[active] = np.take_along_axis(candidates, keep, axis=1)
        best_rows[active] = np.take_along_axis(candidate_rows, keep, axis=1)
    return best_rows


def _normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; zero rows stay zero (similarity 0 to everything)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
