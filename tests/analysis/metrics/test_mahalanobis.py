"""Mahalanobis assignment (diagnostic 8): covariance estimate and the identity-covariance check."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf

from analysis.metrics.mahalanobis import (
    LedoitWolfAccumulator,
    MahalanobisAssigner,
)
from rqvae.errors import InputError
from rqvae.quantizers import CodebookQuantizer, assign_codes, nearest_codewords, residual_chain


def euclidean_codes(z, codebooks):
    """The plain nearest-codeword residual assignment in float64, through the residual chain."""

    def nearest(level, residual):
        return nearest_codewords(residual, codebooks[level])

    return residual_chain(z, list(codebooks), nearest, dtype=np.float64).codes


@pytest.mark.parametrize(("n", "dim"), [(500, 8), (40, 20), (9, 1)])
def test_streamed_ledoit_wolf_equals_sklearn(n, dim):
    rng = np.random.default_rng(dim)
    # Anisotropic, off-centre data: the centred fourth moment must come out right.
    x = rng.normal(size=(n, dim)) * rng.uniform(0.1, 3.0, size=dim) + 5.0
    accumulator = LedoitWolfAccumulator(dim)
    for start in range(0, n, 13):
        accumulator.update(x[start : start + 13])
    covariance, shrinkage = accumulator.covariance()
    reference = LedoitWolf().fit(x)
    np.testing.assert_allclose(covariance, reference.covariance_, rtol=1e-9, atol=1e-10)
    assert shrinkage == pytest.approx(reference.shrinkage_, abs=1e-10)


def test_identity_covariance_reproduces_euclidean_assignment_exactly():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3000, 16)).astype(np.float32)
    codebooks = rng.normal(size=(3, 32, 16)).astype(np.float32)
    assigner = MahalanobisAssigner(covariance="identity", chunk_size=777).fit(z, codebooks)
    np.testing.assert_array_equal(assigner.covariances_[0], np.eye(16))
    np.testing.assert_array_equal(assigner.transform(z), euclidean_codes(z, codebooks))


def test_euclidean_codes_match_brute_force_distances():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(200, 3))
    codebooks = rng.normal(size=(2, 6, 3))
    codes = euclidean_codes(z, codebooks)
    residual = z.copy()
    for level in range(2):
        distances = ((residual[:, None, :] - codebooks[level][None]) ** 2).sum(-1)
        np.testing.assert_array_equal(codes[:, level], distances.argmin(1))
        residual -= codebooks[level][codes[:, level]]


def test_anisotropic_residuals_change_the_choice():
    # Level-0 residuals spread 10x more along x than along y: covariance ~ diag(100, 1).
    grid = np.array([[10.0, 1.0], [10.0, -1.0], [-10.0, 1.0], [-10.0, -1.0]])
    z = np.repeat(grid, 100, axis=0)
    codebook = np.array([[[5.0, 0.0], [0.0, 2.0]]])
    assigner = MahalanobisAssigner().fit(z, codebook)
    # By hand: S = diag(100, 1), mu = 50.5, delta = 49.5^2 = 2450.25, every ||x x^T - S||^2 is
    # 200, so beta = 200 / (n p) = 0.25 and the shrinkage is 0.25 / 2450.25.
    shrinkage = 0.25 / 2450.25
    assert assigner.shrinkages_[0] == pytest.approx(shrinkage)
    expected = (1 - shrinkage) * np.array([100.0, 1.0]) + shrinkage * 50.5
    np.testing.assert_allclose(np.diag(assigner.covariances_[0]), expected)
    origin = np.zeros((1, 2))
    # Euclidean: 25 vs 4 -> code 1. Mahalanobis: 25 / 100 vs 4 / 1 -> code 0.
    assert euclidean_codes(origin, codebook)[0, 0] == 1
    assert assigner.transform(origin)[0, 0] == 0


def test_later_levels_use_residuals_of_the_mahalanobis_assignment():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(400, 4)) * np.array([5.0, 1.0, 1.0, 0.2])
    codebooks = rng.normal(size=(2, 8, 4))
    assigner = MahalanobisAssigner(chunk_size=50).fit(z, codebooks)
    whitener = assigner.whiteners_[0]
    level0 = nearest_codewords(z @ whitener.T, codebooks[0] @ whitener.T)
    residual = z - codebooks[0][level0]
    expected = LedoitWolf().fit(residual).covariance_
    np.testing.assert_allclose(assigner.covariances_[1], expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(assigner.transform(z)[:, 0], level0)


def test_constant_residuals_get_a_reported_ridge():
    # Equal residuals: the covariance is 0, its mean eigenvalue 0 so the scale is 1, and the
    # first ridge tried, 1e-10 * 1, makes it positive definite.
    z = np.ones((10, 3))
    codebook = np.array([[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]])
    assigner = MahalanobisAssigner().fit(z, codebook)
    np.testing.assert_array_equal(assigner.covariances_[0], np.zeros((3, 3)))
    assert assigner.jitter_[0] == 1e-10
    # Every item sits on codeword 1.
    np.testing.assert_array_equal(assigner.transform(z), np.ones((10, 1), dtype=int))


def test_bad_input():
    with pytest.raises(InputError, match="expected one of"):
        MahalanobisAssigner(covariance="full")
    with pytest.raises(InputError, match="z has shape"):
        MahalanobisAssigner().fit(np.zeros((5, 2)), np.zeros((1, 3, 4)))


def test_side_by_side_tables_by_hand():
    from analysis.metrics.assignments import compare_assignments
    from analysis.metrics.residuals import residual_norms

    euclidean = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    mahalanobis = np.array([[0, 0], [0, 0], [1, 0], [0, 1]])
    categories = [["R", "A"], ["R", "A"], ["R", "B"], ["R", "B"]]
    z = np.zeros((4, 2))
    codebooks = np.zeros((2, 2, 2))
    residuals = {
        "euclidean": residual_norms(z, codebooks, euclidean),
        "mahalanobis": residual_norms(z, codebooks, mahalanobis),
    }
    comparison = compare_assignments(
        euclidean,
        mahalanobis,
        2,
        residuals=residuals,
        assigner=MahalanobisAssigner("identity").fit(z, codebooks),
        item_ids=["a", "b", "c", "d"],
        categories=categories,
    )
    assert comparison.agreement["agreement"].tolist() == [0.75, 0.75]
    assert comparison.agreement["prefix_agreement"].tolist() == [0.75, 0.5]
    levels = comparison.levels.set_index(["assignment", "level"])
    assert levels.loc[("euclidean", 1), "unique_id_ratio"] == 1.0
    assert levels.loc[("mahalanobis", 1), "unique_id_ratio"] == 0.75
    # Depth 1 is the shared root, so purity is read at depth 2 (A / B).
    assert comparison.category_depth == 2
    assert levels.loc[("euclidean", 0), "purity"] == 1.0
    assert levels.loc[("mahalanobis", 0), "purity"] == 0.75  # node 0 holds A, A, B
    assert comparison.n_changed == 2
    assert comparison.changed["item_id"].tolist() == ["b", "d"]
    assert comparison.changed["first_changed_level"].tolist() == [1, 0]
    assert comparison.changed["mahalanobis"].tolist() == ["0-0", "0-1"]
    np.testing.assert_array_equal(comparison.counts["mahalanobis"], [[3, 1], [3, 1]])


def test_comparison_with_the_quantizer_by_hand():
    """Which items change, counted on paper: one level, codewords (5, 0) and (0, 2)."""
    from analysis.metrics.assignments import mahalanobis_comparison

    grid = np.array([[10.0, 1.0], [10.0, -1.0], [-10.0, 1.0], [-10.0, -1.0]])
    z = np.repeat(grid, 5, axis=0).astype(np.float32)  # items 0-4, 5-9, 10-14, 15-19
    quantizer = CodebookQuantizer([np.array([[5.0, 0.0], [0.0, 2.0]])])
    # Euclidean squared distances to (5, 0) and (0, 2):
    #   (10, 1): 26 / 101 -> 0;  (10, -1): 26 / 109 -> 0
    #   (-10, 1): 226 / 101 -> 1;  (-10, -1): 226 / 109 -> 1
    euclidean = assign_codes(quantizer, z)
    np.testing.assert_array_equal(euclidean[:, 0], [0] * 10 + [1] * 10)
    comparison = mahalanobis_comparison(
        quantizer, z, euclidean, item_ids=[f"i{k}" for k in range(20)]
    )
    # Covariance diag(100, 1); Ledoit-Wolf shrinkage 5 / 2450.25 (beta = 200 / (n p) = 5,
    # delta = 49.5^2) barely moves it. Distances r^T S^-1 r to (5, 0) and (0, 2):
    #   (10, 1): 1.25 / 2 -> 0;  (10, -1): 1.25 / 10 -> 0
    #   (-10, 1): 3.25 / 2 -> 1;  (-10, -1): 3.25 / 10 -> 0, the only group that changes.
    shrinkage = 5 / 2450.25
    assert comparison.n_changed == 5
    assert comparison.changed["item_id"].tolist() == ["i15", "i16", "i17", "i18", "i19"]
    assert comparison.changed["euclidean"].tolist() == ["1"] * 5
    assert comparison.changed["mahalanobis"].tolist() == ["0"] * 5
    assert comparison.changed["first_changed_level"].tolist() == [0] * 5
    assert comparison.agreement["agreement"].tolist() == [0.75]
    assert [counts[0].tolist() for counts in comparison.counts.values()] == [[10, 10], [15, 5]]
    covariance = comparison.covariance.iloc[0]
    assert covariance["shrinkage"] == pytest.approx(shrinkage)
    assert covariance["trace"] == pytest.approx(101.0)
    small = shrinkage * 49.5
    assert covariance["condition_number"] == pytest.approx((100 - small) / (1 + small))
    # Latent MSE per coordinate: residuals (5, +-1), (5, +-1), (-10, -1), and (-10, -3) or
    # (-15, -1): squared norms 26, 26, 101, 109 -> 262 / 8; Mahalanobis 226 for the last.
    summary = comparison.summary.set_index("assignment")
    assert summary.loc["euclidean", "latent_mse"] == pytest.approx(262 / 8)
    assert summary.loc["mahalanobis", "latent_mse"] == pytest.approx(379 / 8)


@pytest.mark.parametrize("covariance", ["ledoit_wolf", "identity"])
@pytest.mark.parametrize("prepared", [False, True])
def test_fit_transform_keeps_residuals_and_gives_the_same_codes(covariance, prepared):
    """fit_transform assigns each level once with every residual kept; the covariances and
    codes are bit for bit those of fit then transform (same chunks, same arithmetic)."""
    rng = np.random.default_rng(4)
    z = (rng.normal(size=(700, 6)) * np.linspace(0.2, 2.0, 6)).astype(np.float32)
    codebooks = [rng.normal(size=(9, 6)).astype(np.float32) for _ in range(3)]

    def unit(level, residual):  # a prepare step, as GRID's per-level normalisation
        return residual / np.maximum(np.linalg.norm(residual, axis=1, keepdims=True), 1e-12)

    prepare = unit if prepared else None
    fitted = MahalanobisAssigner(covariance, chunk_size=128, prepare=prepare).fit(z, codebooks)
    both = MahalanobisAssigner(covariance, chunk_size=128, prepare=prepare)
    codes = both.fit_transform(z, codebooks)
    assert np.array_equal(codes, fitted.transform(z))
    assert np.array_equal(both.covariances_, fitted.covariances_)
    assert np.array_equal(both.whiteners_, fitted.whiteners_)
    if covariance == "identity" and not prepared:  # S = I: the Euclidean chain
        assert np.array_equal(codes, euclidean_codes(z, codebooks))
