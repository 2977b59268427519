"""Diagnostic 5 assembled: codeword table, item map and the UMAP cache in the run folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.diagnosis import geometry as geometry_assembly
from analysis.diagnosis.geometry import build_geometry, cached_umap_maps
from analysis.metrics.umap_maps import UmapSettings


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
    # every item (UMAP fitted on 40 of them, the other 20 placed) and the level-0 codewords
    assert len(geometry.items) == 60 + 24
    assert set(geometry.items["kind"]) == {"item", "codeword"}
    assert geometry.items["placed"].sum() == 20
    assert geometry.item_density is None and geometry.n_items == 60

    # A second call must read the cache, not run UMAP again.
    def fail(*args, **kwargs):
        raise AssertionError("UMAP ran although the maps were cached")

    monkeypatch.setattr(geometry_assembly, "umap_maps", fail)
    again = cached_umap_maps(tmp_path, key, codebooks, latents, settings)
    pd.testing.assert_frame_equal(again, pd.read_parquet(cached[0]))
    # Another key (a new checkpoint) replaces the entry.
    monkeypatch.undo()
    cached_umap_maps(tmp_path, {"checkpoint": "new"}, codebooks[:1], None, settings)
    assert len(list(tmp_path.glob("umap_*.parquet"))) == 1


def test_collision_groups_rank_groups_by_size_then_first_item():
    from analysis.diagnosis.geometry import collision_groups

    codes = np.array([[0, 1], [2, 2], [0, 1], [3, 3], [2, 2], [0, 1], [3, 3]])
    # 0-1: three items (group 0); 2-2 and 3-3: two each, 2-2 first seen earlier (group 1)
    assert collision_groups(codes).tolist() == [0, 1, 0, 2, 1, 0, 2]
    assert collision_groups(np.array([[0], [1]])).tolist() == [-1, -1]


def test_above_item_points_a_sample_is_drawn_over_the_density_of_all(tmp_path):
    rng = np.random.default_rng(1)
    codebooks = rng.normal(size=(1, 16, 4)).astype(np.float32)
    latents = rng.normal(size=(90, 4)).astype(np.float32)
    codes = rng.integers(0, 16, size=(90, 1))
    settings = UmapSettings(n_epochs=20, item_sample=30, item_points=50, density_bins=5)
    geometry = build_geometry(
        codebooks, codes, latents=latents, settings=settings, collision=np.zeros(90, int)
    )
    items = geometry.items[geometry.items["kind"] == "item"]
    assert len(items) == 50 and items["item_index"].is_unique
    assert geometry.density_items == 90 and geometry.item_density["count"].sum() == 90
    row = items.iloc[0]
    assert row["full_id"] == str(codes[row["item_index"], 0])
