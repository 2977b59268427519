"""The model pass: one stream of the catalog through a run's quantizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.diagnosis.model_pass import model_pass
from analysis.reading.run_data import RunData
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
    np.testing.assert_array_equal(result.codes, data.codes)
    np.testing.assert_allclose(result.latents, z.numpy(), rtol=1e-6, atol=1e-7)
    levels = result.residuals.levels
    assert levels["mean_norm"].iloc[-1] == pytest.approx(
        quantized.left.norm(dim=1).mean().item(), rel=1e-4
    )
    spaces = result.residuals.reconstruction.set_index("space")
    assert spaces.loc["input", "mse"] == pytest.approx(((x - x_hat) ** 2).mean().item(), rel=1e-4)
    assert result.residuals.n_items == data.n_items
