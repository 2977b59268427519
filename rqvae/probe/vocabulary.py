"""The semantic-ID models' tokens, and what a generated ID means for each item.

Two ways to treat items whose L codes collide (``--collisions``):

- ``token`` (default): each item's ID is its L codes plus its collision index (0 for the
  first item of a code tuple, 1 for the next, ...), so every item has its own ID of L + 1
  tokens and a generated ID names exactly one item.
- ``shared``: the ID is the L codes alone; the G items of a colliding group share it, and the
  model cannot tell them apart. A generated ID then stands for G items at once; the probe
  counts it as 1/G of a hit (:mod:`rqvae.probe.ranking`), the collision-corrected evaluation
  of "Faithful Evaluation of Semantic-ID Tokenizers" (CIKM'26).

Token ids: 0 is padding, then step s (level s, then the collision index in ``token`` mode)
owns the range ``level_ranges[s] = [low, high)``; a token is ``low + local code``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rqvae.probe.settings import COLLISION_MODES


@dataclass
class SemanticVocabulary:
    """Tokens of the distinct IDs and the items they stand for.

    id_codes : int64 (n_ids, steps), the local code of each distinct ID at each step
        (sorted lexicographically; in ``token`` mode n_ids = n_items).
    item_id : int64 (n_items,), the row of ``id_codes`` that item i has.
    group_size : int64 (n_ids,), how many items share each ID (all 1 in ``token`` mode).
    level_ranges : per step, the ``[low, high)`` token ids of that step.
    """

    id_codes: np.ndarray
    item_id: np.ndarray
    group_size: np.ndarray
    level_ranges: list[tuple[int, int]]
    collisions: str

    @classmethod
    def from_codes(
        cls, codes: np.ndarray, collision: np.ndarray, collisions: str = "token"
    ) -> SemanticVocabulary:
        """codes int (n_items, L) and collision index int (n_items,) -> the vocabulary."""
        if collisions not in COLLISION_MODES:
            raise ValueError(f"collisions is {collisions!r}, expected one of {COLLISION_MODES}")
        codes = np.asarray(codes, dtype=np.int64)
        if collisions == "token":
            codes = np.column_stack([codes, np.asarray(collision, dtype=np.int64)])
        id_codes, item_id, group_size = np.unique(
            codes, axis=0, return_inverse=True, return_counts=True
        )
        sizes = codes.max(axis=0) + 1
        lows = 1 + np.concatenate([[0], np.cumsum(sizes)[:-1]])
        ranges = [(int(low), int(low + size)) for low, size in zip(lows, sizes, strict=True)]
        return cls(
            id_codes=id_codes.astype(np.int64),
            item_id=item_id.reshape(-1).astype(np.int64),
            group_size=group_size.astype(np.int64),
            level_ranges=ranges,
            collisions=collisions,
        )

    @property
    def steps(self) -> int:
        return self.id_codes.shape[1]

    @property
    def vocab_size(self) -> int:
        return self.level_ranges[-1][1]

    @property
    def lows(self) -> np.ndarray:
        return np.array([low for low, _ in self.level_ranges], dtype=np.int64)

    @cached_property
    def item_tokens(self) -> np.ndarray:
        """int64 (n_items, steps): the token ids of each item's ID."""
        return self.id_codes[self.item_id] + self.lows[None, :]

    def flatten(self, items: np.ndarray) -> np.ndarray:
        """int64 (len(items) * steps,): the items' tokens one after the other."""
        return self.item_tokens[items].reshape(-1)

    def summary(self) -> dict:
        """Counts for probe.json: IDs, items, colliding groups, items in them, largest group."""
        colliding = self.group_size > 1
        return {
            "mode": self.collisions,
            "ids": int(len(self.id_codes)),
            "items": int(len(self.item_id)),
            "shared_ids": int(colliding.sum()),
            "items_in_shared_ids": int(self.group_size[colliding].sum()),
            "largest_group": int(self.group_size.max()),
        }
