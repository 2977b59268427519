"""The fast nearest-codeword rules give exactly the answers of their slow definitions.

``nearest_codewords`` scores in float32 and re-scores near-ties in float64; its answer must be
the float64 one for every row, near-ties and exact ties (duplicate codewords) included. The
RQ-VAE quantizer's rule must be the training rule bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rqvae.quantizers import base
from rqvae.quantizers.base import _nearest_float64, nearest_codewords


@pytest.fixture(scope="module")
def real_rows(scientific_embeddings) -> np.ndarray:
    """20,000 real MiniLM embeddings (float32, (20000, 384)) projected to 32 dimensions."""
    embeddings = np.load(scientific_embeddings, mmap_mode="r")[:20_000].astype(np.float32)
    projection = np.random.default_rng(0).normal(size=(embeddings.shape[1], 32)) / 6
    return (embeddings @ projection).astype(np.float32)


def tied_codebook(rows: np.ndarray, seed: int = 1) -> np.ndarray:
    """256 codewords drawn from the rows, with exact duplicates and near-duplicates."""
    rng = np.random.default_rng(seed)
    codebook = rows[rng.choice(len(rows), 256, replace=False)].copy()
    codebook[200:210] = codebook[0:10]  # exact ties: the lower index must win
    codebook[210:220] = codebook[10:20] * (1 + 1e-7)  # below float32's resolution of a score
    codebook[220:230] = codebook[20:30] + 1e-5  # near-ties float32 may order wrongly
    return codebook


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_equal_to_float64_on_real_rows_with_ties(real_rows, distance):
    codebook = tied_codebook(real_rows)
    # the codewords themselves and points halfway between two codewords are the hardest rows
    halfway = (codebook[:100] + codebook[100:200]) / 2
    rows = np.concatenate([real_rows, codebook, halfway.astype(np.float32)])
    expected = _nearest_float64(rows, codebook, distance, None)
    assert np.array_equal(nearest_codewords(rows, codebook, distance), expected)
    # the duplicates really were chosen by index, so the tie rule was exercised
    assert np.isin(expected, np.arange(200, 210)).sum() == 0


def test_equal_to_float64_with_a_bias_and_small_blocks(real_rows, monkeypatch):
    monkeypatch.setattr(base, "SCORE_BLOCK", 777)  # rows cross several blocks
    codebook = tied_codebook(real_rows, seed=2)
    bias = np.random.default_rng(3).normal(scale=0.05, size=len(codebook))
    rows = real_rows[:5_000].astype(np.float64)  # float64 input is compared as given
    expected = _nearest_float64(rows, codebook, "euclidean", bias)
    assert np.array_equal(nearest_codewords(rows, codebook, bias=bias), expected)


def test_degenerate_shapes():
    assert nearest_codewords(np.zeros((0, 4)), np.ones((3, 4))).shape == (0,)
    assert nearest_codewords(np.ones((5, 4)), np.ones((1, 4))).tolist() == [0] * 5
    zeros = np.zeros((3, 4), dtype=np.float32)  # every codeword equally far: the first wins
    assert nearest_codewords(zeros, np.ones((6, 4)), "cosine").tolist() == [0, 0, 0]


def test_rqvae_rule_is_the_training_rule_bit_for_bit(real_rows):
    from rqvae.model.config import ModelConfig
    from rqvae.model.network import RQVAE
    from rqvae.quantizers.rqvae_model import SCORE_BLOCK, RQVAEQuantizer

    torch.manual_seed(0)
    model = RQVAE(ModelConfig(input_dim=384, latent_dim=32, num_levels=2, codebook_size=256))
    with torch.no_grad():
        model.quantizer.weight[0] = torch.from_numpy(tied_codebook(real_rows))
    quantizer = RQVAEQuantizer(model)
    rows = np.concatenate([real_rows, real_rows[: SCORE_BLOCK // 3]])  # crosses a block edge
    with torch.no_grad():
        codebook = model.quantizer.codebooks[0]
        plain = codebook.pow(2).sum(1).unsqueeze(0) - 2.0 * torch.from_numpy(rows) @ codebook.T
    assert np.array_equal(quantizer.nearest(0, rows), plain.argmin(dim=1).numpy())
