"""Writing and reading the workbench's files: atomic writes, JSON, Parquet, digests.

Every write goes through :func:`atomic_write_with` (temp file in the same folder, fsync,
``os.replace``), so a reader never sees half a file and a killed process never leaves one
behind. Readers turn a missing or damaged file into an :class:`InputError` naming it.

Files are opened safely (:func:`open_regular`): only regular files are read (a FIFO, device or
folder is refused without blocking: opened with ``O_NONBLOCK``, then ``fstat``), JSON beside
the data is capped at :data:`JSON_MAX_BYTES`, and inside a run folder (``root``) nothing is
read, written or deleted through a symbolic link: the file is opened with ``O_NOFOLLOW`` and
every folder between the run folder and it is checked with ``lstat`` (:func:`real_folder`)
right before the operation. The run folder itself is the one the user named, and may be
reached through a link of theirs; inputs outside runs (embeddings, catalogs) are the user's
files and may be links too, but never special files.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from rqvae.errors import InputError

# The most bytes of JSON a run keeps beside its data (config.json, status.json, metrics.jsonl,
# checkpoint and shard sidecars, cached diagnosis documents, the lock record): ten thousand
# epochs of metrics take about 20 MB less than this; a larger file is damage or an attack.
JSON_MAX_BYTES = 16 << 20


def now_iso() -> str:
    """Current UTC time as an ISO-8601 string with seconds precision."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- atomic writes ----------------------------------------------------------------------------


def atomic_write_with(
    path: str | Path, writer: Callable[[str], Any], root: str | Path | None = None
) -> None:
    """Call ``writer(tmp_path)`` to produce the file, then rename it over ``path``.

    The temp file lives in the destination folder so ``os.replace`` is a same-filesystem rename.
    With ``root`` (the run folder ``path`` belongs to), the folders from ``root`` down to the
    file are made or checked to be real folders (:func:`real_folder`) and ``path``, if it
    exists, a regular file, once before writing and again right before the rename: nothing is
    ever written through a symbolic link out of the run. Without it, missing folders are made
    and only a target that is a folder or special file is refused.
    """
    path = Path(path)
    if root is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        real_folder(root, path.parent, create=True)
    _check_replaceable(path, strict=root is not None)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp creates 0600 files; give run files the usual permissions so others can read them.
    os.chmod(tmp, 0o666 & ~current_umask())
    try:
        writer(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if root is not None:
            real_folder(root, path.parent)
        _check_replaceable(path, strict=root is not None)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, root: str | Path | None = None) -> None:
    """Write ``data`` to ``path`` so that readers see either the old or the new file, never half
    (``root``: the run folder, see :func:`atomic_write_with`)."""
    atomic_write_with(path, lambda tmp: Path(tmp).write_bytes(data), root=root)


def atomic_write_json(path: str | Path, obj: Any, root: str | Path | None = None) -> None:
    """Write ``obj`` as pretty JSON, atomically (``root``: see :func:`atomic_write_with`)."""
    # allow_nan=False: NaN and Infinity are not JSON; writing them would make a file that
    # strict readers (ours included) refuse. A non-finite value here is a bug upstream.
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    text += "\n"
    atomic_write_bytes(path, text.encode(), root=root)


def atomic_write_parquet(
    path: str | Path,
    frame: pd.DataFrame,
    metadata: dict[str, str] | None = None,
    root: str | Path | None = None,
) -> None:
    """Write a DataFrame as Parquet, atomically; ``metadata`` adds key/value strings to the
    file's schema metadata (read back with :func:`parquet_metadata`); ``root``: see
    :func:`atomic_write_with`."""
    if not metadata:
        atomic_write_with(path, lambda tmp: frame.to_parquet(tmp, index=False), root=root)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    merged = {
        **(table.schema.metadata or {}),
        **{k.encode(): v.encode() for k, v in metadata.items()},
    }
    table = table.replace_schema_metadata(merged)
    atomic_write_with(path, lambda tmp: pq.write_table(table, tmp), root=root)


def append_jsonl(path: str | Path, obj: dict, root: str | Path | None = None) -> None:
    """Append one JSON object as a line, rewriting the file atomically.

    Rewriting keeps the file valid at every instant (a plain append can be cut mid-line by a
    kill); metrics files hold one line per epoch, so the cost is negligible.
    """
    path = Path(path)
    old = read_bytes(path, root=root) if os.path.lexists(path) else b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    line = json.dumps(obj, default=_json_default, allow_nan=False) + "\n"
    atomic_write_bytes(path, old + line.encode(), root=root)


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


# --- safe paths: what is inside a run is a real file or folder of it ---------------------------


def real_folder(root: str | Path, folder: str | Path, create: bool = False) -> Path:
    """``folder`` (``root`` or a folder below it), checked with ``lstat`` component by
    component from ``root`` down: each one a real folder, not a symbolic link, file or special
    file. With ``create``, a missing component is made (then checked like the others).

    ``root`` is the run folder as the user named it (it may be reached through a link of
    theirs). Raises InputError naming the first component that fails.
    """
    root, folder = Path(root), Path(folder)
    try:
        parts = folder.relative_to(root).parts
    except ValueError:
        raise InputError(f"{folder}: not inside the run folder {root}") from None
    if ".." in parts:
        raise InputError(f"{folder}: not inside the run folder {root}")
    if not root.is_dir():
        raise InputError(f"{root}: run folder not found")
    current = root
    for part in parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            if not create:
                raise InputError(f"{current}: folder not found") from None
            with suppress(FileExistsError):  # made meanwhile: checked below like any other
                os.mkdir(current)
            info = os.lstat(current)
        if not stat.S_ISDIR(info.st_mode):
            raise InputError(
                f"{current}: is {file_kind(info.st_mode)}; the folders of a run must be real "
                f"folders inside {root}"
            )
    return folder


def open_regular(
    path: str | Path, root: str | Path | None = None, max_bytes: int | None = None
) -> BinaryIO:
    """Open ``path`` for reading in binary mode if it is a regular file of at most
    ``max_bytes`` bytes; InputError (naming the file) otherwise, without ever blocking.

    ``O_NONBLOCK`` makes opening a FIFO return at once, and ``fstat`` of the open file then
    refuses it (and devices, sockets and folders). With ``root`` (the run folder the file
    belongs to) the file is opened with ``O_NOFOLLOW`` and the folders between ``root`` and it
    are checked (:func:`real_folder`): nothing is read through a symbolic link.
    """
    path = Path(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if root is not None:
        real_folder(root, path.parent)
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InputError(
                f"{path}: is a symbolic link; the files of a run must be real files inside it"
            ) from None
        raise InputError(f"{path}: cannot open ({error.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path}: is {file_kind(info.st_mode)}, expected a regular file")
        if max_bytes is not None and info.st_size > max_bytes:
            raise InputError(
                f"{path}: {info.st_size:,} bytes, more than the {max_bytes:,} such a file may have"
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular_file(path: str | Path, root: str | Path | None = None) -> os.stat_result:
    """``open_regular``'s checks, for a file another library then opens by its path (Parquet,
    safetensors): its ``fstat``, or InputError."""
    with open_regular(path, root) as handle:
        return os.fstat(handle.fileno())


def read_bytes(
    path: str | Path, root: str | Path | None = None, max_bytes: int | None = JSON_MAX_BYTES
) -> bytes:
    """The whole content of a regular file of at most ``max_bytes`` bytes (a file that grows
    past the cap while it is read is refused too); see :func:`open_regular`."""
    with open_regular(path, root, max_bytes) as handle:
        data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise InputError(f"{path}: more than the {max_bytes:,} bytes such a file may have")
    return data


def file_kind(mode: int) -> str:
    """What an ``st_mode`` is, for messages: "a symbolic link", "a FIFO", "a folder", ..."""
    kinds = [
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISREG, "a regular file"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


def _check_replaceable(path: Path, strict: bool) -> None:
    """An existing ``path`` may be replaced if it is a regular file (``strict``: of the run,
    so not a link either; else a link is replaced as the link it is, never written through)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode) or (stat.S_ISLNK(mode) and not strict):
        return
    raise InputError(f"{path}: is {file_kind(mode)}, expected a regular file to replace")


# --- reading ----------------------------------------------------------------------------------


def read_json(
    path: str | Path, root: str | Path | None = None, max_bytes: int | None = JSON_MAX_BYTES
) -> Any:
    """Read a JSON file, turning a missing, special, oversized (``max_bytes``) or corrupt file
    into an :class:`InputError`; ``root``: the run folder it belongs to (:func:`open_regular`)."""
    path = Path(path)
    try:
        return loads_strict(read_bytes(path, root, max_bytes).decode())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None
    except InputError:
        raise
    except ValueError as error:  # NaN / Infinity, or a duplicated key
        raise InputError(f"{path}: not valid JSON ({error})") from None


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses what the JSON standard does not allow but Python accepts:
    ``NaN``, ``Infinity`` and ``-Infinity`` (ValueError naming the constant)."""
    return json.loads(text, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_parquet(
    path: str | Path, columns: list[str] | None = None, root: str | Path | None = None
) -> pd.DataFrame:
    """Read a Parquet file (optionally some columns); a damaged or special file (or, with
    ``root``, a link inside that run folder) is an InputError."""
    check_regular_file(path, root)
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as error:  # pyarrow raises several types for damaged files
        raise InputError(f"{path}: cannot read Parquet ({error})") from None


def read_arrow_table(
    path: str | Path, columns: list[str], dictionary: bool = False, root: str | Path | None = None
):
    """Some columns of a Parquet file as a pyarrow Table; a damaged file is an InputError.

    ``dictionary`` reads the text in them dictionary-encoded (the names of a catalog's category
    paths repeat millions of times; so read, each distinct name is decoded once). ``root``: as
    for :func:`read_parquet`.

    Arrow's allocator keeps what a read freed (the decoded pages) for later reads: at ten
    million rows that is most of a gigabyte of resident memory, so it is handed back here."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_regular_file(path, root)
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


def parquet_columns(path: str | Path, root: str | Path | None = None) -> list[str]:
    """Column names of a Parquet file, read from its footer only (``root``: see
    :func:`read_parquet`)."""
    import pyarrow.parquet as pq

    check_regular_file(path, root)
    try:
        return pq.read_schema(path).names
    except Exception as error:  # pyarrow raises several types for damaged files
        raise InputError(f"{path}: cannot read Parquet ({error})") from None


def parquet_metadata(path: str | Path, key: str, root: str | Path | None = None) -> str | None:
    """The schema metadata value ``key`` of a Parquet file (footer only), or None."""
    import pyarrow.parquet as pq

    check_regular_file(path, root)
    try:
        metadata = pq.read_schema(path).metadata or {}
    except Exception as error:  # pyarrow raises several types for damaged files
        raise InputError(f"{path}: cannot read Parquet ({error})") from None
    value = metadata.get(key.encode())
    return value.decode() if value is not None else None


# --- digests ----------------------------------------------------------------------------------


def sha256_of(path: str | Path, chunk_bytes: int = 1 << 20, root: str | Path | None = None) -> str:
    """Hex SHA-256 of a regular file, read in chunks (``root``: see :func:`open_regular`)."""
    digest = hashlib.sha256()
    with open_regular(path, root) as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def file_fingerprint(path: str | Path, content: bool = True) -> dict:
    """Name, size, modification time and (with ``content``) SHA-256 of a file, for cache keys.

    Hash small files (checkpoints); for multi-gigabyte embeddings size and mtime suffice.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found (moved or deleted since the run)") from None
    fingerprint = {"name": path.name, "size": info.st_size, "mtime_ns": info.st_mtime_ns}
    if content:
        fingerprint["sha256"] = sha256_of(path)
    return fingerprint
