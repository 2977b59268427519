"""Reading and checking an embeddings file: float ``.npy`` of shape (n_items, dim).

An optional JSON sidecar next to it (``EMB.json`` for ``EMB.npy``, written by ``rqvae embed``)
carries the item ids and provenance: ``model, template, n_items, dim, catalog,
catalog_sha256, item_ids, normalized, created``. Precomputed files without a sidecar are fine;
their items are then known by row number.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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


def sha256_of(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


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
