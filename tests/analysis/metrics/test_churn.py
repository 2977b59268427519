"""ID churn: raw against Hungarian-matched, by hand and on a real run's permuted copy."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.metrics.churn import id_churn
from rqvae.errors import InputError


def test_relabelled_tree_has_full_raw_churn_and_no_matched_churn():
    a = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    b = np.array([[1, 1], [1, 0], [0, 1], [0, 0]])  # level 0 swapped, level 1 swapped
    churn = id_churn(a, b)
    assert churn.levels["raw_churn"].tolist() == [1.0, 1.0]
    assert churn.levels["matched_churn"].tolist() == [0.0, 0.0]
    assert churn.full_id_raw == 1.0 and churn.full_id_matched == 0.0


def test_matching_keeps_the_largest_overlap():
    # A -> B counts: 0->5: 2, 0->6: 1, 1->6: 2, 2->6: 1. Best one-to-one renaming: 0->5, 1->6
    # keeps 4 items; items 2 (0->6) and 5 (2->6) change.
    a = np.array([[0], [0], [0], [1], [1], [2]])
    b = np.array([[5], [5], [6], [6], [6], [6]])
    churn = id_churn(a, b)
    assert churn.levels["raw_changed"].tolist() == [6]
    assert churn.levels["matched_changed"].tolist() == [2]
    assert churn.levels["matched_churn"].iloc[0] == pytest.approx(2 / 6)


def test_level_codes_are_matched_inside_each_prefix():
    # Under prefix 0 the second code is renamed 0->1, 1->0; under prefix 1 it stays. A single
    # renaming per level could not keep both; per prefix it keeps all.
    a = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    b = np.array([[0, 1], [0, 0], [1, 0], [1, 1]])
    churn = id_churn(a, b)
    assert churn.levels["raw_changed"].tolist() == [0, 2]
    assert churn.levels["matched_changed"].tolist() == [0, 0]
    # Item 3 moves from prefix 1 to prefix 0: A 0->C 0 holds 2 items, 1->1 one, 1->0 one, so
    # the renaming 0->0, 1->1 loses item 3 at level 0, and with it every longer prefix; the
    # others keep their second codes.
    c = np.array([[0, 0], [0, 1], [1, 0], [0, 1]])
    churn = id_churn(a, c)
    assert churn.levels["matched_changed"].tolist() == [1, 1]
    assert churn.levels["raw_changed"].tolist() == [1, 1]


def test_different_depths_compare_common_prefixes_only():
    churn = id_churn(np.array([[0, 0], [1, 1]]), np.array([[3, 0, 0], [4, 1, 0]]))
    assert churn.levels["prefix_length"].tolist() == [1, 2]
    assert churn.levels["matched_churn"].tolist() == [0.0, 0.0]
    assert churn.full_id_raw is None and churn.full_id_matched is None


def test_row_mismatch_is_refused():
    with pytest.raises(InputError, match="same items"):
        id_churn(np.zeros((3, 2), dtype=int), np.zeros((2, 2), dtype=int))


def test_real_run_against_itself_and_a_permuted_copy(trained_run):
    import pandas as pd

    table = pd.read_parquet(trained_run / "semantic_ids.parquet")
    codes = table[[c for c in table.columns if c.startswith("code_")]].to_numpy()
    self_churn = id_churn(codes, codes)
    assert self_churn.levels["raw_churn"].max() == 0 and self_churn.full_id_matched == 0
    rng = np.random.default_rng(7)
    permuted = codes.copy()
    for level in range(codes.shape[1]):
        labels = rng.permutation(codes[:, level].max() + 1)
        permuted[:, level] = labels[codes[:, level]]
    churn = id_churn(codes, permuted)
    assert churn.levels["raw_churn"].min() > 0.8
    assert churn.full_id_raw > 0.9
    assert churn.levels["matched_churn"].max() == 0.0


def test_history_tokens_worked_out_by_hand():
    from analysis.metrics.churn import history_churn

    # Run A: three items, two levels and the collision index. In run B item 0 keeps its ID,
    # item 1 changes its level-1 code, and item 2 is gone.
    tokens_a = np.array([[0, 1, 0], [0, 2, 0], [1, 0, 0]])
    tokens_b = np.array([[0, 1, 0], [0, 3, 0], [-1, -1, -1]])
    rows = np.array([0, 1, 1, 2, -1, 0])  # item 0 twice, item 1 twice, item 2 once, 1 unknown
    history = history_churn(tokens_a, tokens_b, rows)
    assert (history.interactions, history.unknown, history.tokens) == (5, 1, 15)
    # item 1: one token x 2 interactions; item 2: all three tokens
    assert history.tokens_changed == 5 and history.token_churn == pytest.approx(1 / 3)
    assert history.positions["changed"].tolist() == [1, 3, 1]
    assert history.positions["token"].tolist() == ["level 0", "level 1", "collision"]
    assert history.interactions_changed == 3
    assert history.interaction_churn == pytest.approx(3 / 5)


def test_history_tokens_across_depths_compare_token_strings():
    from analysis.metrics.churn import history_churn

    # A's third token is its collision index 0, <|sid_2_0|>; B's third token is its level-2
    # code: 0 gives the same string, 5 another. B's longer IDs change every whole sequence.
    tokens_a = np.array([[3, 1, 0], [3, 2, 0]])
    tokens_b = np.array([[3, 1, 0, 0], [3, 2, 5, 0]])
    history = history_churn(tokens_a, tokens_b, np.array([0, 1]))
    assert history.positions["changed"].tolist() == [0, 0, 1]
    assert history.interactions_changed == 2
