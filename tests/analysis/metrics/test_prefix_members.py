"""Items sharing an item's prefix at every length: counted and listed exactly."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.metrics.prefix_members import prefix_members
from rqvae.errors import InputError


def test_members_of_each_prefix_worked_by_hand():
    codes = np.array([[1, 0, 2], [1, 0, 2], [1, 3, 0], [0, 0, 2], [1, 0, 5]])
    members = prefix_members(codes, row=0)
    assert members["prefix"].tolist() == ["1", "1-0", "1-0-2"]
    # code 1 at level 0: rows 0, 1, 2, 4; then 1-0: rows 0, 1, 4; then 1-0-2: rows 0, 1
    assert members["items"].tolist() == [4, 3, 2]
    assert [rows.tolist() for rows in members["rows"]] == [[1, 2, 4], [1, 4], [1]]
    unique = prefix_members(codes, row=3)
    assert unique["items"].tolist() == [1, 1, 1]
    assert [rows.tolist() for rows in unique["rows"]] == [[], [], []]


def test_limit_keeps_the_first_rows_and_the_counts_stay_exact():
    codes = np.zeros((30, 2), dtype=np.int64)
    members = prefix_members(codes, row=5, limit=3)
    assert members["items"].tolist() == [30, 30]
    assert members["rows"].iloc[0].tolist() == [0, 1, 2]


def test_a_row_outside_the_table_is_an_input_error():
    with pytest.raises(InputError, match="outside 0..1"):
        prefix_members(np.zeros((2, 2), dtype=np.int64), row=2)
