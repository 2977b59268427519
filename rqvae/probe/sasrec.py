"""SASRec (Kang & McAuley 2018, https://arxiv.org/abs/1808.09781): a causal self-attention
encoder over a sequence of tokens, pre-layer-norm, with learnt positions.

One network serves both probes: the item-ID probe's tokens are items (output: a score per
item, by dot product with the tied item embeddings), the semantic-ID probe's tokens are the
codes of each item in turn (output: a distribution over the code vocabulary; TIGER,
https://arxiv.org/abs/2305.05065, as a decoder-only model). Token 0 is padding; sequences are
left-padded so the last column is always the newest token, and positions count from the first
real token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class SASRecConfig:
    vocab_size: int  # tokens incl. padding 0
    max_len: int = 80  # longest token sequence (positions)
    dim: int = 64  # hidden size
    blocks: int = 2  # self-attention blocks
    heads: int = 2
    dropout: float = 0.2


class Block(nn.Module):
    """x + attention(LN(x)), then x + feed-forward(LN(x)); causal, padding-aware."""

    def __init__(self, config: SASRecConfig):
        super().__init__()
        self.heads = config.heads
        self.norm_attention = nn.LayerNorm(config.dim)
        self.qkv = nn.Linear(config.dim, 3 * config.dim)
        self.out = nn.Linear(config.dim, config.dim)
        self.norm_ffn = nn.LayerNorm(config.dim)
        self.ffn = nn.Sequential(
            nn.Linear(config.dim, 4 * config.dim),
            nn.GELU(),
            nn.Linear(4 * config.dim, config.dim),
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(self.norm_attention(x)).split(dim, dim=2)
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, d_h)
        attended = attended.transpose(1, 2).reshape(batch, length, dim)
        x = x + self.dropout(self.out(attended))
        return x + self.dropout(self.ffn(self.norm_ffn(x)))


class SASRec(nn.Module):
    """tokens int64 (B, T), 0 = padding on the left -> hidden states (B, T, dim)."""

    def __init__(self, config: SASRecConfig):
        super().__init__()
        self.config = config
        self.tokens = nn.Embedding(config.vocab_size, config.dim, padding_idx=0)
        self.positions = nn.Embedding(config.max_len, config.dim)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.blocks))
        self.norm = nn.LayerNorm(config.dim)
        self.dropout = nn.Dropout(config.dropout)
        nn.init.normal_(self.tokens.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        real = tokens > 0  # (B, T)
        # positions from the first real token (left padding)
        position = (real.cumsum(dim=1) - 1).clamp_min(0).clamp_max(self.config.max_len - 1)
        x = self.dropout(self.tokens(tokens) * self.config.dim**0.5 + self.positions(position))
        length = tokens.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=tokens.device).tril()
        # a query sees earlier real tokens; a padding query sees itself (no empty softmax rows)
        eye = torch.eye(length, dtype=torch.bool, device=tokens.device)
        mask = (causal[None] & real[:, None, :]) | eye[None]  # (B, T, T)
        mask = mask[:, None]  # (B, 1, T, T): the same for every head
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every token (tied embeddings): (..., dim) -> (..., vocab_size)."""
        return hidden @ self.tokens.weight.T

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def left_pad(sequences: list, length: int) -> torch.Tensor:
    """int64 (len(sequences), length): each sequence's last ``length`` tokens, left-padded."""
    batch = torch.zeros(len(sequences), length, dtype=torch.int64)
    for row, sequence in enumerate(sequences):
        tail = torch.as_tensor(sequence[-length:], dtype=torch.int64)
        if len(tail):
            batch[row, length - len(tail) :] = tail
    return batch
