"""The RQ-VAE network: MLP encoder -> residual quantizer -> MLP decoder (TIGER, Rajput et al. 2023).

Loss, per batch of B items::

    loss = recon + sum_l (codebook_l + beta * commit_l)
    recon      = mean_b ||x_b - decoder(q_b)||^2        (summed over the input dimensions)
    codebook_l = mean_b ||sg(r_bl) - c_bl||^2           (summed over the latent dimensions)
    commit_l   = mean_b ||r_bl - sg(c_bl)||^2

Every term is a per-item squared Euclidean distance: summed over its feature dimensions and
averaged over the batch, so the terms are commensurate. Averaging the reconstruction over
384-1024 input dimensions while summing the quantization terms over 32 latent dimensions would
shrink the reconstruction term by that factor, and the cheapest way to lower the loss would
then be to collapse every item onto a few codes. Here neither term is divided by a dimension
count, and the reconstruction term (about 1 at the start for unit-norm embeddings) stays the
larger one throughout training, which is what keeps the codes spread over the catalog.

Gradients: the codebook term trains the codewords, the commitment term the encoder; the
reconstruction reaches the encoder through the straight-through or rotation-trick estimator
(see :mod:`rqvae.model.quantizer`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rqvae.model.config import ModelConfig
from rqvae.model.quantizer import QuantizerOutput, ResidualQuantizer


@dataclass
class RQVAEOutput:
    """Forward pass of :class:`RQVAE` on a batch of B items."""

    reconstruction: torch.Tensor  # (B, input_dim)
    z: torch.Tensor  # (B, latent_dim), encoder output
    quantizer: QuantizerOutput  # codes (B, L), quantized, residuals, per-level losses
    loss_recon: torch.Tensor  # scalar, mean over B of ||x - x_hat||^2
    loss_total: torch.Tensor  # scalar, recon + sum_l (codebook_l + beta * commit_l)

    @property
    def codes(self) -> torch.Tensor:
        return self.quantizer.codes


def mlp(widths: list[int]) -> nn.Sequential:
    """Linear layers of the given widths with SiLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(width_in, width_out))
        if index < len(widths) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class RQVAE(nn.Module):
    """Residual-quantized autoencoder over item embeddings of dimension ``config.input_dim``."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.input_dim < 1:
            raise ValueError("ModelConfig.input_dim must be set (from the embeddings) first")
        self.config = config
        widths = [config.input_dim, *config.hidden_dims, config.latent_dim]
        self.encoder = mlp(widths)
        self.decoder = mlp(widths[::-1])
        self.quantizer = ResidualQuantizer(config)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) embeddings -> (B, latent_dim) latents."""
        return self.encoder(x)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) quantized latents -> (B, input_dim) reconstructions."""
        return self.decoder(z_q)

    def forward(self, x: torch.Tensor) -> RQVAEOutput:
        z = self.encode(x)  # (B, latent_dim)
        quantized = self.quantizer.quantize(z)
        reconstruction = self.decode(quantized.quantized)  # (B, input_dim)
        loss_recon = (reconstruction - x).pow(2).sum(-1).mean()
        loss_quant = (quantized.codebook_loss + self.config.beta * quantized.commit_loss).sum()
        return RQVAEOutput(
            reconstruction=reconstruction,
            z=z,
            quantizer=quantized,
            loss_recon=loss_recon,
            loss_total=loss_recon + loss_quant,
        )

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
