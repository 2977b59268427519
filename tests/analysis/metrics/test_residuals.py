"""Residual norms and reconstruction error (diagnostic 4) on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.metrics.residuals import ResidualAccumulator, residual_norms
from rqvae.errors import InputError
from rqvae.quantizers import CodebookQuantizer, iter_residual_chain, residual_chain

# Two levels of two codewords in 2-D.
CODEBOOKS = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.0], [0.0, 0.5]]])
Z = np.array([[1.5, 0.0], [0.0, 1.0]])
CODES = np.array([[0, 0], [1, 0]])
# item 0: r = (1.5, 0) -> (0.5, 0) -> (0, 0); norms 1.5, 0.5, 0
# item 1: r = (0, 1)   -> (0, 0)   -> (-0.5, 0); norms 1.0, 0, 0.5


def test_norms_after_each_level_match_hand_computation():
    result = residual_norms(Z, CODEBOOKS, CODES)
    levels = result.levels.set_index("level")
    assert result.input_norm["mean_norm"] == pytest.approx(1.25)
    assert levels["mean_norm"].tolist() == pytest.approx([0.25, 0.25])
    assert levels["ratio_to_input"].tolist() == pytest.approx([0.2, 0.2])
    assert levels["mean_item_ratio"].tolist() == pytest.approx([(0.5 / 1.5) / 2, 0.25])
    assert levels["shrink"].tolist() == pytest.approx([0.2, 1.0])
    # numpy's linear percentiles of [0.5, 0.0]
    assert levels.loc[0, "p5"] == pytest.approx(0.025)
    assert levels.loc[0, "p50"] == pytest.approx(0.25)
    assert levels.loc[1, "p95"] == pytest.approx(0.475)
    assert levels["stage"].tolist() == ["after level 0", "after level 1"]


def test_latent_reconstruction_error_by_hand():
    result = residual_norms(Z, CODEBOOKS, CODES)
    latent = result.reconstruction.set_index("space").loc["latent"]
    # z_q = z - r_L: item 0 exact, item 1 reconstructs (0.5, 1) for (0, 1).
    assert latent["mse"] == pytest.approx(0.25 / 4)
    assert latent["cosine"] == pytest.approx((1.0 + 1.0 / np.sqrt(1.25)) / 2)
    assert set(result.reconstruction["space"]) == {"latent"}


def test_chunking_does_not_change_the_result():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(301, 4))
    codebooks = rng.normal(size=(3, 5, 4))
    codes = rng.integers(0, 5, size=(301, 3))
    whole = residual_norms(z, codebooks, codes, chunk_size=1000)
    chunked = residual_norms(z, codebooks, codes, chunk_size=7)
    np.testing.assert_allclose(
        whole.levels.drop(columns="stage").to_numpy(dtype=float),
        chunked.levels.drop(columns="stage").to_numpy(dtype=float),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        whole.reconstruction[["mse", "cosine"]], chunked.reconstruction[["mse", "cosine"]]
    )


def test_sample_is_long_form_with_every_stage():
    result = residual_norms(Z, CODEBOOKS, CODES, sample_size=10)
    sample = result.sample
    assert len(sample) == 2 * 3  # both items (fewer than 10), input + 2 levels each
    item1 = sample[sample["item_index"] == 1].sort_values("level")
    assert item1["stage"].tolist() == ["input", "after level 0", "after level 1"]
    assert item1["norm"].tolist() == pytest.approx([1.0, 0.0, 0.5])


def test_residual_chain_by_hand():
    chain = residual_chain(Z, list(CODEBOOKS), codes=CODES)
    np.testing.assert_array_equal(chain.codes, CODES)
    np.testing.assert_allclose(chain.residuals[0], Z)
    np.testing.assert_allclose(chain.residuals[1], [[0.5, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(chain.residuals[2], [[0.0, 0.0], [-0.5, 0.0]])
    np.testing.assert_allclose(chain.left, chain.residuals[2])
    # z_q = sum of the chosen codewords: (1, 0) + (0.5, 0) and (0, 1) + (0.5, 0)
    np.testing.assert_allclose(chain.quantized, [[1.5, 0.0], [0.5, 1.0]])


def test_residual_chain_chooses_the_nearest_codeword_level_by_level():
    # Item 1 (0, 1): level 0 picks (0, 1) exactly; level 1 sees (0, 0), equally far from both
    # codewords (0.25 each), and the tie goes to the lower index, code 0.
    chain = residual_chain(Z, list(CODEBOOKS), CodebookQuantizer(list(CODEBOOKS)).nearest)
    np.testing.assert_array_equal(chain.codes, [[0, 0], [1, 0]])


def test_streaming_the_chain_keeps_rows_in_order():
    quantizer = CodebookQuantizer(list(CODEBOOKS))
    z = np.repeat(Z, 3, axis=0).astype(np.float32)  # 6 rows, chunks of 4 and 2
    chunks = list(iter_residual_chain(quantizer, z, chunk_size=4))
    assert [chunk.start for chunk in chunks] == [0, 4]
    codes = np.concatenate([chunk.chain.codes for chunk in chunks])
    np.testing.assert_array_equal(codes, np.repeat([[0, 0], [1, 0]], 3, axis=0))


def test_input_space_error_with_decoded_chunks():
    accumulator = ResidualAccumulator(2)
    x = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    x_hat = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])  # item 1 orthogonal
    chain = residual_chain(Z, list(CODEBOOKS), codes=CODES)
    accumulator.update(chain, x=x, x_hat=x_hat, x_hat_unquantized=x)
    spaces = accumulator.result().reconstruction.set_index("space")
    assert spaces.loc["input", "mse"] == pytest.approx(8.0 / 6)
    assert spaces.loc["input", "cosine"] == pytest.approx(0.5)
    assert spaces.loc["input_unquantized", "mse"] == 0.0


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (np.array([0, 1]), "expected (n_items, n_levels)"),
        (np.array([[0, 0], [2, 0]]), "below codebook_size 2"),
        (np.array([[0, 0, 0], [1, 0, 0]]), "expected (2, 2)"),
    ],
)
def test_bad_codes_are_named(codes, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        residual_norms(Z, CODEBOOKS, codes)


def test_latent_dimension_mismatch():
    with pytest.raises(InputError, match="z has shape"):
        residual_norms(np.zeros((2, 3)), CODEBOOKS, CODES)
