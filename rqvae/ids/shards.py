"""Assignment split over processes or machines, and the merge of its parts.

A catalog of n items is cut into ``count`` contiguous row ranges; shard ``i`` holds rows
``[i * n // count, (i + 1) * n // count)``. Each shard's codes go to a part file, and
``rqvae merge-ids`` puts the parts back together and computes the collision column over the
whole catalog, which no single shard can do (two colliding items may sit in different shards)::

    RUN/semantic_ids.parts/part-00000-of-00004.parquet    row, item_id, code_0 .. code_{L-1}
    RUN/semantic_ids.parts/part-00000-of-00004.json       shard, rows, checkpoint digest

The merged ``semantic_ids.parquet`` is byte for byte the one an unsharded ``rqvae assign``
writes: codes depend only on the item's own embedding and the checkpoint, and every part
records the checkpoint's SHA-256 so parts from different checkpoints are never mixed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rqvae.errors import InputError
from rqvae.files import atomic_write_json, atomic_write_parquet, read_json, read_parquet
from rqvae.runs.semantic_ids import level_columns

PARTS_DIR = "semantic_ids.parts"
_PART_NAME = re.compile(r"part-(\d{5})-of-(\d{5})\.parquet")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count`` contiguous row ranges."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise InputError(f"shard {self.index}/{self.count}: need 0 <= i < n and n >= 1")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"i/n"`` as typed after ``--shard``."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if match is None:
            raise InputError(f"--shard {text!r}: expected i/n, e.g. 0/4")
        return cls(int(match.group(1)), int(match.group(2)))

    def rows(self, n_items: int) -> tuple[int, int]:
        """The half-open row range ``[start, stop)`` of this shard in a catalog of ``n_items``."""
        return self.index * n_items // self.count, (self.index + 1) * n_items // self.count

    def part_path(self, run_dir: Path) -> Path:
        return Path(run_dir) / PARTS_DIR / f"part-{self.index:05d}-of-{self.count:05d}.parquet"


def write_part(
    run_dir: Path, shard: Shard, item_ids, codes: np.ndarray, n_items: int, checkpoint: dict
) -> Path:
    """Write one shard's codes (rows ``shard.rows(n_items)``) and its sidecar; returns the path.

    ``codes`` int64 (stop - start, L); ``checkpoint`` is the record of the checkpoint the codes
    came from (:func:`rqvae.ids.assign.ids_source`: ``{"checkpoint", "file", "epoch", "sha256"}``),
    compared across parts by :func:`read_parts`.
    """
    start, stop = shard.rows(n_items)
    if len(codes) != stop - start or len(item_ids) != stop - start:
        raise InputError(f"shard {shard.index}/{shard.count}: expected {stop - start} rows")
    table = pd.DataFrame({"row": np.arange(start, stop, dtype=np.int64)})
    table["item_id"] = np.asarray(item_ids, dtype=object).astype(str)
    for level in range(codes.shape[1]):
        table[f"code_{level}"] = codes[:, level].astype(np.int64)
    path = shard.part_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_parquet(path, table)
    sidecar = {
        "shard": [shard.index, shard.count],
        "rows": [start, stop],
        "n_items": n_items,
        "checkpoint": checkpoint,
    }
    atomic_write_json(path.with_suffix(".json"), sidecar)
    return path


def read_parts(run_dir: Path) -> tuple[list[str], np.ndarray, dict]:
    """Item ids (n,), codes int64 (n, L) and the checkpoint record of a complete set of parts.

    Raises :class:`InputError` naming the folder when parts are missing, come from different
    shardings or checkpoints, or do not tile the catalog's rows exactly.
    """
    folder = Path(run_dir) / PARTS_DIR
    found = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    if not found:
        raise InputError(f"{folder}: no parts; run `rqvae assign --run RUN --shard i/n` first")
    counts = {int(_PART_NAME.fullmatch(path.name).group(2)) for path in found}
    if len(counts) != 1:
        raise InputError(f"{folder}: parts of different shardings ({sorted(counts)} shards)")
    count = counts.pop()
    expected = [Shard(index, count).part_path(run_dir) for index in range(count)]
    missing = [path.name for path in expected if not path.exists()]
    if missing:
        raise InputError(f"{folder}: {len(missing)} of {count} parts missing: {', '.join(missing)}")

    sidecars = [read_json(path.with_suffix(".json")) for path in expected]
    checkpoint = sidecars[0]["checkpoint"]
    n_items = sidecars[0]["n_items"]
    for path, sidecar in zip(expected, sidecars, strict=True):
        # the digest, not the whole fingerprint: machines sharing a folder disagree on mtimes
        digest, first = sidecar["checkpoint"].get("sha256"), checkpoint.get("sha256")
        if digest != first:
            raise InputError(
                f"{path}: made from checkpoint {str(digest)[:12]}, other parts from "
                f"{str(first)[:12]}; re-run that shard"
            )
        if sidecar["n_items"] != n_items:
            raise InputError(f"{path}: written for {sidecar['n_items']} items, not {n_items}")

    tables = [read_parquet(path) for path in expected]
    for path, table in zip(expected, tables, strict=True):
        start, stop = Shard(int(_PART_NAME.fullmatch(path.name).group(1)), count).rows(n_items)
        rows = table["row"].to_numpy()
        if len(rows) != stop - start or not np.array_equal(rows, np.arange(start, stop)):
            raise InputError(f"{path}: rows are not {start}..{stop - 1}; re-run that shard")
    merged = pd.concat(tables, ignore_index=True)
    codes = merged[level_columns(merged.columns)].to_numpy(np.int64)
    return merged["item_id"].astype(str).tolist(), codes, checkpoint
