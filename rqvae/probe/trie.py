"""Generative retrieval: beam search over semantic-ID tokens, constrained to IDs in a trie.

Each ID is a fixed-length tuple of local codes, one per step (the L levels, then the collision
index in ``token`` mode; :mod:`rqvae.probe.vocabulary`). Step s scores only level s's tokens.
Constrained search also masks every token that does not extend the beam's prefix to a prefix
of some existing ID, so every finished beam names an ID. Unconstrained search may finish on
tuples no ID has: their share is what the probe reports as ``invalid_share_unconstrained``.

The search runs for a batch of users at once, vectorised over (users x beams): the trie is
stored level by level as sorted integer edge keys ``parent_node * size_s + code``, so the
allowed tokens of every beam and the child node of every choice are two ``searchsorted``
calls, with no Python loop over users or beams.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


class IdTrie:
    """Prefix tree of the distinct IDs.

    id_codes : int64 (n_ids, steps), local codes, rows distinct.
    sizes : per step, the number of local codes (the level's vocabulary).
    edges[s] : int64 sorted keys ``node * sizes[s] + code`` of the prefixes of length s + 1
        (node = the index of the length-s prefix among the sorted distinct length-s prefixes;
        the root is node 0); the index of a key in ``edges[s]`` is the child's node number.
    leaf_id[node] : the row of ``id_codes`` a full-length node is.
    """

    def __init__(self, id_codes: np.ndarray, sizes: list[int]):
        id_codes = np.asarray(id_codes, dtype=np.int64)
        self.steps = int(id_codes.shape[1])
        self.sizes = [int(size) for size in sizes]
        if len(self.sizes) != self.steps:
            raise ValueError(f"sizes has {len(sizes)} entries, expected {self.steps}")
        node = np.zeros(len(id_codes), dtype=np.int64)
        self.edges: list[torch.Tensor] = []
        for step in range(self.steps):
            keys = node * self.sizes[step] + id_codes[:, step]
            unique, node = np.unique(keys, return_inverse=True)
            node = node.reshape(-1)
            self.edges.append(torch.from_numpy(unique))
        if len(self.edges[-1]) != len(id_codes):
            raise AssertionError("ID rows are not distinct")
        self.leaf_id = torch.empty(len(id_codes), dtype=torch.int64)
        self.leaf_id[torch.from_numpy(node)] = torch.arange(len(id_codes))

    def allowed(self, step: int, nodes: torch.Tensor) -> torch.Tensor:
        """bool (len(nodes), sizes[step]): the codes that extend each node (-1: none)."""
        size = self.sizes[step]
        keys = self.edges[step]
        safe = nodes.clamp_min(0)
        first = torch.searchsorted(keys, safe * size)
        last = torch.searchsorted(keys, (safe + 1) * size)
        counts = torch.where(nodes >= 0, last - first, torch.zeros_like(first))
        rows = torch.repeat_interleave(torch.arange(len(nodes)), counts)
        # edge index of each allowed (row, code): the row's first edge + its offset
        offsets = torch.arange(len(rows)) - torch.repeat_interleave(
            counts.cumsum(0) - counts, counts
        )
        edge = torch.repeat_interleave(first, counts) + offsets
        mask = torch.zeros(len(nodes), size, dtype=torch.bool)
        mask[rows, keys[edge] - torch.repeat_interleave(safe, counts) * size] = True
        return mask

    def child(self, step: int, nodes: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """The node reached from ``nodes`` by ``codes`` (same shapes); -1 where no ID has it."""
        keys = self.edges[step]
        wanted = nodes.clamp_min(0) * self.sizes[step] + codes
        index = torch.searchsorted(keys, wanted).clamp_max(len(keys) - 1)
        found = (keys[index] == wanted) & (nodes >= 0)
        return torch.where(found, index, torch.full_like(index, -1))


# next_log_probs(prefix, width, parents) -> (users * width, size_s) log-probabilities of step
# s's codes, given the tokens generated so far ``prefix`` int64 (users * width, s) (global
# token ids; a user's beams in consecutive rows) and ``parents`` int64 (users * width,), the
# row of the previous call each row continues (None at step 0), so a model can keep a cache
NextLogProbs = Callable[[torch.Tensor, int, torch.Tensor | None], torch.Tensor]


@torch.no_grad()
def beam_search(
    next_log_probs: NextLogProbs,
    n_users: int,
    trie: IdTrie,
    lows: np.ndarray,
    beam: int,
    constrained: bool = True,
) -> np.ndarray:
    """Top-``beam`` IDs for each of ``n_users``, best first: int64 (n_users, beam), rows of
    ``trie``'s ``id_codes``; -1 where the beam ended on no ID (unconstrained search, or fewer
    than ``beam`` IDs reachable).

    lows : the first global token id of each step (token = low + local code).
    """
    nodes = torch.zeros(n_users, 1, dtype=torch.int64)  # (U, W): the root
    scores = torch.zeros(n_users, 1)
    prefix = torch.zeros(n_users, 0, dtype=torch.int64)  # (U * W, s) global token ids
    rows = None  # the previous step's row each beam continues
    for step in range(trie.steps):
        size = trie.sizes[step]
        width = nodes.shape[1]
        log_prob = next_log_probs(prefix, width, rows).reshape(n_users, width, size)
        if constrained:
            allowed = trie.allowed(step, nodes.reshape(-1)).reshape(n_users, width, size)
            log_prob = log_prob.masked_fill(~allowed, float("-inf"))
        total = (scores[:, :, None] + log_prob).reshape(n_users, width * size)
        scores, index = total.topk(min(beam, width * size), dim=1)  # (U, W')
        parent, code = index // size, index % size
        nodes = trie.child(step, nodes.gather(1, parent), code)
        nodes = nodes.masked_fill(~torch.isfinite(scores), -1)
        rows = (parent + torch.arange(n_users)[:, None] * width).reshape(-1)
        prefix = torch.cat([prefix[rows], (code + int(lows[step])).reshape(-1, 1)], dim=1)
    ids = torch.where(nodes >= 0, trie.leaf_id[nodes.clamp_min(0)], torch.full_like(nodes, -1))
    result = np.full((n_users, beam), -1, dtype=np.int64)
    result[:, : ids.shape[1]] = ids.numpy()
    return result
