"""Pooled semantic-ID SASRec: a causal self-attention encoder over items, each item the sum
of its ID tokens' embeddings, and a small head that generates the next item's ID token by token.

The input side follows RPG (Hou et al., "Generating Long Semantic IDs in Parallel for
Recommendation", KDD 2025, https://arxiv.org/abs/2506.05781): an item enters the sequence
as the pooled (summed) embeddings of its ID's tokens, so a history of n items is n positions,
not n x steps as in the token-level models (:mod:`rqvae.probe.sasrec`, :mod:`rqvae.probe.tiger`).
The model sees nothing but the IDs: items with the same ID (``--collisions shared``) are the
same input.

The output side is generative, as in TIGER: the next item's ID is decoded one step at a time
under the prefix trie. Step s's state is the sequence state ``h`` plus a learnt embedding of
the step plus the summed embeddings of the tokens generated so far, through ``head_blocks``
residual feed-forward blocks; it is scored against level s's output embeddings only
(softmax over that level). Training teacher-forces the target's tokens at every position of
a user's sequence at once.

Shapes: ``item_tokens`` int64 (B, T, steps), global token ids (0 = padding, a padded item is
all zeros), left-padded so the last column is the newest item.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rqvae.probe.sasrec import Block, SASRecConfig


@dataclass
class PooledConfig:
    vocab_size: int  # tokens incl. padding 0
    steps: int  # tokens per ID
    max_len: int = 20  # longest history, in items
    dim: int = 128
    blocks: int = 2  # self-attention blocks over the items
    heads: int = 4
    ffn: int = 512  # feed-forward hidden size, in the blocks and the head
    dropout: float = 0.5
    head_blocks: int = 1  # residual feed-forward blocks of the ID head
    tie: bool = False  # score the output with the input token embeddings


class PooledSASRec(nn.Module):
    """item_tokens (B, T, steps) -> sequence states (B, T, dim); ``head`` scores the next ID."""

    def __init__(self, config: PooledConfig):
        super().__init__()
        self.config = config
        block_config = SASRecConfig(
            vocab_size=config.vocab_size,
            max_len=config.max_len,
            dim=config.dim,
            blocks=config.blocks,
            heads=config.heads,
            dropout=config.dropout,
            ffn=config.ffn,
        )
        self.tokens = nn.Embedding(config.vocab_size, config.dim, padding_idx=0)
        self.positions = nn.Embedding(config.max_len, config.dim)
        self.blocks = nn.ModuleList(Block(block_config) for _ in range(config.blocks))
        self.norm = nn.LayerNorm(config.dim)
        self.dropout = nn.Dropout(config.dropout)
        # the head: step embeddings, embeddings of generated tokens, output embeddings
        self.step = nn.Embedding(config.steps, config.dim)
        self.generated = nn.Embedding(config.vocab_size, config.dim)
        self.head = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(config.dim),
                nn.Linear(config.dim, config.ffn),
                nn.GELU(),
                nn.Linear(config.ffn, config.dim),
                nn.Dropout(config.dropout),
            )
            for _ in range(config.head_blocks)
        )
        self.head_norm = nn.LayerNorm(config.dim)
        for table in (self.tokens, self.positions, self.step, self.generated):
            nn.init.normal_(table.weight, std=0.02)
        self.output = self.tokens
        if not config.tie:
            self.output = nn.Embedding(config.vocab_size, config.dim)
            nn.init.normal_(self.output.weight, std=0.02)

    def forward(self, item_tokens: torch.Tensor) -> torch.Tensor:
        real = item_tokens[..., 0] > 0  # (B, T)
        # positions from the first real item (left padding)
        position = (real.cumsum(dim=1) - 1).clamp(0, self.config.max_len - 1)
        x = self.tokens(item_tokens).sum(dim=2) * self.config.dim**0.5
        x = self.dropout(x + self.positions(position))
        length = item_tokens.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        # a query sees earlier real items; a padding query sees itself (no empty softmax rows)
        eye = torch.eye(length, dtype=torch.bool, device=x.device)
        mask = ((causal[None] & real[:, None, :]) | eye[None])[:, None]  # (B, 1, T, T)
        for block in self.blocks:
            x, _ = block(x, mask)
        return self.norm(x)

    def head_states(self, hidden: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: the head's state at every step of the target IDs. hidden (N, dim),
        target int64 (N, steps) global token ids -> (N, steps, dim)."""
        generated = self.generated(target[:, :-1]).cumsum(dim=1)  # tokens before step s + 1
        generated = torch.cat([torch.zeros_like(generated[:, :1]), generated], dim=1)
        return self._head(hidden[:, None] + self.step.weight[None] + generated)

    def next_state(self, hidden: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        """Generation: the head's state for step s = prefix length. hidden (N, dim), prefix
        int64 (N, s) global token ids -> (N, dim)."""
        query = hidden + self.step.weight[prefix.shape[1]]
        if prefix.shape[1]:
            query = query + self.generated(prefix).sum(dim=1)
        return self._head(query)

    def _head(self, query: torch.Tensor) -> torch.Tensor:
        for block in self.head:
            query = query + block(query)
        return self.head_norm(query)

    def logits(self, state: torch.Tensor, low: int, high: int) -> torch.Tensor:
        """Scores of one level's tokens ``[low, high)``: (..., dim) -> (..., high - low)."""
        return state @ self.output.weight[low:high].T

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
