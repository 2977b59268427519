"""Writing and reading the workbench's files: atomic writes, JSON, Parquet, digests.

Every write goes through :func:`atomic_write_with` (temp file in the same folder, fsync,
``os.replace``), so a reader never sees half a file and a killed process never leaves one
behind. Readers turn a missing or damaged file into an :class:`InputError` naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rqvae.errors import InputError


def now_iso() -> str:
    """Current UTC time as an ISO-8601 string with seconds precision."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- atomic writes ----------------------------------------------------------------------------


def atomic_write_with(path: str | Path, writer: Callable[[str], Any]) -> None:
    """Call ``writer(tmp_path)`` to produce the file, then rename it over ``path``.

    The temp file lives in the destination folder so ``os.replace`` is a same-filesystem rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp creates 0600 files; give run files the usual permissions so others can read them.
    os.chmod(tmp, 0o666 & ~current_umask())
    try:
        writer(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old or the new file, never half."""
    atomic_write_with(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as pretty JSON, atomically."""
    # allow_nan=False: NaN and Infinity are not JSON; writing them would make a file that
    # strict readers (ours included) refuse. A non-finite value here is a bug upstream.
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    text += "\n"
    atomic_write_bytes(path, text.encode())


def atomic_write_parquet(
    path: str | Path, frame: pd.DataFrame, metadata: dict[str, str] | None = None
) -> None:
    """Write a DataFrame as Parquet, atomically; ``metadata`` adds key/value strings to the
    file's schema metadata (read back with :func:`parquet_metadata`)."""
    if not metadata:
        atomic_write_with(path, lambda tmp: frame.to_parquet(tmp, index=False))
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    merged = {
        **(table.schema.metadata or {}),
        **{k.encode(): v.encode() for k, v in metadata.items()},
    }
    table = table.replace_schema_metadata(merged)
    atomic_write_with(path, lambda tmp: pq.write_table(table, tmp))


def append_jsonl(path: str | Path, obj: dict) -> None:
    """Append one JSON object as a line, rewriting the file atomically.

    Rewriting keeps the file valid at every instant (a plain append can be cut mid-line by a
    kill); metrics files hold one line per epoch, so the cost is negligible.
    """
    path = Path(path)
    old = path.read_bytes() if path.exists() else b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    line = json.dumps(obj, default=_json_default, allow_nan=False) + "\n"
    atomic_write_bytes(path, old + line.encode())


def current_umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --- reading ----------------------------------------------------------------------------------


def read_json(path: str | Path) -> Any:
    """Read a JSON file, turning a missing or corrupt file into an :class:`InputError`."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        return loads_strict(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None
    except ValueError as error:  # NaN / Infinity, or a duplicated key
        raise InputError(f"{path}: not valid JSON ({error})") from None


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses what the JSON standard does not allow but Python accepts:
    ``NaN``, ``Infinity`` and ``-Infinity`` (ValueError naming the constant)."""
    return json.loads(text, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet file (optionally some columns); a damaged file is an InputError."""
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as error:  # pyarrow raises several types for damaged files
        raise InputError(f"{path}: cannot read Parquet ({error})") from None


def read_arrow_table(path: str | Path, columns: list[str], dictionary: bool = False):
    """Some columns of a Parquet file as a pyarrow Table; a damaged file is an InputError.

    ``dictionary`` reads the text in them dictionary-encoded (the names of a catalog's category
    paths repeat millions of times; so read, each distinct name is decoded once).

    Arrow's allocator keeps what a read freed (the decoded pages) for later reads: at ten
    million rows that is most of a gigabyte of resident memory, so it is handed back here."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        leaves = None
        if dictionary:  # the leaf paths, e.g. "categories.list.element"
            schema = pq.read_metadata(path).schema
            paths = [schema.column(i).path for i in range(len(schema))]
            leaves = [leaf for leaf in paths if leaf.split(".")[0] in columns]
        table = pq.read_table(path, columns=columns, read_dictionary=leaves)
    except Exception as error:  # pyarrow raises several types for damaged files
        raise InputError(f"{path}: cannot read Parquet ({error})") from None
    pa.default_memory_pool().release_unused()
    return table


def parquet_columns(path: str | Path) -> list[str]:
    """Column names of a Parquet file, read from its footer only."""
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path).names
    except Exception as error:  # pyarrow raises several types for damaged files
        raise InputError(f"{path}: cannot read Parquet ({error})") from None


def parquet_metadata(path: str | Path, key: str) -> str | None:
    """The schema metadata value ``key`` of a Parquet file (footer only), or None."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except Exception as error:  # pyarrow raises several types for damaged files
        raise InputError(f"{path}: cannot read Parquet ({error})") from None
    value = metadata.get(key.encode())
    return value.decode() if value is not None else None


# --- digests ----------------------------------------------------------------------------------


def sha256_of(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def file_fingerprint(path: str | Path, content: bool = True) -> dict:
    """Name, size, modification time and (with ``content``) SHA-256 of a file, for cache keys.

    Hash small files (checkpoints); for multi-gigabyte embeddings size and mtime suffice.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found (moved or deleted since the run)") from None
    fingerprint = {"name": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if content:
        fingerprint["sha256"] = sha256_of(path)
    return fingerprint
