"""Diagnostic 5 assembled: codeword geometry, code annotations and UMAP maps in one table.

UMAP takes seconds to minutes, so its coordinates are cached in ``run_dir/cache/`` keyed by a
hash of the checkpoint, the embeddings file and the settings, each entry named with the digest
of its own content (see :func:`cached_umap_maps`).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from contextlib import suppress
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.metrics.geometry import (
    Geometry,
    category_at,
    code_annotations,
    codeword_distances,
    codeword_geometry,
)
from analysis.metrics.taxonomy import NO_CATEGORY
from analysis.metrics.umap_maps import UmapSettings, umap_maps
from rqvae.errors import InputError
from rqvae.files import atomic_write_bytes, read_bytes, real_folder
from rqvae.id_metrics import check_codes
from rqvae.quantizers.base import PrepareResidual
from rqvae.runs.safe_paths import remove_file

UMAP_CACHE_PREFIX = "umap_"


def build_geometry(
    codebooks: list[np.ndarray],
    codes,
    *,
    latents: np.ndarray | None = None,
    titles=None,
    categories=None,
    umap: bool = True,
    settings: UmapSettings | None = None,
    cache_dir: str | Path | None = None,
    cache_key: dict | None = None,
    prepare: PrepareResidual | None = None,
    collision: np.ndarray | None = None,
) -> Geometry:
    """Everything of diagnostic 5 for one set of codebooks and the items' codes.

    codebooks : one (K_l, D) array per level; codes : (n_items, L), the run's IDs.
    latents : (n_items, D), optional; with it the top items of a code are those nearest its
    codeword, and the item map can be drawn. With ``cache_dir`` and ``cache_key`` (see
    :func:`cached_umap_maps`) UMAP runs once. prepare : the quantizer's residual preparation.
    collision : (n_items,) the IDs' collision index, shown in each item's full ID.
    """
    settings = settings or UmapSettings()
    codebooks = [np.asarray(codebook, dtype=np.float32) for codebook in codebooks]
    codes = check_codes(codes)
    geometry = codeword_geometry(codebooks)
    distances = None
    if latents is not None:
        distances = codeword_distances(latents, codebooks, codes, prepare=prepare)
    annotations = code_annotations(
        codes,
        [len(codebook) for codebook in codebooks],
        titles=titles,
        categories=categories,
        distances=distances,
    )
    codewords = geometry.codewords.merge(annotations, on=["level", "code"], how="left")
    if not umap:
        return Geometry(levels=geometry.levels, codewords=codewords, n_items=len(codes))

    shown = np.zeros(0, dtype=np.int64)  # the items drawn on the item map
    density_rows = None  # the items behind its density layer, when not all are drawn
    if latents is not None:
        rng = np.random.default_rng(settings.seed)
        n_items = len(latents)
        shown = np.arange(n_items)
        if n_items > settings.item_points:
            shown = np.sort(rng.choice(n_items, size=settings.item_points, replace=False))
            density_rows = np.arange(n_items)
            if n_items > settings.density_items:
                density_rows = np.sort(
                    rng.choice(n_items, size=settings.density_items, replace=False)
                )
    item_latents = np.asarray(latents[shown]) if latents is not None else None
    density_latents = np.asarray(latents[density_rows]) if density_rows is not None else None
    if cache_dir is not None and cache_key is not None:
        maps = cached_umap_maps(
            cache_dir, cache_key, codebooks, item_latents, settings, density_latents
        )
    else:
        maps = umap_maps(codebooks, item_latents, settings, density_latents=density_latents)
    for kind, x_name, y_name in (("level", "umap_x", "umap_y"), ("joint", "joint_x", "joint_y")):
        coordinates = maps[maps["map"] == kind][["level", "code", "x", "y"]]
        coordinates = coordinates.rename(columns={"x": x_name, "y": y_name})
        codewords = codewords.merge(coordinates, on=["level", "code"], how="left")
    density = maps[maps["map"] == "density"][["x", "y", "count"]].reset_index(drop=True)
    return Geometry(
        levels=geometry.levels,
        codewords=codewords,
        items=_item_map(maps, shown, codes, titles, categories, collision),
        item_density=density if len(density) else None,
        density_items=0 if density_rows is None else len(density_rows),
        n_items=len(codes),
    )


def _item_map(maps, shown, codes, titles, categories, collision) -> pd.DataFrame | None:
    """The "items" map with each drawn item's codes, full ID, collision group, title and
    category attached (see :class:`~analysis.metrics.geometry.Geometry`)."""
    items = maps[maps["map"] == "items"]
    items = pd.concat([items[items["sample_row"] >= 0].sort_values("sample_row"),
                       items[items["sample_row"] < 0]], ignore_index=True)  # fmt: skip
    if items.empty:
        return None
    is_item = (items["sample_row"] >= 0).to_numpy()
    item_index = np.full(len(items), -1, dtype=np.int64)
    item_index[is_item] = shown[items.loc[is_item, "sample_row"].to_numpy()]
    frame = pd.DataFrame(
        {
            "kind": np.where(is_item, "item", "codeword"),
            "item_index": item_index,
            "code": items["code"].to_numpy(),
            "x": items["x"].to_numpy(),
            "y": items["y"].to_numpy(),
            "placed": (items["method"] == "placed").to_numpy(),
        }
    )
    rows = item_index[is_item]
    for level in range(codes.shape[1]):
        column = np.full(len(frame), -1, dtype=np.int64)
        column[is_item] = codes[rows, level]
        frame[f"code_{level}"] = column
    frame.loc[~is_item, "code_0"] = frame.loc[~is_item, "code"]
    full_ids = np.full(len(frame), "", dtype=object)
    full_ids[is_item] = _full_ids(codes[rows], None if collision is None else collision[rows])
    frame["full_id"] = full_ids
    groups = np.full(len(frame), -1, dtype=np.int64)
    groups[is_item] = collision_groups(codes)[rows]
    frame["collision_group"] = groups
    if titles is not None:
        frame["title"] = ""
        frame.loc[is_item, "title"] = np.asarray(titles, dtype=object)[rows]
    labels = category_at(categories, None) if categories is not None else None
    if labels is not None:
        frame["category"] = NO_CATEGORY
        frame.loc[is_item, "category"] = labels[rows]
    return frame


def _full_ids(codes: np.ndarray, collision: np.ndarray | None) -> np.ndarray:
    """ "12-7-3" per row, with "#k" appended for a collision index k > 0."""
    text = pd.Series(codes[:, 0]).astype(str)
    for level in range(1, codes.shape[1]):
        text = text + "-" + pd.Series(codes[:, level]).astype(str)
    if collision is not None:
        suffix = np.where(collision > 0, "#" + pd.Series(collision).astype(str), "")
        text = text + suffix
    return text.to_numpy(dtype=object)


def collision_groups(codes: np.ndarray) -> np.ndarray:
    """Per item (n,): 0 for the items of the largest group sharing one full ID tuple, 1 for
    the next largest, ... (ties: the group whose first item comes first), -1 for an item whose
    tuple is unique. codes : int, shape (n_items, n_levels)."""
    codes = np.asarray(codes)
    _, first, inverse, sizes = np.unique(
        codes, axis=0, return_index=True, return_inverse=True, return_counts=True
    )
    inverse = inverse.reshape(-1)
    shared = np.flatnonzero(sizes > 1)
    order = shared[np.lexsort((first[shared], -sizes[shared]))]
    rank = np.full(len(sizes), -1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[inverse]


def cached_umap_maps(
    cache_dir: str | Path,
    key_parts: dict,
    codebooks: list[np.ndarray],
    item_latents: np.ndarray | None,
    settings: UmapSettings,
    density_latents: np.ndarray | None = None,
) -> pd.DataFrame:
    """:func:`umap_maps`, read from ``cache_dir`` when an entry with the same key exists.

    key_parts : JSON-able description of what the maps depend on (checkpoint and embeddings
    fingerprints); the settings are added to it. cache_dir : ``RUN/cache``; it and its entries
    must be a real folder and regular files of the run folder above it, or nothing is read,
    written or deleted there (the maps are still returned).

    An entry is ``umap_<key>.<digest>.parquet``, ``digest`` the first 16 hex digits of the
    file's SHA-256, checked on read: an edited or damaged entry is recomputed, never trusted.
    It is written atomically and entries with other keys are removed, so the cache holds one
    set of maps per run.
    """
    key_source = json.dumps({**key_parts, "settings": vars(settings)}, sort_keys=True)
    key = hashlib.sha256(key_source.encode()).hexdigest()[:20]
    cache_dir = Path(cache_dir)
    root = cache_dir.parent  # the run folder
    for path in _entries(cache_dir, root, key):
        with suppress(InputError, OSError, ValueError):
            data = read_bytes(path, root=root, max_bytes=None)
            if hashlib.sha256(data).hexdigest()[:16] == path.name.split(".")[1]:
                return pd.read_parquet(io.BytesIO(data))
    maps = umap_maps(codebooks, item_latents, settings, density_latents=density_latents)
    buffer = io.BytesIO()
    maps.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    path = cache_dir / f"{UMAP_CACHE_PREFIX}{key}.{hashlib.sha256(data).hexdigest()[:16]}.parquet"
    with suppress(InputError, OSError):
        atomic_write_bytes(path, data, root=root)
        for stale in _entries(cache_dir, root):
            if stale != path:
                with suppress(InputError, OSError):
                    remove_file(stale, root)
    return maps


def _entries(cache_dir: Path, root: Path, key: str = "") -> list[Path]:
    """The UMAP entries in ``cache_dir`` (those of ``key`` when given); none when the cache
    folder is not a real folder of the run."""
    try:
        real_folder(root, cache_dir)
    except InputError:
        return []
    pattern = re.compile(rf"{UMAP_CACHE_PREFIX}{key or '[0-9a-f]{20}'}\.[0-9a-f]{{16}}\.parquet")
    return sorted(path for path in cache_dir.iterdir() if pattern.fullmatch(path.name))
