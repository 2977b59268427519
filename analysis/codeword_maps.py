"""2-D UMAP maps of codewords and items for diagnostic 5, computed once and cached.

UMAP (McInnes et al. 2018, https://arxiv.org/abs/1802.03426) places points in 2-D keeping their
nearest-neighbour structure. Maps: each level's K codewords on their own (``level``), all L x K
codewords together (``joint``; later levels live in residual space, so they crowd the middle),
and a sample of item latents fitted together with the level-0 codewords (``items``; level-0
codewords live in the same latent space as the items).

UMAP takes seconds to minutes, so the coordinates are cached in ``run_dir/cache/`` keyed by a
hash of the checkpoint, the embeddings file and the settings. ``umap`` is imported lazily, with
a writable ``NUMBA_CACHE_DIR`` (numba's default, next to the installed package, may be
read-only).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rqvae.errors import InputError
from rqvae.runs import atomic_write_parquet

UMAP_CACHE_PREFIX = "umap_"
DEFAULT_ITEM_SAMPLE = 2_000


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
    umap = _import_umap()
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=max(2, min(settings.n_neighbors, len(points) - 1)),
        min_dist=settings.min_dist,
        n_epochs=settings.n_epochs,
        random_state=settings.seed,
        # Spectral initialisation fails on tiny or degenerate graphs; random is robust there.
        init="spectral" if len(points) > 50 else "random",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state, graph warnings
        return reducer.fit_transform(points).astype(np.float32), "umap"


def _import_umap():
    """Import umap-learn with a writable numba cache (site-packages may be read-only)."""
    if "NUMBA_CACHE_DIR" not in os.environ:
        path = Path(tempfile.gettempdir()) / f"rqvae-numba-cache-{os.getuid()}"
        path.mkdir(parents=True, exist_ok=True)
        os.environ["NUMBA_CACHE_DIR"] = str(path)
    import umap

    return umap


def umap_maps(
    codebooks: np.ndarray,
    item_latents: np.ndarray | None = None,
    settings: UmapSettings | None = None,
) -> pd.DataFrame:
    """All UMAP coordinates as one long table.

    codebooks : (L, K, D); item_latents : (m, D) latents of the item sample, optional.
    Columns: ``map`` ("level", "joint" or "items"), ``level`` (codeword level, -1 for items),
    ``code`` (-1 for items), ``sample_row`` (row in ``item_latents``, -1 for codewords),
    ``x``, ``y``, ``method`` ("umap" or "pca").
    """
    settings = settings or UmapSettings()
    codebooks = np.asarray(codebooks, dtype=np.float32)
    n_levels, size, _ = codebooks.shape
    frames = []
    for level in range(n_levels):
        coordinates, method = umap_2d(codebooks[level], settings)
        frames.append(_coordinate_frame("level", level, np.arange(size), -1, coordinates, method))
    if n_levels > 1:
        coordinates, method = umap_2d(codebooks.reshape(n_levels * size, -1), settings)
        levels = np.repeat(np.arange(n_levels), size)
        frames.append(
            _coordinate_frame(
                "joint", levels, np.tile(np.arange(size), n_levels), -1, coordinates, method
            )
        )
    if item_latents is not None and len(item_latents):
        points = np.concatenate([np.asarray(item_latents, dtype=np.float32), codebooks[0]])
        coordinates, method = umap_2d(points, settings)
        m = len(item_latents)
        frames.append(_coordinate_frame("items", -1, -1, np.arange(m), coordinates[:m], method))
        frames.append(_coordinate_frame("items", 0, np.arange(size), -1, coordinates[m:], method))
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


def cached_umap_maps(
    cache_dir: str | Path,
    key_parts: dict,
    codebooks: np.ndarray,
    item_latents: np.ndarray | None,
    settings: UmapSettings,
) -> pd.DataFrame:
    """:func:`umap_maps`, read from ``cache_dir`` when an entry with the same key exists.

    key_parts : JSON-able description of what the maps depend on (checkpoint and embeddings
    fingerprints); the settings are added to it. The entry is written atomically and entries
    with other keys are removed, so the cache holds one set of maps per run.
    """
    key_source = json.dumps({**key_parts, "settings": vars(settings)}, sort_keys=True)
    key = hashlib.sha256(key_source.encode()).hexdigest()[:20]
    cache_dir = Path(cache_dir)
    path = cache_dir / f"{UMAP_CACHE_PREFIX}{key}.parquet"
    if path.exists():
        try:
            return pd.read_parquet(path)
        except Exception:  # a damaged cache entry is recomputed, never trusted
            path.unlink(missing_ok=True)
    maps = umap_maps(codebooks, item_latents, settings)
    atomic_write_parquet(path, maps)
    for stale in cache_dir.glob(f"{UMAP_CACHE_PREFIX}*.parquet"):
        if stale != path:
            stale.unlink(missing_ok=True)
    return maps


def file_fingerprint(path: str | Path, content: bool = True) -> dict:
    """Name, size, modification time and (with ``content``) SHA-256 of a file, for cache keys.

    Hash small files (checkpoints); for multi-gigabyte embeddings size and mtime suffice.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found (moved or deleted since the run)") from None
    fingerprint = {"name": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if content:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        fingerprint["sha256"] = digest.hexdigest()
    return fingerprint
