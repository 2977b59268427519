"""Training the probe's models on a leave-last-out split, with early stopping on validation.

Item-ID SASRec (:func:`train_item_model`): tokens are items (index + 1); at every position of
a user's training sequence the next item is predicted with a softmax over every catalog item
(cross-entropy; ``negatives`` > 0 switches to the sampled softmax of earlier versions). It
scores every catalog item by the dot product of the last hidden state with its (tied)
embedding (:func:`item_ranks`).

The semantic-ID models are in :mod:`rqvae.probe.generative`; they share this module's loop.

Every model trains with AdamW on shuffled batches of similar-length sequences for at most
``epochs`` epochs; after each epoch it is scored on the validation targets (NDCG@10) and the
best epoch's weights are kept; training stops after ``patience`` epochs without a better
score. The test targets are never looked at until the chosen model is final. One seed fixes
initialisation, dropout and batch order.
"""

from __future__ import annotations

import copy
import ctypes
import ctypes.util
import functools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from rqvae.probe.data import SplitSequences
from rqvae.probe.sasrec import SASRec, SASRecConfig, left_pad, next_token_batch
from rqvae.probe.settings import K, ProbeSettings


@dataclass
class TrainedModel:
    """A model at its best validation epoch and how it got there.

    history : per epoch trained, ``{"epoch", "loss", "valid_ndcg_at_10", "seconds"}``.
    """

    model: nn.Module
    train_seconds: float
    best_epoch: int  # 1-based
    history: list[dict] = field(default_factory=list)

    @property
    def epochs_trained(self) -> int:
        return len(self.history)


# --- the shared loop -----------------------------------------------------------------------


def fit(
    model: nn.Module,
    batches: Callable[[torch.Generator], list],
    loss_of: Callable[[object], tuple[torch.Tensor, int]],
    validate: Callable[[], float],
    settings: ProbeSettings,
    lr: float,
    name: str,
    progress: bool,
    warmup: int = 0,
    schedule: str = "constant",
) -> TrainedModel:
    """Train ``model`` with early stopping; return it with the weights of its best epoch.

    batches(generator) : one epoch's batches, in the order to train them.
    loss_of(batch) : (mean loss, number of targets) of a batch.
    validate() : the validation score (higher is better), computed in eval mode.
    warmup, schedule : the learning rate rises linearly to ``lr`` over ``warmup`` optimizer
        steps (at most a fifth of all ``epochs`` epochs' steps, so that a small task is not
        spent warming up), then stays (``constant``) or follows a cosine to 0 at the end of epoch
        ``settings.epochs`` (``cosine``; every epoch has the same number of batches).
    """
    order_generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    total_steps = settings.epochs * len(batches(torch.Generator().manual_seed(settings.seed)))
    warmup = min(warmup, total_steps // 5)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup, schedule, total_steps)
    )
    started = time.perf_counter()
    best_score, best_state, best_epoch, history = -np.inf, None, 0, []
    bar = tqdm(range(1, settings.epochs + 1), desc=name, unit="ep", disable=not progress)
    for epoch in bar:
        epoch_started = time.perf_counter()
        model.train()
        total = count = 0.0
        epoch_batches = batches(order_generator)
        inner = tqdm(epoch_batches, desc=f"epoch {epoch}", leave=False, disable=not progress)
        for batch in inner:
            loss, targets = loss_of(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * targets
            count += targets
        release_free_heap()
        model.eval()
        score = validate()
        history.append(
            {
                "epoch": epoch,
                "loss": round(total / max(count, 1), 5),
                "valid_ndcg_at_10": round(score, 5),
                "seconds": round(time.perf_counter() - epoch_started, 2),
            }
        )
        if score > best_score:
            best_score, best_epoch = score, epoch
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(
            loss=f"{history[-1]['loss']:.3f}", valid_ndcg=f"{score:.4f}", best=best_epoch
        )
        if epoch - best_epoch >= settings.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return TrainedModel(model, time.perf_counter() - started, best_epoch, history)


@functools.cache
def _glibc_trim():
    """glibc's ``malloc_trim``, or None (another C library, or no C library found)."""
    name = ctypes.util.find_library("c")
    try:
        trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_heap() -> None:
    """Hand the heap's free pages back to the system (glibc ``malloc_trim(0)``; elsewhere
    nothing). Batches of varying shapes fragment glibc's heap: on Beauty the resident memory
    of the pooled model's training grew by about 60 MB an epoch without it (the whole probe
    peaked at 3.6 GB) and by about 20 MB with one trim per epoch (2.6 GB), at no measurable
    cost in time (bench/RESULTS.md, Beauty probe, second pass)."""
    trim = _glibc_trim()
    if trim is not None:
        trim(0)


def lr_factor(step: int, warmup: int, schedule: str, total_steps: int) -> float:
    """The learning rate's multiplier at optimizer step ``step`` (0-based): ``(step + 1) /
    warmup`` during the warm-up, then 1 (``constant``) or ``(1 + cos(pi * t)) / 2`` with ``t``
    the share of the steps after the warm-up done (``cosine``, 0 at ``total_steps``)."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    done = (step - warmup) / max(total_steps - warmup, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))


def length_batches(lengths: np.ndarray, batch_size: int, generator: torch.Generator) -> list:
    """Shuffled batches (int64 index arrays) of similar ``lengths``: a random order, sorted
    within windows of 16 batches, cut into batches, and the batches shuffled, so little time
    goes into padding while every epoch sees a new order."""
    order = torch.randperm(len(lengths), generator=generator).numpy()
    window = batch_size * 16
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


def item_streams(split: SplitSequences, max_items: int) -> list[np.ndarray]:
    """Every training sequence of 2+ items, its last ``max_items + 1`` items as tokens
    (index + 1, 0 being padding): one stream of inputs and next-item targets per user."""
    return [items[-max_items - 1 :] + 1 for items in split.train if len(items) >= 2]


def user_batches(n_users: int, size: int) -> Iterator[np.ndarray]:
    for start in range(0, n_users, size):
        yield np.arange(start, min(start + size, n_users))


# --- item-ID SASRec ------------------------------------------------------------------------


def train_item_model(
    split: SplitSequences, n_items: int, settings: ProbeSettings, progress: bool = True
) -> TrainedModel:
    """Next-item SASRec over item tokens (index + 1), early-stopped on validation NDCG@10."""
    torch.manual_seed(settings.seed)
    config = SASRecConfig(
        vocab_size=n_items + 1,
        max_len=settings.max_items,
        dim=settings.dim,
        blocks=settings.blocks,
        heads=settings.heads,
        dropout=settings.dropout,
    )
    model = SASRec(config)
    streams = item_streams(split, settings.max_items)
    lengths = np.array([len(s) for s in streams])

    def loss_of(members: np.ndarray):
        inputs, targets = next_token_batch(streams, members)
        mask = targets > 0  # not padding
        hidden = model(inputs)[mask]  # (n_targets, dim)
        if settings.negatives > 0:
            loss = _sampled_softmax(model, hidden, targets[mask], n_items, settings.negatives)
        else:
            loss = F.cross_entropy(model.logits(hidden)[:, 1:], targets[mask] - 1)
        return loss, int(mask.sum())

    def validate() -> float:
        ranks = item_ranks(model, split, "valid", settings)
        return _ndcg(ranks)

    return fit(
        model,
        lambda generator: length_batches(lengths, settings.batch_size, generator),
        loss_of,
        validate,
        settings,
        settings.lr,
        "item-ID SASRec",
        progress,
    )


@torch.no_grad()
def item_ranks(model: SASRec, split: SplitSequences, which: str, settings: ProbeSettings):
    """0-based rank of each user's ``which`` ("valid"/"test") target over all items, float64
    (n_users,): items scoring strictly higher, plus ties with a lower index."""
    model.eval()
    targets = torch.from_numpy(split.target(which))
    ranks = np.empty(len(targets))
    for users in user_batches(len(targets), settings.eval_batch * 4):
        rows = [split.history(which, u)[-settings.max_items :] + 1 for u in users]
        hidden = model(left_pad(rows, max(len(r) for r in rows)))[:, -1]
        scores = model.logits(hidden)[:, 1:]  # (batch, n_items), padding dropped
        target = targets[users]
        target_scores = scores.gather(1, target[:, None])
        above = (scores > target_scores).sum(dim=1)
        tied_before = (
            (scores == target_scores) & (torch.arange(scores.shape[1]) < target[:, None])
        ).sum(1)
        ranks[users] = (above + tied_before).numpy()
    return ranks


def _sampled_softmax(
    model: SASRec, hidden: torch.Tensor, targets: torch.Tensor, n_items: int, negatives: int
) -> torch.Tensor:
    """Cross-entropy of each target (n,) against ``negatives`` uniform item tokens shared by
    the batch; a negative equal to the target is masked out."""
    sampled = torch.randint(1, n_items + 1, (negatives,))
    positive = (hidden * model.tokens(targets)).sum(-1, keepdim=True)  # (n, 1)
    against = hidden @ model.tokens(sampled).T  # (n, negatives)
    against = against.masked_fill(sampled[None, :] == targets[:, None], -1e9)
    scores = torch.cat([positive, against], dim=1)
    return F.cross_entropy(scores, torch.zeros(len(targets), dtype=torch.int64))


def _ndcg(ranks: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean NDCG@10 of 0-based ranks, each user's gain times its weight (default 1)."""
    gain = np.where(ranks < K, 1.0 / np.log2(np.minimum(ranks, K) + 2.0), 0.0)
    return float(np.mean(gain if weights is None else gain * weights))
