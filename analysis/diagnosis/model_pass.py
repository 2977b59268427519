"""One streaming pass of a run's embeddings through its quantizer.

Residual norms, codeword geometry and the Mahalanobis comparison need the latents and the
quantizer's own codes. :func:`model_pass` pushes every embedding through encoder, residual
chain and decoder once, chunk by chunk, and keeps only what those diagnostics need: the
latents (n x latent_dim float32, 128 MB for a million items at 32 dimensions), the codes and
the residual statistics. Embeddings (n x 384) are never held whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.metrics.residuals import (
    DEFAULT_SAMPLE,
    INPUT_SAMPLE,
    ResidualAccumulator,
    ResidualNorms,
    input_error_rows,
    rows_in_chunk,
)
from rqvae.quantizers import Quantizer, iter_residual_chain

MODEL_CHUNK = 16_384


@dataclass
class ModelPass:
    """What one pass of the catalog through the quantizer leaves behind.

    latents : float32 (n, latent_dim), the encoder outputs z, rows aligned with the embeddings.
    codes : int64 (n, L), the quantizer's own assignment of those latents.
    residuals : :class:`analysis.metrics.residuals.ResidualNorms`, with input-space errors
        when the quantizer has a decoder.
    """

    latents: np.ndarray
    codes: np.ndarray
    residuals: ResidualNorms


def model_pass(
    quantizer: Quantizer,
    embeddings,
    chunk_size: int = MODEL_CHUNK,
    sample_size: int = DEFAULT_SAMPLE,
    seed: int = 0,
    input_sample: int = INPUT_SAMPLE,
) -> ModelPass:
    """Stream ``embeddings`` (n, d_in; array, memmap or EmbeddingReader) through ``quantizer``.

    Input-space errors (the decoder) cover every item up to ``input_sample`` items, above it
    the seeded sample of :func:`analysis.metrics.residuals.input_error_rows`; everything else
    covers every item."""
    n_items = len(embeddings)
    decoded_rows = input_error_rows(n_items, input_sample, seed)
    latents = np.empty((n_items, quantizer.latent_dim), dtype=np.float32)
    codes = np.empty((n_items, quantizer.levels), dtype=np.int64)
    accumulator = ResidualAccumulator(quantizer.levels)
    for chunk in iter_residual_chain(quantizer, embeddings, chunk_size=chunk_size):
        rows = slice(chunk.start, chunk.start + len(chunk.x))
        latents[rows] = chunk.z
        codes[rows] = chunk.chain.codes
        x = x_hat = x_hat_unquantized = None
        take = rows_in_chunk(decoded_rows, rows.start, rows.stop)
        if quantizer.has_decoder and (take is None or len(take)):
            # z - r_L: the sum of the codewords up to rounding, as the pinned run recorded it
            z_q, z, x = chunk.z - chunk.chain.left, chunk.z, chunk.x
            if take is not None:
                z_q, z, x = z_q[take], z[take], x[take]
            x_hat = quantizer.decode(z_q)
            x_hat_unquantized = quantizer.decode(z)
        accumulator.update(chunk.chain, x=x, x_hat=x_hat, x_hat_unquantized=x_hat_unquantized)
    return ModelPass(
        latents=latents,
        codes=codes,
        residuals=accumulator.result(sample_size=sample_size, seed=seed),
    )
