"""Neighbourhood agreement: ID-space ranking, Jaccard and RBO on cases worked out on paper, and
against a brute-force recomputation on the LETTER IDs of amazon-scientific."""

import numpy as np
import pytest

from analysis.metrics.coherence import neighbour_search
from analysis.metrics.neighbourhood import (
    id_neighbors,
    jaccard,
    neighbourhood_agreement,
    rank_biased_overlap,
)
from rqvae.errors import InputError
from tests.reference_ids import load_tokens, tokens_to_codes

# Six items, three levels, K = 2.
CODES = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]])


def test_id_ranking_by_hand():
    # Item 0 = (0,0,0): item 4 shares all 3 codes; 1 shares 2 (Hamming 1); 2 shares 1
    # (Hamming 1); 3 and 5 share none, Hamming 1 and 3.
    # Item 3 = (1,0,0): 5 shares the first code; of the others (shared 0) 0 and 4 differ at
    # one level, 1 and 2 at two: ties go to the lower row.
    # Item 5 = (1,1,1): 3 shares one code; then 1 and 2 (Hamming 2), then 0 and 4 (Hamming 3).
    found = id_neighbors(CODES, np.array([0, 3, 5]), k=5)
    assert found.tolist() == [[4, 1, 2, 3, 5], [5, 0, 4, 1, 2], [3, 1, 2, 0, 4]]
    # The first k of a deeper ranking: the ranking does not depend on k.
    assert id_neighbors(CODES, np.array([0, 3, 5]), k=2).tolist() == [[4, 1], [5, 0], [3, 1]]


def test_identical_ids_come_first_in_row_order():
    codes = np.array([[1, 1], [0, 0], [1, 1], [1, 1], [1, 0]])
    assert id_neighbors(codes, np.array([2]), k=4).tolist() == [[0, 3, 4, 1]]


def test_jaccard_and_rbo_by_hand():
    first, second = np.array([[1, 2, 3]]), np.array([[2, 1, 4]])
    # {1,2,3} and {2,1,4}: 2 common of 4.
    assert jaccard(first, second).tolist() == [0.5]
    # X_1 = 0, X_2 = 2, X_3 = 2: A = (0, 1, 2/3). p = 0.5:
    # 0.5 * (0 + 0.5 * 1 + 0.25 * 2/3) + 0.125 * 2/3 = 1/3 + 1/12 = 5/12.
    assert rank_biased_overlap(first, second, 0.5) == pytest.approx([5 / 12], rel=1e-12)
    # Swapped pair, p = 0.9: A = (0, 1): 0.1 * (0 + 0.9) + 0.81 * 1 = 0.9.
    assert rank_biased_overlap(np.array([[7, 8]]), np.array([[8, 7]]), 0.9) == pytest.approx(
        [0.9], rel=1e-12
    )
    same, other = np.array([[4, 5, 6]]), np.array([[1, 2, 3]])
    assert rank_biased_overlap(same, same, 0.9) == pytest.approx([1.0], rel=1e-12)
    assert rank_biased_overlap(same, other, 0.9).tolist() == [0.0]
    assert jaccard(same, other).tolist() == [0.0]


def test_agreement_by_hand():
    # Four unit-ish vectors: 3 next to 0, 2 next to 1 (the coherence test's case).
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0], [1.0, 0.1]], dtype=np.float32)
    codes = np.array([[0, 0], [0, 1], [0, 1], [1, 0]])
    search = neighbour_search(embeddings, 4, n_queries=4, k=3)
    # By cosine: 0 -> [3, 2, 1], 1 -> [2, 3, 0], 2 -> [1, 3, 0], 3 -> [0, 2, 1].
    assert search.neighbors.tolist() == [[3, 2, 1], [2, 3, 0], [1, 3, 0], [0, 2, 1]]
    # By ID: 0 -> [1, 2, 3], 1 -> [2, 0, 3], 2 -> [1, 0, 3], 3 -> [0, 1, 2].
    assert id_neighbors(codes, np.arange(4), 3).tolist() == [
        [1, 2, 3],
        [2, 0, 3],
        [1, 0, 3],
        [0, 1, 2],
    ]
    result = neighbourhood_agreement(codes, search, depths=(1, 2, 10), persistence=0.5)
    table = result.table.set_index("k")
    # k = 1: only query 0 disagrees (3 against 1): 3/4. k = 2: every query shares one of
    # three items: 1/3. k = 10 uses the 3 other items: the same sets, Jaccard 1.
    assert table["k_used"].tolist() == [1, 2, 3]
    assert table["jaccard"].tolist() == pytest.approx([0.75, 1 / 3, 1.0], rel=1e-12)
    # RBO, p = 0.5, k = 2: query 0 has A = (0, 1/2): 0.5 * 0.5 * 0.5 + 0.25 * 0.5 = 0.25;
    # queries 1-3 have A = (1, 1/2): 0.5 * (1 + 0.25) + 0.125 = 0.75. Mean 0.625. k = 1 is A_1.
    assert table.loc[1, "rbo"] == pytest.approx(0.75, rel=1e-12)
    assert table.loc[2, "rbo"] == pytest.approx(0.625, rel=1e-12)
    document = result.to_dict()
    assert document["jaccard_at_k"] == pytest.approx({"1": 0.75, "2": 1 / 3, "10": 1.0})
    assert (document["queries"], document["n_items"], document["sampled"]) == (4, 4, False)


def test_bad_input():
    embeddings = np.eye(4, dtype=np.float32)
    shallow = neighbour_search(embeddings, 4, n_queries=4, k=1)
    with pytest.raises(InputError, match="with 1 neighbours, expected 4 items with at least 3"):
        neighbourhood_agreement(np.zeros((4, 2), dtype=np.int64), shallow)
    with pytest.raises(InputError, match="persistence"):
        neighbourhood_agreement(np.zeros((4, 2), dtype=np.int64), shallow, persistence=1.0)
    with pytest.raises(InputError, match="expected 1..3"):
        id_neighbors(np.zeros((4, 2), dtype=np.int64), np.arange(4), 4)


def brute_force_id_ranking(codes: np.ndarray, query: int) -> np.ndarray:
    """Every other row, ordered by (longest shared prefix desc, Hamming asc, row asc)."""
    differs = codes != codes[query]  # (n, L)
    shared = np.where(differs.any(axis=1), differs.argmax(axis=1), codes.shape[1])
    hamming = differs.sum(axis=1)
    rows = np.arange(len(codes))
    order = np.lexsort((rows, hamming, -shared))
    return order[order != query]


def brute_force_rbo(first: list, second: list, p: float) -> float:
    k = len(first)
    agreement = [len(set(first[:d]) & set(second[:d])) / d for d in range(1, k + 1)]
    return (1 - p) * sum(p ** (d - 1) * a for d, a in enumerate(agreement, 1)) + p**k * agreement[
        -1
    ]


def test_against_brute_force_on_letter_ids(scientific_dir, scientific_embeddings):
    codes = tokens_to_codes(load_tokens(scientific_dir, "letter_native"))
    embeddings = np.load(scientific_embeddings, mmap_mode="r")
    search = neighbour_search(embeddings, len(codes), n_queries=150, k=20, seed=3)
    by_id = id_neighbors(codes, search.queries, 20)
    for query, row in zip(search.queries.tolist(), by_id.tolist(), strict=True):
        assert row == brute_force_id_ranking(codes, query)[:20].tolist()
    result = neighbourhood_agreement(codes, search).table.set_index("k")
    for k in (10, 20):
        pairs = [
            (e[:k], i[:k]) for e, i in zip(search.neighbors.tolist(), by_id.tolist(), strict=True)
        ]
        expected_jaccard = np.mean([len(set(e) & set(i)) / len(set(e) | set(i)) for e, i in pairs])
        expected_rbo = np.mean([brute_force_rbo(e, i, 0.9) for e, i in pairs])
        assert result.loc[k, "jaccard"] == pytest.approx(expected_jaccard, rel=1e-12)
        assert result.loc[k, "rbo"] == pytest.approx(expected_rbo, rel=1e-12)
    # LETTER's IDs follow the embeddings; the same IDs dealt to other items do not.
    shuffled = codes[np.random.default_rng(0).permutation(len(codes))]
    chance = neighbourhood_agreement(shuffled, search).table.set_index("k")
    assert (result["jaccard"] > 5 * chance["jaccard"]).all()
    assert (result["rbo"] > 5 * chance["rbo"]).all()
