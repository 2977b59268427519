"""Our own RQ-VAE checkpoints (``rqvae train``) as a :class:`~rqvae.quantizers.base.Quantizer`.

Codes are chosen by the training quantizer's own rule
(:meth:`rqvae.quantizer.ResidualQuantizer.nearest_codes`), so a run's IDs are exactly the ones
training measured; encoder and decoder are the trained MLPs, run on CPU without gradients.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rqvae.model import RQVAE
from rqvae.quantizers.base import Quantizer


class RQVAEQuantizer(Quantizer):
    """A trained :class:`rqvae.model.RQVAE` (eval mode); ``source`` names its checkpoint."""

    def __init__(self, model: RQVAE, source: str | Path = ""):
        self.model = model.eval()
        self.distance = model.config.distance
        self.source = str(source)
        # The codewords the model assigns with (unit vectors under cosine), float32 (K, D) each.
        weights = model.quantizer.codebooks.detach().cpu().numpy().astype(np.float32)
        self._codebooks = list(weights)

    @classmethod
    def from_run(cls, run_dir: str | Path, which: str = "best") -> RQVAEQuantizer:
        """The model of checkpoint ``which`` of a trained run (see
        :func:`rqvae.checkpoint.resolve_checkpoint` for the ``best`` -> ``last`` fallback)."""
        from rqvae.checkpoint import load_model, resolve_checkpoint

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

    @torch.no_grad()
    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.model.encode(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()

    @torch.no_grad()
    def decode(self, z_q: np.ndarray) -> np.ndarray:
        z_q = np.ascontiguousarray(z_q, dtype=np.float32)
        return self.model.decode(torch.from_numpy(z_q)).numpy()

    @torch.no_grad()
    def nearest(self, level: int, residual: np.ndarray) -> np.ndarray:
        codes = self.model.quantizer.nearest_codes(torch.from_numpy(residual), level)
        return codes.numpy().astype(np.int64)
