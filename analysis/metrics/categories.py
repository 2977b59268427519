"""Category paths of a catalog, encoded once as integers, for the taxonomy diagnostics.

A catalog gives each item a category path, root first (``["Tools", "Fasteners"]``). The
taxonomy diagnostics need, for a depth d, the *category at depth d* of every item: the path
cut to its first d names and joined with ``" > "``, or ``"(none)"`` when the path is shorter
(see :mod:`analysis.metrics.taxonomy`). Built as Python strings that costs one string per item
and depth: minutes and gigabytes at ten million items. :class:`CategoryTable` keeps instead
one small integer per item and path position and builds the labels of a depth with
``pd.factorize`` over int64 keys; only the distinct labels become strings.

:meth:`CategoryTable.labels` returns exactly what
``pd.factorize(category_labels(paths, depth))`` returns for the same paths: label numbers in
order of first appearance over the items, and the label names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.metrics.checks import check_categories
from rqvae.errors import DiagnosticUnavailable, InputError

NO_CATEGORY = "(none)"
SEPARATOR = " > "


class CategoryTable:
    """Category paths of ``n`` items as integers.

    parts : int (n, deepest), ``parts[i, j]`` the number of item i's j-th category name in
        ``part_names`` (-1 past the end of its path). lengths : int64 (n,), path lengths.
    part_names : object array of the distinct names.
    """

    def __init__(self, parts: np.ndarray, lengths: np.ndarray, part_names: np.ndarray):
        self.parts = parts
        self.lengths = lengths
        self.part_names = np.asarray(part_names, dtype=object)
        self._dense: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def deepest(self) -> int:
        """Length of the longest path (0 when no item has a category)."""
        return int(self.lengths.max()) if len(self.lengths) else 0

    @classmethod
    def from_paths(cls, paths: list[list[str]]) -> CategoryTable:
        """From checked paths (:func:`analysis.metrics.checks.check_categories`)."""
        lengths = np.fromiter((len(path) for path in paths), dtype=np.int64, count=len(paths))
        flat = [name for path in paths for name in path]
        numbers, names = pd.factorize(pd.Series(flat, dtype=object))
        numbers = numbers.astype(np.int32)
        return cls(_fill_parts(lengths, numbers), lengths, np.asarray(names, dtype=object))

    @classmethod
    def from_arrow(cls, column) -> CategoryTable:
        """From a pyarrow list-of-strings column (a catalog's ``categories``), without making a
        Python object per item. Null lists are empty paths; a null name reads ``"None"`` (as
        ``str(None)`` does for paths read as Python lists)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(column, pa.Array):
            column = pa.chunked_array([column])
        if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
            raise InputError(f"categories have type {column.type}, expected lists of names")
        lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy().astype(np.int64)
        flat = pc.list_flatten(column)
        if pa.types.is_dictionary(flat.type):  # read as dictionary: the names exist once
            flat = flat.unify_dictionaries()
            dictionary = flat.chunk(0).dictionary if flat.num_chunks else pa.array([], pa.string())
            names = np.asarray([str(name) for name in dictionary.to_pylist()] + ["None"], object)
            indices = pa.chunked_array(
                [chunk.indices for chunk in flat.chunks], flat.type.index_type
            )
            numbers = pc.fill_null(indices, len(names) - 1).to_numpy().astype(np.int32)
            names, numbers = _distinct_names(names, numbers)
        else:
            flat = pc.fill_null(pc.cast(flat, pa.string()), "None").combine_chunks()
            encoded = pc.dictionary_encode(flat)
            numbers = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
            names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
        del flat  # the strings: only the distinct names are kept
        return cls(_fill_parts(lengths, numbers), lengths, names)

    def take(self, rows: np.ndarray | None) -> CategoryTable:
        """The paths of ``rows`` (int (m,)), in that order; itself for None."""
        if rows is None:
            return self
        return CategoryTable(self.parts[rows], self.lengths[rows], self.part_names)

    def labels(self, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """``(numbers int64 (n,), names object (n_labels,))``: the category of each item at
        ``depth`` (>= 1), numbered in order of first appearance, ``"(none)"`` a label like
        the others; equal to ``pd.factorize(category_labels(paths, depth))``."""
        if depth < 1:
            raise InputError(f"category depth is {depth}, expected >= 1")
        dense, names = self._path_labels(depth)
        # Two different paths may join to the same text (a name holding " > "): merge them.
        merged, merged_names = pd.factorize(pd.Series(names, dtype=object))
        if len(merged_names) == len(names):
            return dense, names
        return merged[dense].astype(np.int64), np.asarray(merged_names, dtype=object)

    def _path_labels(self, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """Labels of the paths cut at ``depth`` (distinct paths, before joining to text)."""
        if depth in self._dense:
            return self._dense[depth]
        has = self.lengths >= depth
        column = self.parts[:, depth - 1] if depth <= self.parts.shape[1] else None
        if depth == 1:
            key = np.where(has, column if column is not None else -1, -1)
        else:
            previous, previous_names = self._path_labels(depth - 1)
            base = np.int64(max(len(self.part_names), 1))
            key = (
                np.where(has, previous * base + column, -1)
                if column is not None
                else np.full(len(self), -1, dtype=np.int64)
            )
        dense, uniques = pd.factorize(key)
        uniques = np.asarray(uniques, dtype=np.int64)
        if depth == 1:
            texts = [NO_CATEGORY if u < 0 else self.part_names[u] for u in uniques.tolist()]
        else:
            texts = [
                NO_CATEGORY
                if u < 0
                else previous_names[u // base] + SEPARATOR + self.part_names[u % base]
                for u in uniques.tolist()
            ]
        result = (dense.astype(np.int64), np.asarray(texts, dtype=object))
        self._dense[depth] = result
        return result


def _distinct_names(names: np.ndarray, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Names used by ``numbers``, each once (a dictionary may hold unused or, after ``str``,
    equal entries), with ``numbers`` renumbered to match."""
    used = np.bincount(numbers, minlength=len(names)) > 0
    merged, distinct = pd.factorize(pd.Series(names[used], dtype=object))
    renumber = np.full(len(names), -1, dtype=np.int32)
    renumber[used] = merged
    return np.asarray(distinct, dtype=object), renumber[numbers]


def _fill_parts(lengths: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """(n, deepest) matrix of part numbers from the flat numbers of paths of ``lengths``."""
    deepest = int(lengths.max()) if len(lengths) else 0
    if len(numbers) == len(lengths) * deepest:  # every path equally long: a reshape
        return numbers.reshape(len(lengths), deepest)
    parts = np.full((len(lengths), deepest), -1, dtype=np.int32)
    if len(numbers):
        rows = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        starts = (np.cumsum(lengths) - lengths).astype(np.int64)
        positions = (np.arange(len(numbers)) - np.repeat(starts, lengths)).astype(np.int32)
        parts[rows, positions] = numbers
    return parts


def category_table(categories, n_items: int) -> CategoryTable:
    """``categories`` (a :class:`CategoryTable`, or one path per item as lists) as a table.

    Raises InputError when the count is not ``n_items``, :class:`DiagnosticUnavailable` when
    no item has a category (as :func:`analysis.metrics.checks.check_categories`)."""
    if isinstance(categories, CategoryTable):
        if len(categories) != n_items:
            raise InputError(
                f"categories has {len(categories)} entries, expected one per item ({n_items})"
            )
        if categories.deepest == 0:
            raise DiagnosticUnavailable("no item in the catalog has a category")
        return categories
    return CategoryTable.from_paths(check_categories(categories, n_items))
