"""User interaction sequences: the input of the downstream probe (``rqvae probe``).

Two formats:

- JSON Lines (``.jsonl`` or ``.jsonl.gz``), one user per line:
  ``{"user_id": "u1", "item_ids": ["12", "7", "301"]}`` with ``item_ids`` in the order the
  user met them (``../shared/data/amazon-scientific/sequences.jsonl.gz``).
- A MovieLens / RecBole ratings file (``*.inter``: tab-separated, header
  ``user_id:token  item_id:token  rating:float  timestamp:float``; or ml-100k's ``u.data``,
  tab-separated ``user item rating timestamp`` without a header): each user's items ordered
  by timestamp (ties keep file order).

Item ids are kept as strings, the way ``semantic_ids.parquet`` stores them.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rqvae.errors import InputError


@dataclass
class Sequences:
    """user_ids : n_users strings; item_ids : one list of item id strings per user, in order."""

    user_ids: list[str]
    item_ids: list[list[str]]

    @property
    def n_interactions(self) -> int:
        return sum(len(items) for items in self.item_ids)


def read_sequences(path: str | Path) -> Sequences:
    """Read a sequence file (see the module docstring); InputError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: sequence file not found")
    name = path.name.lower()
    if name.endswith((".inter", ".data")):
        return _read_ratings(path)
    if not name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz")):
        raise InputError(
            f"{path}: unknown sequence file type; expected .jsonl(.gz) with user_id and "
            "item_ids, or a MovieLens ratings file (.inter, u.data)"
        )
    opener = gzip.open if name.endswith(".gz") else open
    users, items = [], []
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise InputError(f"{path}: line {number} is not valid JSON ({error})") from None
                if not isinstance(record, dict) or "user_id" not in record:
                    raise InputError(f"{path}: line {number} has no user_id")
                sequence = record.get("item_ids")
                if not isinstance(sequence, list):
                    raise InputError(f"{path}: line {number}: item_ids must be a list")
                users.append(str(record["user_id"]))
                items.append([str(item) for item in sequence])
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read ({error})") from None
    if not users:
        raise InputError(f"{path}: no users")
    return Sequences(users, items)


def _read_ratings(path: Path) -> Sequences:
    try:
        first = path.open(encoding="utf-8", errors="replace").readline()
        has_header = ":" in first or "user" in first.lower()
        frame = pd.read_csv(path, sep="\t", header=0 if has_header else None, dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise InputError(f"{path}: cannot read ratings ({error})") from None
    if frame.shape[1] < 4 or frame.empty:
        raise InputError(f"{path}: expected columns user, item, rating, timestamp")
    frame = frame.iloc[:, :4]
    frame.columns = ["user", "item", "rating", "timestamp"]
    timestamp = pd.to_numeric(frame["timestamp"], errors="coerce")
    if timestamp.isna().any():
        row = int(timestamp.isna().to_numpy().argmax())
        raise InputError(f"{path}: row {row + 1} has no numeric timestamp")
    frame = frame.assign(timestamp=timestamp).sort_values(["timestamp"], kind="stable")
    grouped = frame.groupby("user", sort=False)["item"].agg(list)
    return Sequences([str(u) for u in grouped.index], [list(map(str, v)) for v in grouped])
