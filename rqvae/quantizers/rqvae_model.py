"""Our own RQ-VAE checkpoints (``rqvae train``) as a :class:`~rqvae.quantizers.base.Quantizer`.

Codes are chosen by the training quantizer's own rule
(:meth:`rqvae.model.quantizer.ResidualQuantizer.nearest_codes`), so a run's IDs are exactly the ones
training measured; encoder and decoder are the trained MLPs, run on CPU without gradients.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rqvae.model.network import RQVAE
from rqvae.model.quantizer import nearest_euclidean
from rqvae.quantizers.base import Quantizer, float32_tensor

# Rows scored at once by :meth:`RQVAEQuantizer.nearest`: the (rows, K) float32 score buffer
# (4 MB at K = 256) stays in the last-level cache however large the caller's chunk.
SCORE_BLOCK = 4_096


class RQVAEQuantizer(Quantizer):
    """A trained :class:`rqvae.model.network.RQVAE` (eval mode); ``source`` names its checkpoint."""

    def __init__(self, model: RQVAE, source: str | Path = ""):
        self.model = model.eval()
        self.distance = model.config.distance
        self.source = str(source)
        # The codewords the model assigns with (unit vectors under cosine), float32 (K, D) each.
        weights = model.quantizer.codebooks.detach().cpu().float()
        self._codebooks = list(weights.numpy())
        # the same codewords as tensors, and their squared norms, computed once (L, K)
        self._weights = weights
        self._norms = [codebook.pow(2).sum(1) for codebook in weights]  # as training does

    @classmethod
    def from_run(cls, run_dir: str | Path, which: str = "best") -> RQVAEQuantizer:
        """The model of checkpoint ``which`` of a trained run (see
        :func:`rqvae.runs.checkpoint.resolve_checkpoint` for the ``best`` -> ``last`` fallback)."""
        from rqvae.runs.checkpoint import load_model, resolve_checkpoint

        path = resolve_checkpoint(run_dir, which)
        return cls(load_model(run_dir, path), source=path)

    @property
    def codebooks(self) -> list[np.ndarray]:
        return self._codebooks

    @property
    def input_dim(self) -> int:
        return self.model.config.input_dim

    @property
    def has_decoder(self) -> bool:
        return True

    @torch.inference_mode()
    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.model.encode(float32_tensor(x)).numpy()

    @torch.inference_mode()
    def decode(self, z_q: np.ndarray) -> np.ndarray:
        z_q = np.ascontiguousarray(z_q, dtype=np.float32)
        return self.model.decode(torch.from_numpy(z_q)).numpy()

    @torch.inference_mode()
    def nearest(self, level: int, residual: np.ndarray) -> np.ndarray:
        """The training rule (:meth:`rqvae.model.quantizer.ResidualQuantizer.nearest_codes`),
        bit for bit, with the codewords' norms computed once and ``SCORE_BLOCK`` rows at a time."""
        residual = float32_tensor(residual)
        if self.distance == "cosine":
            return self.model.quantizer.nearest_codes(residual, level).numpy().astype(np.int64)
        codebook, norms = self._weights[level], self._norms[level]
        codes = torch.empty(len(residual), dtype=torch.int64)
        for start in range(0, len(residual), SCORE_BLOCK):
            block = residual[start : start + SCORE_BLOCK]
            codes[start : start + len(block)] = nearest_euclidean(block, codebook, norms)
        return codes.numpy()
