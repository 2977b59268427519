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

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rqvae.errors import InputError
from rqvae.files import (
    atomic_write_json,
    atomic_write_parquet,
    read_json,
    read_parquet,
    real_folder,
)
from rqvae.runs.semantic_ids import level_columns

PARTS_DIR = "semantic_ids.parts"
_PART_NAME = re.compile(r"part-(\d{5})-of-(\d{5})\.parquet")
_SIDECAR_NAME = re.compile(r"part-(\d{5})-of-(\d{5})\.json")


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
    atomic_write_parquet(path, table, root=run_dir)
    sidecar = {
        "shard": [shard.index, shard.count],
        "rows": [start, stop],
        "n_items": n_items,
        "checkpoint": checkpoint,
    }
    atomic_write_json(path.with_suffix(".json"), sidecar, root=run_dir)
    return path


def read_parts(run_dir: Path, codebook_sizes: Sequence[int]) -> tuple[list[str], np.ndarray, dict]:
    """Item ids (n,), codes int64 (n, L) and the checkpoint record of a complete set of parts.

    ``codebook_sizes``: ``K_l`` of the run's levels; every part must hold exactly the columns
    ``row, item_id, code_0 .. code_{L-1}``, integer codes in ``[0, K_l)``. Raises
    :class:`InputError` naming the folder or file when the parts folder is a link, holds a file
    that is not a part or sidecar, when parts are missing, come from different shardings or
    checkpoints, have malformed sidecars or columns, or do not tile the catalog's rows exactly.
    Nothing is written or removed here.
    """
    folder = Path(run_dir) / PARTS_DIR
    if not os.path.lexists(folder):
        raise InputError(f"{folder}: no parts; run `rqvae assign --run RUN --shard i/n` first")
    real_folder(run_dir, folder)
    found = _part_files(folder)
    if not any(name.endswith(".parquet") for name in found):
        raise InputError(f"{folder}: no parts; run `rqvae assign --run RUN --shard i/n` first")
    counts = {count for _, count in found.values()}
    if len(counts) != 1:
        raise InputError(f"{folder}: parts of different shardings ({sorted(counts)} shards)")
    count = counts.pop()
    expected = [Shard(index, count).part_path(run_dir) for index in range(count)]
    names = {name for path in expected for name in (path.name, path.with_suffix(".json").name)}
    strays = sorted(set(found) - names)
    if strays:
        raise InputError(f"{folder}: {strays[0]} is not a part of a {count}-shard assignment")
    missing = [path.name for path in expected if not os.path.lexists(path)]
    if missing:
        raise InputError(f"{folder}: {len(missing)} of {count} parts missing: {', '.join(missing)}")

    sidecars = [_sidecar(path, Shard(index, count), run_dir) for index, path in enumerate(expected)]
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

    columns = ["row", "item_id", *(f"code_{level}" for level in range(len(codebook_sizes)))]
    tables = []
    for index, path in enumerate(expected):
        table = read_parquet(path, root=run_dir)
        if list(table.columns) != columns:
            raise InputError(
                f"{path}: columns {', '.join(map(str, table.columns))}; expected "
                f"{', '.join(columns)} (the run has {len(codebook_sizes)} levels)"
            )
        start, stop = Shard(index, count).rows(n_items)
        rows = table["row"].to_numpy()
        if len(rows) != stop - start or not np.array_equal(rows, np.arange(start, stop)):
            raise InputError(f"{path}: rows are not {start}..{stop - 1}; re-run that shard")
        _check_codes(path, table, codebook_sizes)
        tables.append(table)
    merged = pd.concat(tables, ignore_index=True)
    codes = merged[level_columns(merged.columns)].to_numpy(np.int64)
    return merged["item_id"].astype(str).tolist(), codes, checkpoint


def _part_files(folder: Path) -> dict[str, tuple[int, int]]:
    """Name -> (index, count) of the parts and sidecars in ``folder``; InputError for anything
    else in it (dot files, the atomic writes' temporary files, are skipped)."""
    parts = {}
    for entry in sorted(os.listdir(folder)):
        if entry.startswith("."):
            continue
        match = _PART_NAME.fullmatch(entry) or _SIDECAR_NAME.fullmatch(entry)
        if match is None or not stat.S_ISREG(os.lstat(folder / entry).st_mode):
            raise InputError(
                f"{folder / entry}: not a part file of `rqvae assign --shard`; remove it"
            )
        parts[entry] = (int(match.group(1)), int(match.group(2)))
    return parts


def _sidecar(part: Path, shard: Shard, run_dir: Path) -> dict:
    """The checked sidecar of ``part``: shard, rows, n_items and a checkpoint record."""
    path = part.with_suffix(".json")
    if not os.path.lexists(path):
        raise InputError(f"{path}: missing; re-run shard {shard.index}/{shard.count}")
    sidecar = read_json(path, root=run_dir)
    n_items = sidecar.get("n_items") if isinstance(sidecar, dict) else None
    if not _is_int(n_items) or n_items < 0:
        raise InputError(f"{path}: expected an object with an integer n_items >= 0")
    if sidecar.get("shard") != [shard.index, shard.count]:
        raise InputError(f"{path}: shard is {sidecar.get('shard')!r:.40}, expected the file's own")
    if sidecar.get("rows") != list(shard.rows(n_items)):
        raise InputError(f"{path}: rows are {sidecar.get('rows')!r:.40}, not this shard's")
    checkpoint = sidecar.get("checkpoint")
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("sha256"), str | None):
        raise InputError(f"{path}: checkpoint must be an object with a sha256 (or null)")
    return sidecar


def _check_codes(path: Path, table: pd.DataFrame, codebook_sizes: Sequence[int]) -> None:
    """Every code an integer in ``[0, K_l)`` of its level."""
    for level, size in enumerate(codebook_sizes):
        column = table[f"code_{level}"]
        if not pd.api.types.is_integer_dtype(column.dtype) or column.dtype == bool:
            raise InputError(f"{path}: code_{level} holds {column.dtype} values, not integers")
        values = column.to_numpy()
        bad = (values < 0) | (values >= size)
        if bad.any():
            raise InputError(
                f"{path}: code_{level} = {values[bad][0]} at row {table['row'].iloc[bad.argmax()]} "
                f"is outside the level's codebook of {size} codes (0..{size - 1})"
            )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
