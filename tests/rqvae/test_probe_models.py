"""The probe's networks on CPU: shapes, the cached decoding paths against a plain forward
pass, and a synthetic task whose best IDs are known."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

from rqvae.probe.pooled import PooledConfig, PooledSASRec
from rqvae.probe.sasrec import SASRec, SASRecConfig, left_pad
from rqvae.probe.tiger import Tiger, TigerConfig


def test_sasrec_extend_matches_a_full_forward_pass():
    """Generating token by token with the history's and the beam's keys and values cached
    gives the hidden states a forward pass over history + generated tokens gives (eval mode,
    3 beams per user)."""
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(vocab_size=30, max_len=24, dim=16, heads=2, steps=3)).eval()
    histories = [[1, 5, 9, 2, 6, 10], [3, 4, 11]]  # whole items of 3 tokens
    prefixes = torch.tensor([[7, 12], [8, 13], [7, 14], [1, 4], [2, 4], [3, 4]])  # (2 * 3, 2)
    history = model.encode_history(left_pad(histories, 6))
    first, cache = model.extend(history, None, prefixes[:, 0], width=3)
    second, _ = model.extend(history, cache, prefixes[:, 1], width=3)
    for generated, hidden in ((1, first), (2, second)):
        rows = [histories[row // 3] + prefixes[row, :generated].tolist() for row in range(6)]
        full = model(left_pad(rows, 6 + generated))[:, -1]
        torch.testing.assert_close(hidden, full, rtol=1e-4, atol=1e-5)
    last = model(left_pad(histories, 6))[:, -1]
    torch.testing.assert_close(history["last"], last, rtol=1e-4, atol=1e-5)


def test_tiger_beams_share_the_encoder():
    """Decoding 3 beams per user against one encoder pass, one token at a time with the
    self-attention cache, equals decoding each beam's whole prefix against its own copy of
    the user's encoder input."""
    torch.manual_seed(0)
    config = TigerConfig(vocab_size=20, steps=3, max_len=10, user_buckets=4, dim=16, heads=2)
    model = Tiger(config).eval()
    tokens = torch.tensor([[0, 0, 21, 1, 5, 9], [21, 2, 6, 10, 3, 7]])
    step = torch.tensor([[0, 0, 3, 0, 1, 2], [3, 0, 1, 2, 0, 1]])
    prefix = torch.tensor([[1, 4], [2, 4], [3, 5], [1, 6], [3, 4], [2, 5]])  # (2 * 3, 2)
    with torch.no_grad():
        memory = model.encode(tokens, step)
        start, cache = model.decode_step(memory, None, None, width=1)  # (2, dim)
        cache = [(k.repeat_interleave(3, 0), v.repeat_interleave(3, 0)) for k, v in cache]
        first, cache = model.decode_step(memory, cache, prefix[:, 0], width=3)
        second, _ = model.decode_step(memory, cache, prefix[:, 1], width=3)
        shared = model.decode(memory, prefix, width=3)  # whole prefixes, causal
        repeated = model.encode(tokens.repeat_interleave(3, 0), step.repeat_interleave(3, 0))
        alone = model.decode(repeated, prefix, width=1)
    assert shared.shape == (6, 3, 16)
    torch.testing.assert_close(shared, alone, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(start, alone[::3, 0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(first, alone[:, 1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(second, alone[:, 2], rtol=1e-4, atol=1e-5)


def test_pooled_generation_matches_teacher_forcing():
    """The head's state for step s from a generated prefix equals its teacher-forced state
    at step s, and an item's sequence state depends only on earlier items and its own."""
    torch.manual_seed(0)
    config = PooledConfig(vocab_size=13, steps=3, max_len=5, dim=16, heads=2, ffn=32)
    model = PooledSASRec(config).eval()
    items = torch.tensor([[[0, 0, 0], [1, 5, 9], [2, 6, 10]], [[3, 7, 11], [4, 8, 12], [1, 6, 11]]])
    with torch.no_grad():
        hidden = model(items)[:, -1]  # (2, dim)
        target = torch.tensor([[2, 7, 12], [4, 5, 10]])
        forced = model.head_states(hidden, target)
        for step in range(3):
            generated = model.next_state(hidden, target[:, :step])
            torch.testing.assert_close(generated, forced[:, step], rtol=1e-4, atol=1e-5)
        # causal and padding-blind: the first user's last state ignores a changed padding row
        # and equals the state of the same two items without padding
        alone = model(items[:1, 1:])[:, -1]
        torch.testing.assert_close(alone, hidden[:1], rtol=1e-4, atol=1e-5)
        changed = items.clone()
        changed[1, 2] = torch.tensor([2, 5, 9])  # a later item changes nothing before it
        torch.testing.assert_close(model(changed)[1, :2], model(items)[1, :2])
    assert model.logits(forced[:, 1], 5, 9).shape == (2, 4)


@pytest.mark.parametrize("architecture", ["tiger", "sasrec", "pooled"])
def test_models_train_forward_and_backward(architecture):
    """One training step of each semantic model: finite loss, every parameter gets a gradient
    except the (unused) padding and user-token rows."""
    from rqvae.probe.data import SplitSequences
    from rqvae.probe.generative import (
        _pooled_training,
        _sasrec_training,
        _tiger_training,
        user_buckets,
    )
    from rqvae.probe.settings import ProbeSettings
    from rqvae.probe.vocabulary import SemanticVocabulary

    codes = np.array([[i // 4, i % 4] for i in range(16)])
    vocabulary = SemanticVocabulary.from_codes(codes, np.zeros(16, np.int64))
    train = [np.array([0, 5, 10, 15]), np.array([3, 2, 1])]
    split = SplitSequences(train, np.array([1, 2]), np.array([4, 5]), {}, ["a", "b"])
    settings = ProbeSettings(semantic_dim=16, semantic_heads=2, semantic_ffn=32, user_buckets=8)
    torch.manual_seed(0)
    if architecture == "tiger":
        users = user_buckets(split.user_ids, 8)
        model, batches, loss_of = _tiger_training(split, vocabulary, settings, users)
    elif architecture == "pooled":
        model, batches, loss_of = _pooled_training(split, vocabulary, settings)
    else:
        model, batches, loss_of = _sasrec_training(split, vocabulary, settings)
    (batch,) = batches(torch.Generator().manual_seed(0))
    loss, targets = loss_of(batch)
    # tiger and pooled: one target per (user, position >= 1); sasrec: every token of items
    # 2, 3, ... (3 tokens each: 2 levels and the collision index)
    assert targets == (15 if architecture == "sasrec" else 5) and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def write_sequences(path, sequences: list[list[int]]) -> None:
    with gzip.open(path, "wt") as handle:
        for user, items in enumerate(sequences):
            record = {"user_id": f"u{user}", "item_ids": [str(i) for i in items]}
            handle.write(json.dumps(record) + "\n")
