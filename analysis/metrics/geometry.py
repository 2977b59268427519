"""Diagnostic 5: codeword geometry, and what each code stands for.

Numbers per level: codeword norms, each codeword's distance to its nearest other codeword, and
the minimum pairwise distance (0 means two identical codewords, i.e. one is wasted). Per code:
how many items use it, the majority category of those items and the items closest to it, so a
map can be coloured by usage or category and show the items on hover.

The 2-D UMAP coordinates come from :mod:`analysis.metrics.umap_maps`;
:func:`analysis.diagnosis.geometry.build_geometry` joins everything into one codeword table
the report and dashboard draw from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.metrics.categories import CategoryTable
from analysis.metrics.taxonomy import (
    NO_CATEGORY,
    category_labels,
    informative_depth,
    majority_by_group,
)
from rqvae.errors import InputError
from rqvae.id_metrics import check_codebook_sizes, check_codes, code_counts
from rqvae.quantizers import residual_chain
from rqvae.quantizers.base import PrepareResidual

TOP_ITEMS = 5
# Two codewords "coincide", and a codeword "sits at zero", when their distance (its norm) is at
# most this fraction of the level's mean codeword norm. The mean, not the median: when most
# codewords sit at zero (an LC-Rec checkpoint whose unused codewords weight decay drove to 0:
# 234 of 256) the median norm is itself about 0; one huge codeword moves the mean only
# linearly. Trained codewords lie 0.1 to 1 mean norm apart (bench/RESULTS.md), so 1e-3 only
# catches copies and zeros; a twin codeword is never chosen (ties go to the lower code).
COINCIDE_TOLERANCE = 1e-3


@dataclass
class Geometry:
    """Result of :func:`codeword_geometry`, completed by ``build_geometry``.

    levels : one row per level: ``level``, ``codebook_size``, ``mean_norm``, ``min_norm``,
        ``max_norm`` (Euclidean norms of the codewords, latent units), ``min_pairwise_distance``
        (smallest distance between two codewords of the level), ``mean_nearest_distance``
        (mean over codewords of the distance to the nearest other codeword),
        ``duplicate_codewords`` (codewords with another codeword within the tolerance below),
        ``zero_codewords`` (codewords whose norm is within it) and ``degenerate_codewords``
        (codewords that are either: they can never hold an item apart, see
        :data:`COINCIDE_TOLERANCE`).
    codewords : one row per (level, code): ``level``, ``code``, ``norm``, ``nearest_code``,
        ``nearest_distance`` and, when known, ``count`` (items with this code at this level),
        ``share``, ``majority_category``, ``majority_share`` (among items with a category),
        ``top_items`` (titles of the items nearest the codeword, "; "-joined), and the UMAP
        coordinates ``umap_x``, ``umap_y`` (per-level map), ``joint_x``, ``joint_y``.
    items : the item map (:mod:`analysis.metrics.umap_maps`): one row per item drawn
        (``kind`` "item": every item up to ``UmapSettings.item_points``, else a seeded
        sample) with ``item_index`` (row of the run's semantic IDs), ``placed`` (True when
        its position comes from :func:`~analysis.metrics.umap_maps.place_items` rather than
        the UMAP fit), ``code_0..``, ``full_id`` ("12-7-3", plus "#k" for collision index
        k > 0), ``collision_group`` (0 for the largest group of items sharing one full ID, 1
        for the next, ...; -1 for an item whose ID is unique), ``title`` and ``category`` when
        known; and one row per level-0 codeword (``kind`` "codeword", ``code``); columns
        ``x``, ``y``. None before UMAP runs.
    item_density : the density layer when not every item is drawn: ``x``, ``y`` (centres of
        a regular grid over the map) and ``count`` (items of a seeded sample placed in that
        cell), every cell listed; None when every item is drawn.
    density_items : items behind ``item_density`` (0 without one). n_items : items of the run.
    """

    levels: pd.DataFrame
    codewords: pd.DataFrame
    items: pd.DataFrame | None = None
    item_density: pd.DataFrame | None = None
    density_items: int = 0
    n_items: int = 0


def codeword_geometry(codebooks: Sequence[np.ndarray]) -> Geometry:
    """Norms and nearest-neighbour distances of the codewords of every level.

    codebooks : one float (K_l, D) array per level (or one (L, K, D) array). Distances are
    Euclidean, in latent units. Pairwise distances are computed per level in blocks of
    codewords, never as one (K, K) array.
    """
    codebooks = [np.asarray(codebook, dtype=np.float64) for codebook in codebooks]
    if not codebooks or any(c.ndim != 2 or len(c) < 1 for c in codebooks):
        raise InputError("codebooks must be one non-empty (K, dim) array per level")
    level_rows, code_frames = [], []
    for level, codebook in enumerate(codebooks):
        norms = np.linalg.norm(codebook, axis=1)
        nearest, distance = _nearest_other(codebook)
        max_norm = float(norms.max())
        code_frames.append(
            pd.DataFrame(
                {
                    "level": level,
                    "code": np.arange(len(codebook)),
                    "norm": norms,
                    "nearest_code": nearest,
                    "nearest_distance": distance,
                }
            )
        )
        finite = distance[np.isfinite(distance)]
        tolerance = COINCIDE_TOLERANCE * float(norms.mean())
        duplicate = np.isfinite(distance) & (distance <= tolerance)
        zero = norms <= tolerance
        level_rows.append(
            {
                "level": level,
                "codebook_size": len(codebook),
                "mean_norm": float(norms.mean()),
                "min_norm": float(norms.min()),
                "max_norm": max_norm,
                "min_pairwise_distance": float(finite.min()) if finite.size else np.nan,
                "mean_nearest_distance": float(finite.mean()) if finite.size else np.nan,
                "duplicate_codewords": int(duplicate.sum()),
                "zero_codewords": int(zero.sum()),
                "degenerate_codewords": int((duplicate | zero).sum()),
            }
        )
    return Geometry(levels=pd.DataFrame(level_rows), codewords=pd.concat(code_frames))


def _nearest_other(codebook: np.ndarray, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For each codeword (K, D): index of and distance to the nearest *other* codeword.

    With K = 1 there is no other codeword: index -1, distance inf.
    """
    size = len(codebook)
    nearest = np.full(size, -1, dtype=np.int64)
    distance = np.full(size, np.inf)
    squared_norms = np.square(codebook).sum(axis=1)
    for start in range(0, size, block):
        rows = codebook[start : start + block]
        squared = squared_norms[start : start + block, None] + squared_norms[None, :]
        squared = np.maximum(squared - 2.0 * rows @ codebook.T, 0.0)  # (block, K)
        squared[np.arange(len(rows)), np.arange(start, start + len(rows))] = np.inf
        if size > 1:
            nearest[start : start + len(rows)] = squared.argmin(axis=1)
            distance[start : start + len(rows)] = np.sqrt(squared.min(axis=1))
    return nearest, distance


def code_annotations(
    codes,
    codebook_sizes: int | Sequence[int],
    *,
    titles=None,
    categories=None,
    category_depth: int | None = None,
    distances: np.ndarray | None = None,
    top: int = TOP_ITEMS,
) -> pd.DataFrame:
    """Per (level, code): usage, majority category and representative items.

    codes : int, shape (n_items, L); codebook_sizes : K, or K_l per level.
    titles : n_items strings, optional. categories : n_items
    category paths (root first), optional. category_depth : depth (>= 1) whose category is
    reported; None picks the shallowest depth at which the items do not all share one category.
    distances : float, shape (n_items, L), optional: distance of each item's residual to its
    codeword at each level; the ``top`` items with the smallest distance are listed. Without
    it the first ``top`` items in catalog order are listed.

    Columns: ``level, code, count, share`` (count / n_items) and, when given,
    ``majority_category, majority_share`` (share among the code's items that have a category at
    that depth; "(none)" / NaN when none has) and ``top_items``.
    """
    codes = check_codes(codes)
    sizes = check_codebook_sizes(codebook_sizes, codes)
    n_items, n_levels = codes.shape
    counts = np.concatenate(code_counts(codes, sizes))  # (sum of K_l,)
    table = pd.DataFrame(
        {
            "level": np.repeat(np.arange(n_levels), sizes),
            "code": np.concatenate([np.arange(size) for size in sizes]),
            "count": counts,
            "share": counts / n_items,
        }
    )
    long = pd.DataFrame(
        {
            "level": np.repeat(np.arange(n_levels)[None, :], n_items, axis=0).reshape(-1),
            "code": codes.reshape(-1),
            "item": np.repeat(np.arange(n_items), n_levels),
        }
    )
    if categories is not None and len(categories) == n_items:
        labels = category_at(categories, category_depth)
        if labels is not None:
            table = table.merge(_majority(long, labels), on=["level", "code"], how="left")
            table["majority_category"] = table["majority_category"].fillna(NO_CATEGORY)
    if titles is not None:
        titles = np.asarray(titles, dtype=object)
        if distances is not None:
            long["distance"] = np.asarray(distances, dtype=np.float64).reshape(-1)
            long = long.sort_values(["level", "code", "distance"], kind="stable")
        else:
            long = long.sort_values(["level", "code", "item"], kind="stable")
        top_rows = long.groupby(["level", "code"], sort=False).head(top)
        joined = (
            top_rows.assign(title=titles[top_rows["item"].to_numpy()].astype(str))
            .groupby(["level", "code"])["title"]
            .agg("; ".join)
            .rename("top_items")
            .reset_index()
        )
        table = table.merge(joined, on=["level", "code"], how="left")
        table["top_items"] = table["top_items"].fillna("")
    return table


def category_at(categories, depth: int | None) -> np.ndarray | None:
    """Category of each item at ``depth`` (None: :func:`informative_depth`); None when no item
    has a category. ``categories``: one path per item, or a :class:`CategoryTable`."""
    if isinstance(categories, CategoryTable):
        depth = informative_depth(categories) if depth is None else depth
        return None if depth is None else category_labels(categories, depth)
    paths = [list(path) if path is not None and len(path) else [] for path in categories]
    if depth is None:
        depth = informative_depth(paths)
    return None if depth is None else category_labels(paths, depth)


def _majority(long: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Majority category and its share among the labelled items of each (level, code)."""
    labelled = long.assign(category=labels[long["item"].to_numpy()])
    counts = labelled.groupby(["level", "code", "category"]).size().rename("count").reset_index()
    majority = majority_by_group(counts, ["level", "code"])
    majority["majority_share"] = majority["majority_count"] / majority["labelled"]
    return majority[["level", "code", "majority", "majority_share"]].rename(
        columns={"majority": "majority_category"}
    )


def codeword_distances(
    z: np.ndarray,
    codebooks: Sequence[np.ndarray],
    codes: np.ndarray,
    chunk: int = 65_536,
    prepare: PrepareResidual | None = None,
) -> np.ndarray:
    """Distance of each item's residual entering level l to its codeword there, float32 (n, L).

    That distance is ``||r_l - C_l[c_l]|| = ||r_{l+1}||``, read off the residual chain
    followed along the given ``codes`` (with the quantizer's ``prepare``, if any).
    z : (n, D) latents (may be a memmap).
    """
    result = np.empty(codes.shape, dtype=np.float32)
    for start in range(0, len(z), chunk):
        latents = np.asarray(z[start : start + chunk], dtype=np.float32)
        given = codes[start : start + len(latents)]
        chain = residual_chain(latents, codebooks, codes=given, prepare=prepare)
        result[start : start + len(latents)] = chain.after_norms()
    return result
