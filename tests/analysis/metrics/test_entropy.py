"""Diagnostic 2 (entropy, perplexity, KL to uniform, joint entropy, branching)."""

import collections
import math

import numpy as np
import pytest

from analysis.metrics.entropy import (
    branching_factor,
    branching_summary,
    joint_entropy,
    usage_entropy,
)
from tests.reference_ids import load_tokens, tokens_to_codes

CODES = np.array([[0, 0], [0, 1], [0, 1], [1, 0]])
# Level 0 frequencies (3/4, 1/4): H = 0.75 ln(4/3) + 0.25 ln 4.
H0 = 0.5623351446188083


def test_usage_entropy_by_hand():
    table = usage_entropy(CODES, 2)
    assert table["entropy_nats"].tolist() == pytest.approx([H0, math.log(2)])
    assert table["entropy_bits"].tolist() == pytest.approx([0.8112781244591328, 1.0])
    assert table["perplexity"].tolist() == pytest.approx([1.7547653506033232, 2.0])
    assert table["kl_uniform_nats"].tolist() == pytest.approx([math.log(2) - H0, 0.0], abs=1e-12)
    assert table["kl_uniform_bits"].tolist() == pytest.approx(
        [1 - 0.8112781244591328, 0.0], abs=1e-12
    )
    assert table["normalized_entropy"].tolist() == pytest.approx([0.8112781244591328, 1.0])


def test_kl_to_uniform_is_log_k_minus_entropy_with_dead_codes():
    table = usage_entropy(CODES, 3)
    # KL(p || U_3) = sum p ln(3 p) computed directly.
    direct = 0.75 * math.log(3 * 0.75) + 0.25 * math.log(3 * 0.25)
    assert table["kl_uniform_nats"][0] == pytest.approx(direct)
    assert table["kl_uniform_nats"][0] == pytest.approx(math.log(3) - H0)


def test_single_code_level_has_zero_entropy():
    table = usage_entropy(np.zeros((5, 1), dtype=int), 4)
    assert table["entropy_nats"][0] == 0.0
    assert table["perplexity"][0] == 1.0
    assert table["kl_uniform_nats"][0] == pytest.approx(math.log(4))


def test_joint_entropy_by_hand():
    # Tuples (0,0), (0,1) x2, (1,0): frequencies 1/4, 1/2, 1/4 -> 1.5 bits.
    assert joint_entropy(CODES) == pytest.approx(1.5 * math.log(2))
    assert joint_entropy(np.arange(8).reshape(8, 1)) == pytest.approx(math.log(8))


def test_branching_by_hand():
    table = branching_factor(CODES)
    assert table.to_dict(orient="list") == {
        "level": [1, 1],
        "prefix": ["0", "1"],
        "items": [3, 1],
        "children": [2, 1],
    }
    summary = branching_summary(table)
    assert summary.loc[0, "mean_children"] == 1.5
    assert summary.loc[0, "median_children"] == 1.5
    assert summary.loc[0, "max_children"] == 2
    assert summary.loc[0, "prefixes"] == 2


def test_branching_of_one_level_code_is_empty():
    table = branching_factor(np.array([[1], [2]]))
    assert table.empty
    assert list(table.columns) == ["level", "prefix", "items", "children"]


def test_reference_entropy_and_branching(scientific_dir):
    index = load_tokens(scientific_dir, "rqvae_native")
    codes = tokens_to_codes(index)
    n = len(index)
    # Independent entropies from token counts.
    for level in range(4):
        counts = collections.Counter(tokens[level] for tokens in index.values())
        expected = -sum(c / n * math.log(c / n) for c in counts.values())
        table = usage_entropy(codes, 256)
        assert table["entropy_nats"][level] == pytest.approx(expected)
    joint = collections.Counter(tuple(tokens) for tokens in index.values())
    assert joint_entropy(codes) == pytest.approx(
        -sum(c / n * math.log(c / n) for c in joint.values())
    )
    # Branching under the first level: children of each first-level code, counted with sets.
    children = collections.defaultdict(set)
    for tokens in index.values():
        children[tokens[0]].add(tokens[1])
    table = branching_factor(codes)
    level_one = table[table["level"] == 1]
    assert len(level_one) == 32
    assert sorted(level_one["children"]) == sorted(len(s) for s in children.values())
    assert level_one["items"].sum() == n
