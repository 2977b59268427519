"""A small stand-in for RQ-VAE-Recommender's model, saved the way its ``train_rqvae.py`` saves it.

Written from ``../shared/checkpoint-formats.md``, not copied from that codebase: the same module
tree (``encoder.mlp`` = bias-free Linear layers with an activation module between them, then an
Identity; ``layers.{l}.embedding``), the same ``self._config = locals()`` taken before
``nn.Module.__init__`` (so the saved ``model_config`` holds the model itself and an enum), and
the same checkpoint dict ``{"iter", "model", "model_config", "optimizer"}``. Its
:meth:`RqVae.get_semantic_ids` is the source model's own greedy residual assignment, so a test
can compare the IDs the workbench imports with the IDs the model computes.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import torch
from torch import nn


class QuantizeForwardMode(Enum):
    GUMBEL_SOFTMAX = 1
    STE = 2
    ROTATION_TRICK = 3


class MLP(nn.Module):
    def __init__(self, input_dim, hidden_dims, out_dim):
        super().__init__()
        dims = [input_dim, *hidden_dims, out_dim]
        self.mlp = nn.Sequential()
        for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            self.mlp.append(nn.Linear(fan_in, fan_out, bias=False))
            if i != len(dims) - 2:
                self.mlp.append(nn.ReLU())  # the source's choice before Oct 2024 and after Mar 2026
        self.mlp.append(nn.Identity())

    def forward(self, x):
        return self.mlp(x)


class Quantize(nn.Module):
    def __init__(self, embed_dim, n_embed, forward_mode):
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)
        self.forward_mode = forward_mode

    def forward(self, x):
        codebook = self.embedding.weight
        distances = (x**2).sum(1, keepdim=True) + (codebook.T**2).sum(0, keepdim=True)
        distances = distances - 2 * x @ codebook.T
        ids = distances.argmin(dim=1)
        return ids, self.embedding(ids)


class RqVae(nn.Module):
    def __init__(
        self,
        input_dim,
        embed_dim,
        hidden_dims,
        codebook_size,
        codebook_kmeans_init=True,
        codebook_normalize=False,
        codebook_sim_vq=False,
        codebook_mode=QuantizeForwardMode.GUMBEL_SOFTMAX,
        n_layers=3,
    ):
        self._config = locals()  # before Module.__init__, as the source does: holds self
        super().__init__()
        self.layers = nn.ModuleList(
            [Quantize(embed_dim, codebook_size, codebook_mode) for _ in range(n_layers)]
        )
        self.encoder = MLP(input_dim, hidden_dims, embed_dim)
        self.decoder = MLP(embed_dim, hidden_dims[::-1], input_dim)

    @property
    def config(self) -> dict:
        return self._config

    @torch.no_grad()
    def get_semantic_ids(self, x: torch.Tensor) -> torch.Tensor:
        """int64 (n, n_layers): each level's nearest codeword to what the levels before left."""
        residual, ids = self.encoder(x), []
        for layer in self.layers:
            code, embedding = layer(residual)
            residual = residual - embedding
            ids.append(code)
        return torch.stack(ids, dim=1)


def train_and_save(
    path: Path, x: torch.Tensor, *, activation=nn.ReLU, steps: int = 3, seed: int = 0
) -> tuple[RqVae, dict]:
    """A model trained for ``steps`` AdamW steps on reconstruction, its codewords then drawn from
    the residuals of ``x``, saved as ``train_rqvae.py`` saves its checkpoints; returns the model.

    ``activation`` other than ReLU: the modules between the Linear layers are swapped for it,
    as the source's SiLU era had them."""
    torch.manual_seed(seed)
    model = RqVae(x.shape[1], 8, [16, 12], 16)
    for mlp in (model.encoder.mlp, model.decoder.mlp):
        for index, module in enumerate(mlp):
            if isinstance(module, nn.ReLU):
                mlp[index] = activation()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(steps):
        z = model.encoder(x)
        loss = ((model.decoder(z) - x) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():  # codewords on sampled residuals, where k-means init starts them
        residual = model.encoder(x)
        for layer in model.layers:
            layer.embedding.weight.copy_(
                residual[torch.randperm(len(x))[: len(layer.embedding.weight)]]
            )
            residual = residual - layer(residual)[1]
    state = {
        "iter": steps,
        "model": model.state_dict(),
        "model_config": model.config,
        "optimizer": optimizer.state_dict(),
    }
    torch.save(state, path)
    return model, state
