"""The semantic-ID models: generative retrieval of the next item's ID, trained and decoded.

Three architectures read the same tokens (:class:`rqvae.probe.vocabulary.SemanticVocabulary`):

- ``pooled`` (:mod:`rqvae.probe.pooled`, the default): SASRec over items, each item the sum of
  its ID tokens' embeddings, with a small head generating the next item's ID token by token;
  every position of a user's training sequence is a target, as in the item-ID SASRec.
- ``tiger`` (:mod:`rqvae.probe.tiger`): an encoder-decoder. Training examples are (history,
  next item) pairs: every position of a user's training sequence from the second on, with up
  to ``max_items`` items before it; the decoder learns the target's tokens by teacher forcing.
- ``sasrec``: a decoder-only SASRec (:mod:`rqvae.probe.sasrec`) over a user's items flattened
  into one token stream; every token of the second item on is predicted from the ones before.

All score step s only against level s's tokens (softmax over that level), train in the loop
of :func:`rqvae.probe.training.fit`, and generate by beam search under the prefix trie
(:func:`rqvae.probe.trie.beam_search`), vectorised over users x beams, the history encoded
once per user (tiger: the encoder's states; sasrec: each block's keys and values; pooled: the
last item's state).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from rqvae.probe.data import SplitSequences
from rqvae.probe.pooled import PooledConfig, PooledSASRec
from rqvae.probe.ranking import ranks_from_lists
from rqvae.probe.sasrec import SASRec, SASRecConfig, left_pad, next_token_batch
from rqvae.probe.settings import ProbeSettings
from rqvae.probe.tiger import Tiger, TigerConfig
from rqvae.probe.training import (
    TrainedModel,
    _ndcg,
    fit,
    item_streams,
    length_batches,
)
from rqvae.probe.trie import IdTrie, beam_search
from rqvae.probe.vocabulary import SemanticVocabulary

MODEL_NAMES = {"pooled": "pooled SASRec", "tiger": "TIGER", "sasrec": "SASRec"}


@dataclass
class Generator:
    """What decoding needs: the model, its architecture, the tokens and the trie."""

    model: torch.nn.Module
    architecture: str  # "pooled", "tiger" or "sasrec"
    vocabulary: SemanticVocabulary
    trie: IdTrie
    user_tokens: np.ndarray  # int64 (n_users,): tiger's hashed user token per user (0: none)
    settings: ProbeSettings


def user_buckets(user_ids: list[str], buckets: int) -> np.ndarray:
    """int64 (n_users,): each user id hashed (CRC-32 of its UTF-8 bytes) into ``buckets``
    buckets, 1-based (0 when ``buckets`` is 0: no user token). Stable across runs and
    machines, unlike Python's ``hash``."""
    if buckets == 0:
        return np.zeros(len(user_ids), dtype=np.int64)
    return np.array([zlib.crc32(u.encode()) % buckets + 1 for u in user_ids], dtype=np.int64)


def train_semantic_model(
    split: SplitSequences,
    vocabulary: SemanticVocabulary,
    architecture: str,
    settings: ProbeSettings,
    progress: bool = True,
) -> tuple[TrainedModel, Generator]:
    """Train ``architecture`` ("pooled", "tiger" or "sasrec") on the split's training
    sequences, early stopped on the validation NDCG@10 of ``settings.valid_users`` fixed
    users."""
    torch.manual_seed(settings.seed)
    trie = IdTrie(vocabulary.id_codes, [high - low for low, high in vocabulary.level_ranges])
    buckets = settings.user_buckets if architecture == "tiger" else 0
    users = user_buckets(split.user_ids or [str(u) for u in range(len(split.train))], buckets)
    if architecture == "tiger":
        model, batches, loss_of = _tiger_training(split, vocabulary, settings, users)
    elif architecture == "sasrec":
        model, batches, loss_of = _sasrec_training(split, vocabulary, settings)
    elif architecture == "pooled":
        model, batches, loss_of = _pooled_training(split, vocabulary, settings)
    else:
        raise ValueError(f"architecture is {architecture!r}, expected pooled, tiger or sasrec")
    generator = Generator(model, architecture, vocabulary, trie, users, settings)

    n_users = len(split.valid_target)
    watched = np.arange(n_users)
    if 0 < settings.valid_users < n_users:
        picked = np.random.default_rng(settings.seed).permutation(n_users)
        watched = np.sort(picked[: settings.valid_users])

    def validate() -> float:
        lists = decode(generator, split, "valid", watched)
        ranks, weights = id_ranks(lists, split.valid_target[watched], vocabulary)
        return _ndcg(ranks, weights)

    name = f"semantic-ID {MODEL_NAMES[architecture]}"
    trained = fit(
        model,
        batches,
        loss_of,
        validate,
        settings,
        settings.semantic_lr,
        name,
        progress,
        warmup=settings.semantic_warmup,
        schedule=settings.semantic_schedule,
    )
    return trained, generator


def _level_loss(model, states: torch.Tensor, target: torch.Tensor, level_ranges, settings):
    """Mean over the ID's steps of the cross-entropy of the target token, each step's softmax
    over its own level's tokens. states (N, steps, dim); target int64 (N, steps) global ids."""
    loss = sum(
        F.cross_entropy(
            model.logits(states[:, s], low, high),
            target[:, s] - low,
            label_smoothing=settings.label_smoothing,
        )
        for s, (low, high) in enumerate(level_ranges)
    )
    return loss / len(level_ranges)


def id_ranks(
    lists: np.ndarray, targets: np.ndarray, vocabulary: SemanticVocabulary
) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each target item's ID in its generated list (float64, inf = not generated)
    and the hit weight 1 / G of that ID (G = items sharing it; 1 in ``token`` mode)."""
    target_ids = vocabulary.item_id[targets]
    return ranks_from_lists(lists, target_ids), 1.0 / vocabulary.group_size[target_ids]


@torch.no_grad()
def decode(
    generator: Generator,
    split: SplitSequences,
    which: str,
    users: np.ndarray | None = None,
    constrained: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """Top-``beam`` IDs (rows of ``vocabulary.id_codes``, best first; -1 none) generated for
    the ``which`` ("valid"/"test") target of ``users`` (default all): int64 (n, beam)."""
    settings, vocabulary = generator.settings, generator.vocabulary
    generator.model.eval()
    users = np.arange(len(split.target(which))) if users is None else np.asarray(users)
    histories = [vocabulary.flatten(split.history(which, u)[-settings.max_items :]) for u in users]
    # batches of similar history length: padding costs as much as tokens
    by_length = np.argsort([len(h) for h in histories], kind="stable")
    lists = np.empty((len(users), settings.beam), dtype=np.int64)
    bar = tqdm(
        total=len(users), desc=f"decoding {which}", unit="user", disable=not progress, leave=False
    )
    for start in range(0, len(users), settings.eval_batch):
        rows = by_length[start : start + settings.eval_batch]
        batch = [histories[r] for r in rows]
        if generator.architecture == "tiger":
            next_log_probs = _tiger_step(generator, batch, generator.user_tokens[users[rows]])
        elif generator.architecture == "pooled":
            next_log_probs = _pooled_step(generator, batch)
        else:
            next_log_probs = _sasrec_step(generator, batch)
        lists[rows] = beam_search(
            next_log_probs,
            len(rows),
            generator.trie,
            vocabulary.lows,
            settings.beam,
            constrained,
        )
        bar.update(len(rows))
    bar.close()
    return lists


# --- tiger ---------------------------------------------------------------------------------


def _tiger_inputs(histories: list[np.ndarray], user_tokens: np.ndarray, model: Tiger):
    """Encoder tokens and item steps, int64 (B, 1 + longest history), left-padded: the user
    token (if any), then the history's tokens."""
    steps = model.config.steps
    length = max(len(h) for h in histories) + 1
    tokens = np.zeros((len(histories), length), dtype=np.int64)
    step = np.zeros((len(histories), length), dtype=np.int64)
    for row, history in enumerate(histories):
        n = len(history)
        tokens[row, length - n :] = history
        step[row, length - n :] = np.arange(n) % steps
        if user_tokens[row] > 0:
            tokens[row, length - n - 1] = model.user_offset + user_tokens[row] - 1
            step[row, length - n - 1] = steps
    return torch.from_numpy(tokens), torch.from_numpy(step)


def _tiger_training(split, vocabulary: SemanticVocabulary, settings: ProbeSettings, users):
    steps = vocabulary.steps
    config = TigerConfig(
        vocab_size=vocabulary.vocab_size,
        steps=steps,
        max_len=1 + settings.max_items * steps,
        user_buckets=settings.user_buckets,
        dim=settings.semantic_dim,
        encoder_blocks=settings.semantic_blocks,
        decoder_blocks=settings.semantic_blocks,
        heads=settings.semantic_heads,
        ffn=settings.semantic_ffn,
        dropout=settings.semantic_dropout,
    )
    model = Tiger(config)
    streams = [vocabulary.flatten(items) for items in split.train]
    # one example per (user, position >= 1) of the training sequence
    examples = np.array(
        [(user, i) for user, items in enumerate(split.train) for i in range(1, len(items))],
        dtype=np.int64,
    ).reshape(-1, 2)
    history_items = np.minimum(examples[:, 1], settings.max_items)
    item_tokens = torch.from_numpy(vocabulary.item_tokens)
    level_ranges = vocabulary.level_ranges

    def loss_of(members: np.ndarray):
        batch = examples[members]
        histories = [
            streams[user][max(0, i - settings.max_items) * steps : i * steps] for user, i in batch
        ]
        tokens, step = _tiger_inputs(histories, users[batch[:, 0]], model)
        target = item_tokens[[split.train[user][i] for user, i in batch]]  # (B, steps)
        hidden = model.decode(model.encode(tokens, step), target[:, :-1])  # (B, steps, dim)
        return _level_loss(model, hidden, target, level_ranges, settings), len(batch)

    def batches(generator):
        return length_batches(history_items, settings.semantic_batch_size, generator)

    return model, batches, loss_of


def _tiger_step(generator: Generator, histories, user_tokens):
    """next_log_probs for :func:`beam_search`: the encoder runs once, every beam of a user
    attends to the same cross-attention keys and values, and each generated token runs once
    (the decoder's self-attention cache follows the beams)."""
    model, ranges = generator.model, generator.vocabulary.level_ranges
    memory = model.encode(*_tiger_inputs(histories, user_tokens, model))
    state: dict = {"cache": None}

    def next_log_probs(prefix: torch.Tensor, width: int, parents) -> torch.Tensor:
        cache, token = state["cache"], None
        if parents is not None:
            cache = [(keys[parents], values[parents]) for keys, values in cache]
            token = prefix[:, -1]
        hidden, state["cache"] = model.decode_step(memory, cache, token, width)
        low, high = ranges[prefix.shape[1]]
        return torch.log_softmax(model.logits(hidden, low, high), dim=-1)

    return next_log_probs


# --- decoder-only sasrec -------------------------------------------------------------------


def _sasrec_training(split, vocabulary: SemanticVocabulary, settings: ProbeSettings):
    steps = vocabulary.steps
    config = SASRecConfig(
        vocab_size=vocabulary.vocab_size,
        max_len=(settings.max_items + 1) * steps,
        dim=settings.semantic_dim,
        blocks=settings.semantic_blocks,
        heads=settings.semantic_heads,
        dropout=settings.semantic_dropout,
        steps=steps,
        ffn=settings.semantic_ffn,
    )
    model = SASRec(config)
    # the last max_items + 1 items of each training sequence of 2+ items
    streams = [
        vocabulary.flatten(items[-(settings.max_items + 1) :])
        for items in split.train
        if len(items) >= 2
    ]
    lengths = np.array([len(s) for s in streams])
    # level_mask[s]: 0 on level s's tokens, -inf elsewhere (softmax over one level)
    level_mask = torch.full((steps, vocabulary.vocab_size), float("-inf"))
    for s, (low, high) in enumerate(vocabulary.level_ranges):
        level_mask[s, low:high] = 0.0

    def loss_of(members: np.ndarray):
        inputs, targets = next_token_batch(streams, members)  # 0 where padding
        width = inputs.shape[1]
        # target j of a stream of n tokens is its token j + 1; skip the first item's tokens
        index = torch.arange(width)[None, :]
        lengths_batch = torch.tensor([len(streams[i]) - 1 for i in members])[:, None]
        token_index = index - (width - lengths_batch) + 1  # position in the stream
        mask = (targets > 0) & (token_index >= steps)
        step = token_index[mask] % steps
        hidden = model(inputs)[mask]  # (n_targets, dim)
        logits = model.logits(hidden) + level_mask[step]
        # label smoothing spreads only over the level's tokens: the others are at -inf
        loss = F.cross_entropy(logits, targets[mask], reduction="none")
        if settings.label_smoothing > 0:
            log_probs = torch.log_softmax(logits, dim=-1)
            level = torch.isfinite(logits)
            uniform = -(log_probs.masked_fill(~level, 0.0)).sum(-1) / level.sum(-1)
            loss = (1 - settings.label_smoothing) * loss + settings.label_smoothing * uniform
        return loss.mean(), int(mask.sum())

    def batches(generator):
        return length_batches(lengths, settings.semantic_batch_size, generator)

    return model, batches, loss_of


def _sasrec_step(generator: Generator, histories):
    """next_log_probs for :func:`beam_search`: the history's keys and values are computed
    once; each generated token runs once (its beam's cache follows the beams)."""
    model, ranges = generator.model, generator.vocabulary.level_ranges
    history = model.encode_history(left_pad(histories, max(len(h) for h in histories)))
    state: dict = {"cache": None}

    def next_log_probs(prefix: torch.Tensor, width: int, parents) -> torch.Tensor:
        low, high = ranges[prefix.shape[1]]
        if parents is None:  # the first token: the history's own last state
            hidden = history["last"]
        else:
            cache = state["cache"]
            if cache is not None:
                cache = [(keys[parents], values[parents]) for keys, values in cache]
            hidden, state["cache"] = model.extend(history, cache, prefix[:, -1], width)
        return torch.log_softmax(model.logits(hidden)[:, low:high], dim=-1)

    return next_log_probs


# --- pooled sasrec -------------------------------------------------------------------------


def _pooled_training(split, vocabulary: SemanticVocabulary, settings: ProbeSettings):
    steps = vocabulary.steps
    config = PooledConfig(
        vocab_size=vocabulary.vocab_size,
        steps=steps,
        max_len=settings.max_items,
        dim=settings.semantic_dim,
        blocks=settings.semantic_blocks,
        heads=settings.semantic_heads,
        ffn=settings.semantic_ffn,
        dropout=settings.pooled_dropout,
        head_blocks=settings.pooled_head_blocks,
        tie=settings.pooled_tie,
    )
    model = PooledSASRec(config)
    # row 0: a padded item (all tokens 0); item i is row i + 1
    item_tokens = torch.from_numpy(
        np.vstack([np.zeros((1, steps), dtype=np.int64), vocabulary.item_tokens])
    )
    streams = item_streams(split, settings.max_items)
    lengths = np.array([len(s) for s in streams])
    level_ranges = vocabulary.level_ranges

    def loss_of(members: np.ndarray):
        inputs, targets = next_token_batch(streams, members)
        mask = targets > 0  # not padding
        hidden = model(item_tokens[inputs])[mask]  # (n_targets, dim)
        target = item_tokens[targets[mask]]  # (n_targets, steps)
        states = model.head_states(hidden, target)
        return _level_loss(model, states, target, level_ranges, settings), int(mask.sum())

    def batches(generator):
        return length_batches(lengths, settings.semantic_batch_size, generator)

    return model, batches, loss_of


def _pooled_step(generator: Generator, histories):
    """next_log_probs for :func:`beam_search`: the history runs once; each step's head state
    is the last item's state plus the beam's generated tokens (no cache to follow)."""
    model, ranges = generator.model, generator.vocabulary.level_ranges
    # histories hold whole items, so token-level left padding keeps items aligned
    tokens = left_pad(histories, max(len(h) for h in histories))
    last = model(tokens.view(len(histories), -1, generator.vocabulary.steps))[:, -1]  # (U, dim)

    def next_log_probs(prefix: torch.Tensor, width: int, parents) -> torch.Tensor:
        low, high = ranges[prefix.shape[1]]
        state = model.next_state(last.repeat_interleave(width, dim=0), prefix)
        return torch.log_softmax(model.logits(state, low, high), dim=-1)

    return next_log_probs
