"""The math of a table of semantic IDs, defined once for the trainer and the diagnostics.

``codes`` is int64, shape (n_items, n_levels): row i is item i's ID, one code per level, with
level l's codes in ``[0, K_l)``. ``codebook_sizes`` lists ``K_l`` per level (levels may differ
in size); a single int means every level has that size. The trainer logs these numbers every
epoch; :mod:`analysis.metrics` builds its tables from the same functions, so a number in
``metrics.jsonl`` and the same number in a diagnosis can never disagree.

Everything groups items with one lexicographic sort of the rows (a sort by the full tuple is
also a sort by every prefix of it), so a million items take about a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rqvae.errors import InputError

# --- checks at the boundary -------------------------------------------------------------------


def check_codes(codes, name: str = "codes") -> np.ndarray:
    """Return ``codes`` as an int64 array of shape (n_items, n_levels), or raise InputError.

    Accepts any array-like of non-negative integers (integer dtype, or floats that are whole
    numbers). At least one item and one level are required. A :class:`SortedCodes` was checked
    when it was made: its codes are returned as they are.
    """
    if isinstance(codes, SortedCodes):
        return codes.codes
    array = np.asarray(codes)
    if array.ndim != 2:
        raise InputError(f"{name} has shape {array.shape}, expected (n_items, n_levels)")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{name} has shape {array.shape}, expected at least one item and level")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise InputError(f"{name} holds non-integer values, expected integer codes")
    elif array.dtype.kind not in "iu":
        raise InputError(f"{name} has dtype {array.dtype}, expected integer codes")
    array = array.astype(np.int64, copy=False)
    if array.min() < 0:
        row, level = np.argwhere(array < 0)[0]
        raise InputError(
            f"{name} holds negative code {array[row, level]} (item {row}, level {level}); "
            "codes must be >= 0"
        )
    return array


def check_codebook_sizes(
    codebook_sizes: int | Sequence[int], codes: np.ndarray, name: str = "codes"
) -> list[int]:
    """``K_l`` per level as a list of positive ints, every code of ``codes`` checked below it.

    ``codebook_sizes`` is one int for every level, or one per level.
    """
    n_levels = codes.shape[1]
    if isinstance(codebook_sizes, int | np.integer) and not isinstance(codebook_sizes, bool):
        sizes = [int(codebook_sizes)] * n_levels
    elif isinstance(codebook_sizes, Sequence | np.ndarray) and not isinstance(codebook_sizes, str):
        sizes = list(codebook_sizes)
    else:
        raise InputError(f"codebook_size is {codebook_sizes!r}, expected a positive integer")
    if len(sizes) != n_levels:
        raise InputError(
            f"codebook_sizes has {len(sizes)} entries, expected one per level ({n_levels})"
        )
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise InputError(f"codebook_size is {size!r}, expected a positive integer")
    sizes = [int(size) for size in sizes]
    too_big = codes >= np.asarray(sizes)[None, :]
    if too_big.any():
        row, level = np.argwhere(too_big)[0]
        raise InputError(
            f"{name} holds code {codes[row, level]} at level {level} (item {row}), "
            f"expected codes below codebook_size {sizes[level]}"
        )
    return sizes


# --- usage ------------------------------------------------------------------------------------


def code_counts(codes, codebook_sizes: int | Sequence[int]) -> list[np.ndarray]:
    """Items per code at each level: one int64 array of shape (K_l,) per level."""
    codes = check_codes(codes)
    codebook_sizes = check_codebook_sizes(codebook_sizes, codes)
    return [
        np.bincount(codes[:, level], minlength=size).astype(np.int64)
        for level, size in enumerate(codebook_sizes)
    ]


def used_fractions(counts: Sequence[np.ndarray]) -> np.ndarray:
    """Per level, codes with at least one item / K_l; float64 (n_levels,)."""
    return np.array([(level_counts > 0).sum() / len(level_counts) for level_counts in counts])


def entropy_nats(counts) -> float:
    """Shannon entropy ``H = -sum_k p_k ln p_k`` of the frequencies ``counts / counts.sum()``.

    In nats, with ``0 ln 0 = 0``; 0.0 for an all-zero vector.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum())


def perplexities(counts: Sequence[np.ndarray]) -> np.ndarray:
    """Per level ``exp(H(p))``: from 1 (one code takes every item) to K_l (even use)."""
    return np.exp([entropy_nats(level_counts) for level_counts in counts])


# --- grouping by prefix -----------------------------------------------------------------------


@dataclass
class PrefixGroups:
    """Items grouped by their first ``length`` codes.

    group : int64, shape (n_items,)
        Group number of each item; groups are numbered in lexicographic order of the prefix.
    sizes : int64, shape (n_groups,)
        Items per group.
    first_rows : int64, shape (n_groups,)
        The lowest row index in each group (gives the prefix: ``codes[first_rows, :length]``).
    """

    length: int
    group: np.ndarray
    sizes: np.ndarray
    first_rows: np.ndarray


def lexicographic_order(codes: np.ndarray) -> np.ndarray:
    """Row order sorting ``codes`` (n_items, n_levels) by level 0, then 1, ...; stable in rows."""
    if isinstance(codes, SortedCodes):
        return codes.order
    key = packed_key(codes)
    if key is not None:  # one stable sort of an int64 key instead of one per level
        return np.argsort(key, kind="stable")
    # np.lexsort takes its primary key last.
    return np.lexsort(codes[:, ::-1].T)


def _level_bits(codes: np.ndarray) -> list[int]:
    """Bits each level's largest code needs (at least 1)."""
    return [max(int(top).bit_length(), 1) for top in codes.max(axis=0)]


def packed_key(codes: np.ndarray) -> np.ndarray | None:
    """Each row's codes packed into one int64, level 0 in the highest bits, so that the key's
    numeric order is the rows' lexicographic order and ``key >> shift`` is a prefix; None when
    the levels need more than 62 bits together (codes must be checked: non-negative)."""
    bits = _level_bits(codes)
    if sum(bits) > 62:
        return None
    key = np.zeros(len(codes), dtype=np.int64)
    for level, width in enumerate(bits):
        key <<= width
        key |= codes[:, level]
    return key


def prefix_groups(codes: np.ndarray, length: int, order: np.ndarray | None = None) -> PrefixGroups:
    """Group items by their first ``length`` codes (1 <= length <= n_levels).

    ``codes`` must be checked (:func:`check_codes`). ``order`` may pass a precomputed
    :func:`lexicographic_order` of the full codes, so that the groups of every prefix length
    come from a single sort.
    """
    if not 1 <= length <= codes.shape[1]:
        raise InputError(f"prefix length is {length}, expected 1..{codes.shape[1]}")
    if isinstance(codes, SortedCodes):
        return codes.groups(length)
    if order is None:
        order = lexicographic_order(codes)
    sorted_prefixes = codes[order, :length]  # (n_items, length)
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (sorted_prefixes[1:] != sorted_prefixes[:-1]).any(axis=1)
    return _groups_from_starts(length, order, starts)


def _groups_from_starts(length: int, order: np.ndarray, starts: np.ndarray) -> PrefixGroups:
    """:class:`PrefixGroups` from the sorted rows ``order`` and where each group starts."""
    sorted_group = np.cumsum(starts) - 1
    group = np.empty(len(order), dtype=np.int64)
    group[order] = sorted_group
    return PrefixGroups(
        length=length,
        group=group,
        sizes=np.bincount(sorted_group).astype(np.int64),
        first_rows=order[starts].astype(np.int64),
    )


def prefix_members(codes: np.ndarray, length: int) -> list[np.ndarray]:
    """The rows of each group of items sharing their first ``length`` codes, one int64 array
    per group; ``length`` 0 is one group of every row (the root of the prefix tree)."""
    if length == 0:
        return [np.arange(len(codes))]
    groups = prefix_groups(codes[:, :length], length)
    order = np.argsort(groups.group, kind="stable")
    return np.split(order, np.cumsum(groups.sizes)[:-1])


def prefix_strings(codes: np.ndarray, rows: np.ndarray, length: int) -> list[str]:
    """Prefixes ``codes[rows, :length]`` written as ``"12-7-3"`` (level codes joined by ``-``)."""
    return ["-".join(map(str, prefix)) for prefix in codes[rows, :length].tolist()]


def unique_id_ratio(codes) -> float:
    """Distinct L-tuples / items, in (0, 1]. 1.0 means no two items share an ID."""
    index = sorted_codes(codes)
    return len(index.groups(index.shape[1]).sizes) / index.shape[0]


def collision_index(codes) -> np.ndarray:
    """Position of each item inside its group of identical L-tuples, int64, shape (n_items,).

    The first row with a given tuple gets 0, the next 1, and so on, in row order; items with a
    unique tuple get 0. Appended as one more level it makes every ID unique.
    """
    index = sorted_codes(codes)
    order = index.order  # stable: equal tuples keep their row order
    groups = index.groups(index.shape[1])
    group_start = np.repeat(np.cumsum(groups.sizes) - groups.sizes, groups.sizes)  # sorted rows
    collisions = np.empty(len(codes), dtype=np.int64)
    collisions[order] = np.arange(len(codes)) - group_start
    return collisions


# --- one check and one sort per table ---------------------------------------------------------


class SortedCodes:
    """A code table checked once, with its lexicographic sort and prefix groups kept.

    codes : int64 (n_items, n_levels), checked by :func:`check_codes`. Every function here and
    in :mod:`analysis.metrics` that takes ``codes`` also takes a SortedCodes: it then skips the
    checks and reuses the one sort (:attr:`order`) and the groups of each prefix length
    (:meth:`groups`), so a diagnosis validates and sorts its codes once, not once per
    diagnostic. The arrays are shared: do not modify ``codes`` after making one.
    """

    def __init__(self, codes, codebook_sizes: int | Sequence[int] | None = None):
        self.codes = check_codes(codes)
        self.codebook_sizes = (
            None if codebook_sizes is None else check_codebook_sizes(codebook_sizes, self.codes)
        )
        self._groups: dict[int, PrefixGroups] = {}

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape

    def __len__(self) -> int:
        return len(self.codes)

    @cached_property
    def key(self) -> np.ndarray | None:
        """:func:`packed_key` of the codes (None when they need more than 62 bits)."""
        return packed_key(self.codes)

    @cached_property
    def order(self) -> np.ndarray:
        """:func:`lexicographic_order` of the codes, computed once."""
        if self.key is not None:
            return np.argsort(self.key, kind="stable")
        return lexicographic_order(self.codes)

    @cached_property
    def _bits(self) -> list[int]:
        return _level_bits(self.codes)

    @cached_property
    def _sorted_key(self) -> np.ndarray:
        return self.key[self.order]

    def groups(self, length: int) -> PrefixGroups:
        """:func:`prefix_groups` of prefix ``length`` (1..n_levels), computed once."""
        if length not in self._groups:
            if not 1 <= length <= self.codes.shape[1]:
                raise InputError(f"prefix length is {length}, expected 1..{self.codes.shape[1]}")
            if self.key is None:
                self._groups[length] = prefix_groups(self.codes, length, self.order)
            else:
                # the prefix of length l is the key without the bits of the later levels
                shift = sum(self._bits[length:])
                prefixes = self._sorted_key >> shift
                starts = np.ones(len(prefixes), dtype=bool)
                np.not_equal(prefixes[1:], prefixes[:-1], out=starts[1:])
                self._groups[length] = _groups_from_starts(length, self.order, starts)
                if len(self._groups) == self.codes.shape[1]:
                    del self._sorted_key  # every length is made: free it (n int64)
        return self._groups[length]

    def counts(self) -> list[np.ndarray]:
        """:func:`code_counts` with the sizes given when it was made."""
        if self.codebook_sizes is None:
            raise InputError("SortedCodes was made without codebook sizes")
        return code_counts(self.codes, self.codebook_sizes)


def sorted_codes(codes, codebook_sizes: int | Sequence[int] | None = None) -> SortedCodes:
    """``codes`` as a :class:`SortedCodes` (itself when it already is one)."""
    if isinstance(codes, SortedCodes):
        return codes
    return SortedCodes(codes, codebook_sizes)


def id_changes(before, after) -> dict:
    """Raw churn between two ID tables of the same items (row i of both is one item).

    before, after : int, shape (n_items, k): the level codes, optionally followed by the
    collision index as one more column. For each prefix length 1..k, how many items' first
    columns differ: ``{"items": n, "changed": [c_1, ..., c_k], "share": [c_1 / n, ...]}``; the
    last entry is the whole ID. No relabelling is matched away: a changed code is a changed
    token for a model trained on the IDs (``rqvae churn`` also reports matched churn).
    """
    before, after = np.asarray(before), np.asarray(after)
    if before.shape != after.shape or before.ndim != 2:
        raise InputError(
            f"ID tables of shapes {before.shape} and {after.shape}: expected the same (n, k)"
        )
    differs = np.logical_or.accumulate(before != after, axis=1)
    changed = differs.sum(axis=0).astype(int).tolist()
    n = len(before)
    return {"items": n, "changed": changed, "share": [c / n if n else 0.0 for c in changed]}
