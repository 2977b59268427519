"""UMAP maps: deterministic for a seed, meaningful, and compiled code kept in a per-user cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.metrics import numba_cache
from analysis.metrics.umap_maps import UmapSettings, euclidean_distances, umap_2d


def two_clusters(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points in 16-D around two centres 20 apart (spread 1); and their cluster labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    centres = np.zeros((2, 16))
    centres[1, 0] = 20.0
    return (centres[labels] + rng.normal(size=(n, 16))).astype(np.float32), labels


def test_same_seed_same_map_and_clusters_stay_apart():
    points, labels = two_clusters()
    settings = UmapSettings(n_epochs=50)
    first, method = umap_2d(points, settings)
    again, _ = umap_2d(points, settings)
    assert method == "umap"
    np.testing.assert_array_equal(first, again)
    other, _ = umap_2d(points, UmapSettings(n_epochs=50, seed=1))
    assert not np.array_equal(first, other)
    # every point's nearest neighbour on the map is in its own cluster
    mapped = np.linalg.norm(first[:, None] - first[None], axis=-1)
    np.fill_diagonal(mapped, np.inf)
    assert (labels[mapped.argmin(axis=1)] == labels).all()


def test_distance_matrix_is_the_euclidean_one():
    points, _ = two_clusters(40)
    expected = np.linalg.norm(
        points[:, None].astype(np.float64) - points[None].astype(np.float64), axis=-1
    )
    distances = euclidean_distances(points)
    assert distances.dtype == np.float32
    np.testing.assert_allclose(distances, expected, rtol=1e-6)
    assert (np.diag(distances) == 0).all()


def test_cache_folder_is_per_user_and_configurable(monkeypatch, tmp_path):
    for name in ("NUMBA_CACHE_DIR", "RQVAE_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert numba_cache.numba_cache_dir() == tmp_path / "home" / ".cache" / "rqvae" / "numba"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert numba_cache.numba_cache_dir() == tmp_path / "xdg" / "rqvae" / "numba"
    monkeypatch.setenv("RQVAE_CACHE_DIR", str(tmp_path / "rqvae"))
    assert numba_cache.numba_cache_dir() == tmp_path / "rqvae" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    assert numba_cache.numba_cache_dir() == tmp_path / "numba"
    repo = Path(__file__).resolve().parents[3]
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert repo not in numba_cache.numba_cache_dir().parents


def test_import_turns_caching_on_and_leaves_numba_as_it_was():
    import numba
    import numba.core.decorators

    umap = numba_cache.import_umap()
    assert umap.UMAP is not None
    assert numba.njit is numba.core.decorators.njit  # the import-time default is undone
    for module_name, name in numba_cache.FIT_FUNCTIONS:
        module = __import__(module_name, fromlist=[name])
        cache = type(getattr(module, name)._cache).__name__
        assert cache != "NullCache", f"{module_name}.{name} is not cached on disk"


def test_placed_items_sit_at_the_membership_weighted_mean_of_their_neighbours():
    from analysis.metrics.umap_maps import place_items

    anchors = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=np.float32)
    positions = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, -2.0]], dtype=np.float32)
    # k = 2: log2(2) = 1, so the nearest weighs 1 and the second exp(-(d2 - d1) / s) -> 0:
    # a row equal to an anchor lands on it; the midpoint of two anchors halfway between them
    placed = place_items(anchors, positions, np.array([[10, 0], [5, 0]], np.float32), k=2)
    np.testing.assert_allclose(placed, [[1.0, 1.0], [0.5, 0.5]], atol=1e-5)
    # k = 3 at (5, 5), as far from all three: equal weights, the mean of their positions
    centre = np.array([[5.0, 5.0]], dtype=np.float32)
    np.testing.assert_allclose(
        place_items(anchors, positions, centre, k=3), [positions.mean(axis=0)], atol=1e-4
    )


def test_density_grid_counts_every_item_once():
    from analysis.metrics.umap_maps import density_grid

    positions = np.array([[0.0, 0.0], [0.1, 0.1], [1.0, 1.0], [1.0, 0.0]])
    grid = density_grid(positions, bins=2)
    assert len(grid) == 4 and grid["count"].sum() == 4
    cells = {(round(x, 2), round(y, 2)): c for x, y, c in grid[["x", "y", "count"]].to_numpy()}
    assert cells == {(0.25, 0.25): 2, (0.25, 0.75): 0, (0.75, 0.25): 1, (0.75, 0.75): 1}


def test_item_map_fits_a_sample_and_places_the_rest():
    from analysis.metrics.umap_maps import umap_maps

    points, _ = two_clusters(120)
    codebook = points[:8] + 0.01
    settings = UmapSettings(n_epochs=20, item_sample=50, density_bins=4)
    maps = umap_maps([codebook], points, settings, density_latents=points)
    items = maps[(maps["map"] == "items") & (maps["sample_row"] >= 0)]
    assert sorted(items["sample_row"]) == list(range(120))  # every item drawn, once
    assert (items["method"] == "umap").sum() == 50
    assert (items["method"] == "placed").sum() == 70
    density = maps[maps["map"] == "density"]
    assert len(density) == 16 and density["count"].sum() == 120
