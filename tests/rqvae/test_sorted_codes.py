"""``rqvae.id_metrics.SortedCodes``: a code table checked and sorted once, for every diagnostic."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.metrics.collisions import collision_report
from analysis.metrics.entropy import branching_factor, joint_entropy
from rqvae.errors import InputError
from rqvae.id_metrics import (
    SortedCodes,
    check_codes,
    lexicographic_order,
    packed_key,
    prefix_groups,
    sorted_codes,
)

CODES = np.array([[1, 2], [0, 3], [1, 0], [0, 3], [1, 2]])


def test_packed_key_orders_rows_lexicographically():
    # level 1 needs 2 bits (largest code 3): key = c0 * 4 + c1
    assert packed_key(CODES).tolist() == [6, 3, 4, 3, 6]
    # sorted by (c0, c1), equal rows in row order: (0,3) rows 1, 3; (1,0) row 2; (1,2) rows 0, 4
    assert lexicographic_order(CODES).tolist() == [1, 3, 2, 0, 4]
    assert SortedCodes(CODES).order.tolist() == [1, 3, 2, 0, 4]


def test_codes_too_wide_to_pack_fall_back_to_lexsort():
    codes = np.array([[2**40, 1], [0, 2**30], [2**40, 0]])
    assert packed_key(codes) is None  # 41 + 31 bits > 62
    assert SortedCodes(codes).order.tolist() == [1, 2, 0]
    assert SortedCodes(codes).groups(1).sizes.tolist() == [1, 2]


def test_groups_are_those_of_prefix_groups_and_made_once():
    index = SortedCodes(CODES, [2, 4])
    for length in (1, 2):
        expected = prefix_groups(CODES, length)
        found = index.groups(length)
        assert found.group.tolist() == expected.group.tolist()
        assert found.sizes.tolist() == expected.sizes.tolist()
        assert found.first_rows.tolist() == expected.first_rows.tolist()
        assert index.groups(length) is found  # kept, not recomputed
    # by hand: prefixes (0,3) x2, (1,0) x1, (1,2) x2
    assert index.groups(2).sizes.tolist() == [2, 1, 2]
    assert index.groups(2).first_rows.tolist() == [1, 2, 0]
    assert [c.tolist() for c in index.counts()] == [[2, 3], [1, 0, 2, 2]]


def test_metrics_take_a_sorted_table_and_give_the_same_numbers():
    codes = np.random.default_rng(0).integers(0, 5, size=(400, 3))
    index = sorted_codes(codes, 5)
    assert sorted_codes(index) is index
    assert check_codes(index) is index.codes  # checked once, when it was made
    assert joint_entropy(index) == joint_entropy(codes)
    assert branching_factor(index).equals(branching_factor(codes))
    plain, shared = collision_report(codes), collision_report(index)
    assert shared.prefixes.equals(plain.prefixes)
    assert shared.largest_groups.equals(plain.largest_groups)


def test_a_sorted_table_is_checked_when_made():
    with pytest.raises(InputError, match="negative code"):
        SortedCodes(np.array([[0, -1]]))
    with pytest.raises(InputError, match="expected codes below codebook_size 2"):
        SortedCodes(np.array([[0, 2]]), 2)
    with pytest.raises(InputError, match="prefix length is 3, expected 1..2"):
        SortedCodes(CODES).groups(3)
    with pytest.raises(InputError, match="without codebook sizes"):
        SortedCodes(CODES).counts()
