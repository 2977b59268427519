"""Robustness to noise: the change shares and the mutual-information effective codebook size on
codes worked out on paper, and a one-dimensional quantizer whose flips can be told in advance."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis.metrics.robustness import code_changes, code_robustness
from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.quantizers.base import CodebookQuantizer


def entropy(*probabilities: float) -> float:
    return -sum(p * math.log(p) for p in probabilities)


def test_changes_by_hand():
    clean = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    noisy = np.array([[0, 1], [1, 1], [1, 0], [1, 1]])
    table = code_changes(clean, noisy, [2, 2])
    # Level 0: item 1 moved (0 -> 1); level 1: item 0 moved. Prefix up to level 1: items 0, 1.
    assert table["changed_share"].tolist() == [0.25, 0.25]
    assert table["prefix_changed_share"].tolist() == [0.25, 0.5]
    # Both levels: clean (0, 0, 1, 1) up to order, noisy three 1s and one 0, pairs (0,0),
    # (0,1), (1,1), (1,1): H(c) = ln 2, H(c~) = H(1/4, 3/4), H(c, c~) = H(1/4, 1/4, 1/2).
    h_clean, h_noisy = math.log(2), entropy(0.25, 0.75)
    h_joint = entropy(0.25, 0.25, 0.5)
    expected = math.exp(h_clean + h_noisy - h_joint)  # 1.2408...
    assert table["effective_codebook_size"].tolist() == pytest.approx([expected] * 2, rel=1e-12)
    assert table["perplexity"].tolist() == pytest.approx([2.0, 2.0], rel=1e-12)
    assert table["confusion"].tolist() == pytest.approx(
        [math.exp(h_joint - h_noisy)] * 2, rel=1e-12
    )
    # Perplexity / confusion is the effective size.
    assert (table["perplexity"] / table["confusion"]).tolist() == pytest.approx([expected] * 2)


def test_no_change_keeps_the_perplexity_and_a_random_relabelling_keeps_nothing():
    clean = np.array([[0], [1], [2], [3]])
    same = code_changes(clean, clean, [4])
    assert same["changed_share"].tolist() == [0.0]
    assert same["effective_codebook_size"].tolist() == pytest.approx([4.0], rel=1e-12)
    # Every clean code sent to the same noisy code: nothing distinguishable is left.
    merged = code_changes(clean, np.zeros_like(clean), [4])
    assert merged["effective_codebook_size"].tolist() == pytest.approx([1.0], rel=1e-12)
    assert merged["confusion"].tolist() == pytest.approx([4.0], rel=1e-12)
    with pytest.raises(InputError, match="expected \\(4, 1\\)"):
        code_changes(clean, clean[:3], [4])


# One level, two codewords at -1 and +1 on a line: the code is the sign of x.
SIGN = CodebookQuantizer([np.array([[-1.0], [1.0]])])


def test_items_far_from_the_boundary_never_move():
    x = np.array([[-1.0], [-1.0], [1.0], [1.0]], dtype=np.float32)
    result = code_robustness(SIGN, x, scales=(0.05, 0.1), seed=0)
    # sigma = std of (-1, -1, 1, 1) = 1; noise std 0.1 is ten standard deviations from 0.
    assert result.sigma == pytest.approx(1.0, rel=1e-12)
    assert result.levels["changed_share"].tolist() == [0.0, 0.0]
    assert result.levels["effective_codebook_size"].tolist() == pytest.approx([2.0, 2.0])
    assert result.levels["noise_std"].tolist() == pytest.approx([0.05, 0.1], rel=1e-12)
    assert result.items == result.n_items == 4


def test_items_on_the_boundary_move_as_their_noise_says():
    x = np.array([[-0.01], [0.01], [-0.02], [0.02], [-3.0], [3.0]] * 50, dtype=np.float32)
    result = code_robustness(SIGN, x, scales=(0.2,), seed=4)
    sigma = float(np.sqrt(x.astype(np.float64).var()))
    assert result.sigma == pytest.approx(sigma, rel=1e-12)
    # The documented draw: eps ~ N(0, 1) from default_rng(seed + 1), shared by the scales.
    eps = np.random.default_rng(5).standard_normal(x.shape, dtype=np.float32)
    moved = np.sign(x + np.float32(0.2 * sigma) * eps) != np.sign(x)
    assert result.levels["changed_share"].tolist() == [moved.mean()]
    # The items at +-3 are 7 noise standard deviations from the boundary and never move; about
    # half of the others do.
    assert not moved[4::6].any() and not moved[5::6].any()
    assert 0.3 < result.levels["changed_share"][0] < 0.45


def test_sample_and_bad_input():
    x = np.linspace(-1, 1, 50, dtype=np.float32)[:, None]
    result = code_robustness(SIGN, x, sample=20, seed=1)
    assert (result.items, result.n_items) == (20, 50)
    assert result.to_dict()["sampled"] is True
    assert sorted(result.to_dict()["changed_share"]) == ["0.05", "0.1", "0.2"]
    with pytest.raises(DiagnosticUnavailable, match="all equal"):
        code_robustness(SIGN, np.ones((5, 1), dtype=np.float32))
    broken = x.copy()
    broken[7] = np.nan
    with pytest.raises(InputError, match="rows 7 contain NaN"):
        code_robustness(SIGN, broken)


def test_chunks_do_not_change_the_result():
    x = np.array([[-0.01], [0.01], [-0.02], [0.02], [-3.0], [3.0]] * 50, dtype=np.float32)
    whole = code_robustness(SIGN, x, seed=2)
    chunked = code_robustness(SIGN, x, seed=2, chunk_size=7)
    # the same noise and codes; sigma sums its squares in another order (last bits)
    assert chunked.sigma == pytest.approx(whole.sigma, rel=1e-12)
    pd.testing.assert_frame_equal(chunked.levels, whole.levels, rtol=1e-12)
    assert chunked.levels["changed_share"].tolist() == whole.levels["changed_share"].tolist()
