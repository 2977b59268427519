"""TIGER (Rajput et al., NeurIPS 2023, https://arxiv.org/abs/2305.05065): an encoder-decoder
transformer that reads a user's history as semantic-ID tokens and generates the next item's ID.

Encoder input (left-padded, so the newest token is always last): one user token (the user id
hashed into ``user_buckets`` buckets, as TIGER does with 2,000), then the tokens of each
history item in order (its L codes, then the collision index). Token ids are level-specific
(level l's codes have their own range, see :class:`rqvae.probe.vocabulary.SemanticVocabulary`),
and each position also gets a learnt embedding of its step within the item (level 0, 1, ...,
the collision token; the user token has its own), so code 7 of level 0 and code 7 of level 1
never share a vector. Positions count back from the newest token. The encoder is
bidirectional (pre-layer-norm, padding masked).

Decoder input: a start token, then the target's tokens; it predicts the target's tokens one
step at a time (causal self-attention, then cross-attention to the encoder's states), and step
s scores only level s's tokens (tied to the token embeddings).

Beam search decodes ``width`` beams per user (:meth:`Tiger.decode_step`). The encoder runs
once per user, and each decoder block projects its states to cross-attention keys and values
once (:meth:`DecoderBlock.cross_keys_values`); the beams of a user then query those same keys
as one longer query block, so nothing is repeated per beam. Each generated token runs once:
the decoder's self-attention keys and values of earlier tokens are cached.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TigerConfig:
    vocab_size: int  # code tokens incl. padding 0 (rqvae.probe.vocabulary)
    steps: int  # tokens per item (levels + collision token)
    max_len: int = 81  # longest encoder input: user token + max_items * steps
    user_buckets: int = 2000  # hashed user tokens (0: no user token)
    dim: int = 128  # hidden size
    encoder_blocks: int = 2
    decoder_blocks: int = 2
    heads: int = 4
    ffn: int = 512  # feed-forward hidden size
    dropout: float = 0.1


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, dim) -> (B, heads, T, dim / heads)."""
    batch, length, dim = x.shape
    return x.view(batch, length, heads, dim // heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, T, d_h) -> (B, T, heads * d_h)."""
    batch, heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * head_dim)


class FeedForward(nn.Sequential):
    def __init__(self, config: TigerConfig):
        super().__init__(
            nn.Linear(config.dim, config.ffn),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.ffn, config.dim),
        )


class EncoderBlock(nn.Module):
    """x + self-attention(LN(x)) over the real tokens, then x + feed-forward(LN(x))."""

    def __init__(self, config: TigerConfig):
        super().__init__()
        self.heads = config.heads
        self.norm_attention = nn.LayerNorm(config.dim)
        self.qkv = nn.Linear(config.dim, 3 * config.dim)
        self.out = nn.Linear(config.dim, config.dim)
        self.norm_ffn = nn.LayerNorm(config.dim)
        self.ffn = FeedForward(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """x (B, T, dim); real bool (B, 1, 1, T): the keys a query may see."""
        q, k, v = (_heads(t, self.heads) for t in self.qkv(self.norm_attention(x)).chunk(3, -1))
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=real)
        x = x + self.dropout(self.out(_merge(attended)))
        return x + self.dropout(self.ffn(self.norm_ffn(x)))


class DecoderBlock(nn.Module):
    """Causal self-attention, cross-attention to the encoder, feed-forward; pre-layer-norm."""

    def __init__(self, config: TigerConfig):
        super().__init__()
        self.heads = config.heads
        self.norm_self = nn.LayerNorm(config.dim)
        self.qkv = nn.Linear(config.dim, 3 * config.dim)
        self.out_self = nn.Linear(config.dim, config.dim)
        self.norm_cross = nn.LayerNorm(config.dim)
        self.q_cross = nn.Linear(config.dim, config.dim)
        self.kv_cross = nn.Linear(config.dim, 2 * config.dim)
        self.out_cross = nn.Linear(config.dim, config.dim)
        self.norm_ffn = nn.LayerNorm(config.dim)
        self.ffn = FeedForward(config)
        self.dropout = nn.Dropout(config.dropout)

    def cross_keys_values(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, dim) encoder states -> keys and values (B, heads, T, d_h)."""
        k, v = self.kv_cross(memory).chunk(2, dim=-1)
        return _heads(k, self.heads), _heads(v, self.heads)

    def forward(
        self,
        x: torch.Tensor,
        keys_values: tuple[torch.Tensor, torch.Tensor],
        real: torch.Tensor,
        width: int,
    ) -> torch.Tensor:
        """x (B * width, s, dim): ``width`` consecutive rows per user; keys_values of
        :meth:`cross_keys_values` and real bool (B, 1, 1, T) per user."""
        q, k, v = (_heads(t, self.heads) for t in self.qkv(self.norm_self(x)).chunk(3, -1))
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.dropout(self.out_self(_merge(attended)))
        return self._cross_and_ffn(x, keys_values, real, width)

    def step(
        self,
        x: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | None,
        keys_values: tuple[torch.Tensor, torch.Tensor],
        real: torch.Tensor,
        width: int,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One new token per row, x (B * width, 1, dim), after the tokens whose self-attention
        keys and values are ``past`` (B * width, heads, s, d_h) (None: the first token).
        Returns x and the keys and values including the new token."""
        q, k, v = (_heads(t, self.heads) for t in self.qkv(self.norm_self(x)).chunk(3, -1))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        attended = F.scaled_dot_product_attention(q, k, v)  # the newest token sees all
        x = x + self.dropout(self.out_self(_merge(attended)))
        return self._cross_and_ffn(x, keys_values, real, width), (k, v)

    def _cross_and_ffn(self, x, keys_values, real, width) -> torch.Tensor:
        rows, length, dim = x.shape
        # the beams of a user, one after the other, form one query block of width * s rows
        q = self.q_cross(self.norm_cross(x)).reshape(rows // width, width * length, dim)
        attended = F.scaled_dot_product_attention(
            _heads(q, self.heads), *keys_values, attn_mask=real
        )
        x = x + self.dropout(self.out_cross(_merge(attended).reshape(rows, length, dim)))
        return x + self.dropout(self.ffn(self.norm_ffn(x)))


class Tiger(nn.Module):
    """Encoder-decoder over semantic-ID tokens.

    encode(history, step) -> memory; decode(memory, prefix, width) -> hidden states. See the
    methods for shapes.
    """

    def __init__(self, config: TigerConfig):
        super().__init__()
        self.config = config
        # one table: padding 0, code tokens, then the decoder's start token and the user tokens
        self.start_token = config.vocab_size
        self.user_offset = config.vocab_size + 1
        self.tokens = nn.Embedding(config.vocab_size + 1 + config.user_buckets, config.dim)
        self.positions = nn.Embedding(config.max_len, config.dim)
        # step within an item: 0..steps-1 for code tokens, ``steps`` for the user token
        self.item_step = nn.Embedding(config.steps + 1, config.dim)
        self.decoder_positions = nn.Embedding(config.steps + 1, config.dim)
        self.encoder = nn.ModuleList(EncoderBlock(config) for _ in range(config.encoder_blocks))
        self.encoder_norm = nn.LayerNorm(config.dim)
        self.decoder = nn.ModuleList(DecoderBlock(config) for _ in range(config.decoder_blocks))
        self.decoder_norm = nn.LayerNorm(config.dim)
        self.dropout = nn.Dropout(config.dropout)
        for table in (self.tokens, self.positions, self.item_step, self.decoder_positions):
            nn.init.normal_(table.weight, std=0.02)

    def encode(self, history: torch.Tensor, step: torch.Tensor) -> dict:
        """history, step : int64 (B, T), left-padded (0 = padding) -> the memory every decoder
        call needs: each decoder block's cross-attention keys and values, and the mask of the
        real columns ``real`` bool (B, 1, 1, T)."""
        length = history.shape[1]
        position = torch.arange(length - 1, -1, -1, device=history.device)[None, :]
        x = self.dropout(self.tokens(history) + self.item_step(step) + self.positions(position))
        real = (history > 0)[:, None, None, :]
        for block in self.encoder:
            x = block(x, real)
        states = self.encoder_norm(x)  # (B, T, dim)
        return {
            "keys_values": [block.cross_keys_values(states) for block in self.decoder],
            "real": real,
        }

    def decode(self, memory: dict, prefix: torch.Tensor, width: int = 1) -> torch.Tensor:
        """Hidden states (B * width, s + 1, dim) after the start token and each token of
        ``prefix`` int64 (B * width, s); rows u * width .. u * width + width - 1 are user u's
        beams."""
        start = torch.full((prefix.shape[0], 1), self.start_token, dtype=torch.int64)
        inputs = torch.cat([start, prefix], dim=1)  # (B * width, s + 1)
        position = torch.arange(inputs.shape[1])[None, :]
        x = self.dropout(self.tokens(inputs) + self.decoder_positions(position))
        for block, keys_values in zip(self.decoder, memory["keys_values"], strict=True):
            x = block(x, keys_values, memory["real"], width)
        return self.decoder_norm(x)

    def decode_step(
        self,
        memory: dict,
        cache: list | None,
        token: torch.Tensor,
        width: int,
    ) -> tuple[torch.Tensor, list]:
        """Generation, one token at a time: hidden state (B * width, dim) after ``token`` int64
        (B * width,) (None: the start token, width 1), given each block's self-attention
        keys and values of the tokens before (``cache``, rows already in the order of the
        current beams; None at the start). Returns it and the extended cache."""
        if token is None:
            token = torch.full((memory["real"].shape[0],), self.start_token, dtype=torch.int64)
        position = 0 if cache is None else cache[0][0].shape[2]
        x = self.tokens(token)[:, None, :] + self.decoder_positions.weight[position]
        new_cache = []
        layers = zip(self.decoder, memory["keys_values"], strict=True)
        for i, (block, keys_values) in enumerate(layers):
            x, keys_values_self = block.step(
                x, None if cache is None else cache[i], keys_values, memory["real"], width
            )
            new_cache.append(keys_values_self)
        return self.decoder_norm(x)[:, 0], new_cache

    def logits(self, hidden: torch.Tensor, low: int, high: int) -> torch.Tensor:
        """Scores of tokens ``low..high-1`` (one level), tied to the token embeddings:
        (..., dim) -> (..., high - low)."""
        return hidden @ self.tokens.weight[low:high].T

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
