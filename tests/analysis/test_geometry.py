"""Codeword geometry and UMAP maps (diagnostic 5) on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import codeword_maps
from analysis.codeword_maps import UmapSettings, cached_umap_maps, umap_2d
from analysis.geometry import (
    build_geometry,
    code_annotations,
    codeword_geometry,
    informative_depth,
    residual_distances,
)

# Level 0: codewords (0, 0), (3, 4), (3, 0). Level 1: two identical codewords and one apart.
CODEBOOKS = np.array(
    [
        [[0.0, 0.0], [3.0, 4.0], [3.0, 0.0]],
        [[1.0, 1.0], [1.0, 1.0], [0.0, 1.0]],
    ]
)


def test_norms_and_nearest_codewords_by_hand():
    geometry = codeword_geometry(CODEBOOKS)
    level0 = geometry.codewords[geometry.codewords["level"] == 0].set_index("code")
    assert level0["norm"].tolist() == pytest.approx([0.0, 5.0, 3.0])
    # distances: 0-1 = 5, 0-2 = 3, 1-2 = 4
    assert level0["nearest_code"].tolist() == [2, 2, 0]
    assert level0["nearest_distance"].tolist() == pytest.approx([3.0, 4.0, 3.0])
    levels = geometry.levels.set_index("level")
    assert levels.loc[0, "min_pairwise_distance"] == pytest.approx(3.0)
    assert levels.loc[0, "mean_norm"] == pytest.approx(8.0 / 3)
    assert levels.loc[0, "duplicate_codewords"] == 0
    assert levels.loc[1, "min_pairwise_distance"] == 0.0
    assert levels.loc[1, "duplicate_codewords"] == 2  # codes 0 and 1 coincide


def test_code_annotations_usage_majority_and_nearest_items():
    codes = np.array([[0, 2], [0, 2], [1, 2], [0, 0]])
    categories = [["Root", "A"], ["Root", "B"], ["Root", "B"], ["Root", "A"]]
    titles = ["first", "second", "third", "fourth"]
    distances = np.array([[0.5, 0.0], [0.1, 0.0], [0.2, 0.0], [0.3, 0.0]])
    table = code_annotations(
        codes, 3, titles=titles, categories=categories, distances=distances, top=2
    ).set_index(["level", "code"])
    assert table.loc[(0, 0), "count"] == 3
    assert table.loc[(0, 2), "count"] == 0
    assert table.loc[(0, 0), "share"] == pytest.approx(0.75)
    # Depth 1 is the single root, so the majority is read at depth 2: A, B, A -> A.
    assert table.loc[(0, 0), "majority_category"] == "Root > A"
    assert table.loc[(0, 0), "majority_share"] == pytest.approx(2 / 3)
    assert table.loc[(0, 2), "majority_category"] == "(none)"
    # Nearest two items of code 0 at level 0: second (0.1), fourth (0.3).
    assert table.loc[(0, 0), "top_items"] == "second; fourth"
    assert table.loc[(0, 2), "top_items"] == ""


def test_informative_depth_skips_a_shared_root():
    assert informative_depth([["R", "A"], ["R", "B"]]) == 2
    assert informative_depth([["A"], ["B"]]) == 1
    assert informative_depth([[], []]) is None


def test_residual_distances_follow_the_residual_chain():
    z = np.array([[3.0, 1.0]])
    codes = np.array([[2, 2]])
    # level 0: r = (3, 1), codeword (3, 0): distance 1; level 1: r = (0, 1), codeword (0, 1): 0
    np.testing.assert_allclose(residual_distances(z, CODEBOOKS, codes), [[1.0, 0.0]])


def test_tiny_maps_fall_back_to_principal_components():
    coordinates, method = umap_2d(CODEBOOKS[0], UmapSettings())
    assert method == "pca"
    assert coordinates.shape == (3, 2)
    # Pairwise distances survive a rotation onto the plane they already span.
    original = np.linalg.norm(CODEBOOKS[0][:, None] - CODEBOOKS[0][None], axis=-1)
    mapped = np.linalg.norm(coordinates[:, None] - coordinates[None], axis=-1)
    np.testing.assert_allclose(mapped, original, atol=1e-5)


@pytest.mark.slow
def test_umap_maps_are_cached_in_the_run_folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    codebooks = rng.normal(size=(2, 24, 4)).astype(np.float32)
    latents = rng.normal(size=(60, 4)).astype(np.float32)
    codes = rng.integers(0, 24, size=(60, 2))
    settings = UmapSettings(n_epochs=30, item_sample=40)
    key = {"checkpoint": "abc"}
    geometry = build_geometry(
        codebooks, codes, latents=latents, settings=settings, cache_dir=tmp_path, cache_key=key
    )
    cached = list(tmp_path.glob("umap_*.parquet"))
    assert len(cached) == 1
    codewords = geometry.codewords
    assert codewords[["umap_x", "umap_y", "joint_x", "joint_y"]].notna().all().all()
    assert len(geometry.items) == 40 + 24  # the sample and the level-0 codewords
    assert set(geometry.items["kind"]) == {"item", "codeword"}

    # A second call must read the cache, not run UMAP again.
    def fail(*args, **kwargs):
        raise AssertionError("UMAP ran although the maps were cached")

    monkeypatch.setattr(codeword_maps, "umap_maps", fail)
    again = cached_umap_maps(tmp_path, key, codebooks, latents[:40], settings)
    pd.testing.assert_frame_equal(again, pd.read_parquet(cached[0]))
    # Another key (a new checkpoint) replaces the entry.
    monkeypatch.undo()
    cached_umap_maps(tmp_path, {"checkpoint": "new"}, codebooks[:1], None, settings)
    assert len(list(tmp_path.glob("umap_*.parquet"))) == 1
