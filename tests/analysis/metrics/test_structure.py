"""Prefix structure: active prefixes and fan-out, on a case worked out on paper and against the
branching table and a dictionary count on the reference IDs."""

from collections import defaultdict

import numpy as np
import pytest

from analysis.metrics.collisions import collision_report
from analysis.metrics.entropy import branching_factor, branching_summary
from analysis.metrics.structure import fanout_histogram, prefix_structure
from tests.reference_ids import METHODS, load_tokens, tokens_to_codes

# Six items, three levels, K = 2.
CODES = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]])


def test_structure_by_hand():
    result = prefix_structure(CODES, 2)
    levels = result.levels
    # Root -> {0, 1}; (0) -> {0, 1}, (1) -> {0, 1}; (0,0) -> {0, 1}; (0,1), (1,0), (1,1) -> one
    # child each.
    assert levels["parents"].tolist() == [1, 2, 4]
    assert levels["active_prefixes"].tolist() == [2, 4, 5]
    assert levels["possible_prefixes"].tolist() == [2.0, 4.0, 8.0]
    assert levels["active_share"].tolist() == [1.0, 1.0, 0.625]
    last = levels.iloc[2]
    assert (last["fanout_min"], last["fanout_median"], last["fanout_max"]) == (1, 1.0, 2)
    assert last["fanout_mean"] == 1.25 and last["single_child_share"] == 0.75
    # Linear quantiles of (1, 1, 1, 2): p90 at position 2.7 -> 1 + 0.7 * (2 - 1).
    assert last["fanout_p90"] == pytest.approx(1.7, rel=1e-12)
    assert last["fanout_fill"] == 0.625
    histogram = result.histogram[result.histogram["level"] == 2]
    assert histogram["bin"].tolist() == ["1", "2"]
    assert histogram["parents"].tolist() == [3, 1]


def test_power_of_two_bins_end_at_the_codebook_size():
    histogram = fanout_histogram(np.array([1, 2, 3, 4, 7, 8]), 8)
    assert histogram["bin"].tolist() == ["1", "2-3", "4-7", "8"]
    assert histogram["parents"].tolist() == [1, 2, 2, 1]
    histogram = fanout_histogram(np.array([5, 6, 1]), 6)
    assert histogram["bin"].tolist() == ["1", "2-3", "4-6"]
    assert histogram["parents"].tolist() == [1, 0, 2]


@pytest.mark.parametrize("method", METHODS)
def test_matches_branching_and_a_dictionary_count(scientific_dir, method):
    codes = tokens_to_codes(load_tokens(scientific_dir, method))
    result = prefix_structure(codes, 256)
    levels = result.levels.set_index("level")
    assert (
        levels["active_prefixes"].tolist() == collision_report(codes).prefixes["distinct"].tolist()
    )
    summary = branching_summary(branching_factor(codes)).set_index("level")
    for level in summary.index:
        row = summary.loc[level]
        assert levels.loc[level, "parents"] == row["prefixes"]
        assert levels.loc[level, "fanout_min"] == row["min_children"]
        assert levels.loc[level, "fanout_max"] == row["max_children"]
        assert levels.loc[level, "fanout_median"] == row["median_children"]
        assert levels.loc[level, "fanout_mean"] == pytest.approx(row["mean_children"], rel=1e-12)
    for level in range(codes.shape[1]):
        children = defaultdict(set)
        for row in codes.tolist():
            children[tuple(row[:level])].add(row[level])
        fanout = np.array([len(c) for c in children.values()])
        assert levels.loc[level, "fanout_p90"] == pytest.approx(np.quantile(fanout, 0.9))
        bins = result.histogram[result.histogram["level"] == level]
        assert bins["parents"].sum() == len(fanout)
        assert bins["parents"].iloc[0] == (fanout == 1).sum()
