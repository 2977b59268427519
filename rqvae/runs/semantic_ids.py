"""``semantic_ids.parquet``: the one table every source of IDs writes and every reader reads.

One row per item::

    item_id     str    catalog id, sidecar id, or row number
    code_0..    int    the code chosen at each level
    collision   int    0 for the first item with that L-tuple, 1 for the second, ... (row order)
    sid         str    <|sid_start|><|sid_0_c0|>...<|sid_{L-1}_c{L-1}|><|sid_L_k|><|sid_end|>
                       (k = the collision index, as an extra level)
    generation  int    0 for the items of the original assignment, g for the items extension
                       g added (``rqvae extend``, :mod:`rqvae.runs.extensions`); a table
                       without the column is all generation 0

The collision index makes every ``sid`` unique; it follows row order, so it is deterministic.
``rqvae extend`` appends rows (:func:`append_semantic_ids`) and never rewrites earlier ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from rqvae.errors import InputError
from rqvae.files import (
    atomic_write_parquet,
    atomic_write_with,
    parquet_columns,
    parquet_metadata,
    read_arrow_table,
)
from rqvae.id_metrics import check_codes, collision_index

SID_START = "<|sid_start|>"
SID_END = "<|sid_end|>"
IDS_SOURCE_KEY = "rqvae.ids_source"  # Parquet metadata: what the codes were computed from


def sid_string(codes: np.ndarray | list[int]) -> str:
    """Token string of one ID: ``<|sid_start|><|sid_0_201|><|sid_1_17|>...<|sid_end|>``.

    ``codes`` holds the level codes followed by the collision index (when there is one); the
    level number sits inside each token so tokens of different levels never clash.
    """
    body = "".join(f"<|sid_{level}_{int(code)}|>" for level, code in enumerate(codes))
    return f"{SID_START}{body}{SID_END}"


def parse_sid_string(text: str) -> list[int]:
    """Inverse of :func:`sid_string`; raises :class:`InputError` on a malformed string."""
    text = text.strip()
    if not (text.startswith(SID_START) and text.endswith(SID_END)):
        raise InputError(f"{text!r}: expected an ID of the form {SID_START}<|sid_0_N|>...{SID_END}")
    tokens = re.findall(r"<\|sid_(\d+)_(\d+)\|>", text[len(SID_START) : -len(SID_END)])
    if not tokens or [int(level) for level, _ in tokens] != list(range(len(tokens))):
        raise InputError(f"{text!r}: levels must run 0, 1, 2, ... in order")
    return [int(code) for _, code in tokens]


def level_columns(columns) -> list[str]:
    """The ``code_0, code_1, ...`` names among ``columns`` (a list or a DataFrame), in order."""
    found = [c for c in columns if c.startswith("code_") and c[5:].isdigit()]
    return sorted(found, key=lambda c: int(c[5:]))


GENERATION_COLUMN = "generation"


def semantic_id_table(item_ids, codes: np.ndarray, generation=None) -> pd.DataFrame:
    """The table above for ``codes`` (n_items, n_levels) and one id per row; the
    ``generation`` column (int, (n_items,)) only when given."""
    collision = collision_index(codes)
    table = pd.DataFrame({"item_id": np.asarray(item_ids, dtype=object).astype(str)})
    for level in range(codes.shape[1]):
        table[f"code_{level}"] = codes[:, level].astype(np.int64)
    table["collision"] = collision
    table["sid"] = sid_strings(np.column_stack([codes, collision]))
    if generation is not None:
        table[GENERATION_COLUMN] = np.asarray(generation, dtype=np.int64)
    return table


SID_CHUNK = 1 << 20  # rows per Arrow pass of sid_strings: its temporary strings stay bounded


def sid_strings(codes: np.ndarray) -> np.ndarray:
    """:func:`sid_string` of every row of ``codes`` (int, (n, levels)): object array of str.

    Built column by column in Arrow, not row by row in Python (several times faster at a
    million rows), in chunks of :data:`SID_CHUNK` rows so that Arrow's copies of the strings
    never outgrow one chunk."""
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = np.asarray(codes).astype(np.int64, copy=False)
    parts = [np.empty(0, dtype=object)]
    for start in range(0, len(codes), SID_CHUNK):
        chunk = codes[start : start + SID_CHUNK]
        tokens = [
            pc.binary_join_element_wise(
                f"<|sid_{level}_", pc.cast(pa.array(chunk[:, level]), pa.string()), "|>", ""
            )
            for level in range(codes.shape[1])
        ]
        joined = pc.binary_join_element_wise(SID_START, *tokens, SID_END, "")
        parts.append(joined.to_numpy(zero_copy_only=False))
        del tokens, joined
        pa.default_memory_pool().release_unused()
    return np.concatenate(parts)


def write_semantic_ids(
    path: Path,
    item_ids,
    codes: np.ndarray,
    source: dict | None = None,
    generation=None,
    root: Path | None = None,
) -> pd.DataFrame:
    """Build :func:`semantic_id_table` and write it to ``path`` atomically; returns it.

    ``source`` (JSON-able) records where the codes came from, in the Parquet metadata key
    :data:`IDS_SOURCE_KEY`; ``rqvae assign`` stores the checkpoint there
    (``{"checkpoint", "file", "epoch", "sha256"}``) so a diagnosis can tell stale IDs.
    ``root``: the run folder (:func:`rqvae.files.atomic_write_with`).
    """
    table = semantic_id_table(item_ids, codes, generation)
    metadata = {IDS_SOURCE_KEY: json.dumps(source, allow_nan=False)} if source else None
    atomic_write_parquet(path, table, metadata=metadata, root=root)
    return table


def read_id_arrow_table(path: Path, root: Path | None = None):
    """Every column of a ``semantic_ids.parquet`` as a pyarrow Table, strings untouched
    (``root``: the run folder, see :func:`rqvae.files.open_regular`)."""
    return read_arrow_table(path, parquet_columns(path, root=root), root=root)


def append_semantic_ids(
    path: Path,
    previous,
    item_ids,
    codes: np.ndarray,
    collision: np.ndarray,
    generation: int,
    source: dict,
    root: Path | None = None,
):
    """Write ``previous`` (the table's rows as read, a pyarrow Table) followed by new rows, and
    return the pyarrow Table written. Atomic, like every write here.

    The earlier rows are written back from Arrow as they were read, so their ids, codes,
    collision indices and ``sid`` strings stay byte for byte (a table without the
    ``generation`` column gets it, all 0). New rows: ``item_ids`` (m,), ``codes`` int (m, L),
    their ``collision`` indices (m,) counted over the whole table, and ``generation``.
    ``source`` replaces the ``rqvae.ids_source`` metadata; pandas' own metadata, which lists
    the old columns, is dropped. ``root``: the run folder (:func:`rqvae.files.atomic_write_with`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if GENERATION_COLUMN not in previous.column_names:
        previous = previous.append_column(
            GENERATION_COLUMN, pa.array(np.zeros(previous.num_rows, dtype=np.int64))
        )
    codes = np.asarray(codes, dtype=np.int64)
    collision = np.asarray(collision, dtype=np.int64)
    new = {"item_id": np.asarray(item_ids, dtype=object).astype(str)}
    new.update({f"code_{level}": codes[:, level] for level in range(codes.shape[1])})
    new["collision"] = collision
    new["sid"] = sid_strings(np.column_stack([codes, collision]))
    new[GENERATION_COLUMN] = np.full(len(codes), generation, dtype=np.int64)
    columns = []
    for field in previous.schema:
        if field.name in new:
            columns.append(pa.array(new[field.name]).cast(field.type))
        else:  # a column this workbench does not write: empty for the new rows
            columns.append(pa.nulls(len(codes), field.type))
    rows = pa.Table.from_arrays(columns, schema=previous.schema.remove_metadata())
    table = pa.concat_tables([previous.replace_schema_metadata(None), rows])
    table = table.replace_schema_metadata(
        {IDS_SOURCE_KEY.encode(): json.dumps(source, allow_nan=False).encode()}
    )
    atomic_write_with(path, lambda tmp: pq.write_table(table, tmp), root=root)
    return table


def read_ids_source(path: Path, root: Path | None = None) -> dict | None:
    """The ``source`` a table was written with (see :func:`write_semantic_ids`), or None."""
    text = parquet_metadata(path, IDS_SOURCE_KEY, root=root)
    if text is None:
        return None
    try:
        source = json.loads(text)
    except json.JSONDecodeError:
        raise InputError(f"{path}: metadata {IDS_SOURCE_KEY} is not valid JSON") from None
    return source if isinstance(source, dict) else None


@dataclass
class CodeTable:
    """The ID columns of a ``semantic_ids.parquet``, checked.

    item_id_column : the ``item_id`` column as read (a pyarrow array, any type).
    codes : int64, shape (n_items, n_levels).
    collision : int64, shape (n_items,), or None when the table has no ``collision`` column.
    generation : int64, shape (n_items,), or None when the table has no ``generation`` column
        (every item is then generation 0).

    The ids become Python strings only when asked for (:attr:`item_ids`, :meth:`item_ids_of`):
    ten million of them cost about 0.7 GB, and most readers need a few or none.
    """

    item_id_column: object
    codes: np.ndarray
    collision: np.ndarray | None
    generation: np.ndarray | None = None  # int64 (n_items,); None: all generation 0

    @cached_property
    def item_ids(self) -> np.ndarray:
        """Every item id as ``str``: object array, shape (n_items,)."""
        return python_ids(self.item_id_column)

    def item_ids_of(self, rows) -> list[str]:
        """The ids of the items at ``rows`` (int positions), without converting the others."""
        rows = np.asarray(rows, dtype=np.int64)
        return python_ids(self.item_id_column.take(rows)).tolist()


def python_ids(column) -> np.ndarray:
    """A pyarrow id column as an object array of ``str``, as pandas' ``astype(str)`` gives it
    (ints as digits); the same conversion the whole table got before ids stayed in Arrow."""
    return column.to_pandas().astype(str).to_numpy(dtype=object)


def read_code_table(path: Path, root: Path | None = None) -> CodeTable:
    """Read the ids, codes and collision column (not the ``sid`` strings: at a million items
    they cost time and nothing needs them); InputError for a missing or malformed table.

    Read with pyarrow one column at a time, each code column straight into the one int64
    matrix: no DataFrame of Python objects, and never every column decoded at once.
    ``root``: the run folder (see :func:`rqvae.files.open_regular`)."""
    names = parquet_columns(path, root=root)
    columns = level_columns(names)
    if not columns or "item_id" not in names:
        raise InputError(f"{path}: expected columns item_id, code_0, code_1, ...")
    item_ids = read_arrow_table(path, ["item_id"], root=root).column("item_id").combine_chunks()
    levels = []
    for name in columns:
        column = read_arrow_table(path, [name], root=root).column(name)
        values = _numbers(column)
        if column.null_count or values.dtype.kind == "f" and np.isnan(values).any():
            raise InputError(f"{path}: some items have missing codes")
        levels.append(values)
        del column
    codes = check_codes(np.column_stack(levels), name=str(path))
    del levels
    collision = None
    if "collision" in names:
        column = read_arrow_table(path, ["collision"], root=root).column("collision")
        values = _numbers(column)
        if column.null_count or values.dtype.kind == "f" and np.isnan(values).any():
            raise InputError(f"{path}: some items have no collision index")
        collision = values.astype(np.int64)
    generation = None
    if GENERATION_COLUMN in names:
        column = read_arrow_table(path, [GENERATION_COLUMN], root=root).column(GENERATION_COLUMN)
        values = _numbers(column)
        if column.null_count or values.dtype.kind == "f" and np.isnan(values).any():
            raise InputError(f"{path}: some items have no generation")
        generation = values.astype(np.int64)
    return CodeTable(item_ids, codes, collision, generation)


def _numbers(column) -> np.ndarray:
    """A numeric pyarrow column as numpy (nulls become NaN, caught by the callers)."""
    return column.to_numpy() if column.null_count == 0 else column.to_pandas().to_numpy()
