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
    assert len(geometry.items) == 40 + 24  # the sample and the level-0 codewords
    assert set(geometry.items["kind"]) == {"item", "codeword"}

    # A second call must read the cache, not run UMAP again.
    def fail(*args, **kwargs):
        raise AssertionError("UMAP ran although the maps were cached")

    monkeypatch.setattr(geometry_assembly, "umap_maps", fail)
    again = cached_umap_maps(tmp_path, key, codebooks, latents[:40], settings)
    pd.testing.assert_frame_equal(again, pd.read_parquet(cached[0]))
    # Another key (a new checkpoint) replaces the entry.
    monkeypatch.undo()
    cached_umap_maps(tmp_path, {"checkpoint": "new"}, codebooks[:1], None, settings)
    assert len(list(tmp_path.glob("umap_*.parquet"))) == 1
