"""Norms, anisotropy, spectrum and effective rank: hand-worked cases and the real catalog."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.metrics.embedding_geometry import embedding_geometry
from rqvae.data.embeddings import EmbeddingReader
from rqvae.errors import DiagnosticUnavailable, InputError


def test_cross_of_four_points_by_hand():
    # (+-1, 0) and (0, +-2): mean 0, covariance diag(2/4, 8/4) = diag(0.5, 2).
    x = np.array([[1, 0], [-1, 0], [0, 2], [0, -2]], dtype=np.float32)
    geometry = embedding_geometry(x, n_pairs=500, seed=3)
    np.testing.assert_allclose(geometry.eigenvalues, [2.0, 0.5], atol=1e-12)
    # participation ratio (2 + 0.5)^2 / (4 + 0.25)
    assert geometry.effective_rank == pytest.approx(6.25 / 4.25)
    # unit rows sum to 0: (0 - 4) / (4 * 3); by hand: pair cosines 0, -1, 0, 0, -1, 0
    assert geometry.mean_cosine_all_pairs == pytest.approx(-1 / 3)
    np.testing.assert_allclose(geometry.norms, [1, 1, 2, 2])
    assert geometry.norm_summary["mean"].iloc[0] == pytest.approx(1.5)
    assert geometry.norm_summary["p50"].iloc[0] == pytest.approx(1.5)
    assert geometry.n_pairs == 500 and geometry.summary()["n_pairs"] == 500
    assert geometry.spectrum()["cumulative_share"].iloc[-1] == pytest.approx(1.0)


def test_every_pair_with_the_same_cosine_fixes_the_random_estimate():
    # Three directions 120 degrees apart: every distinct pair has cosine -1/2, whatever is drawn.
    angles = np.deg2rad([90, 210, 330])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1) * np.array([[1], [2], [3]])
    geometry = embedding_geometry(x, n_pairs=1000, seed=0)
    assert geometry.anisotropy == pytest.approx(-0.5)
    assert geometry.anisotropy_std == pytest.approx(0.0, abs=1e-12)
    assert geometry.mean_cosine_all_pairs == pytest.approx(-0.5)


def test_one_direction_is_fully_anisotropic_with_rank_one():
    x = np.array([[1, 0], [2, 0], [3, 0]], dtype=np.float64)
    geometry = embedding_geometry(x, n_pairs=100)
    assert geometry.anisotropy == pytest.approx(1.0)
    assert geometry.mean_cosine_all_pairs == pytest.approx(1.0)
    np.testing.assert_allclose(geometry.eigenvalues, [2 / 3, 0.0], atol=1e-12)
    assert geometry.effective_rank == pytest.approx(1.0)
    assert geometry.norm_summary["std"].iloc[0] == pytest.approx(math.sqrt(2 / 3))


def test_zero_row_has_cosine_zero_and_pairs_are_distinct_rows():
    # Rows 0 and 1 are identical directions, row 2 is zero: pairs (0,1) cos 1, others cos 0.
    x = np.array([[1.0, 0.0], [5.0, 0.0], [0.0, 0.0]])
    geometry = embedding_geometry(x, n_pairs=20_000, seed=1)
    # 2 of the 6 ordered distinct pairs have cosine 1: exact mean 1/3, sampled close to it.
    assert geometry.mean_cosine_all_pairs == pytest.approx(1 / 3)
    assert geometry.anisotropy == pytest.approx(1 / 3, abs=0.02)


def test_chunking_and_a_far_offset_do_not_change_the_covariance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)) * [1, 2, 3, 4, 5] + 1e4
    whole = embedding_geometry(x, chunk=1000)
    pieces = embedding_geometry(x, chunk=7)
    expected = np.sort(np.linalg.eigvalsh(np.cov(x.T, bias=True)))[::-1]
    np.testing.assert_allclose(pieces.eigenvalues, expected, rtol=1e-6)
    np.testing.assert_allclose(whole.eigenvalues, pieces.eigenvalues, rtol=1e-9)
    assert whole.anisotropy == pieces.anisotropy


def test_bad_input():
    with pytest.raises(DiagnosticUnavailable, match="2 or more"):
        embedding_geometry(np.ones((1, 3)))
    with pytest.raises(InputError, match="rows 1 contain NaN"):
        embedding_geometry(np.array([[1.0, 0.0], [np.nan, 1.0], [0.0, 1.0]]))
    with pytest.raises(InputError, match="expected \\(n_items, dim\\)"):
        embedding_geometry(np.ones(4))


def test_real_catalog_sampled_anisotropy_matches_the_exact_mean(scientific_embeddings):
    reader = EmbeddingReader(scientific_embeddings)
    geometry = embedding_geometry(reader, n_pairs=10_000, seed=0)
    x = np.load(scientific_embeddings).astype(np.float64)
    units = x / np.linalg.norm(x, axis=1, keepdims=True)
    total = units.sum(axis=0)
    exact = (total @ total - len(x)) / (len(x) * (len(x) - 1))
    assert geometry.mean_cosine_all_pairs == pytest.approx(exact, rel=1e-6)
    # 10,000 pairs with a cosine spread of ~0.1: standard error ~0.001
    assert abs(geometry.anisotropy - exact) < 0.01
    eigenvalues = np.linalg.eigvalsh(np.cov(x.T, bias=True))
    rank = eigenvalues.sum() ** 2 / (eigenvalues**2).sum()
    assert geometry.effective_rank == pytest.approx(rank, rel=1e-6)
    np.testing.assert_allclose(geometry.norms, 1.0, atol=1e-5)  # MiniLM rows are normalised
