"""The probe's evaluation worked by hand: shared IDs (CCE), bootstrap intervals, paired
differences, the per-user file, the vectorised trie."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rqvae.probe.bootstrap import bootstrap_means, intervals, paired_difference
from rqvae.probe.generative import id_ranks
from rqvae.probe.ranking import per_user_metrics, ranking_metrics
from rqvae.probe.trie import IdTrie, beam_search
from rqvae.probe.users import UserRanks, read_user_ranks, write_user_ranks
from rqvae.probe.vocabulary import SemanticVocabulary

# 4 items: 0, 1 and 2 share the codes (1, 0); item 3 is (0, 1) alone
CODES = np.array([[1, 0], [1, 0], [1, 0], [0, 1]])
COLLISION = np.array([0, 1, 2, 0])


def test_token_mode_gives_every_item_its_own_id():
    vocabulary = SemanticVocabulary.from_codes(CODES, COLLISION, "token")
    assert vocabulary.steps == 3 and len(vocabulary.id_codes) == 4
    assert vocabulary.group_size.tolist() == [1, 1, 1, 1]
    # token ids: level 0 owns 1..2, level 1 owns 3..4, the collision index 5..7
    assert vocabulary.level_ranges == [(1, 3), (3, 5), (5, 8)]
    assert vocabulary.item_tokens.tolist() == [[2, 3, 5], [2, 3, 6], [2, 3, 7], [1, 4, 5]]


def test_shared_mode_groups_colliding_items():
    vocabulary = SemanticVocabulary.from_codes(CODES, COLLISION, "shared")
    assert vocabulary.steps == 2
    assert vocabulary.id_codes.tolist() == [[0, 1], [1, 0]]  # sorted distinct IDs
    assert vocabulary.item_id.tolist() == [1, 1, 1, 0]
    assert vocabulary.group_size.tolist() == [1, 3]
    assert vocabulary.summary() == {
        "mode": "shared",
        "ids": 2,
        "items": 4,
        "shared_ids": 1,
        "items_in_shared_ids": 3,
        "largest_group": 3,
    }


def test_collision_corrected_hits_count_one_over_g():
    """Three users; generated lists of IDs (rows of id_codes: 0 = item 3's, 1 = the shared one).

    user 0: target item 1 (shared by G = 3), its ID first  -> naive hit 1, corrected 1/3
    user 1: target item 3 (alone), its ID second           -> 1 and 1, NDCG 1/log2(3)
    user 2: target item 0 (G = 3), its ID absent           -> 0
    """
    vocabulary = SemanticVocabulary.from_codes(CODES, COLLISION, "shared")
    lists = np.array([[1, 0], [1, 0], [0, -1]])
    ranks, weights = id_ranks(lists, np.array([1, 3, 0]), vocabulary)
    assert ranks.tolist() == [0.0, 1.0, np.inf]
    assert weights.tolist() == pytest.approx([1 / 3, 1.0, 1 / 3])
    naive = ranking_metrics(ranks, 10)
    corrected = ranking_metrics(ranks, 10, weights)
    assert naive["recall_at_10"] == pytest.approx(2 / 3)
    assert corrected["recall_at_10"] == pytest.approx((1 / 3 + 1) / 3)
    assert corrected["ndcg_at_10"] == pytest.approx((1 / 3 + 1 / np.log2(3)) / 3)
    # the naive value is inflated by (2/3) / (4/9) - 1 = 50%
    assert naive["recall_at_10"] / corrected["recall_at_10"] - 1 == pytest.approx(0.5)


def test_metrics_at_5_and_10_by_hand():
    values = per_user_metrics(np.array([0, 4, 5, np.inf]))
    assert values["recall_at_5"].tolist() == [1, 1, 0, 0]
    assert values["recall_at_10"].tolist() == [1, 1, 1, 0]
    assert values["ndcg_at_5"].tolist() == pytest.approx([1, 1 / np.log2(6), 0, 0])
    assert values["ndcg_at_10"][2] == pytest.approx(1 / np.log2(7))


def test_bootstrap_means_are_means_of_resampled_users():
    """The bincount shortcut equals drawing the users and averaging, chunk by chunk."""
    values = np.random.default_rng(1).random((7, 2))
    means = bootstrap_means(values, resamples=120, seed=3)
    rng = np.random.default_rng(3)
    expected = []
    for size in (50, 50, 20):  # the chunks bootstrap_means draws
        drawn = rng.integers(0, 7, size=(size, 7))
        expected.append(values[drawn].mean(axis=1))
    np.testing.assert_allclose(means, np.concatenate(expected), rtol=1e-12)


def test_bootstrap_intervals_by_hand():
    # every user the same: every resample has the same mean, the interval is a point
    assert intervals({"m": np.full(50, 0.25)}, resamples=200) == {"m": [0.25, 0.25]}
    # two users, 0 and 1: a resample's mean is 0, 1/2 or 1 with chances 1/4, 1/2, 1/4, so
    # the 2.5th percentile of 1,000 resamples is 0 and the 97.5th is 1
    assert intervals({"m": np.array([0.0, 1.0])}) == {"m": [0.0, 1.0]}
    # the interval holds the mean, and narrows with more users
    rng = np.random.default_rng(0)
    small, large = rng.random(100), rng.random(10_000)
    (low_s, high_s), (low_l, high_l) = (intervals({"m": v})["m"] for v in (small, large))
    assert low_s < small.mean() < high_s and low_l < large.mean() < high_l
    assert high_l - low_l < (high_s - low_s) / 5


def test_paired_difference_cancels_what_users_share():
    """b = a - 0.1 for every user: the difference is exactly 0.1 in every resample, although
    a and b alone vary a lot from user to user."""
    a = np.random.default_rng(0).random(500)
    result = paired_difference({"m": a}, {"m": a - 0.1})["m"]
    assert result["difference"] == pytest.approx(0.1)
    assert result["difference_ci95"] == pytest.approx([0.1, 0.1])
    assert result["a_better_share"] == 1.0
    with pytest.raises(ValueError, match="same users"):
        paired_difference({"m": a}, {"m": a[:10]})


def test_user_ranks_round_trip(tmp_path):
    ranks = UserRanks(
        user_ids=np.array(["u1", "u2", "u3"]),
        sequences_sha256="abc",
        ranks={
            ("item_sasrec", "test"): np.array([0.0, 12.0, 3.0]),
            ("semantic_tiger", "test"): np.array([1.0, np.inf, 0.0]),
        },
        weights={("semantic_tiger", "test"): np.array([1.0, 0.5, 1 / 3])},
    )
    write_user_ranks(tmp_path / "u.npz", ranks)
    back = read_user_ranks(tmp_path / "u.npz")
    assert back.user_ids.tolist() == ["u1", "u2", "u3"] and back.sequences_sha256 == "abc"
    assert back.ranks[("semantic_tiger", "test")].tolist() == [1.0, np.inf, 0.0]
    assert back.weights[("semantic_tiger", "test")].tolist() == [1.0, 0.5, 1 / 3]
    assert back.weights[("item_sasrec", "test")].tolist() == [1.0, 1.0, 1.0]
    corrected = back.metrics("semantic_tiger")["recall_at_10"]
    assert corrected.tolist() == [1.0, 0.0, 1 / 3]
    assert back.metrics("semantic_tiger", naive=True)["recall_at_10"].tolist() == [1, 0, 1]


def test_trie_edges_by_hand():
    # IDs (0, 1), (0, 2), (1, 0) with 2 codes at level 0 and 3 at level 1
    trie = IdTrie(np.array([[0, 1], [0, 2], [1, 0]]), [2, 3])
    assert trie.allowed(0, torch.tensor([0])).tolist() == [[True, True]]
    # node 0 of level 1 is the prefix (0,), node 1 is (1,); -1 is a dead beam
    assert trie.allowed(1, torch.tensor([0, 1, -1])).tolist() == [
        [False, True, True],
        [True, False, False],
        [False, False, False],
    ]
    assert trie.child(1, torch.tensor([0, 0, 1, 1]), torch.tensor([2, 0, 0, 1])).tolist() == [
        1,
        -1,
        2,
        -1,
    ]
    assert trie.leaf_id.tolist() == [0, 1, 2]


def test_constrained_beam_never_leaves_the_catalog():
    rng = np.random.default_rng(0)
    codes = np.unique(rng.integers(0, 8, size=(60, 3)), axis=0)[:40]  # 40 distinct IDs
    trie = IdTrie(codes, [8, 8, 8])
    lows = np.array([1, 9, 17])
    generator = torch.Generator().manual_seed(0)

    def next_log_probs(prefix, width, parents):  # random scores: the trie alone keeps beams valid
        scores = torch.randn(prefix.shape[0], 8, generator=generator)
        return torch.log_softmax(scores, dim=-1)

    for beam in (10, 60):  # 60 > the 40 IDs that exist: the extra beams stay empty
        ids = beam_search(next_log_probs, 20, trie, lows, beam)
        assert ids.shape == (20, beam)
        assert ((ids >= 0).sum(axis=1) == min(beam, 40)).all()
        for row in ids:
            found = row[row >= 0]
            assert len(set(found.tolist())) == len(found)  # no ID twice
    free = beam_search(next_log_probs, 20, trie, lows, 10, constrained=False)
    assert (free == -1).any()  # random scores leave the 40 of 512 tuples


def test_beam_search_finds_the_best_ids():
    """Scores that favour code 1 at every step, then code 0: the best ID is (1, 1), then the
    IDs with one 0, in order of where the 0 costs least."""
    trie = IdTrie(np.array([[0, 0], [0, 1], [1, 0], [1, 1]]), [2, 2])
    table = torch.log(torch.tensor([[0.3, 0.7], [0.4, 0.6]]))  # step 0, step 1

    def next_log_probs(prefix, width, parents):
        return table[prefix.shape[1]].expand(prefix.shape[0], 2)

    ids = beam_search(next_log_probs, 1, trie, np.array([1, 3]), 4)
    # (1,1) .42, (1,0) .28, (0,1) .18, (0,0) .12 -> rows 3, 2, 1, 0
    assert ids.tolist() == [[3, 2, 1, 0]]
