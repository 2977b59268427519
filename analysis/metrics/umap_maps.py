"""2-D UMAP maps of codewords and items for diagnostic 5.

UMAP (McInnes et al. 2018, https://arxiv.org/abs/1802.03426) places points in 2-D keeping their
nearest-neighbour structure. Maps: each level's K codewords on their own (``level``), all L x K
codewords together (``joint``; later levels live in residual space, so they crowd the middle),
and a sample of item latents fitted together with the level-0 codewords (``items``; level-0
codewords live in the same latent space as the items).

UMAP takes seconds to minutes, so :mod:`analysis.diagnosis.geometry` caches the coordinates in
the run folder. What a cold process pays is numba's just-in-time compilation (measured in
bench/RESULTS.md: ~30 s to import umap-learn and ~20 s for its first fit on a fresh machine),
so ``umap`` is imported lazily and compiled code is kept on disk (see :mod:`analysis.metrics.
numba_cache`): a process that finds the cache warm (``scripts/setup.sh`` warms it) skips the
compilation. Maps below 4,096 points (UMAP's exact-neighbour regime; all of ours by default) get
their distance matrix from numpy, not from UMAP's per-pair Python loop.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.metrics.numba_cache import import_umap

DEFAULT_ITEM_SAMPLE = 2_000
# Below this many points UMAP finds exact neighbours from the full distance matrix (its own
# threshold); we hand it that matrix, computed by numpy.
EXACT_NEIGHBOURS_BELOW = 4_096


@dataclass
class UmapSettings:
    """UMAP settings; all of them enter the cache key."""

    n_neighbors: int = 15  # capped at n_points - 1 for small maps
    min_dist: float = 0.1
    n_epochs: int = 200  # optimisation epochs (UMAP itself uses 500 below 10,000 points)
    item_sample: int = DEFAULT_ITEM_SAMPLE  # items placed on the item map
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
) -> pd.DataFrame:
    """All UMAP coordinates as one long table.

    codebooks : one (K_l, D) array per level; item_latents : (m, D) latents of the item
    sample, optional.
    Columns: ``map`` ("level", "joint" or "items"), ``level`` (codeword level, -1 for items),
    ``code`` (-1 for items), ``sample_row`` (row in ``item_latents``, -1 for codewords),
    ``x``, ``y``, ``method`` ("umap" or "pca").
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
        points = np.concatenate([np.asarray(item_latents, dtype=np.float32), codebooks[0]])
        coordinates, method = umap_2d(points, settings)
        m = len(item_latents)
        frames.append(_coordinate_frame("items", -1, -1, np.arange(m), coordinates[:m], method))
        frames.append(
            _coordinate_frame("items", 0, np.arange(sizes[0]), -1, coordinates[m:], method)
        )
    return pd.concat(frames, ignore_index=True)


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
