"""2-D UMAP maps of codewords and items for diagnostic 5.

UMAP (McInnes et al. 2018, https://arxiv.org/abs/1802.03426) places points in 2-D keeping their
nearest-neighbour structure. Maps: each level's K codewords on their own (``level``), all L x K
codewords together (``joint``; later levels live in residual space, so they crowd the middle),
and a sample of item latents fitted together with the level-0 codewords (``items``; level-0
codewords live in the same latent space as the items).

The item map shows every item up to ``item_points`` (50,000) items, a seeded sample of that
many above. UMAP is fitted on at most ``item_sample`` of them (with the level-0 codewords);
the others are *placed* where umap-learn's own ``UMAP.transform`` starts a new point: at the
membership-weighted mean of the map positions of its ``place_neighbours`` nearest fitted items
in latent space (:func:`place_items`; transform would then run optimisation epochs, which we
skip). Above ``item_points`` items a density layer counts, on a regular grid over the map,
where the items of a seeded sample of ``density_items`` (all items when fewer) are placed.

UMAP takes seconds to minutes, so :mod:`analysis.diagnosis.geometry` caches the coordinates in
the run folder. What a cold process pays is numba's just-in-time compilation (measured in
bench/RESULTS.md: ~30 s to import umap-learn and ~20 s for its first fit on a fresh machine),
so ``umap`` is imported lazily and compiled code is kept on disk (see :mod:`analysis.metrics.
numba_cache`): a process that finds the cache warm (``scripts/setup.sh`` warms it) skips the
compilation. Maps below 4,096 points (UMAP's exact-neighbour regime; all of ours by default) get
their distance matrix from numpy, not from UMAP's per-pair Python loop.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.metrics.numba_cache import import_umap

DEFAULT_ITEM_SAMPLE = 2_000
DEFAULT_ITEM_POINTS = 50_000
DEFAULT_DENSITY_ITEMS = 200_000
PLACE_CHUNK = 4_096
# Below this many points UMAP finds exact neighbours from the full distance matrix (its own
# threshold); we hand it that matrix, computed by numpy.
EXACT_NEIGHBOURS_BELOW = 4_096


@dataclass
class UmapSettings:
    """UMAP settings; all of them enter the cache key."""

    n_neighbors: int = 15  # capped at n_points - 1 for small maps
    min_dist: float = 0.1
    n_epochs: int = 200  # optimisation epochs (UMAP itself uses 500 below 10,000 points)
    item_sample: int = DEFAULT_ITEM_SAMPLE  # items UMAP is fitted on (with level-0 codewords)
    item_points: int = DEFAULT_ITEM_POINTS  # items drawn on the item map: all up to this many
    density_items: int = DEFAULT_DENSITY_ITEMS  # items behind the density layer (above points)
    density_bins: int = 120  # grid cells per side of the density layer
    place_neighbours: int = 10  # fitted items a placed item's position is averaged from
    seed: int = 0


# --- UMAP -------------------------------------------------------------------------------------


def umap_2d(points: np.ndarray, settings: UmapSettings) -> tuple[np.ndarray, str]:
    """2-D coordinates of ``points`` (n, D) and the method used.

    UMAP needs a few neighbours per point; with fewer than 4 points it is undefined and the
    first two principal components are returned instead (method "pca").
    """
    points = np.asarray(points, dtype=np.float32)
    if len(points) < 4:
        centred = points - points.mean(axis=0)
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        coordinates = np.zeros((len(points), 2), dtype=np.float32)
        projected = centred @ components[:2].T
        coordinates[:, : projected.shape[1]] = projected
        return coordinates, "pca"
    umap = import_umap()
    exact = len(points) < EXACT_NEIGHBOURS_BELOW
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=max(2, min(settings.n_neighbors, len(points) - 1)),
        min_dist=settings.min_dist,
        n_epochs=settings.n_epochs,
        random_state=settings.seed,
        # Spectral initialisation fails on tiny or degenerate graphs; random is robust there.
        init="spectral" if len(points) > 50 else "random",
        metric="precomputed" if exact else "euclidean",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state, graph warnings
        data = euclidean_distances(points) if exact else points
        return reducer.fit_transform(data).astype(np.float32), "umap"


def euclidean_distances(points: np.ndarray) -> np.ndarray:
    """All pairwise Euclidean distances of ``points`` (n, D): float32 (n, n), zero diagonal.

    Computed from coordinate differences in float64 (scipy's ``cdist``; not the
    ``|a|^2 - 2ab + |b|^2`` expansion, whose cancellation would blur near-duplicate codewords).
    UMAP's small-data path would call its numba metric once per pair from Python instead: 18 s
    for 2,256 points, against a few hundredths of a second here.
    """
    from scipy.spatial.distance import cdist

    points = np.asarray(points, dtype=np.float64)
    return cdist(points, points).astype(np.float32)


def umap_maps(
    codebooks: list[np.ndarray],
    item_latents: np.ndarray | None = None,
    settings: UmapSettings | None = None,
    *,
    density_latents: np.ndarray | None = None,
) -> pd.DataFrame:
    """All UMAP coordinates as one long table.

    codebooks : one (K_l, D) array per level; item_latents : (m, D) latents of the items drawn
    on the item map, optional. UMAP is fitted on a seeded sample of ``settings.item_sample``
    of them (all when fewer) with the level-0 codewords; the rest are placed
    (:func:`place_items`). density_latents : (p, D) latents behind a density layer, optional.
    Columns: ``map`` ("level", "joint", "items" or "density"), ``level`` (codeword level, -1
    for items), ``code`` (-1 for items), ``sample_row`` (row in ``item_latents``, -1 for
    codewords), ``x``, ``y``, ``method`` ("umap", "pca", "placed" for placed items,
    "density"), ``count`` (density rows: items in the grid cell centred at x, y; every cell
    of the ``density_bins`` x ``density_bins`` grid is listed; 0 on other rows).
    """
    settings = settings or UmapSettings()
    codebooks = [np.asarray(codebook, dtype=np.float32) for codebook in codebooks]
    sizes = [len(codebook) for codebook in codebooks]
    frames = []
    for level, codebook in enumerate(codebooks):
        coordinates, method = umap_2d(codebook, settings)
        frames.append(
            _coordinate_frame("level", level, np.arange(len(codebook)), -1, coordinates, method)
        )
    if len(codebooks) > 1:
        coordinates, method = umap_2d(np.concatenate(codebooks), settings)
        levels = np.repeat(np.arange(len(codebooks)), sizes)
        codes = np.concatenate([np.arange(size) for size in sizes])
        frames.append(_coordinate_frame("joint", levels, codes, -1, coordinates, method))
    if item_latents is not None and len(item_latents):
        item_latents = np.asarray(item_latents, dtype=np.float32)
        m = len(item_latents)
        fit = np.arange(m)
        if m > settings.item_sample:
            rng = np.random.default_rng(settings.seed)
            fit = np.sort(rng.choice(m, size=settings.item_sample, replace=False))
        points = np.concatenate([item_latents[fit], codebooks[0]])
        coordinates, method = umap_2d(points, settings)
        fitted = coordinates[: len(fit)]
        frames.append(_coordinate_frame("items", -1, -1, fit, fitted, method))
        frames.append(
            _coordinate_frame("items", 0, np.arange(sizes[0]), -1, coordinates[len(fit) :], method)
        )
        rest = np.setdiff1d(np.arange(m), fit)
        if len(rest):
            placed = place_items(
                item_latents[fit], fitted, item_latents[rest], settings.place_neighbours
            )
            frames.append(_coordinate_frame("items", -1, -1, rest, placed, "placed"))
        if density_latents is not None and len(density_latents):
            positions = place_items(
                item_latents[fit], fitted, density_latents, settings.place_neighbours
            )
            frames.append(density_grid(positions, settings.density_bins))
    return pd.concat(frames, ignore_index=True)


def place_items(
    anchors: np.ndarray, anchor_xy: np.ndarray, latents: np.ndarray, k: int = 10
) -> np.ndarray:
    """Map positions (n, 2) for ``latents`` (n, D) from fitted items ``anchors`` (m, D) at
    ``anchor_xy`` (m, 2): the weighted mean of the positions of each row's ``k`` nearest
    anchors (Euclidean, latent units), weighted by UMAP's membership strength
    ``exp(-(d - d_1) / s)``: ``d_1`` the nearest distance, ``s`` set per row so that the k
    weights sum to log2(k) (umap-learn's ``smooth_knn_dist``, found by bisection). This is
    where umap-learn's ``transform`` initialises new points. Chunked: memory (4,096, m) floats.
    """
    import torch

    anchors_t = torch.from_numpy(np.ascontiguousarray(anchors, dtype=np.float32))
    anchor_xy_t = torch.from_numpy(np.ascontiguousarray(anchor_xy, dtype=np.float32))
    norms = (anchors_t * anchors_t).sum(dim=1)  # (m,)
    k = max(1, min(k, len(anchors)))
    out = np.empty((len(latents), 2), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(latents), PLACE_CHUNK):
            chunk = torch.from_numpy(
                np.ascontiguousarray(latents[start : start + PLACE_CHUNK], dtype=np.float32)
            )
            # |x - a|^2 = |a|^2 - 2 x.a + |x|^2; |x|^2 is the same for every anchor of a row
            scores = torch.addmm(norms[None, :], chunk, anchors_t.T, alpha=-2.0)  # (c, m)
            nearest, index = torch.topk(scores, k, dim=1, largest=False)
            squared = (nearest + (chunk * chunk).sum(dim=1, keepdim=True)).clamp_min(0.0)
            distance = squared.sqrt()  # (c, k), ascending
            excess = distance - distance[:, :1]
            weights = torch.exp(-excess / _bandwidth(excess))
            weights = weights / weights.sum(dim=1, keepdim=True)
            out[start : start + len(chunk)] = (
                (weights[:, :, None] * anchor_xy_t[index]).sum(dim=1).numpy()
            )
    return out


def _bandwidth(excess, iterations: int = 48):
    """Per row of ``excess`` (c, k), ascending from 0: the s with sum exp(-excess / s) =
    log2(k), by bisection on log s (the sum grows with s from the ties at 0 to k)."""
    import torch

    k = excess.shape[1]
    target = math.log2(k) if k > 1 else 1.0
    scale = excess.max(dim=1, keepdim=True).values.clamp_min(1e-12)
    low = torch.log(scale * 1e-6)
    high = torch.log(scale * 1e6)
    for _ in range(iterations):
        middle = (low + high) / 2
        total = torch.exp(-excess / torch.exp(middle)).sum(dim=1, keepdim=True)
        too_wide = total > target
        high = torch.where(too_wide, middle, high)
        low = torch.where(too_wide, low, middle)
    return torch.exp((low + high) / 2)


def density_grid(positions: np.ndarray, bins: int) -> pd.DataFrame:
    """Items per cell of a ``bins`` x ``bins`` grid over the extent of ``positions`` (n, 2):
    rows of the "density" map, every cell listed (``count`` 0 included), centres in x, y."""
    positions = np.asarray(positions, dtype=np.float64)
    counts, x_edges, y_edges = np.histogram2d(positions[:, 0], positions[:, 1], bins=bins)
    x_centres = (x_edges[:-1] + x_edges[1:]) / 2
    y_centres = (y_edges[:-1] + y_edges[1:]) / 2
    x, y = np.meshgrid(x_centres, y_centres, indexing="ij")  # counts[i, j]: x bin i, y bin j
    frame = _coordinate_frame("density", -1, -1, -1, np.stack([x.ravel(), y.ravel()], 1), "density")
    frame["count"] = counts.ravel().astype(np.int64)
    return frame


def _coordinate_frame(kind, level, code, sample_row, coordinates, method) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "map": kind,
            "level": level,
            "code": code,
            "sample_row": sample_row,
            "x": coordinates[:, 0].astype(np.float64),
            "y": coordinates[:, 1].astype(np.float64),
            "method": method,
            "count": np.zeros(len(coordinates), dtype=np.int64),
        }
    )


def warm_up() -> float:
    """Compile (or load from numba's cache) everything a UMAP map needs by fitting a tiny one;
    returns seconds. ``scripts/setup.sh`` runs it (``python -m analysis.metrics.umap_maps``)."""
    import time

    start = time.perf_counter()
    points = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    umap_2d(points, UmapSettings(n_epochs=10))
    return time.perf_counter() - start


if __name__ == "__main__":
    from analysis.metrics.numba_cache import numba_cache_dir

    print(f"UMAP ready in {warm_up():.1f} s (numba cache: {numba_cache_dir()})")
