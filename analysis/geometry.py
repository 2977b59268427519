"""Diagnostic 5: codeword geometry and 2-D UMAP maps of codewords and items.

Numbers per level: codeword norms, each codeword's distance to its nearest other codeword, and
the minimum pairwise distance (0 means two identical codewords, i.e. one is wasted). Per code:
how many items use it, the majority category of those items and the items closest to it, so a
map can be coloured by usage or category and show the items on hover.

The 2-D UMAP coordinates (per level, joint, and an item sample) come from
:mod:`analysis.codeword_maps`, which caches them in the run folder; :func:`build_geometry`
joins everything into one codeword table the report and dashboard draw from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.checks import check_codebook_size, check_codes
from analysis.codeword_maps import UmapSettings, cached_umap_maps, umap_maps
from analysis.taxonomy import NO_CATEGORY, category_labels
from analysis.usage import _code_counts
from rqvae.errors import InputError

TOP_ITEMS = 5


@dataclass
class Geometry:
    """Result of :func:`codeword_geometry` / :func:`run_geometry`.

    levels : one row per level: ``level``, ``codebook_size``, ``mean_norm``, ``min_norm``,
        ``max_norm`` (Euclidean norms of the codewords, latent units), ``min_pairwise_distance``
        (smallest distance between two codewords of the level), ``mean_nearest_distance``
        (mean over codewords of the distance to the nearest other codeword) and
        ``duplicate_codewords`` (codewords with another codeword at distance <= 1e-6 x
        ``max_norm``).
    codewords : one row per (level, code): ``level``, ``code``, ``norm``, ``nearest_code``,
        ``nearest_distance`` and, when known, ``count`` (items with this code at this level),
        ``share``, ``majority_category``, ``majority_share`` (among items with a category),
        ``top_items`` (titles of the items nearest the codeword, "; "-joined), and the UMAP
        coordinates ``umap_x``, ``umap_y`` (per-level map), ``joint_x``, ``joint_y``.
    items : UMAP of the item sample (``kind`` "item", with ``item_index``, ``code_0..``,
        ``category``) and of the level-0 codewords (``kind`` "codeword", ``code``), columns
        ``x``, ``y``; None before UMAP runs.
    """

    levels: pd.DataFrame
    codewords: pd.DataFrame
    items: pd.DataFrame | None = None


def codeword_geometry(codebooks: np.ndarray) -> Geometry:
    """Norms and nearest-neighbour distances of the codewords of every level.

    codebooks : float, shape (L, K, D). Distances are Euclidean, in latent units. Pairwise
    distances are computed per level in blocks of codewords, never as one (L, K, K) array.
    """
    codebooks = np.asarray(codebooks, dtype=np.float64)
    if codebooks.ndim != 3 or codebooks.shape[1] < 1:
        raise InputError(f"codebooks has shape {codebooks.shape}, expected (levels, K, dim)")
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
        level_rows.append(
            {
                "level": level,
                "codebook_size": len(codebook),
                "mean_norm": float(norms.mean()),
                "min_norm": float(norms.min()),
                "max_norm": max_norm,
                "min_pairwise_distance": float(finite.min()) if finite.size else np.nan,
                "mean_nearest_distance": float(finite.mean()) if finite.size else np.nan,
                "duplicate_codewords": int((finite <= 1e-6 * max(max_norm, 1e-12)).sum()),
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
    codebook_size: int,
    *,
    titles=None,
    categories=None,
    category_depth: int | None = None,
    distances: np.ndarray | None = None,
    top: int = TOP_ITEMS,
) -> pd.DataFrame:
    """Per (level, code): usage, majority category and representative items.

    codes : int, shape (n_items, L). titles : n_items strings, optional. categories : n_items
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
    size = check_codebook_size(codebook_size, codes)
    n_items, n_levels = codes.shape
    counts = _code_counts(codes, size)  # (L, K)
    table = pd.DataFrame(
        {
            "level": np.repeat(np.arange(n_levels), size),
            "code": np.tile(np.arange(size), n_levels),
            "count": counts.reshape(-1),
            "share": counts.reshape(-1) / n_items,
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
        labels = _category_at(categories, category_depth)
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


def _category_at(categories, depth: int | None) -> np.ndarray | None:
    paths = [list(path) if path is not None and len(path) else [] for path in categories]
    if depth is None:
        depth = informative_depth(paths)
    return None if depth is None else category_labels(paths, depth)


def informative_depth(categories) -> int | None:
    """Shallowest category depth (>= 1) at which the items do not all share one category.

    Catalogs often put every item under one root ("Industrial & Scientific"), so depth 1 says
    nothing; this picks the first depth that does. Returns the deepest depth when no depth
    separates the items, and None when no item has a category.
    """
    paths = [list(path) if path is not None and len(path) else [] for path in categories]
    deepest = max((len(path) for path in paths), default=0)
    if deepest == 0:
        return None
    for depth in range(1, deepest + 1):
        labels = category_labels(paths, depth)
        if len(set(labels[labels != NO_CATEGORY])) > 1:
            return depth
    return deepest


def _majority(long: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    labelled = long.assign(category=labels[long["item"].to_numpy()])
    labelled = labelled[labelled["category"] != NO_CATEGORY]
    counts = labelled.groupby(["level", "code", "category"]).size().rename("n").reset_index()
    totals = counts.groupby(["level", "code"])["n"].transform("sum")
    counts["majority_share"] = counts["n"] / totals
    # Majority: highest count, ties broken alphabetically.
    best = counts.sort_values(["n", "category"], ascending=[False, True], kind="stable")
    best = best.drop_duplicates(["level", "code"])
    return best.rename(columns={"category": "majority_category"})[
        ["level", "code", "majority_category", "majority_share"]
    ]


def residual_distances(z: np.ndarray, codebooks: np.ndarray, codes: np.ndarray, chunk=65_536):
    """Distance of each item's residual entering level l to its chosen codeword, (n, L) float32.

    z : (n, D) latents (may be a memmap); codebooks : (L, K, D); codes : (n, L).
    """
    codebooks = np.asarray(codebooks, dtype=np.float32)
    result = np.empty(codes.shape, dtype=np.float32)
    for start in range(0, len(z), chunk):
        residual = np.array(z[start : start + chunk], dtype=np.float32)
        for level, codebook in enumerate(codebooks):
            chosen = codebook[codes[start : start + len(residual), level]]
            result[start : start + len(residual), level] = np.linalg.norm(residual - chosen, axis=1)
            residual -= chosen
    return result


# --- assembly ---------------------------------------------------------------------------------


def build_geometry(
    codebooks: np.ndarray,
    codes,
    *,
    latents: np.ndarray | None = None,
    titles=None,
    categories=None,
    umap: bool = True,
    settings: UmapSettings | None = None,
    cache_dir: str | Path | None = None,
    cache_key: dict | None = None,
) -> Geometry:
    """Everything of diagnostic 5 for one set of codebooks and the items' codes.

    codebooks : (L, K, D); codes : (n_items, L), the run's IDs. latents : (n_items, D), optional;
    with it the top items of a code are those nearest its codeword, and the item map can be
    drawn. With ``cache_dir`` and ``cache_key`` (see :func:`cached_umap_maps`) UMAP runs once.
    """
    settings = settings or UmapSettings()
    codebooks = np.asarray(codebooks, dtype=np.float32)
    codes = check_codes(codes)
    geometry = codeword_geometry(codebooks)
    distances = residual_distances(latents, codebooks, codes) if latents is not None else None
    annotations = code_annotations(
        codes, codebooks.shape[1], titles=titles, categories=categories, distances=distances
    )
    codewords = geometry.codewords.merge(annotations, on=["level", "code"], how="left")
    if not umap:
        return Geometry(levels=geometry.levels, codewords=codewords)

    sample = np.zeros(0, dtype=np.int64)
    if latents is not None:
        rng = np.random.default_rng(settings.seed)
        size = min(settings.item_sample, len(latents))
        sample = np.sort(rng.choice(len(latents), size=size, replace=False))
    item_latents = np.asarray(latents[sample]) if latents is not None else None
    if cache_dir is not None and cache_key is not None:
        maps = cached_umap_maps(cache_dir, cache_key, codebooks, item_latents, settings)
    else:
        maps = umap_maps(codebooks, item_latents, settings)
    for kind, x_name, y_name in (("level", "umap_x", "umap_y"), ("joint", "joint_x", "joint_y")):
        coordinates = maps[maps["map"] == kind][["level", "code", "x", "y"]]
        coordinates = coordinates.rename(columns={"x": x_name, "y": y_name})
        codewords = codewords.merge(coordinates, on=["level", "code"], how="left")
    return Geometry(
        levels=geometry.levels,
        codewords=codewords,
        items=_item_map(maps, sample, codes, titles, categories),
    )


def _item_map(maps, sample, codes, titles, categories) -> pd.DataFrame | None:
    """The "items" map with each sampled item's codes, title and category attached."""
    items = maps[maps["map"] == "items"].reset_index(drop=True)
    if items.empty:
        return None
    is_item = (items["sample_row"] >= 0).to_numpy()
    item_index = np.full(len(items), -1, dtype=np.int64)
    item_index[is_item] = sample[items.loc[is_item, "sample_row"].to_numpy()]
    frame = pd.DataFrame(
        {
            "kind": np.where(is_item, "item", "codeword"),
            "item_index": item_index,
            "code": items["code"].to_numpy(),
            "x": items["x"].to_numpy(),
            "y": items["y"].to_numpy(),
        }
    )
    rows = item_index[is_item]
    for level in range(codes.shape[1]):
        column = np.full(len(frame), -1, dtype=np.int64)
        column[is_item] = codes[rows, level]
        frame[f"code_{level}"] = column
    frame.loc[~is_item, "code_0"] = frame.loc[~is_item, "code"]
    if titles is not None:
        frame["title"] = ""
        frame.loc[is_item, "title"] = np.asarray(titles, dtype=object)[rows]
    labels = _category_at(categories, None) if categories is not None else None
    if labels is not None:
        frame["category"] = NO_CATEGORY
        frame.loc[is_item, "category"] = labels[rows]
    return frame
