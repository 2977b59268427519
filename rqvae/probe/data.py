"""The probe's data: sequences mapped onto a run's items, split leave-last-out.

Items are numbered 0..n_items-1 in the order of the run's ``semantic_ids.parquet``. For each
user with at least 3 known items (unknown items are dropped first, and counted):

    train      items[:-2]   every position is a next-item target given the ones before
    validation history items[:-2], target items[-2]
    test       history items[:-1], target items[-1]

so the test target is never seen in training and the validation target only as test history
(the usual SASRec / TIGER protocol). Histories keep their last ``max_len`` items.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rqvae.data.sequences import Sequences

MIN_ITEMS = 3  # one to train on, one to validate, one to test


@dataclass
class SplitSequences:
    """Leave-last-out split over item indices (int64).

    train : per user, the training sequence items[:-2] (length >= 1).
    valid_target, test_target : int64 (n_users,).
    counts : users read / used / skipped, interactions read / unknown (dropped).
    user_ids : the used users' ids (strings, in the sequence file's order), n_users.
    """

    train: list[np.ndarray]
    valid_target: np.ndarray
    test_target: np.ndarray
    counts: dict[str, int]
    user_ids: list[str] = field(default_factory=list)

    def history(self, split: str, user: int) -> np.ndarray:
        """Items before the ``split`` ("valid" or "test") target of ``user``."""
        if split == "valid":
            return self.train[user]
        return np.append(self.train[user], self.valid_target[user])

    def target(self, split: str) -> np.ndarray:
        """int64 (n_users,): the ``split`` ("valid" or "test") target of every user."""
        if split not in ("valid", "test"):
            raise ValueError(f"split is {split!r}, expected 'valid' or 'test'")
        return self.valid_target if split == "valid" else self.test_target


def split_sequences(sequences: Sequences, item_ids: np.ndarray) -> SplitSequences:
    """Map ``sequences`` onto ``item_ids`` (the run's items, in row order) and split them."""
    index = pd.Index(np.asarray(item_ids, dtype=object).astype(str))
    train, valid, test, users = [], [], [], []
    unknown = short = 0
    for user, items in zip(sequences.user_ids, sequences.item_ids, strict=True):
        positions = index.get_indexer(items) if items else np.empty(0, dtype=np.int64)
        known = positions[positions >= 0].astype(np.int64)
        unknown += int((positions < 0).sum())
        if len(known) < MIN_ITEMS:
            short += 1
            continue
        users.append(user)
        train.append(known[:-2])
        valid.append(known[-2])
        test.append(known[-1])
    counts = {
        "users": len(sequences.user_ids),
        "users_used": len(train),
        "users_skipped": short,
        "interactions": sequences.n_interactions,
        "unknown_items": unknown,
    }
    return SplitSequences(train, np.array(valid, np.int64), np.array(test, np.int64), counts, users)


def item_popularity(split: SplitSequences, n_items: int) -> np.ndarray:
    """Training interactions per item, float64 (n_items,)."""
    counts = np.zeros(n_items)
    for items in split.train:
        np.add.at(counts, items, 1.0)
    return counts
