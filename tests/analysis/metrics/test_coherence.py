"""Diagnostic 7 (semantic coherence): a hand-made 2-D case and exact search on real embeddings."""

import numpy as np
import pandas as pd
import pytest

from analysis.metrics.coherence import nearest_neighbors, neighbour_search, semantic_coherence
from rqvae.errors import DiagnosticUnavailable, InputError
from tests.reference_ids import load_tokens, tokens_to_codes

CODES = np.array([[0, 0], [0, 1], [0, 1], [1, 0]])
# Item 3 lies next to item 0, item 2 next to item 1.
EMBEDDINGS = np.array([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0], [1.0, 0.1]], dtype=np.float32)


def test_coherence_by_hand():
    table = semantic_coherence(EMBEDDINGS, CODES, n_queries=4, k=1, chunk=3)
    # Pairs (0,3), (1,2), (2,1), (3,0). Level 0: (1,2), (2,1) share code 0 -> 2/4.
    # Random: groups {0,1,2}, {3}: 3*2 / (4*3) = 1/2. Level 1: same pairs share (0,1) -> 2/4;
    # random: groups of sizes 1, 2, 1: 2*1 / 12 = 1/6.
    assert table["neighbor_share"].tolist() == [0.5, 0.5]
    assert table["random_share"].tolist() == pytest.approx([0.5, 1 / 6])
    assert table["lift"].tolist() == pytest.approx([1.0, 3.0])
    assert table["prefix_length"].tolist() == [1, 2]


def test_neighbors_by_hand_exclude_the_query():
    neighbors = nearest_neighbors(EMBEDDINGS, np.arange(4), k=2, chunk=1)
    assert neighbors[:, 0].tolist() == [3, 2, 1, 0]


def test_lift_is_nan_when_no_random_pair_can_share():
    table = semantic_coherence(EMBEDDINGS, np.arange(4).reshape(4, 1), n_queries=4, k=1)
    assert table["random_share"][0] == 0.0
    assert np.isnan(table["lift"][0])


def test_k_is_capped_at_every_other_item():
    # k = 10 on 4 items uses the 3 others: every pair is counted, so the neighbour share is
    # the random share. Level 0: items 0-2 each share code 0 with 2 of 3 -> 6 / 12 = 1/2;
    # level 1: items 1 and 2 share (0, 1) with 1 of 3 -> 2 / 12 = 1/6.
    table = semantic_coherence(EMBEDDINGS, CODES, n_queries=4, k=10)
    assert table["k"].tolist() == [3, 3]
    assert table["neighbor_share"].tolist() == pytest.approx([0.5, 1 / 6])
    assert table["lift"].tolist() == pytest.approx([1.0, 1.0])


def test_one_item_has_no_neighbours():
    with pytest.raises(DiagnosticUnavailable, match="no neighbours: the run has 1 item"):
        semantic_coherence(EMBEDDINGS[:1], CODES[:1])


def test_bad_embeddings():
    with pytest.raises(InputError, match="3 rows, expected one per item"):
        semantic_coherence(EMBEDDINGS[:3], CODES)
    broken = EMBEDDINGS.copy()
    broken[2, 0] = np.nan
    with pytest.raises(InputError, match="rows 2 contain NaN"):
        semantic_coherence(broken, CODES, k=1)


def test_chunked_search_is_exact_on_real_embeddings(scientific_embeddings):
    embeddings = np.load(scientific_embeddings, mmap_mode="r")
    queries = np.arange(0, embeddings.shape[0], 97)
    found = nearest_neighbors(embeddings, queries, k=10, chunk=1000)
    similarity = np.asarray(embeddings[queries]) @ np.asarray(embeddings).T
    similarity[np.arange(len(queries)), queries] = -np.inf
    top = np.sort(similarity, axis=1)[:, ::-1][:, :10]
    got = np.take_along_axis(similarity, found, axis=1)
    np.testing.assert_allclose(got, top, rtol=1e-5, atol=1e-6)


def test_reference_ids_are_coherent_and_collapse_is_not(scientific_dir, scientific_embeddings):
    embeddings = np.load(scientific_embeddings, mmap_mode="r")
    letter = semantic_coherence(
        embeddings, tokens_to_codes(load_tokens(scientific_dir, "letter_native")), n_queries=400
    )
    # Neighbours share the first code far more often than random pairs.
    assert (letter["lift"] > 5).all()
    assert letter["neighbor_share"].is_monotonic_decreasing
    collapsed = semantic_coherence(
        embeddings, tokens_to_codes(load_tokens(scientific_dir, "mql4grec")), n_queries=400
    )
    # One first-level code for everything: every pair shares it, lift exactly 1.
    assert collapsed.loc[0, "neighbor_share"] == 1.0
    assert collapsed.loc[0, "lift"] == pytest.approx(1.0)


def test_skipping_queries_that_cannot_change_keeps_every_neighbour():
    """Blocks of 7 rows, many exact ties (rounded vectors, zero rows): the search with queries
    skipped once no row of a block beats their k-th best equals a brute-force search that
    orders by similarity, then row."""
    rng = np.random.default_rng(5)
    x = np.round(rng.normal(size=(120, 3))).astype(np.float32)
    x[::17] = 0.0
    queries = np.arange(0, 120, 3)
    found = nearest_neighbors(x, queries, k=5, chunk=7)
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    for query, row in zip(queries, found, strict=True):
        similarity = (unit @ unit[query]).astype(np.float32)
        similarity[query] = -np.inf
        best = np.lexsort((np.arange(120), -similarity))[:5]
        np.testing.assert_array_equal(np.sort(similarity[row]), np.sort(similarity[best]))


def test_a_shared_deeper_search_gives_the_same_coherence(scientific_dir, scientific_embeddings):
    """The diagnosis searches once, 20 deep, for coherence (10) and the neighbourhood lists."""
    embeddings = np.load(scientific_embeddings, mmap_mode="r")
    codes = tokens_to_codes(load_tokens(scientific_dir, "rqvae_native"))
    direct = semantic_coherence(embeddings, codes, n_queries=300, k=10, seed=2)
    search = neighbour_search(embeddings, len(codes), n_queries=300, k=20, seed=2)
    assert search.k == 20 and len(search.queries) == 300
    shared = semantic_coherence(None, codes, k=10, search=search)
    pd.testing.assert_frame_equal(shared, direct)
    with pytest.raises(
        InputError, match="with 20 neighbours, expected 4344 items with at least 25"
    ):
        semantic_coherence(None, codes, k=25, search=search)
