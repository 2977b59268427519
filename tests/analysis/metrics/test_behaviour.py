"""Behavioural alignment: hand-worked pairs and chance levels, and the real sequences."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from analysis.metrics.behaviour import behavioural_alignment, cooccurrence_pairs
from rqvae.errors import DiagnosticUnavailable, InputError


def csr(sequences):
    rows = np.array([item for sequence in sequences for item in sequence], dtype=np.int64)
    offsets = np.cumsum([0, *map(len, sequences)])
    return rows, offsets


def test_pairs_within_the_window_skip_repeats_unknown_items_and_other_users():
    rows, offsets = csr([[0, 1, 0, -1, 2], [3], [4, 3]])
    pairs = cooccurrence_pairs(rows, offsets, window=2)
    # offset 1: (0,1) (1,0) (0,-1)x (-1,2)x | (4,3);  offset 2: (0,0) repeat, (1,-1)x, (0,2)
    assert sorted(zip(pairs.first.tolist(), pairs.second.tolist(), strict=True)) == [
        (0, 1), (0, 2), (1, 0), (4, 3)
    ]  # fmt: skip
    assert pairs.repeats == 1 and pairs.unknown == 3
    assert len(cooccurrence_pairs(rows, offsets, window=1).first) == 3


def test_alignment_by_hand():
    codes = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    rows, offsets = csr([[0, 1, 2]])
    result = behavioural_alignment(codes, rows, offsets, window=1)
    level0, level1 = result.levels.iloc[0], result.levels.iloc[1]
    # pairs (0,1) share code 0, (1,2) do not
    assert level0["cooccurring_share"] == 0.5 and level0["pairs"] == 2
    # two groups of 2 items: (2*1 + 2*1) / (4*3)
    assert level0["random_share"] == pytest.approx(1 / 3)
    # endpoint shares p = (1/4, 1/2, 1/4, 0); sum p^2 = 3/8; group {0,1}: 0.75^2 - 5/16 = 1/4,
    # group {2,3}: 0.25^2 - 1/16 = 0; (1/4) / (1 - 3/8) = 0.4
    assert level0["popularity_share"] == pytest.approx(0.4)
    assert level0["lift_random"] == pytest.approx(1.5)
    assert level0["lift_popularity"] == pytest.approx(1.25)
    # full IDs are all distinct: nothing shared, chance 0, lift undefined
    assert level1["cooccurring_share"] == 0 and level1["random_share"] == 0
    assert np.isnan(level1["lift_random"])
    assert result.n_pairs == 2 and result.items_seen == 3 and result.n_users == 1


def test_no_pairs_is_unavailable_and_bad_rows_are_refused():
    codes = np.array([[0], [1]])
    with pytest.raises(DiagnosticUnavailable, match="no co-occurring pairs"):
        behavioural_alignment(codes, *csr([[0], [1], [0, 0]]))
    with pytest.raises(InputError, match="2 items"):
        behavioural_alignment(codes, *csr([[0, 5]]))
    with pytest.raises(InputError, match="window"):
        cooccurrence_pairs(*csr([[0, 1]]), window=0)


def test_category_ids_follow_behaviour_and_random_ids_do_not(scientific_dir):
    """On amazon-scientific, IDs made from the category path align with what users buy
    together far better than random IDs, which sit at chance."""
    with gzip.open(scientific_dir / "items.jsonl.gz", "rt") as handle:
        items = [json.loads(line) for line in handle]
    paths = {int(item["item_id"]): item.get("categories") or [] for item in items}
    n_items = len(paths)
    codes = np.zeros((n_items, 3), dtype=np.int64)
    for depth in range(3):
        labels = {}
        for item_id, path in paths.items():
            # depth 0 is the root "Industrial & Scientific": use categories 1..3
            codes[item_id, depth] = labels.setdefault(tuple(path[: depth + 2]), len(labels))
    rng = np.random.default_rng(0)
    random_codes = rng.integers(0, codes.max(axis=0) + 1, size=codes.shape)

    sequences = []
    with gzip.open(scientific_dir / "sequences.jsonl.gz", "rt") as handle:
        sequences = [json.loads(line)["item_ids"] for line in handle]
    assert len(sequences) == 8317
    rows, offsets = csr(sequences)
    category = behavioural_alignment(codes, rows, offsets).levels
    chance = behavioural_alignment(random_codes, rows, offsets).levels
    assert (category["cooccurring_share"] > chance["cooccurring_share"]).all()
    assert category["cooccurring_share"].iloc[0] > 3 * chance["cooccurring_share"].iloc[0]
    assert category["lift_popularity"].iloc[0] > 2
    # random IDs: co-occurring pairs share a code as often as random pairs do
    assert 0.8 < chance["lift_random"].iloc[0] < 1.25
