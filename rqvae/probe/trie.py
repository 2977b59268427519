"""Generative retrieval: beam search over semantic-ID tokens, constrained to IDs in a trie.

Each item is a fixed-length token tuple (its L codes and its collision index, as token ids of
the semantic-ID vocabulary). Decoding step s scores the tokens of level s only; constrained
search also masks every token that does not extend the beam's prefix to a prefix of some
catalog ID (the trie), so every finished beam names an item. Unconstrained search (level
ranges only) may finish on tuples no item has: their share is what the probe reports as
``invalid_share_unconstrained``.
"""

from __future__ import annotations

import numpy as np
import torch

from rqvae.probe.sasrec import SASRec, left_pad


class IdTrie:
    """Prefix tree of the items' token tuples.

    item_tokens : int64 (n_items, steps), the tokens of item i in order; all tuples distinct.
    children[prefix] : int64 array of the tokens that may follow ``prefix`` (a tuple).
    item_of[tuple] : the item a full tuple names.
    """

    def __init__(self, item_tokens: np.ndarray):
        self.steps = int(item_tokens.shape[1])
        self.item_of = {tuple(row): item for item, row in enumerate(item_tokens.tolist())}
        if len(self.item_of) != len(item_tokens):
            raise AssertionError("item token tuples are not unique (collision index missing?)")
        children: dict[tuple, set] = {}
        for row in self.item_of:
            for step in range(self.steps):
                children.setdefault(row[:step], set()).add(row[step])
        self.children = {
            prefix: np.array(sorted(c), dtype=np.int64) for prefix, c in children.items()
        }


@torch.no_grad()
def beam_search(
    model: SASRec,
    histories: list[list[int]],
    trie: IdTrie,
    level_ranges: list[tuple[int, int]],
    beam: int,
    constrained: bool = True,
) -> np.ndarray:
    """Top-``beam`` items for each history, best first: int64 (len(histories), beam).

    histories : token lists (the flattened IDs of each user's history items).
    level_ranges : per step, the ``[low, high)`` token ids of that level.
    Entries are -1 where the beam ended on no item (unconstrained search, or fewer than
    ``beam`` IDs reachable).
    """
    model.eval()
    n_users = len(histories)
    prefixes: list[list[tuple]] = [[()] for _ in range(n_users)]
    scores = torch.zeros(n_users, 1)
    for step in range(trie.steps):
        low, high = level_ranges[step]
        width = scores.shape[1]
        rows = [list(histories[u]) + list(p) for u in range(n_users) for p in prefixes[u]]
        tokens = left_pad(rows, max(len(r) for r in rows))
        hidden = model(tokens)[:, -1]  # (U * width, dim)
        log_prob = torch.log_softmax(model.logits(hidden)[:, low:high], dim=-1)  # (U*W, V)
        if constrained:
            allowed = torch.full_like(log_prob, float("-inf"))
            flat = [p for u in range(n_users) for p in prefixes[u]]
            for row, prefix in enumerate(flat):
                tokens_next = trie.children.get(prefix)
                if tokens_next is not None:
                    allowed[row, torch.from_numpy(tokens_next - low)] = 0.0
            log_prob = log_prob + allowed
        vocab = high - low
        total = (scores.reshape(-1, 1) + log_prob).reshape(n_users, width * vocab)
        best, index = total.topk(min(beam, width * vocab), dim=1)  # (U, beam')
        parents, next_tokens = (index // vocab).tolist(), (index % vocab + low).tolist()
        prefixes = [
            [
                prefixes[u][parent] + (token,)
                for parent, token in zip(parents[u], next_tokens[u], strict=True)
            ]
            for u in range(n_users)
        ]
        scores = best
    items = np.full((n_users, beam), -1, dtype=np.int64)
    finite = torch.isfinite(scores).numpy()
    for u in range(n_users):
        for rank, prefix in enumerate(prefixes[u]):
            if finite[u, rank]:
                items[u, rank] = trie.item_of.get(prefix, -1)
    return items
