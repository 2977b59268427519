"""``analysis.metrics.categories.CategoryTable``: category labels without a string per item."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from analysis.metrics.categories import CategoryTable, category_table
from analysis.metrics.taxonomy import category_labels, informative_depth, node_purity
from rqvae.errors import DiagnosticUnavailable, InputError

PATHS = [["A", "x"], ["B"], [], ["A", "y"], ["A", "x", "1"], ["B", "x"]]


def tables():
    arrow = pa.array([*PATHS[:2], None, *PATHS[3:]], type=pa.list_(pa.string()))
    # as read from Parquet with the names dictionary-encoded, in two chunks whose dictionaries
    # differ (one row group each), with an unused name and a missing one
    dictionary = pa.list_(pa.dictionary(pa.int32(), pa.string()))
    first = pa.array([["A", "x"], ["B"], None], type=pa.list_(pa.string())).cast(dictionary)
    second = pa.ListArray.from_arrays(
        pa.array([0, 2, 5, 7], pa.int32()),
        pa.DictionaryArray.from_arrays(
            pa.array([2, 3, 2, 0, 4, 1, 0], pa.int32()),
            pa.array(["x", "B", "A", "y", "1", "unused"]),
        ),
    )
    chunked = pa.chunked_array([first, second])
    return [
        CategoryTable.from_paths(PATHS),
        CategoryTable.from_arrow(arrow),
        CategoryTable.from_arrow(chunked),
    ]


def test_dictionary_names_that_are_missing_read_none():
    dictionary = pa.DictionaryArray.from_arrays(pa.array([0, None, 1]), pa.array(["A", "B"]))
    column = pa.ListArray.from_arrays(pa.array([0, 2, 3], pa.int32()), dictionary)
    labels = category_labels(CategoryTable.from_arrow(column), 2)
    assert labels.tolist() == category_labels([["A", "None"], ["B"]], 2).tolist()


@pytest.mark.parametrize("table", tables(), ids=["paths", "arrow", "arrow dictionary"])
def test_labels_by_hand(table):
    assert table.deepest == 3
    numbers, names = table.labels(1)  # numbered in order of first appearance
    assert names.tolist() == ["A", "B", "(none)"]
    assert numbers.tolist() == [0, 1, 2, 0, 0, 1]
    numbers, names = table.labels(2)
    assert names.tolist() == ["A > x", "(none)", "A > y", "B > x"]
    assert numbers.tolist() == [0, 1, 1, 2, 0, 3]
    numbers, names = table.labels(3)
    assert names[numbers].tolist() == ["(none)"] * 4 + ["A > x > 1", "(none)"]
    for depth in (1, 2, 3, 4):  # as the string labels, factorized
        expected = pd.factorize(category_labels(PATHS, depth))
        assert table.labels(depth)[0].tolist() == expected[0].tolist()
        assert table.labels(depth)[1].tolist() == list(expected[1])
    assert informative_depth(table) == 1 == informative_depth(PATHS)


def test_paths_that_join_to_the_same_text_are_one_label():
    table = CategoryTable.from_paths([["a > b"], ["a", "b"], ["c"]])
    numbers, names = table.labels(2)
    assert names.tolist() == ["(none)", "a > b"]
    assert numbers.tolist() == [0, 1, 0]
    numbers, names = table.labels(1)
    assert names.tolist() == ["a > b", "a", "c"]


def test_taxonomy_is_the_same_from_a_table_and_take_reorders():
    codes = np.array([[0, 1], [1, 0], [0, 1], [0, 0], [1, 1], [1, 0]])
    for table in tables():
        assert node_purity(codes, table).equals(node_purity(codes, PATHS))
    table = tables()[1].take(np.array([5, 0]))
    assert table.labels(2)[1].tolist() == ["B > x", "A > x"]


def test_checks():
    with pytest.raises(InputError, match="expected one per item \\(3\\)"):
        category_table(tables()[0], 3)
    with pytest.raises(DiagnosticUnavailable, match="no item in the catalog has a category"):
        category_table(CategoryTable.from_paths([[], []]), 2)
    with pytest.raises(InputError, match="expected lists of names"):
        CategoryTable.from_arrow(pa.array(["A", "B"]))


def test_contingency_by_bincount_or_by_unique_is_the_same(monkeypatch):
    from analysis.metrics import taxonomy
    from analysis.metrics.taxonomy import taxonomy_scores

    rng = np.random.default_rng(2)
    codes = rng.integers(0, 4, size=(300, 2))
    paths = [["r", f"c{int(c)}"] for c in rng.integers(0, 5, size=300)]
    by_bincount = taxonomy_scores(codes, paths)
    monkeypatch.setattr(taxonomy, "JOINT_BINCOUNT_CELLS", 0)  # every table through np.unique
    assert taxonomy_scores(codes, paths).equals(by_bincount)
