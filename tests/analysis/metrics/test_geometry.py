"""Codeword geometry, code annotations and small UMAP maps (diagnostic 5), worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.metrics.geometry import code_annotations, codeword_distances, codeword_geometry
from analysis.metrics.umap_maps import UmapSettings, umap_2d

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


def test_codeword_distances_follow_the_residual_chain():
    z = np.array([[3.0, 1.0]])
    codes = np.array([[2, 2]])
    # level 0: r = (3, 1), codeword (3, 0): distance 1; level 1: r = (0, 1), codeword (0, 1): 0
    np.testing.assert_allclose(codeword_distances(z, CODEBOOKS, codes), [[1.0, 0.0]])


def test_tiny_maps_fall_back_to_principal_components():
    coordinates, method = umap_2d(CODEBOOKS[0], UmapSettings())
    assert method == "pca"
    assert coordinates.shape == (3, 2)
    # Pairwise distances survive a rotation onto the plane they already span.
    original = np.linalg.norm(CODEBOOKS[0][:, None] - CODEBOOKS[0][None], axis=-1)
    mapped = np.linalg.norm(coordinates[:, None] - coordinates[None], axis=-1)
    np.testing.assert_allclose(mapped, original, atol=1e-5)
