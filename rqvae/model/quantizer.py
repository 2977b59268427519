"""Residual quantizer (training): L stacked codebooks, each quantizing what earlier levels left.

Level ``l`` receives the residual ``r_l`` (``r_0 = z``), picks the nearest codeword ``c_l`` and
passes on ``r_{l+1} = r_l - c_l``. The quantized latent is ``c_0 + c_1 + ... + c_{L-1}`` and the
semantic ID is the tuple of chosen code indices.

This is the differentiable path training takes; every other use of a trained model (assignment,
diagnostics) walks the same chain through :mod:`rqvae.quantizers`, which picks codes with
:meth:`ResidualQuantizer.nearest_codes` below. Training-time codebook maintenance (EMA
updates, dead-code resets) lives in :meth:`ResidualQuantizer.update_codebooks`, which the
trainer calls after the optimizer step so that no parameter changes between a forward pass and
its backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rqvae.model.config import ModelConfig
from rqvae.model.kmeans import kmeans


@dataclass
class QuantizerOutput:
    """What one pass through the residual quantizer produces (B = batch, L = levels)."""

    codes: torch.Tensor  # int64, (B, L): chosen code per level
    quantized: torch.Tensor  # (B, latent_dim): sum of chosen codewords, gradients reach z
    residuals: torch.Tensor  # (B, L, latent_dim): residual entering each level; [:, 0] = z
    left: torch.Tensor  # (B, latent_dim): residual after the last level, z - sum of codewords
    codebook_loss: torch.Tensor  # (L,): mean over B of ||sg(r_l) - c_l||^2, trains codewords
    commit_loss: torch.Tensor  # (L,): mean over B of ||r_l - sg(c_l)||^2, trains the encoder


class ResidualQuantizer(nn.Module):
    """``num_levels`` codebooks of ``codebook_size`` codewords in ``latent_dim`` dimensions."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        shape = (config.num_levels, config.codebook_size, config.latent_dim)
        # Small random codewords until k-means (or the first dead-code reset) places them.
        initial = torch.randn(shape) / config.latent_dim
        self.weight = nn.Parameter(initial, requires_grad=not config.ema)
        self.register_buffer("initialized", torch.tensor(False))
        # usage counts over the current dead-code window, and steps taken in that window
        self.register_buffer("window_counts", torch.zeros(shape[:2], dtype=torch.int64))
        self.register_buffer("window_steps", torch.tensor(0))
        if config.ema:
            self.register_buffer("ema_counts", torch.ones(shape[:2]))
            self.register_buffer("ema_sums", self.weight.detach().clone())

    @property
    def codebooks(self) -> torch.Tensor:
        """The codewords used for assignment, (L, K, latent_dim); unit vectors under cosine."""
        if self.config.distance == "cosine":
            return F.normalize(self.weight, dim=-1)
        return self.weight

    # --- assignment ---------------------------------------------------------------------------

    def nearest_codes(self, residual: torch.Tensor, level: int) -> torch.Tensor:
        """Index (B,) of the codeword of ``level`` closest to ``residual`` (B, latent_dim)."""
        codebook = self.codebooks[level].detach()  # (K, latent_dim)
        if self.config.distance == "cosine":
            return (F.normalize(residual.detach(), dim=-1) @ codebook.T).argmax(dim=1)
        return nearest_euclidean(residual.detach(), codebook, codebook.pow(2).sum(1))

    def quantize(self, z: torch.Tensor) -> QuantizerOutput:
        """Quantize latents ``z`` (B, latent_dim) level by level."""
        codebooks = self.codebooks
        residual = z
        codes, residuals, outputs, codebook_losses, commit_losses = [], [], [], [], []
        for level in range(self.config.num_levels):
            code = self.nearest_codes(residual, level)  # (B,)
            chosen = codebooks[level][code]  # (B, latent_dim), differentiable w.r.t. weight
            codes.append(code)
            residuals.append(residual)
            codebook_losses.append((residual.detach() - chosen).pow(2).sum(-1).mean())
            commit_losses.append((residual - chosen.detach()).pow(2).sum(-1).mean())
            outputs.append(self._pass_gradient(residual, chosen.detach()))
            # later levels see the residual as a constant offset of z: gradients of their
            # commitment terms reach the encoder, never the earlier codewords
            residual = residual - chosen.detach()
        return QuantizerOutput(
            codes=torch.stack(codes, dim=1),
            quantized=torch.stack(outputs, dim=0).sum(0),
            residuals=torch.stack(residuals, dim=1),
            left=residual,
            codebook_loss=torch.stack(codebook_losses),
            commit_loss=torch.stack(commit_losses),
        )

    def _pass_gradient(self, residual: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """Forward value ``chosen``; backward: identity (STE) or the rotation trick."""
        if self.config.gradient_estimator == "ste":
            return residual + (chosen - residual).detach()
        return rotate_onto(residual, chosen)

    # --- training-time codebook maintenance --------------------------------------------------

    @torch.no_grad()
    def init_codebooks(self, z: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """k-means each level on the residuals of ``z`` (n, latent_dim) left by the levels above."""
        residual = z.detach().float()
        spherical = self.config.distance == "cosine"
        for level in range(self.config.num_levels):
            centroids = kmeans(
                residual, self.config.codebook_size, self.config.kmeans_iters, generator, spherical
            )
            self.weight[level] = centroids
            if self.config.ema:
                self.ema_sums[level] = centroids
                self.ema_counts[level] = 1.0
            residual = residual - self.codebooks[level][self.nearest_codes(residual, level)]
        self.initialized.fill_(True)

    @torch.no_grad()
    def update_codebooks(self, output: QuantizerOutput) -> torch.Tensor:
        """After an optimizer step: EMA update (if enabled) and dead-code resets.

        A code used fewer than ``dead_code_threshold`` times during a window of
        ``dead_code_window`` training steps is moved onto a residual sampled from the current
        batch at its level, so it is used again. Returns the number of codes reset per level,
        int64 (L,).
        """
        codes, residuals = output.codes, output.residuals.detach()
        num_levels, size = self.config.num_levels, self.config.codebook_size
        one_hot = F.one_hot(codes, size).to(residuals.dtype)  # (B, L, K)
        if self.config.ema:
            decay = self.config.ema_decay
            counts = one_hot.sum(0)  # (L, K)
            sums = torch.einsum("blk,bld->lkd", one_hot, residuals)
            self.ema_counts.mul_(decay).add_(counts, alpha=1 - decay)
            self.ema_sums.mul_(decay).add_(sums, alpha=1 - decay)
            self.weight.copy_(self.ema_sums / self.ema_counts.clamp_min(1e-5).unsqueeze(-1))

        resets = torch.zeros(num_levels, dtype=torch.int64)
        if self.config.dead_code_window == 0:
            return resets
        self.window_counts += one_hot.sum(0).to(torch.int64)
        self.window_steps += 1
        if int(self.window_steps) < self.config.dead_code_window:
            return resets
        for level in range(num_levels):
            dead = (self.window_counts[level] < self.config.dead_code_threshold).nonzero()[:, 0]
            if len(dead) == 0:
                continue
            picks = self._pick_residuals(residuals[:, level], level, len(dead))
            self.weight[level, dead] = residuals[picks, level]
            if self.config.ema:
                self.ema_sums[level, dead] = residuals[picks, level]
                self.ema_counts[level, dead] = 1.0
            resets[level] = len(dead)
        self.window_counts.zero_()
        self.window_steps.zero_()
        return resets

    def _pick_residuals(self, residual: torch.Tensor, level: int, count: int) -> torch.Tensor:
        """Indices of ``count`` batch rows to place revived codes on.

        Rows are drawn with probability proportional to their squared quantization error at
        this level (k-means++ style): a singleton sits on its codeword and is never picked,
        while items sharing a codeword with others are, so revived codes split crowded cells.
        """
        chosen = self.codebooks[level][self.nearest_codes(residual, level)]
        error = (residual - chosen).pow(2).sum(-1)  # (B,)
        candidates = int((error > 0).sum())
        if candidates == 0:
            error = torch.ones_like(error)
            candidates = len(error)
        return torch.multinomial(error, count, replacement=count > candidates)


def nearest_euclidean(
    residual: torch.Tensor, codebook: torch.Tensor, norms: torch.Tensor
) -> torch.Tensor:
    """Index (B,) of the nearest codeword, argmin over k of ``|c_k|^2 - 2 r.c_k``.

    ``||r||^2`` is the same for every code, so this is argmin ``||r - c_k||^2``. residual
    (B, D), codebook (K, D), norms (K,) = ``|c_k|^2``; float32 throughout. Done in place on one
    (B, K) buffer: ``-2 (r.c) + |c|^2`` rounds exactly as ``|c|^2 - 2 r.c`` (scaling by 2 is
    exact), so the codes are bit for bit those of the plain expression, with one pass less
    over the buffer.
    """
    scores = residual @ codebook.T
    return scores.mul_(-2.0).add_(norms).argmin(dim=1)


def rotate_onto(e: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Rotation trick (Fifty et al. 2024, https://arxiv.org/abs/2410.06424).

    Returns ``q`` (B, d) in the forward pass, computed as ``s R e`` where ``R`` is the rotation
    taking the direction of ``e`` to that of ``q`` and ``s = |q| / |e|``; both are treated as
    constants, so the gradient reaching ``e`` is the output gradient rotated and rescaled
    instead of copied unchanged (straight-through). Uses the Householder form
    ``R = I - 2 w w^T + 2 q_hat e_hat^T`` with ``w = normalize(e_hat + q_hat)``.
    """
    e_norm = e.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    q_norm = q.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    e_hat = (e / e_norm).detach()
    q_hat = (q / q_norm).detach()
    w = F.normalize(e_hat + q_hat, dim=-1).detach()
    rotated = (
        e
        - 2.0 * w * (w * e).sum(-1, keepdim=True)
        + 2.0 * q_hat * (e_hat * e).sum(-1, keepdim=True)
    )
    rotated = rotated * (q_norm / e_norm).detach()
    # exact forward value even where e is (nearly) zero and the rotation is undefined
    return rotated + (q - rotated).detach()
