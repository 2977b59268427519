"""Diagnostic 1 (codebook usage) on a case worked out on paper and on the reference IDs."""

import numpy as np
import pytest

from analysis.metrics.usage import codebook_usage, gini, lorenz_curve
from rqvae.errors import InputError
from rqvae.id_metrics import code_counts
from tests.reference_ids import METHODS, load_tokens, tokens_to_codes

# 4 items, 2 levels, K = 2. Level 0 counts (3, 1); level 1 counts (2, 2).
CODES = np.array([[0, 0], [0, 1], [0, 1], [1, 0]])


def test_counts_and_usage_by_hand():
    counts = code_counts(CODES, 2)  # one (K_l,) array per level
    assert [level.tolist() for level in counts] == [[3, 1], [2, 2]]
    usage = codebook_usage(CODES, 2)
    assert usage["used_codes"].tolist() == [2, 2]
    assert usage["used_fraction"].tolist() == [1.0, 1.0]
    assert usage["dead_codes"].tolist() == [0, 0]
    assert usage["largest_share"].tolist() == [0.75, 0.5]
    # Gini of (3, 1): sorted (1, 3); ((2*1-3)*1 + (2*2-3)*3) / (2 * 4) = 2 / 8.
    assert usage["gini"].tolist() == pytest.approx([0.25, 0.0])


def test_dead_code_and_gini_with_three_codes():
    usage = codebook_usage(CODES, 3)
    assert usage["used_codes"].tolist() == [2, 2]
    assert usage["dead_codes"].tolist() == [1, 1]
    assert usage["used_fraction"].tolist() == pytest.approx([2 / 3, 2 / 3])
    # Counts (3, 1, 0): pairwise |differences| 1 + 3 + 2 = 6, each twice = 12,
    # divided by 2 K^2 mean = 2 * 9 * 4/3 = 24.
    assert usage["gini"][0] == pytest.approx(0.5)
    # (2, 2, 0): sorted (0, 2, 2): (-2*0 + 0*2 + 2*2) / (3 * 4) = 1/3.
    assert usage["gini"][1] == pytest.approx(1 / 3)


def test_codebook_sizes_per_level():
    # K = 2 at level 0 and 4 at level 1: level 1 uses 2 of 4 codes.
    assert [level.tolist() for level in code_counts(CODES, [2, 4])] == [[3, 1], [2, 2, 0, 0]]
    usage = codebook_usage(CODES, [2, 4])
    assert usage["codebook_size"].tolist() == [2, 4]
    assert usage["dead_codes"].tolist() == [0, 2]
    assert usage["used_fraction"].tolist() == [1.0, 0.5]
    # (2, 2, 0, 0): sorted (0, 0, 2, 2): (2*3 - 5) * 2 + (2*4 - 5) * 2 = 8, / (4 * 4) = 1/2.
    assert usage["gini"][1] == pytest.approx(0.5)
    with pytest.raises(InputError, match="code 1 at level 0 .* below codebook_size 1"):
        codebook_usage(CODES, [1, 4])


def test_gini_extremes():
    assert gini(np.array([5, 5, 5, 5])) == 0.0
    assert gini(np.array([0, 0, 0, 8])) == pytest.approx(3 / 4)  # (K - 1) / K
    assert gini(np.zeros(4)) == 0.0


def test_lorenz_curve_by_hand():
    curve = lorenz_curve(np.array([3, 1]))
    assert curve["code_share"].tolist() == [0.0, 0.5, 1.0]
    assert curve["item_share"].tolist() == [0.0, 0.25, 1.0]
    two_levels = lorenz_curve(code_counts(CODES, 2))
    assert two_levels.groupby("level").size().tolist() == [3, 3]


def test_lorenz_area_is_half_the_gini():
    counts = np.array([7, 0, 3, 1, 12, 4])
    curve = lorenz_curve(counts)
    x, y = curve["code_share"].to_numpy(), curve["item_share"].to_numpy()
    area_under = np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2)
    assert 1 - 2 * area_under == pytest.approx(gini(counts))


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (np.zeros(500, dtype=int), r"codes has shape \(500,\), expected \(n_items, n_levels\)"),
        (np.array([[0, -1]]), "negative code -1"),
        (np.array([[0.5, 1]]), "non-integer"),
        (np.array([["a", "b"]]), "expected integer codes"),
        (np.array([[0, 2]]), "code 2 at level 1 .* below codebook_size 2"),
    ],
)
def test_bad_codes_are_rejected_with_a_clear_message(codes, message):
    with pytest.raises(InputError, match=message):
        codebook_usage(codes, 2)


def test_bad_codebook_size():
    with pytest.raises(InputError, match="codebook_size is 0"):
        codebook_usage(CODES, 0)


def test_reference_first_level_usage(scientific_dir):
    """Published first-level usage: MQL4GRec uses 1 code, RQ-VAE 32, RQ-VAE+ZCR 10."""
    used = {}
    for method in METHODS:
        index = load_tokens(scientific_dir, method)
        usage = codebook_usage(tokens_to_codes(index), 256)
        first_level = {tokens[0] for tokens in index.values()}
        assert usage["used_codes"][0] == len(first_level)
        assert usage["used_codes"].sum() + usage["dead_codes"].sum() == 4 * 256
        used[method] = int(usage["used_codes"][0])
    assert used["mql4grec"] == 1
    assert used["rqvae_native"] == 32
    assert used["rqvae_zcr"] == 10
    assert codebook_usage(tokens_to_codes(load_tokens(scientific_dir, "mql4grec")), 256)[
        "largest_share"
    ][0] == pytest.approx(1.0)
