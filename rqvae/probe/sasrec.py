"""SASRec (Kang & McAuley 2018, https://arxiv.org/abs/1808.09781): a causal self-attention
encoder over a sequence of tokens, pre-layer-norm, with learnt positions.

One network serves two probes: the item-ID probe's tokens are items (output: a score per
item, by dot product with the tied item embeddings), the decoder-only semantic-ID probe's
tokens are the codes of each item in turn (output: a distribution over one level's codes; TIGER,
https://arxiv.org/abs/2305.05065, as a decoder-only model). There, each token also gets a learnt
embedding of its step within its item (``steps`` > 0), so the same code at two levels differs
twice over (its own token id, and its step). Token 0 is padding; sequences are left-padded so the
last column is always the newest token, and positions count from the first real token.

For beam search, :meth:`SASRec.encode_history` keeps each block's keys and values of the
history, and :meth:`SASRec.extend` runs each generated token once against them and the
beam's earlier tokens.
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
    steps: int = 0  # tokens per item (semantic IDs); 0: one token per item, no step embedding
    ffn: int = 0  # feed-forward hidden size; 0: 4 * dim


class Block(nn.Module):
    """x + attention(LN(x)), then x + feed-forward(LN(x)); causal, padding-aware."""

    def __init__(self, config: SASRecConfig):
        super().__init__()
        self.heads = config.heads
        self.norm_attention = nn.LayerNorm(config.dim)
        self.qkv = nn.Linear(config.dim, 3 * config.dim)
        self.out = nn.Linear(config.dim, config.dim)
        self.norm_ffn = nn.LayerNorm(config.dim)
        ffn = config.ffn or 4 * config.dim
        self.ffn = nn.Sequential(
            nn.Linear(config.dim, ffn),
            nn.GELU(),
            nn.Linear(ffn, config.dim),
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B, T, dim); mask bool (B, 1, T, T). Returns x and the keys and values
        (B, heads, T, d_h), which :meth:`extend` reuses."""
        batch, length, dim = x.shape
        q, k, v = self.qkv(self.norm_attention(x)).split(dim, dim=2)
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, d_h)
        attended = attended.transpose(1, 2).reshape(batch, length, dim)
        x = x + self.dropout(self.out(attended))
        return x + self.dropout(self.ffn(self.norm_ffn(x))), (k, v)

    def extend(
        self,
        x: torch.Tensor,
        history: tuple[torch.Tensor, torch.Tensor],
        real: torch.Tensor,
        width: int,
        past: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One new token per beam after a history, ``width`` beams per user: x (U * width, 1,
        dim); the history's keys and values (U, heads, T, d_h) of :meth:`forward` and its real
        columns bool (U, T); ``past``: keys and values (U * width, heads, t, d_h) of the beam's
        earlier generated tokens (None: the first). The token sees the real history columns,
        its beam's earlier tokens and itself, in one softmax. The history's keys are not
        copied per beam: a user's beams query them together. Returns x and the beam's keys
        and values including the new token."""
        rows, _, dim = x.shape
        users = rows // width
        q, k, v = self.qkv(self.norm_attention(x)).split(dim, dim=2)
        q, k, v = (t.view(rows, 1, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        scale = q.shape[-1] ** -0.5
        keys, values = history  # (U, H, T, d_h)
        grouped = q.reshape(users, width, self.heads, -1).transpose(1, 2)  # (U, H, W, d_h)
        to_history = (grouped @ keys.transpose(-1, -2)) * scale  # (U, H, W, T)
        to_history = to_history.masked_fill(~real[:, None, None, :], float("-inf"))
        to_history = to_history.transpose(1, 2).reshape(rows, self.heads, 1, -1)
        to_generated = (q @ k.transpose(-1, -2)) * scale  # (U * W, H, 1, t + 1)
        weights = torch.softmax(torch.cat([to_history, to_generated], dim=-1), dim=-1)
        length = keys.shape[2]
        from_history = weights[..., :length].reshape(users, width, self.heads, length)
        from_history = from_history.transpose(1, 2) @ values  # (U, H, W, d_h)
        from_history = from_history.transpose(1, 2).reshape(rows, self.heads, 1, -1)
        attended = from_history + weights[..., length:] @ v  # (U * W, H, 1, d_h)
        x = x + self.dropout(self.out(attended.transpose(1, 2).reshape(rows, 1, dim)))
        return x + self.dropout(self.ffn(self.norm_ffn(x))), (k, v)


class SASRec(nn.Module):
    """tokens int64 (B, T), 0 = padding on the left -> hidden states (B, T, dim)."""

    def __init__(self, config: SASRecConfig):
        super().__init__()
        self.config = config
        self.tokens = nn.Embedding(config.vocab_size, config.dim, padding_idx=0)
        self.positions = nn.Embedding(config.max_len, config.dim)
        self.item_step = nn.Embedding(config.steps, config.dim) if config.steps else None
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.blocks))
        self.norm = nn.LayerNorm(config.dim)
        self.dropout = nn.Dropout(config.dropout)
        for table in (self.tokens, self.positions, self.item_step):
            if table is not None:
                nn.init.normal_(table.weight, std=0.02)

    def _embed(self, tokens: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        x = self.tokens(tokens) * self.config.dim**0.5 + self.positions(position)
        if self.item_step is not None:
            x = x + self.item_step(position % self.config.steps)
        return self.dropout(x)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden, _ = self._run(tokens)
        return hidden

    def _run(self, tokens: torch.Tensor):
        real = tokens > 0  # (B, T)
        # positions from the first real token (left padding); with ``steps`` the item
        # boundaries stay aligned because histories hold whole items
        position = (real.cumsum(dim=1) - 1).clamp_min(0).clamp_max(self.config.max_len - 1)
        x = self._embed(tokens, position)
        length = tokens.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=tokens.device).tril()
        # a query sees earlier real tokens; a padding query sees itself (no empty softmax rows)
        eye = torch.eye(length, dtype=torch.bool, device=tokens.device)
        mask = (causal[None] & real[:, None, :]) | eye[None]  # (B, T, T)
        mask = mask[:, None]  # (B, 1, T, T): the same for every head
        cache = []
        for block in self.blocks:
            x, keys_values = block(x, mask)
            cache.append(keys_values)
        return self.norm(x), cache

    @torch.no_grad()
    def encode_history(self, tokens: torch.Tensor) -> dict:
        """Run the history once for generation: its keys and values per block, which of its
        columns are real, the position the next token gets, and the last hidden state
        ``last`` (B, dim), which scores the first generated token. tokens int64 (B, T)."""
        hidden, cache = self._run(tokens)
        real = tokens > 0
        return {
            "cache": cache,
            "real": real,
            "next_position": real.sum(dim=1),
            "last": hidden[:, -1],
        }

    @torch.no_grad()
    def extend(
        self, history: dict, cache: list | None, token: torch.Tensor, width: int
    ) -> tuple[torch.Tensor, list]:
        """Generation, one token at a time: hidden state (U * width, dim) after ``token`` int64
        (U * width,), the next token of each of ``width`` beams per user of
        :meth:`encode_history`'s batch, given each block's keys and values of the beam's
        earlier generated tokens (``cache``, rows in the order of the current beams; None for
        the first). Returns it and the extended cache."""
        generated = 0 if cache is None else cache[0][0].shape[2]
        position = history["next_position"].repeat_interleave(width) + generated
        x = self._embed(token[:, None], position[:, None].clamp_max(self.config.max_len - 1))
        new_cache = []
        for i, (block, keys_values) in enumerate(zip(self.blocks, history["cache"], strict=True)):
            x, own = block.extend(
                x, keys_values, history["real"], width, None if cache is None else cache[i]
            )
            new_cache.append(own)
        return self.norm(x)[:, 0], new_cache

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every token (tied embeddings): (..., dim) -> (..., vocab_size)."""
        return hidden @ self.tokens.weight.T

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def next_token_batch(streams: list, members) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher forcing over the ``members`` rows of ``streams`` (int sequences of 2+ tokens):
    inputs (each stream but its last token) and targets (each stream but its first), both
    int64 (len(members), longest - 1), left-padded with 0."""
    batch = [streams[i] for i in members]
    width = max(len(s) for s in batch) - 1
    return left_pad([s[:-1] for s in batch], width), left_pad([s[1:] for s in batch], width)


def left_pad(sequences: list, length: int) -> torch.Tensor:
    """int64 (len(sequences), length): each sequence's last ``length`` tokens, left-padded."""
    batch = torch.zeros(len(sequences), length, dtype=torch.int64)
    for row, sequence in enumerate(sequences):
        tail = torch.as_tensor(sequence[-length:], dtype=torch.int64)
        if len(tail):
            batch[row, length - len(tail) :] = tail
    return batch
