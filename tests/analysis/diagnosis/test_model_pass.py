"""The model pass: one stream of the catalog through a run's quantizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.diagnosis.model_pass import model_pass
from analysis.reading.run_data import RunData
from rqvae.ids.last_level import spread_with_quantizer
from rqvae.quantizers.from_run import load_run_quantizer


@pytest.mark.slow
def test_streamed_statistics_equal_the_model_on_all_items(trained_run):
    """Chunked latents, codes, residual norms and reconstruction error equal one direct pass of
    the torch model over every item (training's own quantize, not the residual chain)."""
    data = RunData.load(trained_run)
    quantizer = load_run_quantizer(data.run)
    model = quantizer.model
    embeddings = data.embeddings()
    x = torch.from_numpy(np.asarray(embeddings[0 : len(embeddings)], dtype=np.float32))
    with torch.no_grad():
        z = model.encode(x)
        quantized = model.quantizer.quantize(z)
        x_hat = model.decode(quantized.quantized)
    result = model_pass(quantizer, embeddings, chunk_size=1000)
    np.testing.assert_array_equal(result.codes, quantized.codes.numpy())
    # the stored IDs: the same codes, but for the items assign moved to a free last-level code
    spread = spread_with_quantizer(quantizer, None, result.codes, latents=result.latents)
    np.testing.assert_array_equal(spread.codes, data.codes)
    np.testing.assert_array_equal(result.codes[:, :-1], data.codes[:, :-1])
    np.testing.assert_allclose(result.latents, z.numpy(), rtol=1e-6, atol=1e-7)
    levels = result.residuals.levels
    assert levels["mean_norm"].iloc[-1] == pytest.approx(
        quantized.left.norm(dim=1).mean().item(), rel=1e-4
    )
    spaces = result.residuals.reconstruction.set_index("space")
    assert spaces.loc["input", "mse"] == pytest.approx(((x - x_hat) ** 2).mean().item(), rel=1e-4)
    assert result.residuals.n_items == data.n_items


def test_input_error_rows_and_their_chunks():
    from analysis.metrics.residuals import input_error_rows, rows_in_chunk

    assert input_error_rows(5, size=5) is None  # at or below the sample size: every row
    rows = input_error_rows(10, size=4, seed=3)
    expected = np.sort(np.random.default_rng(3).choice(10, size=4, replace=False))
    assert rows.tolist() == expected.tolist()
    assert rows_in_chunk(None, 4, 8) is None
    assert rows_in_chunk(np.array([1, 4, 5, 9]), 4, 8).tolist() == [0, 1]
    assert rows_in_chunk(np.array([1, 4, 5, 9]), 6, 9).tolist() == []


@pytest.mark.slow
def test_input_errors_above_the_sample_size_are_those_of_the_sample(trained_run):
    """Above ``input_sample`` items the input-space errors are exactly the errors of the
    sampled items (the ``items`` column says how many); latent statistics still cover all."""
    from analysis.metrics.residuals import input_error_rows

    data = RunData.load(trained_run)
    quantizer = load_run_quantizer(data.run)
    embeddings = data.embeddings()
    whole = model_pass(quantizer, embeddings, chunk_size=100)
    sampled = model_pass(quantizer, embeddings, chunk_size=100, input_sample=50, seed=1)
    rows = input_error_rows(data.n_items, 50, 1)
    x = np.asarray(embeddings[0 : len(embeddings)], dtype=np.float32)[rows]
    z = whole.latents[rows]
    with torch.no_grad():
        x_hat = quantizer.model.decode(torch.from_numpy(z)).numpy()
    table = sampled.residuals.reconstruction.set_index("space")
    assert table.loc["input_unquantized", "mse"] == pytest.approx(
        float(np.square(x - x_hat).mean()), rel=1e-5
    )
    assert table.loc["input", "items"] == 50 == table.loc["input_unquantized", "items"]
    assert table.loc["latent", "items"] == data.n_items
    assert whole.residuals.reconstruction["items"].tolist() == [data.n_items] * 3
    pd_equal = sampled.residuals.levels.equals(whole.residuals.levels)
    assert pd_equal  # norms: every item either way
