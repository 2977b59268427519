"""Training and evaluating the two SASRec probes on a leave-last-out split.

Item-ID SASRec: tokens are items (index + 1); at every position the next item is predicted
with a sampled softmax: the target against ``negatives`` items drawn uniformly per batch and
shared by its positions (the original SASRec samples one negative per position; more make a
stronger probe, and the full catalog softmax costs too much on CPU). Evaluation scores every
catalog item by the dot product of the last hidden state with its (tied) embedding.

Semantic-ID SASRec: an item is its L + 1 tokens (codes, then the collision index; level l's
token ids form their own range). A user's items are flattened into one token stream and every
token of the second item on is predicted from the ones before (teacher forcing). Evaluation
generates the next item's tokens by beam search constrained to the catalog's IDs
(:mod:`rqvae.probe.trie`).

Both train with AdamW for ``epochs`` epochs on shuffled batches; one seed fixes
initialisation, dropout and batch order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from rqvae.probe.data import SplitSequences
from rqvae.probe.ranking import ranks_from_lists, ranks_from_scores
from rqvae.probe.sasrec import SASRec, SASRecConfig, left_pad
from rqvae.probe.trie import IdTrie, beam_search


@dataclass
class ProbeSettings:
    epochs: int = 20
    seed: int = 0
    max_items: int = 20  # history items the models see (the most recent ones)
    dim: int = 64
    blocks: int = 2
    heads: int = 2
    dropout: float = 0.2
    lr: float = 1e-3
    batch_size: int = 128
    beam: int = 10  # beam width of the semantic-ID decoder (>= the k of Recall@k)
    negatives: int = 256  # item-ID probe: sampled negatives per training batch
    invalid_sample: int = 300  # test users decoded without the trie to count invalid IDs
    eval_batch: int = 256  # users per evaluation batch


@dataclass
class TrainedProbe:
    model: SASRec
    train_seconds: float


# --- item-ID SASRec ------------------------------------------------------------------------


def train_item_model(
    split: SplitSequences, n_items: int, settings: ProbeSettings, progress: bool = True
) -> TrainedProbe:
    """Next-item SASRec over item tokens (index + 1)."""
    config = SASRecConfig(
        vocab_size=n_items + 1,
        max_len=settings.max_items,
        dim=settings.dim,
        blocks=settings.blocks,
        heads=settings.heads,
        dropout=settings.dropout,
    )
    streams = [items + 1 for items in split.train if len(items) >= 2]
    return _fit(
        config, streams, [None] * len(streams), settings, "item-ID SASRec", progress, n_items
    )


@torch.no_grad()
def item_ranks(model: SASRec, split: SplitSequences, which: str, settings: ProbeSettings):
    """0-based rank of each user's ``which`` ("valid"/"test") target over all items."""
    model.eval()
    targets = split.valid_target if which == "valid" else split.test_target
    ranks = np.empty(len(targets))
    for start in range(0, len(targets), settings.eval_batch):
        users = range(start, min(start + settings.eval_batch, len(targets)))
        rows = [split.history(which, u)[-settings.max_items :] + 1 for u in users]
        hidden = model(left_pad(rows, max(len(r) for r in rows)))[:, -1]
        scores = model.logits(hidden)[:, 1:].numpy()  # (batch, n_items), padding dropped
        ranks[start : start + len(rows)] = ranks_from_scores(scores, targets[list(users)])
    return ranks


# --- semantic-ID SASRec --------------------------------------------------------------------


@dataclass
class SemanticVocabulary:
    """item_tokens : int64 (n_items, L + 1); level_ranges : per level, [low, high) ids."""

    item_tokens: np.ndarray
    level_ranges: list[tuple[int, int]]

    @classmethod
    def from_codes(cls, codes: np.ndarray, collision: np.ndarray) -> SemanticVocabulary:
        """codes int (n, L) and collision index (n,) -> tokens 1.. (0 is padding)."""
        full = np.column_stack([codes, collision]).astype(np.int64)
        sizes = full.max(axis=0) + 1
        lows = 1 + np.concatenate([[0], np.cumsum(sizes)[:-1]])
        ranges = [(int(low), int(low + size)) for low, size in zip(lows, sizes, strict=True)]
        return cls(item_tokens=full + lows[None, :], level_ranges=ranges)

    @property
    def steps(self) -> int:
        return self.item_tokens.shape[1]

    @property
    def vocab_size(self) -> int:
        return self.level_ranges[-1][1]

    def flatten(self, items: np.ndarray) -> list[int]:
        return self.item_tokens[items].reshape(-1).tolist()


def train_semantic_model(
    split: SplitSequences,
    vocabulary: SemanticVocabulary,
    settings: ProbeSettings,
    progress: bool = True,
) -> TrainedProbe:
    """Decoder-only generative retrieval over the flattened semantic-ID tokens."""
    steps = vocabulary.steps
    config = SASRecConfig(
        vocab_size=vocabulary.vocab_size,
        max_len=(settings.max_items + 1) * steps,
        dim=settings.dim,
        blocks=settings.blocks,
        heads=settings.heads,
        dropout=settings.dropout,
    )
    streams, weights = [], []
    for items in split.train:
        if len(items) < 2:
            continue
        tokens = np.array(vocabulary.flatten(items[-(settings.max_items + 1) :]))
        target_weight = np.ones(len(tokens) - 1)
        target_weight[: steps - 1] = 0.0  # the first item's tokens have no history to go on
        streams.append(tokens)
        weights.append(target_weight)
    return _fit(config, streams, weights, settings, "semantic-ID SASRec", progress)


def semantic_ranks(
    model: SASRec,
    split: SplitSequences,
    vocabulary: SemanticVocabulary,
    trie: IdTrie,
    which: str,
    settings: ProbeSettings,
    constrained: bool = True,
    users: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Beam-search the ``which`` target of ``users`` (default all): (ranks, returned items)."""
    targets = split.valid_target if which == "valid" else split.test_target
    users = np.arange(len(targets)) if users is None else users
    histories = [vocabulary.flatten(split.history(which, u)[-settings.max_items :]) for u in users]
    # batches of similar history length: padding costs as much as tokens
    by_length = np.argsort([len(h) for h in histories], kind="stable")
    lists = np.empty((len(users), settings.beam), dtype=np.int64)
    for start in range(0, len(users), settings.eval_batch):
        rows = by_length[start : start + settings.eval_batch]
        lists[rows] = beam_search(
            model,
            [histories[r] for r in rows],
            trie,
            vocabulary.level_ranges,
            settings.beam,
            constrained,
        )
    return ranks_from_lists(lists, targets[users]), lists


# --- the shared loop -----------------------------------------------------------------------


def _fit(
    config: SASRecConfig,
    streams: list[np.ndarray],
    weights: list[np.ndarray | None],
    settings: ProbeSettings,
    name: str,
    progress: bool,
    sampled_items: int | None = None,
) -> TrainedProbe:
    """Next-token training on ``streams`` (token arrays); ``weights`` mask target positions.

    ``sampled_items`` (the catalog size): sampled softmax over the target and
    ``settings.negatives`` uniform items (tokens 1..n) instead of the full vocabulary.
    Batches hold streams of similar length (sorted within windows of 16 batches, then the
    batches shuffled), padded to their longest stream, so little time goes into padding.
    """
    torch.manual_seed(settings.seed)
    order_generator = torch.Generator().manual_seed(settings.seed)
    model = SASRec(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.0)
    length = config.max_len
    started = time.perf_counter()
    bar = tqdm(range(settings.epochs), desc=name, unit="ep", disable=not progress)
    for _ in bar:
        model.train()
        total = count = 0.0
        for members in _length_batches(streams, settings.batch_size, order_generator):
            batch = [streams[i][-length - 1 :] for i in members]
            width = max(len(s) for s in batch) - 1
            inputs = left_pad([s[:-1] for s in batch], width)
            targets = left_pad([s[1:] for s in batch], width)  # 0 where padding
            mask = targets > 0
            for row, i in enumerate(members):
                if weights[i] is not None:
                    w = torch.as_tensor(weights[i][-width:], dtype=torch.bool)
                    mask[row, width - len(w) :] &= w
            hidden = model(inputs)[mask]  # (n_targets, dim)
            if sampled_items is None:
                loss = F.cross_entropy(model.logits(hidden), targets[mask])
            else:
                loss = _sampled_softmax(model, hidden, targets[mask], sampled_items, settings)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * int(mask.sum())
            count += int(mask.sum())
        bar.set_postfix(loss=f"{total / max(count, 1):.3f}")
    return TrainedProbe(model=model, train_seconds=time.perf_counter() - started)


def _sampled_softmax(
    model: SASRec, hidden: torch.Tensor, targets: torch.Tensor, n_items: int, settings
) -> torch.Tensor:
    """Cross-entropy of each target (n,) against ``settings.negatives`` uniform item tokens
    shared by the batch; a negative equal to the target is masked out."""
    negatives = torch.randint(1, n_items + 1, (settings.negatives,))
    positive = (hidden * model.tokens(targets)).sum(-1, keepdim=True)  # (n, 1)
    against = hidden @ model.tokens(negatives).T  # (n, negatives)
    against = against.masked_fill(negatives[None, :] == targets[:, None], -1e9)
    scores = torch.cat([positive, against], dim=1)
    return F.cross_entropy(scores, torch.zeros(len(targets), dtype=torch.int64))


def _length_batches(streams: list, batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Shuffled batches of stream indices, each of streams of similar length."""
    order = torch.randperm(len(streams), generator=generator).tolist()
    window = batch_size * 16
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: len(streams[i]))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]
