"""``rqvae.id_metrics.collision_index``: the extra level that makes every semantic ID unique."""

from __future__ import annotations

import numpy as np
import pytest

from rqvae.errors import InputError
from rqvae.id_metrics import collision_index


def test_collision_index_counts_within_each_group_in_row_order():
    codes = np.array([[1, 2], [1, 2], [0, 0], [1, 2], [0, 0], [0, 1]])
    assert collision_index(codes).tolist() == [0, 1, 0, 2, 1, 0]
    assert collision_index(np.array([[7, 7, 7]])).tolist() == [0]


def test_collision_index_refuses_what_is_not_a_code_table():
    with pytest.raises(InputError, match="shape \\(3,\\), expected \\(n_items, n_levels\\)"):
        collision_index(np.array([1, 2, 3]))
    with pytest.raises(InputError, match="expected at least one item and level"):
        collision_index(np.zeros((0, 3), dtype=np.int64))
    with pytest.raises(InputError, match="negative code -1 \\(item 1, level 0\\)"):
        collision_index(np.array([[0, 1], [-1, 1]]))


def test_collision_index_makes_every_tuple_unique():
    codes = np.random.default_rng(0).integers(0, 3, size=(500, 2))
    with_collision = np.column_stack([codes, collision_index(codes)])
    assert len(np.unique(with_collision, axis=0)) == 500
    # and it stays as small as it can: each group numbers its members 0 .. size - 1
    _, inverse, sizes = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    for group, size in enumerate(sizes):
        assert sorted(collision_index(codes)[inverse.ravel() == group]) == list(range(size))


def test_prefix_members_are_the_rows_of_each_prefix():
    from rqvae.id_metrics import prefix_members

    codes = np.array([[1, 0], [0, 5], [1, 2], [0, 5], [1, 0]])
    assert [m.tolist() for m in prefix_members(codes, 0)] == [[0, 1, 2, 3, 4]]
    assert sorted(m.tolist() for m in prefix_members(codes, 1)) == [[0, 2, 4], [1, 3]]
    assert sorted(m.tolist() for m in prefix_members(codes, 2)) == [[0, 4], [1, 3], [2]]
