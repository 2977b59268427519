"""Diagnostic 3 (unique-ID ratio and collisions) by hand and on the ten reference methods."""

import numpy as np
import pytest

from analysis.metrics.collisions import collision_report
from rqvae.errors import InputError
from rqvae.id_metrics import collision_index, prefix_groups, unique_id_ratio
from tests.reference_ids import METHODS, load_tokens, tokens_to_codes

CODES = np.array([[0, 0], [0, 1], [0, 1], [1, 0]])


def test_report_by_hand():
    report = collision_report(CODES, item_ids=["a", "b", "c", "d"])
    assert report.prefixes.to_dict(orient="list") == {
        "prefix_length": [1, 2],
        "distinct": [2, 3],
        "unique_id_ratio": [0.5, 0.75],
        "largest_group": [3, 2],
        "collision_share": [0.75, 0.5],
    }
    assert report.unique_id_ratio == 0.75
    assert report.collision_share == 0.5  # b and c collide
    assert report.largest_group == 2
    assert report.group_sizes.to_dict(orient="list") == {
        "size": [1, 2],
        "groups": [2, 1],
        "items": [2, 2],
    }
    assert report.largest_groups["prefix"].tolist() == ["0-1"]
    assert report.largest_groups["item_ids"].tolist() == [["b", "c"]]
    assert report.unique_id_ratio_with_collision == 1.0
    assert not report.collision_given
    assert report.to_dict()["largest_groups"][0]["item_ids"] == ["b", "c"]


def test_collision_index_follows_order_of_appearance():
    codes = np.array([[5, 1], [2, 2], [5, 1], [2, 2], [5, 1], [0, 0]])
    assert collision_index(codes).tolist() == [0, 0, 1, 1, 2, 0]
    assert collision_index(CODES).tolist() == [0, 0, 1, 0]


def test_a_given_collision_column_that_does_not_separate_is_measured():
    report = collision_report(CODES, collision=np.zeros(4, dtype=int))
    assert report.collision_given
    assert report.unique_id_ratio_with_collision == 0.75


def test_collision_column_in_any_order_is_counted_like_a_set():
    # labels that do not count up in row order inside their groups (the packed pairs are then
    # sorted before counting); the truth is a plain-Python set of (codes..., collision)
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 3, size=(500, 2))
    collision = rng.integers(0, 4, size=500)
    report = collision_report(codes, collision=collision)
    distinct = {(*row, c) for row, c in zip(codes.tolist(), collision.tolist(), strict=True)}
    assert report.unique_id_ratio_with_collision == len(distinct) / 500
    assert collision_report(codes).unique_id_ratio_with_collision == 1.0


def test_item_ids_may_be_a_function_of_the_rows():
    # a table of millions converts only the listed groups' ids
    asked = []

    def ids_of(rows):
        asked.append(rows.tolist())
        return [f"item {row}" for row in rows.tolist()]

    report = collision_report(CODES, item_ids=ids_of)
    assert report.largest_groups["item_ids"].tolist() == [["item 1", "item 2"]]
    assert asked == [[1, 2]]
    assert collision_report(CODES).largest_groups["item_ids"].tolist() == [["1", "2"]]


def test_prefix_groups_are_numbered_in_prefix_order():
    groups = prefix_groups(np.array([[3, 0], [1, 5], [3, 1], [1, 5]]), 2)
    assert groups.group.tolist() == [1, 0, 2, 0]
    assert groups.sizes.tolist() == [2, 1, 1]
    assert groups.first_rows.tolist() == [1, 0, 2]


def test_largest_groups_are_sorted_by_size_and_limited_to_top():
    codes = np.array([[1], [1], [2], [2], [2], [3], [4], [4]])
    report = collision_report(codes, top=2)
    assert report.largest_groups["size"].tolist() == [3, 2]
    assert report.largest_groups["prefix"].tolist() == ["2", "1"]
    assert report.largest_groups["rows"].tolist() == [[2, 3, 4], [0, 1]]


def test_wrong_item_ids_length():
    with pytest.raises(InputError, match=r"item_ids has shape \(3,\), expected \(4,\)"):
        collision_report(CODES, item_ids=["a", "b", "c"])


def test_vectorised_on_a_million_items():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(1_000_000, 4))
    codes[:1000] = codes[0]  # one big group
    report = collision_report(codes)
    assert report.largest_group == 1000
    assert report.unique_id_ratio_with_collision == 1.0


def test_reference_unique_ratios_at_three_and_four_levels(scientific_dir):
    """The ratios equal distinct token tuples / items, counted with plain Python sets."""
    measured = {}
    for method in METHODS:
        index = load_tokens(scientific_dir, method)
        rows = list(index.values())
        expected_3 = len({tuple(tokens[:3]) for tokens in rows}) / len(rows)
        expected_4 = len({tuple(tokens) for tokens in rows}) / len(rows)
        codes = tokens_to_codes(index)
        report = collision_report(codes, item_ids=list(index))
        ratios = report.prefixes.set_index("prefix_length")["unique_id_ratio"]
        assert ratios[3] == pytest.approx(expected_3, abs=1e-12)
        assert ratios[4] == pytest.approx(expected_4, abs=1e-12)
        assert unique_id_ratio(codes[:, :3]) == pytest.approx(expected_3, abs=1e-12)
        assert report.unique_id_ratio_with_collision == 1.0
        measured[method] = (ratios[3], ratios[4])
    # Collision-free variants are unique at 4 levels; the README figure for RQ-VAE is 0.77.
    for method in ("letter_zcr", "quasid_zcr", "rkmeans_zcr", "rkmeans_zcr_cf", "rqvae_zcr"):
        assert measured[method][1] == 1.0
    assert measured["rqvae_native"][0] == pytest.approx(0.77, abs=0.005)
    assert measured["mql4grec"][0] < 0.02  # all items share one first-level code


def test_reference_largest_group_items(scientific_dir):
    index = load_tokens(scientific_dir, "rkmeans_native")
    report = collision_report(tokens_to_codes(index), item_ids=list(index))
    biggest = report.largest_groups.iloc[0]
    members = [item for item, tokens in index.items() if tokens == index[biggest["item_ids"][0]]]
    assert biggest["item_ids"] == members
    assert biggest["size"] == report.largest_group == len(members)
    assert report.group_sizes["items"].sum() == len(index)
