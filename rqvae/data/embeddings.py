"""Embeddings files, the one place that reads them: float ``.npy`` of shape (n_items, dim).

An optional JSON sidecar next to it (``EMB.json`` for ``EMB.npy``, written by ``rqvae embed``)
carries the item ids and provenance: ``model, template, n_items, dim, catalog,
catalog_sha256, item_ids, normalized, created``. Precomputed files without a sidecar are fine;
their items are then known by row number.

Two ways in: :func:`load_embeddings` checks the whole file (shape, dtype, sidecar, every row
finite) and returns a memory map, for training and assignment; :class:`EmbeddingReader` reads
rows on demand, in any order, without mapping the file, for the diagnostics' streaming passes.
:func:`item_rows` says which file row holds which item of a run.
"""

from __future__ import annotations

import json
import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rqvae.errors import InputError

# Rows checked per chunk for NaN/inf, so a memory-mapped file is never loaded whole.
CHECK_CHUNK_ROWS = 65_536
# How many bad rows an error message lists.
MAX_LISTED = 5


@dataclass
class EmbeddingsFile:
    """A checked embeddings file.

    ``array`` is float32, shape (n_items, dim), possibly a read-only memory map; ``item_ids``
    (length n_items) come from the sidecar, or are None without one; ``meta`` is the rest of
    the sidecar (empty without one).
    """

    path: Path
    array: np.ndarray
    item_ids: list[str] | None = None
    meta: dict = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return int(self.array.shape[0])

    @property
    def dim(self) -> int:
        return int(self.array.shape[1])

    def ids(self) -> list[str]:
        """Item ids from the sidecar, or the row numbers ``"0" .. "n-1"``."""
        if self.item_ids is not None:
            return self.item_ids
        return [str(row) for row in range(self.n_items)]


def load_embeddings(path: Path, mmap: bool = True) -> EmbeddingsFile:
    """Open and validate an embeddings ``.npy`` (and its sidecar, if present).

    Raises :class:`InputError` naming the file for: a missing, empty, truncated or non-``.npy``
    file; an array that is not 2-D, has no rows or columns, or is not floating point; rows
    holding NaN or inf (the message lists the first few, by item id when the sidecar has them);
    a sidecar that does not match the array.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: embeddings file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: embeddings file is empty")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise InputError(f"{path}: not a readable .npy file, or truncated ({error})") from None
    if not isinstance(array, np.ndarray):
        raise InputError(f"{path}: expected one array in a .npy file, found an archive")
    if array.ndim != 2:
        raise InputError(f"{path}: embeddings have shape {array.shape}, expected (n_items, dim)")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{path}: embeddings have shape {array.shape}: no items or no dimensions")
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{path}: embeddings have dtype {array.dtype}, expected float")
    if array.dtype != np.float32:
        array = array.astype(np.float32)  # float16/float64: one in-memory copy

    item_ids, meta = _read_sidecar(path, array.shape)
    _check_finite(path, array, item_ids)
    return EmbeddingsFile(path=path, array=array, item_ids=item_ids, meta=meta)


def sidecar_path(path: Path) -> Path:
    """``EMB.json`` for ``EMB.npy``: where ``rqvae embed`` writes the provenance."""
    return Path(path).with_suffix(".json")


def _read_sidecar(path: Path, shape: tuple[int, ...]) -> tuple[list[str] | None, dict]:
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return None, {}
    try:
        meta = json.loads(sidecar.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{sidecar}: not valid JSON ({error})") from None
    if not isinstance(meta, dict):
        raise InputError(f"{sidecar}: expected a JSON object")
    item_ids = meta.pop("item_ids", None)
    if item_ids is not None:
        if not isinstance(item_ids, list) or len(item_ids) != shape[0]:
            count = len(item_ids) if isinstance(item_ids, list) else type(item_ids).__name__
            raise InputError(
                f"{sidecar}: item_ids has {count} entries, but {path.name} has {shape[0]} rows"
            )
        item_ids = [str(item_id) for item_id in item_ids]
    if "dim" in meta and meta["dim"] != shape[1]:
        raise InputError(f"{sidecar}: dim is {meta['dim']}, but {path.name} has {shape[1]} columns")
    return item_ids, meta


def _check_finite(path: Path, array: np.ndarray, item_ids: list[str] | None) -> None:
    """Scan in chunks; list the first bad rows (by id if known) and how many there are."""
    bad_rows: list[int] = []
    total_bad = 0
    for start in range(0, array.shape[0], CHECK_CHUNK_ROWS):
        chunk = np.asarray(array[start : start + CHECK_CHUNK_ROWS])
        bad = np.flatnonzero(~np.isfinite(chunk).all(axis=1))
        total_bad += len(bad)
        bad_rows.extend((start + bad[: MAX_LISTED - len(bad_rows)]).tolist())
    if total_bad == 0:
        return
    if item_ids is not None:
        listed = ", ".join(f"{item_ids[row]!r} (row {row})" for row in bad_rows)
    else:
        listed = ", ".join(str(row) for row in bad_rows)
    more = f" and {total_bad - len(bad_rows)} more" if total_bad > len(bad_rows) else ""
    raise InputError(f"{path}: {total_bad} rows contain NaN or inf: rows {listed}{more}")


def check_finite_chunk(chunk: np.ndarray, start: int, name: str = "embeddings") -> None:
    """Raise InputError naming the first rows (global index) of ``chunk`` with NaN or inf."""
    bad = ~np.isfinite(chunk).all(axis=1)
    if bad.any():
        rows = (np.flatnonzero(bad)[:MAX_LISTED] + start).tolist()
        raise InputError(f"{name}: rows {', '.join(map(str, rows))} contain NaN or inf")


# --- streaming reads --------------------------------------------------------------------------


class EmbeddingReader:
    """Rows of a ``.npy`` embeddings file, read on demand with ``pread``; nothing is mapped.

    ``reader[a:b]`` reads rows a..b-1 into a fresh array; ``reader[index_array]`` reads the given
    rows. With ``rows`` (the file row of each item, from :func:`item_rows`) item i is file row
    ``rows[i]``, so a file in another order is never loaded whole. Unlike a memory map, pages
    read here do not stay in the process's resident memory: a pass over a 1.5 GB file costs
    one chunk of memory. Supports what the streaming diagnostics use: ``shape``, ``dtype``,
    ``ndim``, ``len`` and indexing by a slice or an integer array.
    """

    def __init__(self, path: str | Path, rows: np.ndarray | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: embeddings file not found")
        with open(self.path, "rb") as handle:
            try:
                version = np.lib.format.read_magic(handle)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran_order, dtype = read_header(handle)
            except ValueError as error:
                raise InputError(f"{self.path}: not a .npy file ({error})") from None
            self.offset = handle.tell()
        if len(shape) != 2 or fortran_order or dtype.kind != "f":
            raise InputError(
                f"{self.path}: expected a C-ordered float matrix (n_items, dim), got shape "
                f"{shape} and dtype {dtype}"
            )
        self.file_rows = shape[0]
        self.dtype = dtype
        self.row_bytes = shape[1] * dtype.itemsize
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        n_rows = shape[0] if self.rows is None else len(self.rows)
        self.shape = (n_rows, shape[1])
        self.ndim = 2
        expected = self.offset + shape[0] * self.row_bytes
        if self.path.stat().st_size < expected:
            raise InputError(f"{self.path}: file is truncated ({shape[0]} rows announced)")
        self._fd = os.open(self.path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return self.shape[0]

    def aligned(self, rows: np.ndarray | None) -> EmbeddingReader:
        """The same file seen through ``rows`` (file row of each item; None = file order)."""
        return EmbeddingReader(self.path, rows)

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, slice):
            start, stop, step = index.indices(self.shape[0])
            if step != 1:
                raise IndexError("EmbeddingReader supports slices with step 1 only")
            if self.rows is None:
                return self._read_block(start, max(stop - start, 0))
            index = np.arange(start, stop)
        file_rows = np.asarray(index, dtype=np.int64)
        if self.rows is not None:
            file_rows = self.rows[file_rows]
        result = np.empty((len(file_rows), self.shape[1]), dtype=self.dtype)
        if len(file_rows) == 0:
            return result
        # one read per run of consecutive file rows: a run folder's rows are mostly in order
        starts = np.flatnonzero(np.r_[True, np.diff(file_rows) != 1])
        ends = np.r_[starts[1:], len(file_rows)]
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            result[start:end] = self._read_block(int(file_rows[start]), end - start)
        return result

    def _read_block(self, first_row: int, n_rows: int) -> np.ndarray:
        buffer = bytearray(n_rows * self.row_bytes)
        read = os.preadv(self._fd, [buffer], self.offset + first_row * self.row_bytes)
        if read != len(buffer):
            raise InputError(f"{self.path}: file ended early at row {first_row}")
        return np.frombuffer(buffer, dtype=self.dtype).reshape(n_rows, self.shape[1])


class StackedEmbeddings:
    """Item rows gathered from several embeddings files: item i is row ``rows[i]`` of
    ``readers[source[i]]``.

    What a run grown by ``rqvae extend`` reads (:func:`rqvae.runs.extensions.run_embeddings`):
    the original file for the first items, one file per extension for the items it added.
    Reads the way :class:`EmbeddingReader` does (``shape``, ``dtype``, ``ndim``, ``len``, a slice
    with step 1 or an integer array), always as float32, one block read per run of
    consecutive rows of one file.
    """

    def __init__(self, readers: list[EmbeddingReader], source: np.ndarray, rows: np.ndarray):
        dims = sorted({reader.shape[1] for reader in readers})
        if len(dims) != 1:
            names = ", ".join(str(reader.path) for reader in readers)
            raise InputError(f"{names}: embeddings of different dimensions {dims} in one run")
        self.readers = readers
        self.source = np.asarray(source, dtype=np.int64)  # (n_items,) index into readers
        self.rows = np.asarray(rows, dtype=np.int64)  # (n_items,) row in that file
        self.shape = (len(self.rows), dims[0])
        self.dtype = np.dtype(np.float32)
        self.ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, slice):
            start, stop, step = index.indices(self.shape[0])
            if step != 1:
                raise IndexError("StackedEmbeddings supports slices with step 1 only")
            index = np.arange(start, max(stop, start))
        index = np.asarray(index, dtype=np.int64)
        result = np.empty((len(index), self.shape[1]), dtype=np.float32)
        sources = self.source[index]
        for number in np.unique(sources).tolist():
            wanted = np.flatnonzero(sources == number)
            result[wanted] = self.readers[number][self.rows[index[wanted]]]
        return result


def item_rows(
    path: Path, n_rows: int, item_ids: np.ndarray, catalog_ids: np.ndarray | None
) -> np.ndarray | None:
    """File row holding each of ``item_ids`` in the embeddings ``path`` of ``n_rows`` rows, or
    None when row i is item i.

    The file's row ids come from its JSON sidecar (``item_ids``), else from the catalog
    (``catalog_ids``: row i = catalog item i, how ``rqvae embed`` writes them), else the rows
    are taken to be in ``item_ids`` order (the counts must then match). InputError when an
    item has no row or no rule says which row is which item.
    """
    row_ids = _sidecar_ids(path, n_rows)
    if row_ids is None and catalog_ids is not None and len(catalog_ids) == n_rows:
        row_ids = np.asarray(catalog_ids, dtype=object)
    if row_ids is None:
        if n_rows == len(item_ids):
            return None
        raise InputError(
            f"{path}: {n_rows} embedding rows, but the run has {len(item_ids)} items and no "
            "sidecar or catalog says which row is which item"
        )
    positions = positions_of(row_ids, item_ids, path)
    if (positions < 0).any():
        missing = np.asarray(item_ids, dtype=object)[positions < 0][:MAX_LISTED]
        raise InputError(f"{path}: no embedding for items {', '.join(missing)}")
    in_order = len(row_ids) == len(positions) and np.array_equal(
        positions, np.arange(len(positions))
    )
    return None if in_order else positions


def positions_of(haystack: np.ndarray, needles: np.ndarray, source: Path) -> np.ndarray:
    """Index of each needle in ``haystack`` (unique strings), -1 where absent; vectorised."""
    index = pd.Index(haystack)
    if not index.is_unique:
        duplicated = ", ".join(map(repr, index[index.duplicated()][:MAX_LISTED]))
        raise InputError(f"{source}: item ids listed more than once: {duplicated}")
    return index.get_indexer(needles)


def _sidecar_ids(path: Path, n_rows: int) -> np.ndarray | None:
    """Item ids of the sidecar when it lists one per row; None otherwise."""
    sidecar = sidecar_path(path)
    if not sidecar.exists():
        return None
    try:
        ids = json.loads(sidecar.read_text()).get("item_ids")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None
    if ids is None or len(ids) != n_rows:
        return None
    return np.asarray([str(i) for i in ids], dtype=object)
