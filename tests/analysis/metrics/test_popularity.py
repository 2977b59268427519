"""Popularity allocation: groups, crowding, collisions and fan-out worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.metrics.popularity import item_popularity, popularity_allocation, popularity_groups
from rqvae.errors import InputError


def test_item_popularity_counts_interactions_and_skips_unknown():
    np.testing.assert_array_equal(item_popularity([0, 2, 2, -1, 0, 0], 4), [3, 0, 2, 0])
    with pytest.raises(InputError, match="3 items"):
        item_popularity([5], 3)


def test_groups_break_ties_by_row():
    np.testing.assert_array_equal(
        popularity_groups(np.array([2, 2, 2, 2]), 0.25), ["head", "tail", "tail", "tail"]
    )
    # 3 items seen, ceil(0.5 * 3) = 2 in the head; the unseen item is cold
    np.testing.assert_array_equal(
        popularity_groups(np.array([1, 0, 5, 3]), 0.5), ["tail", "cold", "head", "head"]
    )


def test_allocation_by_hand():
    codes = np.array([[0, 0], [0, 0], [0, 1], [1, 0]])
    result = popularity_allocation(codes, np.array([5, 3, 1, 0]), head_fraction=0.5)
    groups = result.groups.set_index(["group", "prefix_length"])
    # head = items 0, 1; tail = item 2; cold = item 3.
    # prefix length 1: items 0-2 share code 0 (3 items), item 3 is alone
    assert groups.loc[("head", 1), "mean_group_size"] == 3
    assert groups.loc[("tail", 1), "shared_share"] == 1
    assert groups.loc[("cold", 1), "mean_group_size"] == 1
    assert groups.loc[("cold", 1), "shared_share"] == 0
    # full ID: items 0 and 1 collide (0, 0); item 2 is alone
    assert groups.loc[("head", 2), "mean_group_size"] == 2
    assert groups.loc[("head", 2), "shared_share"] == 1
    assert groups.loc[("tail", 2), "shared_share"] == 0
    assert groups.loc[("head", 2), "interactions"] == 8
    assert result.collision_share("head") == 1.0 and result.collision_share("tail") == 0.0
    assert result.interaction_collision_share == pytest.approx(8 / 9)

    levels = result.levels.set_index("prefix_length")
    assert levels.loc[1, "prefixes"] == 2
    # items per prefix (3, 1): Gini (-1 * 1 + 1 * 3) / (2 * 4); interactions (9, 0): 9 / 18
    assert levels.loc[1, "item_gini"] == pytest.approx(0.25)
    assert levels.loc[1, "interaction_gini"] == pytest.approx(0.5)
    assert levels.loc[1, "mean_fanout"] == 1.5
    assert np.isnan(levels.loc[1, "spearman_fanout_interactions"])  # only two prefixes
    prefixes = result.prefixes.set_index("prefix")
    assert prefixes.loc["0", ["items", "interactions", "fanout"]].tolist() == [3, 9, 2]
    assert prefixes.loc["1", ["items", "interactions", "fanout"]].tolist() == [1, 0, 1]
    summary = result.summary()
    assert summary["head_items"] == 2 and summary["cold_items"] == 1
    assert summary["head_interaction_share"] == pytest.approx(8 / 9)


def test_fanout_follows_popularity_by_spearman():
    # prefixes 0, 1, 2 with 1, 2, 3 children; interactions 1, 10, 100: rank correlation 1
    codes = np.array([[0, 0], [1, 0], [1, 1], [2, 0], [2, 1], [2, 2]])
    popularity = np.array([1, 5, 5, 40, 30, 30])
    levels = popularity_allocation(codes, popularity).levels.set_index("prefix_length")
    assert levels.loc[1, "spearman_fanout_interactions"] == pytest.approx(1.0)
    assert levels.loc[1, "spearman_fanout_items"] == pytest.approx(1.0)


def test_bad_input():
    codes = np.array([[0], [1]])
    with pytest.raises(InputError, match="expected \\(2,\\)"):
        popularity_allocation(codes, np.array([1, 2, 3]))
    with pytest.raises(InputError, match="non-negative"):
        popularity_allocation(codes, np.array([1, -1]))
    with pytest.raises(InputError, match="head_fraction"):
        popularity_allocation(codes, np.array([1, 1]), head_fraction=0)
