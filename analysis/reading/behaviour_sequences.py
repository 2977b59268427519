"""User sequences for the behaviour diagnostics, aligned to a run's semantic-ID rows.

Two layouts are read:

- JSON Lines (optionally gzip), one user per line with an ``item_ids`` list in time order,
  e.g. ``{"user_id": 0, "item_ids": [0, 1, 2]}`` (``../shared/data/*/sequences.jsonl.gz``);
- an LC-Rec ``*.inter.json``: one JSON object ``{"user": [item, ...], ...}``.

Item ids are compared as strings with the run's ``item_id`` column. Interactions with items
the run does not have are kept as row -1, so they still separate their neighbours in the
sequence; the behaviour metrics skip pairs that touch them and say how many there were.
The result is stored flat (CSR layout), so millions of interactions cost two int64 arrays.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rqvae.data.records import GZIP_ERRORS, iter_jsonl, open_text
from rqvae.errors import InputError
from rqvae.runs.folder import Run

SEQUENCE_FILE_NAMES = ("sequences.jsonl.gz", "sequences.jsonl")


@dataclass
class UserSequences:
    """Every user's items as rows of the run's semantic-ID table.

    rows : int64, shape (n_interactions,), the users' sequences one after the other; -1 for an
        item the run does not have.
    offsets : int64, shape (n_users + 1,); user u's sequence is ``rows[offsets[u]:offsets[u+1]]``.
    """

    path: Path
    rows: np.ndarray
    offsets: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_interactions(self) -> int:
        return len(self.rows)

    @property
    def n_unknown(self) -> int:
        """Interactions whose item is not in the run."""
        return int((self.rows < 0).sum())


def read_sequences(path: str | Path, item_ids) -> UserSequences:
    """Read the sequences file ``path`` and map its items onto ``item_ids`` (the run's rows).

    item_ids : str, shape (n_items,), the ``item_id`` column of semantic_ids.parquet.
    Raises InputError naming the file for a missing or unreadable file, a user whose items are
    not a list, or a file in which no item is one of the run's.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: sequences file not found")
    lengths: list[int] = []
    ids: list[str] = []
    for where, items in _iter_users(path):
        if not isinstance(items, list):
            kind = type(items).__name__
            raise InputError(f"{path}: {where}: item_ids is {kind}, expected a list")
        lengths.append(len(items))
        ids.extend(str(item) for item in items)
    if not lengths:
        raise InputError(f"{path}: no user sequences")
    index = pd.Index(np.asarray(item_ids, dtype=object))
    rows = index.get_indexer(np.asarray(ids, dtype=object)).astype(np.int64)
    if len(rows) and (rows < 0).all():
        raise InputError(
            f"{path}: none of its {len(rows):,} interactions is with an item of the run "
            f"(e.g. item {ids[0]!r}); is it the sequences file of another catalog?"
        )
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return UserSequences(path=path, rows=rows, offsets=offsets)


def _iter_users(path: Path):
    """``(where, item list)`` per user, where ``where`` locates it for messages."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".inter.json"):
        try:
            with open_text(path) as handle:
                document = json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError, *GZIP_ERRORS) as error:
            raise InputError(f"{path}: not a JSON object of user sequences ({error})") from None
        if not isinstance(document, dict):
            raise InputError(f"{path}: expected a JSON object user -> item list")
        for user, items in document.items():
            yield f"user {user!r}", items
        return
    for number, record in iter_jsonl(path):
        if "item_ids" not in record:
            raise InputError(f"{path}: line {number}: no item_ids field")
        yield f"line {number}", record["item_ids"]


def find_sequences(run: Run) -> Path | None:
    """The sequences file that belongs to ``run``, or None.

    Looked for, in order: ``sequences.jsonl.gz`` / ``sequences.jsonl`` in the run folder, then
    next to the run's catalog file (how ``../shared/data`` lays datasets out), then for an
    LC-Rec catalog ``NAME.item.json`` its ``NAME.inter.json``. The dashboard uses this;
    ``rqvae diagnose --sequences FILE`` names the file instead. A file in the run folder counts
    only as a regular file of it (a link there is never followed; next to the catalog, the
    user's own links are).
    """
    inside = [run.path / name for name in SEQUENCE_FILE_NAMES]
    found = next((path for path in inside if _regular_in_run(path)), None)
    if found is not None:
        return found
    candidates = []
    catalog = run.info.document.get("data", {}).get("catalog")
    catalog_path = catalog.get("path") if isinstance(catalog, dict) else None
    if catalog_path:
        catalog_path = Path(catalog_path)
        candidates += [catalog_path.parent / name for name in SEQUENCE_FILE_NAMES]
        if catalog_path.name.endswith(".item.json"):
            stem = catalog_path.name.removesuffix(".item.json")
            candidates.append(catalog_path.with_name(f"{stem}.inter.json"))
    return next((path for path in candidates if path.is_file()), None)


def _regular_in_run(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
