"""Collision-aware last level: items that share a whole ID move to free codes of their prefix.

Nearest-codeword assignment gives two items the same L-tuple whenever their residuals fall
in the same last-level cell, although the prefix ``(c_0, ..., c_{L-2})`` they share usually
leaves most of the ``K`` last-level codes unused. Following the collision-free tokenizers
(LC-Rec's uniform semantic mapping of the last level; the ``_zcr`` reference IDs), ``assign``
keeps every item whose nearest ID is unique and re-places only the *extra* members of each
colliding group:

1. Items are grouped by their full ID. In a group of ``m > 1`` items the one closest to the
   shared last codeword keeps it (ties: the first row); the other ``m - 1`` are *movers*.
2. Per prefix, the *free* codes are the last-level codes that no item of the prefix uses.
3. Movers are matched to free codes by a minimum-cost assignment (Hungarian algorithm,
   :func:`scipy.optimize.linear_sum_assignment`), the cost being the quantizer's own distance
   from the mover's last-level residual to the codeword: squared Euclidean distance, or
   ``1 - cos`` under cosine. So the moved items lose as little reconstruction as any
   collision-free re-placement of them can.
4. A prefix with more movers than free codes cannot be made collision-free: all its free codes
   are filled (by the movers they suit best) and the rest keep their nearest code, to be told
   apart by the collision index as before.

Only the last level changes, so every prefix, the level-0 categories and the codebook usage of
levels ``0..L-2`` stay those of the nearest-codeword IDs; last-level usage can only grow.

``rqvae extend`` places new items the same way with the items already in the run held fixed
(``fixed``): an existing item is always the keeper of its ID and never a mover, so new items
only ever take codes that no item of their prefix uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# A prefix with more movers than free codes matches at most this many candidates per free code
# (those that suit some free code best), which keeps the Hungarian step small in huge groups.
CANDIDATES_PER_FREE_CODE = 4
RESIDUAL_CHUNK = 65_536  # colliding rows re-encoded per chunk

# rows int64 (m,) -> their residuals entering the last level, float32 (m, D)
LastResiduals = Callable[[np.ndarray], np.ndarray]


@dataclass
class SpreadResult:
    """What :func:`spread_last_level` did.

    codes : int64 (n_items, L), the IDs after the move (a new array).
    moved : rows whose last code changed, int64 (n_moved,).
    extra_cost : per moved row, its distance to the new codeword minus the distance to its
        nearest one (same units as the cost: squared Euclidean, or 1 - cos), float64 (n_moved,).
    left_colliding : movers that found no free code (their prefix was full).
    """

    codes: np.ndarray
    moved: np.ndarray
    extra_cost: np.ndarray
    left_colliding: int


def last_level_costs(
    residuals: np.ndarray, codebook: np.ndarray, distance: str, dtype=np.float64
) -> np.ndarray:
    """Cost of placing each residual (m, D) on each codeword (K, D): (m, K) in ``dtype``.

    Squared Euclidean distance, or ``1 - cos`` when ``distance`` is "cosine".
    """
    r = np.asarray(residuals, dtype=dtype)
    c = np.asarray(codebook, dtype=dtype)
    if distance == "cosine":
        r = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12)
        c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
        return 1.0 - r @ c.T
    return np.maximum((r**2).sum(1)[:, None] - 2.0 * r @ c.T + (c**2).sum(1)[None, :], 0.0)


def spread_last_level(
    codes: np.ndarray,
    last_residuals: LastResiduals,
    codebook: np.ndarray,
    distance: str = "euclidean",
    fixed: int = 0,
) -> SpreadResult:
    """Move the extra members of colliding IDs to free last-level codes (module docstring).

    ``codes`` int64 (n_items, L) are nearest-codeword IDs; ``last_residuals(rows)`` returns the
    residuals those rows bring to the last level; ``codebook`` (K, D) is the last level's.
    Only rows of colliding IDs are asked for residuals.

    ``fixed``: the first ``fixed`` rows are items placed earlier (``rqvae extend`` appends new
    items after them) and never move; their codes count as taken, a colliding ID that one of
    them holds keeps it, and only later rows are movers (and asked for residuals).
    """
    from scipy.optimize import linear_sum_assignment  # only needed when something collides

    codes = np.array(codes, dtype=np.int64, copy=True)
    n_items, n_levels = codes.shape
    size = len(codebook)
    empty = SpreadResult(codes, np.zeros(0, np.int64), np.zeros(0), 0)
    if n_items < 2:
        return empty
    prefix = group_numbers(codes[:, :-1]) if n_levels > 1 else np.zeros(n_items, np.int64)
    full = prefix * size + codes[:, -1]
    keys, counts = np.unique(full, return_counts=True)
    colliding = np.flatnonzero(np.isin(full, keys[counts > 1]))
    rows = colliding[colliding >= fixed]  # the rows that may move
    if len(rows) == 0:
        return empty
    residuals = last_residuals(rows)  # (m, D)
    own = _own_costs(residuals, codebook[codes[rows, -1]], distance)

    # the keeper of each colliding ID: an earlier (fixed) item holding it, else the lowest cost
    # to the shared codeword, first row on ties
    held = np.isin(full[rows], full[colliding[colliding < fixed]])
    order = np.lexsort((rows, own, full[rows]))
    sorted_keys = full[rows][order]
    is_keeper = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]] & ~held[order]
    mover_index = np.sort(order[~is_keeper])  # indices into rows / residuals / own
    mover_prefix = prefix[rows[mover_index]]
    by_prefix = np.argsort(mover_prefix, kind="stable")
    mover_index, mover_prefix = mover_index[by_prefix], mover_prefix[by_prefix]
    bounds = np.flatnonzero(np.r_[True, np.diff(mover_prefix) != 0, True])

    # the last-level codes in use, per prefix that has movers (item rows sorted by prefix)
    members = np.flatnonzero(np.isin(prefix, mover_prefix[bounds[:-1]]))
    members = members[np.argsort(prefix[members], kind="stable")]
    member_prefix = prefix[members]

    moved, extra, left = [], [], 0
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        group = mover_index[start:stop]
        this = mover_prefix[start]
        lo, hi = np.searchsorted(member_prefix, [this, this + 1])
        free = np.setdiff1d(np.arange(size), codes[members[lo:hi], -1])
        if len(free) == 0:
            left += len(group)
            continue
        limit = CANDIDATES_PER_FREE_CODE * len(free)
        if len(group) > limit:  # an oversubscribed prefix: a cheap float32 pre-selection
            rough = last_level_costs(residuals[group], codebook[free], distance, np.float32)
            group = group[np.sort(np.argpartition(rough.min(1), limit - 1)[:limit])]
        group_costs = last_level_costs(residuals[group], codebook[free], distance)
        picked, slots = linear_sum_assignment(group_costs)
        left += (stop - start) - len(picked)
        targets = rows[group[picked]]
        codes[targets, -1] = free[slots]
        moved.append(targets)
        extra.append(group_costs[picked, slots] - own[group[picked]])
    if not moved:
        return SpreadResult(codes, np.zeros(0, np.int64), np.zeros(0), left)
    moved_rows = np.concatenate(moved)
    order = np.argsort(moved_rows)
    return SpreadResult(codes, moved_rows[order], np.concatenate(extra)[order], left)


def _own_costs(residuals: np.ndarray, chosen: np.ndarray, distance: str) -> np.ndarray:
    """Row-wise cost of each residual (m, D) to its own codeword (m, D), as in
    :func:`last_level_costs`: float64 (m,)."""
    r = np.asarray(residuals, dtype=np.float64)
    c = np.asarray(chosen, dtype=np.float64)
    if distance == "cosine":
        r = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12)
        c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
        return 1.0 - (r * c).sum(1)
    return ((r - c) ** 2).sum(1)


def group_numbers(columns: np.ndarray) -> np.ndarray:
    """A dense group number per row, equal for rows with equal ``columns`` (n, k) tuples."""
    radices = columns.max(0).astype(np.float64) + 1
    if np.prod(radices) < 2**62:  # mixed-radix packing: one int64 per row, sorted fast
        packed = np.zeros(len(columns), np.int64)
        for column, radix in zip(columns.T, radices, strict=True):
            packed = packed * int(radix) + column
        _, inverse = np.unique(packed, return_inverse=True)
    else:
        _, inverse = np.unique(columns, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def quantizer_last_residuals(quantizer, embeddings=None, latents=None) -> LastResiduals:
    """``last_residuals`` for :func:`spread_last_level` from a quantizer and its inputs.

    Either ``embeddings`` (n, input_dim; any array with fancy indexing, a memory-mapped
    ``.npy`` too), encoded on demand, or the ``latents`` (n, D) already encoded. Rows are read
    in increasing order and walked through the quantizer's own chain.
    """
    from rqvae.quantizers.base import residual_chain

    def last_residuals(rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        out = np.empty((len(rows), quantizer.latent_dim), dtype=np.float32)
        for start in range(0, len(rows), RESIDUAL_CHUNK):  # bounded memory, any share colliding
            chunk = rows[start : start + RESIDUAL_CHUNK]
            if latents is not None:
                z = np.asarray(latents[chunk], dtype=np.float32)
            else:
                z = quantizer.encode(np.array(embeddings[chunk], dtype=np.float32))
            chain = residual_chain(
                z, quantizer.codebooks, quantizer.nearest, prepare=quantizer.prepare
            )
            out[start : start + len(chunk)] = chain.residuals[quantizer.levels - 1]
        return out

    return last_residuals


def spread_with_quantizer(
    quantizer, embeddings, codes: np.ndarray, latents: np.ndarray | None = None, fixed: int = 0
) -> SpreadResult:
    """:func:`spread_last_level` of ``codes`` (n, L), the quantizer's nearest IDs of
    ``embeddings`` (or of their ``latents``, when already encoded); the first ``fixed`` rows
    never move."""
    return spread_last_level(
        codes,
        quantizer_last_residuals(quantizer, embeddings, latents),
        quantizer.codebooks[-1],
        quantizer.distance,
        fixed=fixed,
    )


def last_level_record(source: dict | None) -> dict | None:
    """What an IDs table's ``rqvae.ids_source`` metadata says about its last level, or None.

    ``{"rule", "moved", "left_colliding", "extra_cost_mean"}``; the counts are None for
    "nearest" (nothing moved by rule) and when not recorded.
    """
    if not isinstance(source, dict) or source.get("last_level") not in ("balanced", "nearest"):
        return None
    return {
        "rule": source["last_level"],
        "moved": source.get("last_level_moved"),
        "left_colliding": source.get("last_level_left_colliding"),
        "extra_cost_mean": source.get("last_level_extra_cost_mean"),
    }
