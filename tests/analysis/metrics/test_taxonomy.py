"""Diagnostic 6 (category taxonomy per prefix) by hand and on the real catalog's categories."""

import collections
import gzip
import json
import math

import numpy as np
import pytest
from sklearn.metrics import homogeneity_completeness_v_measure, normalized_mutual_info_score

from analysis.metrics.taxonomy import (
    information_scores,
    informative_depth,
    node_purity,
    prefix_purity,
    prefix_taxonomy,
    purity_by_prefix_length,
    taxonomy_scores,
)
from rqvae.errors import DiagnosticUnavailable
from tests.reference_ids import load_tokens, tokens_to_codes

CODES = np.array([[0, 0], [0, 1], [0, 1], [1, 0]])
CATEGORIES = [["A", "X"], ["A", "Y"], ["A", "X"], ["B"]]


def test_prefix_taxonomy_by_hand():
    table = prefix_taxonomy(CODES, CATEGORIES, max_depth=2)
    rows = table[["node", "parent", "items", "depth", "category", "count"]].values.tolist()
    assert rows == [
        ["0", "", 3, 1, "A", 3],
        ["0", "", 3, 2, "A > X", 2],
        ["0", "", 3, 2, "A > Y", 1],
        ["1", "", 1, 1, "B", 1],
        ["1", "", 1, 2, "(none)", 1],
    ]
    assert table["share"].tolist() == pytest.approx([1, 2 / 3, 1 / 3, 1, 1])


def test_node_purity_by_hand():
    purity = node_purity(CODES, CATEGORIES, max_depth=2, max_prefix_length=2)
    node0 = purity[(purity["node"] == "0") & (purity["depth"] == 2)].iloc[0]
    assert node0["majority"] == "A > X"
    assert node0["purity"] == pytest.approx(2 / 3)
    assert node0["category_entropy_nats"] == pytest.approx(
        -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    )
    node1 = purity[(purity["node"] == "1") & (purity["depth"] == 2)].iloc[0]
    assert node1["labelled"] == 0 and node1["majority"] == "(none)"
    assert np.isnan(node1["purity"])
    leaf = purity[(purity["node"] == "0-1") & (purity["depth"] == 2)].iloc[0]
    assert leaf["parent"] == "0"
    assert leaf["items"] == 2 and leaf["purity"] == 0.5
    assert leaf["category_entropy_nats"] == pytest.approx(math.log(2))


def test_scores_by_hand():
    scores = taxonomy_scores(CODES, CATEGORIES, max_depth=2).set_index(
        ["level", "depth", "grouping"]
    )
    # Depth 1: codes at level 0 split A from B exactly.
    assert scores.loc[(0, 1, "code"), ["nmi", "homogeneity", "completeness"]].tolist() == [1, 1, 1]
    # Depth 2, level 1 (item 3 has no depth-2 category): classes X, Y, X; clusters 0, 1, 1.
    # H(C) = H(K) = H(1/3, 2/3); H(C|K) = H(K|C) = 2/3 ln 2; so every score is
    # 1 - (2/3 ln 2) / H(1/3, 2/3) = 0.2740175...
    entropy = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))
    expected = 1 - (2 / 3 * math.log(2)) / entropy
    row = scores.loc[(1, 2, "code")]
    assert row["items"] == 3
    assert row[["nmi", "homogeneity", "completeness"]].tolist() == pytest.approx([expected] * 3)
    assert scores.loc[(1, 2, "prefix"), "nmi"] == pytest.approx(expected)


def test_purity_by_prefix_length_by_hand():
    # Depth 1: code 0 holds A, A, A and code 1 holds B: every node is pure.
    # Depth 2, prefix length 1: node 0 has X, Y, X (majority 2 of 3); node 1 has no depth-2
    # category. Prefix length 2: 0-0 has X (1 of 1), 0-1 has Y, X (1 of 2): 2 of 3 again.
    purity = node_purity(CODES, CATEGORIES, max_depth=2, max_prefix_length=2)
    summary = purity_by_prefix_length(purity)
    assert summary[["prefix_length", "depth", "nodes", "labelled"]].values.tolist() == [
        [1, 1, 2, 4],
        [1, 2, 2, 3],
        [2, 1, 3, 4],
        [2, 2, 3, 3],
    ]
    assert summary["purity"].tolist() == pytest.approx([1.0, 2 / 3, 1.0, 2 / 3])
    # prefix_purity counts the same numbers straight from the codes.
    assert prefix_purity(CODES, CATEGORIES, 2).tolist() == pytest.approx([2 / 3, 2 / 3])
    assert prefix_purity(CODES, CATEGORIES, 1).tolist() == [1.0, 1.0]
    assert np.isnan(prefix_purity(CODES, None, None)).all()


def test_informative_depth_skips_a_shared_root():
    assert informative_depth([["R", "A"], ["R", "B"]]) == 2
    assert informative_depth([["A"], ["B"]]) == 1
    assert informative_depth([[], []]) is None


@pytest.mark.parametrize("seed", range(4))
def test_information_scores_equal_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    truth = rng.integers(0, rng.integers(1, 6), size=n)
    predicted = rng.integers(0, rng.integers(1, 40), size=n) * 7 + 3
    ours = information_scores(truth, predicted)
    h, c, v = homogeneity_completeness_v_measure(truth, predicted)
    assert ours["nmi"] == pytest.approx(normalized_mutual_info_score(truth, predicted), abs=1e-12)
    assert [ours["homogeneity"], ours["completeness"], ours["v_measure"]] == pytest.approx(
        [h, c, v], abs=1e-12
    )


@pytest.mark.parametrize("seed", range(3))
def test_taxonomy_scores_equal_scikit_learn_with_unused_numbers(seed):
    # codes, prefix groups and category numbers go in without renumbering: codes skip values,
    # items without a depth-2 category drop out, and one cluster holds a single class
    rng = np.random.default_rng(seed)
    n = 400
    codes = rng.integers(0, 12, size=(n, 2)) * 3
    paths = [["root", f"c{c}"] if c < 5 else ["root"] for c in rng.integers(0, 7, size=n).tolist()]
    scores = taxonomy_scores(codes, paths, max_depth=2).set_index(["level", "depth", "grouping"])
    labelled = np.array([len(path) == 2 for path in paths])
    truth = np.array([path[-1] for path in paths])[labelled]
    prefixes = codes[:, 0] * 100 + codes[:, 1]
    for level, grouping, clusters in [
        (0, "code", codes[:, 0]),
        (1, "code", codes[:, 1]),
        (1, "prefix", prefixes),
    ]:
        row = scores.loc[(level, 2, grouping)]
        assert row["items"] == labelled.sum()
        predicted = clusters[labelled]
        assert row["nmi"] == pytest.approx(
            normalized_mutual_info_score(truth, predicted), abs=1e-12
        )
        h, c, v = homogeneity_completeness_v_measure(truth, predicted)
        assert row[["homogeneity", "completeness", "v_measure"]].tolist() == pytest.approx(
            [h, c, v], abs=1e-12
        )


def test_information_scores_limit_cases():
    one = np.zeros(5, dtype=int)
    assert information_scores(one, one) == {
        "nmi": 1.0,
        "homogeneity": 1.0,
        "completeness": 1.0,
        "v_measure": 1.0,
    }
    # One cluster, two classes: homogeneity 0, completeness 1, NMI 0 (as scikit-learn).
    scores = information_scores(np.array([0, 1, 0]), np.array([4, 4, 4]))
    assert (scores["nmi"], scores["homogeneity"], scores["completeness"]) == (0.0, 0.0, 1.0)


def test_without_categories_the_diagnostic_is_unavailable():
    with pytest.raises(DiagnosticUnavailable, match="no categories"):
        prefix_taxonomy(CODES, None)
    with pytest.raises(DiagnosticUnavailable, match="no item in the catalog has a category"):
        taxonomy_scores(CODES, [[], [], None, []])


def _real_categories(scientific_items, item_ids):
    with gzip.open(scientific_items, "rt") as handle:
        by_id = {str(item["item_id"]): item["categories"] for item in map(json.loads, handle)}
    return [by_id[item_id] for item_id in item_ids]


def test_real_taxonomy(scientific_dir, scientific_items):
    index = load_tokens(scientific_dir, "letter_native")
    codes = tokens_to_codes(index)
    categories = _real_categories(scientific_items, list(index))

    table = prefix_taxonomy(codes, categories, max_depth=3)
    # Each node's category shares sum to 1 at each depth; nodes of a length cover every item.
    sums = table.groupby(["node", "depth"])["share"].sum()
    assert np.allclose(sums, 1.0)
    nodes = table.drop_duplicates("node")
    assert (nodes.groupby("prefix_length")["items"].sum() == len(index)).all()
    children = nodes[nodes["prefix_length"] == 2].groupby("parent")["items"].sum()
    parents = nodes[nodes["prefix_length"] == 1].set_index("node")["items"]
    assert children.sort_index().equals(parents.sort_index())
    # 131 items of this catalog have no category at all.
    none_depth1 = table[(table["depth"] == 1) & (table["category"] == "(none)")]
    assert none_depth1[none_depth1["prefix_length"] == 1]["count"].sum() == 131

    scores = taxonomy_scores(codes, categories, max_depth=3)
    prefix = scores[(scores["grouping"] == "prefix") & (scores["depth"] == 3)]
    assert (prefix["items"] == sum(len(path) >= 3 for path in categories)).all()
    # Longer prefixes refine the clusters, so homogeneity can only grow.
    assert prefix["homogeneity"].is_monotonic_increasing
    # NMI of the first code against the depth-3 category, recomputed with scikit-learn.
    deep = [i for i, path in enumerate(categories) if len(path) >= 3]
    truth = [" > ".join(categories[i][:3]) for i in deep]
    expected = normalized_mutual_info_score(truth, codes[deep, 0])
    assert prefix.set_index("level").loc[0, "nmi"] == pytest.approx(expected, abs=1e-12)

    # A collapsed first level carries no category information at all.
    collapsed = taxonomy_scores(
        tokens_to_codes(load_tokens(scientific_dir, "mql4grec")), categories, max_depth=2
    )
    first = collapsed[(collapsed["level"] == 0) & (collapsed["depth"] == 2)]
    assert first["nmi"].tolist() == [0.0, 0.0]

    purity = node_purity(codes, categories, max_depth=2, max_prefix_length=1)
    level_one = purity[purity["depth"] == 2]
    # Each first-level node's purity, counted with plain Python over the depth-2 categories.
    by_code = collections.defaultdict(collections.Counter)
    for code, path in zip(codes[:, 0], categories, strict=True):
        if len(path) >= 2:
            by_code[str(code)][" > ".join(path[:2])] += 1
    expected = {
        node: max(counts.values()) / sum(counts.values()) for node, counts in by_code.items()
    }
    labelled = level_one[level_one["labelled"] > 0].set_index("node")["purity"]
    assert labelled.to_dict() == pytest.approx(expected)
    # Purity weighted by labelled items beats the purity of putting everything in one node.
    weighted = (level_one["purity"] * level_one["labelled"]).sum() / level_one["labelled"].sum()
    one_node = table[(table["depth"] == 2) & (table["category"] != "(none)")]
    largest_share = one_node.groupby("category")["count"].sum().max() / (len(index) - 131)
    assert weighted > largest_share
