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
