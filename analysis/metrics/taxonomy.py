"""Diagnostic 6: how the ID prefix tree lines up with the catalog's category taxonomy.

Terms used throughout:

- A *node* is a distinct ID prefix, written ``"12"`` (prefix length 1), ``"12-7"`` (length 2), ...
  Its *parent* is the prefix one code shorter (``""`` for length-1 nodes).
- The *category at depth d* (d = 1, 2, ...) of an item is its category path cut to its first d
  names, joined with ``" > "`` (``"Industrial & Scientific > Fasteners"``). Using the whole path,
  not just the d-th name, keeps equal names under different parents apart.
- Items whose path has fewer than d names have no category at depth d. They appear as the
  category ``"(none)"`` in the tree (so a node's shares sum to 1), and are left out of purity,
  category entropy and the overall scores, which describe only items that have a category.

*Purity* of a group of items is the share of its labelled items in the group's most frequent
category (ties: alphabetical first); every purity here comes from :func:`majority_by_group`.
A catalog with no categories at all raises :class:`rqvae.errors.DiagnosticUnavailable`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.metrics.categories import NO_CATEGORY, SEPARATOR, CategoryTable, category_table
from rqvae.errors import InputError
from rqvae.id_metrics import entropy_nats, prefix_strings, sorted_codes

# information_scores counts the contingency table with one bincount when it has at most this
# many cells (32 MB of counts), else with np.unique over the packed pairs
JOINT_BINCOUNT_CELLS = 2**22


def category_labels(categories, depth: int) -> np.ndarray:
    """Category of each item at ``depth`` (>= 1), or ``"(none)"``; object array (n_items,).

    categories : one path per item (lists, root first), or a :class:`CategoryTable`."""
    if isinstance(categories, CategoryTable):
        numbers, names = categories.labels(depth)
        return names[numbers]
    return np.array(
        [
            SEPARATOR.join(path[:depth]) if len(path) >= depth else NO_CATEGORY
            for path in categories
        ],
        dtype=object,
    )


def informative_depth(categories) -> int | None:
    """Shallowest category depth (>= 1) at which the items do not all share one category.

    Catalogs often put every item under one root ("Industrial & Scientific"), so depth 1 says
    nothing; this picks the first depth that does. Returns the deepest depth when no depth
    separates the items, and None when no item has a category. ``categories``: paths, or a
    :class:`CategoryTable`.
    """
    if isinstance(categories, CategoryTable):
        for depth in range(1, categories.deepest + 1):
            names = categories.labels(depth)[1]
            if sum(name != NO_CATEGORY for name in names) > 1:
                return depth
        return categories.deepest or None
    paths = [list(path) if path is not None and len(path) else [] for path in categories]
    deepest = max((len(path) for path in paths), default=0)
    if deepest == 0:
        return None
    for depth in range(1, deepest + 1):
        labels = category_labels(paths, depth)
        if len(set(labels[labels != NO_CATEGORY])) > 1:
            return depth
    return deepest


def majority_by_group(counts: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The majority category of each group, from a counts table.

    counts : columns ``keys``, ``category`` and ``count`` (items of that category in the
    group); ``"(none)"`` rows are left out. Returns one row per group that has a labelled item:
    ``keys``, ``labelled`` (its labelled items), ``majority`` (the most frequent category, ties
    broken alphabetically) and ``majority_count``. Purity is ``majority_count / labelled``.
    """
    labelled = counts[counts["category"] != NO_CATEGORY]
    best = labelled.sort_values(["count", "category"], ascending=[False, True], kind="stable")
    best = best.drop_duplicates(keys).set_index(keys)
    totals = labelled.groupby(keys)["count"].sum()
    return pd.DataFrame(
        {
            "labelled": totals,
            "majority": best["category"].reindex(totals.index),
            "majority_count": best["count"].reindex(totals.index),
        }
    ).reset_index()


def prefix_taxonomy(
    codes, categories, max_depth: int = 3, max_prefix_length: int | None = None
) -> pd.DataFrame:
    """Category distribution of every node of the prefix tree, as tidy rows.

    codes : int, shape (n_items, n_levels). categories : list of category paths (root first),
    one per item. Depths 1..max_depth; prefix lengths 1..max_prefix_length (default
    n_levels - 1, at least 1: full-length nodes are mostly single items and add rows, not
    information).

    Columns: ``node, prefix_length, parent, items`` (items under the node), ``depth``,
    ``category`` (may be ``"(none)"``), ``count`` (items of that category under the node),
    ``share`` (count / items). Rows are sorted by prefix length, node, depth, count descending.
    """
    index, table, depths, lengths = _check(codes, categories, max_depth, max_prefix_length)
    return _taxonomy_table(index, table, depths, lengths)


def node_purity(
    codes, categories, max_depth: int = 3, max_prefix_length: int | None = None
) -> pd.DataFrame:
    """Majority category, purity and category entropy of every node, per category depth.

    Same nodes, depths and defaults as :func:`prefix_taxonomy`. Columns:
    ``node, prefix_length, parent, items, depth``;
    ``labelled`` : items under the node with a category at this depth;
    ``majority`` : most frequent category among them (ties: alphabetical first; ``"(none)"``
    when none is labelled);
    ``majority_count``; ``purity`` = majority_count / labelled (NaN when labelled is 0);
    ``category_entropy_nats`` = -sum_c p_c ln p_c over the labelled items' categories.
    """
    table = prefix_taxonomy(codes, categories, max_depth, max_prefix_length)
    return purity_from_taxonomy(table)


def purity_from_taxonomy(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`node_purity` computed from an existing :func:`prefix_taxonomy` table."""
    keys = ["node", "prefix_length", "parent", "items", "depth"]
    labelled = table[table["category"] != NO_CATEGORY]
    majority = majority_by_group(labelled, ["node", "depth"]).set_index(["node", "depth"])
    p = labelled["count"] / labelled.groupby(["node", "depth"])["count"].transform("sum")
    entropy = (-(p * np.log(p))).groupby([labelled["node"], labelled["depth"]]).sum()

    nodes = table[keys].drop_duplicates().set_index(["node", "depth"])
    nodes["labelled"] = majority["labelled"].reindex(nodes.index).fillna(0).astype(np.int64)
    nodes["majority"] = majority["majority"].reindex(nodes.index).fillna(NO_CATEGORY)
    nodes["majority_count"] = (
        majority["majority_count"].reindex(nodes.index).fillna(0).astype(np.int64)
    )
    nodes["purity"] = nodes["majority_count"] / nodes["labelled"].where(nodes["labelled"] > 0)
    nodes["category_entropy_nats"] = entropy.reindex(nodes.index)
    return nodes.reset_index()[
        [*keys, "labelled", "majority", "majority_count", "purity", "category_entropy_nats"]
    ]


def purity_by_prefix_length(purity: pd.DataFrame) -> pd.DataFrame:
    """Items-weighted purity per (prefix_length, depth) of a :func:`node_purity` table:
    sum of majority counts / labelled items, with the number of nodes and labelled items."""
    grouped = purity.groupby(["prefix_length", "depth"])
    summary = grouped[["majority_count", "labelled"]].sum()
    summary["nodes"] = grouped.size()
    summary["purity"] = summary["majority_count"] / summary["labelled"].where(
        summary["labelled"] > 0
    )
    return summary.reset_index()[["prefix_length", "depth", "nodes", "labelled", "purity"]]


def prefix_purity(codes: np.ndarray, categories, depth: int | None) -> np.ndarray:
    """Items-weighted purity of the prefixes of each length 1..L at category ``depth``, float
    (L,): the value :func:`purity_by_prefix_length` gives, counted straight from the codes
    (one count per prefix length instead of the whole node table). NaN without categories."""
    index = sorted_codes(codes)
    n_levels = index.shape[1]
    if categories is None or depth is None:
        return np.full(n_levels, np.nan)
    if not isinstance(categories, CategoryTable):
        categories = CategoryTable.from_paths([list(path) for path in categories])
    numbers, all_names = categories.labels(depth)
    labelled = numbers != _none_label(all_names)
    if not labelled.any():
        return np.full(n_levels, np.nan)
    label_codes, uniques = pd.factorize(numbers[labelled])
    names = all_names[uniques]
    purity = []
    for length in range(1, n_levels + 1):
        group = index.groups(length).group[labelled]
        pairs, counts = np.unique(group * len(names) + label_codes, return_counts=True)
        table = pd.DataFrame(
            {"group": pairs // len(names), "category": names[pairs % len(names)], "count": counts}
        )
        majority = majority_by_group(table, ["group"])
        purity.append(float(majority["majority_count"].sum()) / labelled.sum())
    return np.array(purity)


def taxonomy_scores(codes, categories, max_depth: int = 3) -> pd.DataFrame:
    """Agreement between codes and categories over the whole catalog.

    One row per level l (0-based), category depth d (1..max_depth) and ``grouping``:
    ``"code"`` clusters items by their level-l code alone, ``"prefix"`` by the prefix
    c_0..c_l (the node of the prefix tree). Only items with a category at depth d count
    (``items``). ``homogeneity`` (1 = each cluster holds one category), ``completeness``
    (1 = each category sits in one cluster) and ``v_measure`` / ``nmi`` (normalised mutual
    information, arithmetic mean normalisation; equal to the V-measure) all lie in [0, 1];
    see :func:`information_scores` for the formulas (scikit-learn's definitions).
    """
    index, table, depths, _ = _check(codes, categories, max_depth, None)
    codes = index.codes
    rows = []
    prefixes = [index.groups(level + 1).group for level in range(codes.shape[1])]
    for depth in depths:
        numbers, names = table.labels(depth)
        labelled = numbers != _none_label(names)
        # codes, prefix groups and category numbers are already small non-negative integers:
        # the scores do not depend on the numbering, so nothing is re-numbered (at ten million
        # items each factorisation costs a tenth of a second, and there are 20 of them)
        truth = numbers[labelled]
        for level in range(codes.shape[1]):
            clusterings = {"code": codes[labelled, level], "prefix": prefixes[level][labelled]}
            for grouping, predicted in clusterings.items():
                rows.append(
                    {
                        "level": level,
                        "depth": depth,
                        "grouping": grouping,
                        "items": int(labelled.sum()),
                        **_scores(truth, predicted),
                    }
                )
    return pd.DataFrame(rows)


def information_scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """NMI, homogeneity, completeness and V-measure of a clustering against true classes.

    truth, predicted : int, shape (n,), n >= 1. With class entropy H(C), cluster entropy H(K)
    and mutual information I(C; K) (nats, from the contingency table):
    homogeneity = I / H(C) (1 when H(C) = 0), completeness = I / H(K) (1 when H(K) = 0),
    v_measure = 2 h c / (h + c) (0 when h + c = 0), nmi = I / ((H(C) + H(K)) / 2) (1 when
    both are a single label, 0 when I = 0). These are scikit-learn's definitions
    (``normalized_mutual_info_score`` with arithmetic averaging and
    ``homogeneity_completeness_v_measure``), computed from one np.unique over packed pairs so
    a million items take milliseconds instead of seconds.
    """
    class_index = pd.factorize(truth)[0].astype(np.int64)
    return _scores(class_index, pd.factorize(predicted)[0].astype(np.int64))


def _scores(class_index: np.ndarray, cluster_index: np.ndarray) -> dict[str, float]:
    """:func:`information_scores` of labels that are non-negative integers (numbers may be
    unused: empty classes and clusters count for nothing)."""
    n_clusters = int(cluster_index.max()) + 1
    packed = class_index * n_clusters + cluster_index
    cells = (int(class_index.max()) + 1) * n_clusters
    if cells <= JOINT_BINCOUNT_CELLS:  # a count per cell: linear, no sort; the same pairs
        counts = np.bincount(packed, minlength=cells)
        pairs = np.flatnonzero(counts)
        joint = counts[pairs]
    else:
        pairs, joint = np.unique(packed, return_counts=True)
    class_counts = np.bincount(class_index).astype(np.float64)
    cluster_counts = np.bincount(cluster_index).astype(np.float64)
    n = float(len(class_index))
    # I = sum_ij p_ij ln(p_ij / (p_i p_j)) over non-empty cells.
    outer = class_counts[pairs // n_clusters] * cluster_counts[pairs % n_clusters]
    mutual = max(float((joint / n * np.log(joint * n / outer)).sum()), 0.0)
    h_class = entropy_nats(class_counts)
    h_cluster = entropy_nats(cluster_counts)
    homogeneity = mutual / h_class if h_class else 1.0
    completeness = mutual / h_cluster if h_cluster else 1.0
    v_measure = (
        0.0
        if homogeneity + completeness == 0
        else 2 * homogeneity * completeness / (homogeneity + completeness)
    )
    if np.count_nonzero(class_counts) == np.count_nonzero(cluster_counts) == 1:
        nmi = 1.0
    elif mutual < np.finfo(np.float64).eps:
        nmi = 0.0
    else:
        nmi = mutual / ((h_class + h_cluster) / 2)
    return {
        "nmi": nmi,
        "homogeneity": homogeneity,
        "completeness": completeness,
        "v_measure": v_measure,
    }


def _none_label(names: np.ndarray) -> int:
    """Number of the ``"(none)"`` label among ``names`` (-1 when every item has one)."""
    found = np.flatnonzero(names == NO_CATEGORY)
    return int(found[0]) if len(found) else -1


def _check(codes, categories, max_depth: int, max_prefix_length: int | None):
    index = sorted_codes(codes)
    codes = index.codes
    table = category_table(categories, codes.shape[0])
    if max_depth < 1:
        raise InputError(f"max_depth is {max_depth}, expected >= 1")
    deepest = table.deepest
    depths = list(range(1, min(max_depth, deepest) + 1))
    n_levels = codes.shape[1]
    if max_prefix_length is None:
        max_prefix_length = max(n_levels - 1, 1)
    if not 1 <= max_prefix_length <= n_levels:
        raise InputError(f"max_prefix_length is {max_prefix_length}, expected 1..{n_levels}")
    return index, table, depths, list(range(1, max_prefix_length + 1))


def _taxonomy_table(index, table: CategoryTable, depths, lengths) -> pd.DataFrame:
    codes = index.codes
    labels = {depth: table.labels(depth) for depth in depths}
    frames = []
    parent_names = parent_groups = None
    for length in lengths:
        groups = index.groups(length)
        names = np.array(prefix_strings(codes, groups.first_rows, length), dtype=object)
        if length == 1:
            parents = np.full(len(names), "", dtype=object)
        else:
            parents = parent_names[parent_groups.group[groups.first_rows]]
        for depth in depths:
            category_codes, category_names = labels[depth]
            # Count (node, category) pairs with one np.unique over a packed key.
            key = groups.group * len(category_names) + category_codes
            pairs, counts = np.unique(key, return_counts=True)
            node = pairs // len(category_names)
            frames.append(
                pd.DataFrame(
                    {
                        "_group": node,
                        "node": names[node],
                        "prefix_length": length,
                        "parent": parents[node],
                        "items": groups.sizes[node],
                        "depth": depth,
                        "category": np.asarray(category_names, dtype=object)[
                            pairs % len(category_names)
                        ],
                        "count": counts,
                        "share": counts / groups.sizes[node],
                    }
                )
            )
        parent_names, parent_groups = names, groups
    table = pd.concat(frames, ignore_index=True)
    # Nodes in prefix order (their group number), then depth, then the largest categories first.
    table = table.sort_values(
        ["prefix_length", "_group", "depth", "count"],
        ascending=[True, True, True, False],
        kind="stable",
    )
    return table.drop(columns="_group").reset_index(drop=True)
