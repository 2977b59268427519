"""Raw records out of catalog files: JSON Lines, CSV/TSV, Parquet, LC-Rec JSON, RecBole atomic.

Every reader yields ``(number, record)`` pairs, where ``record`` is a plain dict and ``number``
locates it for error messages (the line for JSON Lines and atomic files, the data row for
CSV and Parquet). Readers stream: JSON Lines line by line, CSV and Parquet in chunks, so a
catalog with millions of rows never needs the whole file in memory at once. (LC-Rec files are
one JSON object and are parsed whole; they hold at most a few hundred thousand items.)

Every problem with the file itself (missing, empty, truncated gzip, a line that is not JSON)
becomes an :class:`~rqvae.errors.InputError` that names the file and, where known, the line.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd

from rqvae.errors import InputError

CHUNK_ROWS = 50_000  # rows per chunk for CSV and Parquet
GZIP_MAGIC = b"\x1f\x8b"

# File name endings (after an optional ".gz") -> container; "jsonl" covers Amazon's ".json"
# files, which are JSON Lines despite the name.
CONTAINERS = {
    ".jsonl": "jsonl",
    ".json-lines": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


def container_of(path: Path) -> str | None:
    """``"jsonl"``, ``"csv"``, ``"tsv"`` or ``"parquet"`` from the file name, else None."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[: -len(".gz")]
    for ending, container in CONTAINERS.items():
        if name.endswith(ending):
            return container
    return None


def check_readable(path: Path) -> None:
    """Raise InputError unless ``path`` is an existing, non-empty file."""
    if not path.exists():
        raise InputError(f"{path}: catalog file not found")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (no items)")


def open_text(path: Path) -> IO[str]:
    """Open a text file, transparently decompressing gzip (detected by its magic bytes)."""
    with open(path, "rb") as handle:
        is_gzip = handle.read(2) == GZIP_MAGIC
    # The caller closes the returned wrapper, which closes the binary file under it.
    raw = gzip.open(path, "rb") if is_gzip else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def iter_records(path: Path, container: str) -> Iterator[tuple[int, dict]]:
    """Records of a JSON Lines, CSV, TSV or Parquet file, in file order."""
    if container == "jsonl":
        return iter_jsonl(path)
    if container in ("csv", "tsv"):
        return iter_csv(path, sep="\t" if container == "tsv" else ",")
    if container == "parquet":
        return iter_parquet(path)
    raise AssertionError(f"unknown container {container!r}")


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a text file, plain or gzip, lines numbered from 1.

    A cut-off gzip stream or bytes that are not UTF-8 become an InputError naming the line.
    """
    number = 0
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, start=1):  # noqa: B007 (used after the loop)
                yield number, line
    except GZIP_ERRORS as error:
        raise InputError(
            f"{path}: truncated or corrupt gzip data after line {number} ({error})"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: line {number + 1} is not UTF-8 text") from None


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """``(line number, record)`` for every non-blank line; each line must be a JSON object."""
    for number, line in text_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            hint = _json_hint(line, number)
            raise InputError(
                f"{path}: line {number} is not valid JSON ({error.msg}){hint}"
            ) from None
        if not isinstance(record, dict):
            raise InputError(
                f"{path}: line {number} is a JSON {type(record).__name__}, "
                "expected one object per line"
            )
        yield number, record


def _json_hint(line: str, number: int) -> str:
    if number == 1 and line.strip() in ("{", "["):
        return "; one JSON document rather than JSON Lines? (LC-Rec item files: --format lcrec)"
    if not line.endswith("\n"):
        return "; the file looks cut off"
    return ""


def iter_csv(path: Path, sep: str) -> Iterator[tuple[int, dict]]:
    """``(row number, record)`` for every data row; all values are read as strings."""
    try:
        chunks = pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            chunksize=CHUNK_ROWS,
            compression="infer",
            encoding="utf-8",
        )
        number = 0
        for chunk in chunks:
            for record in chunk.to_dict("records"):
                number += 1
                yield number, record
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file (no header and no items)") from None
    except pd.errors.ParserError as error:
        raise InputError(f"{path}: not valid CSV ({error})") from None
    except GZIP_ERRORS as error:
        raise InputError(f"{path}: truncated or corrupt gzip data ({error})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None


def csv_columns(path: Path, sep: str) -> list[str]:
    """Header of a CSV/TSV file (used to list the available fields)."""
    try:
        return list(pd.read_csv(path, sep=sep, nrows=0, compression="infer").columns)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, *GZIP_ERRORS, UnicodeDecodeError):
        return []


def iter_parquet(path: Path) -> Iterator[tuple[int, dict]]:
    """``(row number, record)`` for every row, read in batches of :data:`CHUNK_ROWS`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        number = 0
        for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
            for record in batch.to_pylist():
                number += 1
                yield number, record
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{path}: cannot read Parquet ({error})") from None


def parquet_columns(path: Path) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return list(pq.ParquetFile(path).schema_arrow.names)
    except (pa.ArrowException, OSError):
        return []


def iter_lcrec(path: Path) -> Iterator[tuple[str, dict]]:
    """``(item id, record)`` from an LC-Rec ``*.item.json``: one JSON object id -> record."""
    try:
        with open_text(path) as handle:
            document = json.load(handle)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}: not valid JSON at line {error.lineno}, column {error.colno} ({error.msg})"
        ) from None
    except GZIP_ERRORS as error:
        raise InputError(f"{path}: truncated or corrupt gzip data ({error})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    if not isinstance(document, dict):
        raise InputError(
            f"{path}: an LC-Rec item file must be one JSON object mapping item id -> record, "
            f"found a JSON {type(document).__name__}"
        )
    for item_id, record in document.items():
        if not isinstance(record, dict):
            raise InputError(f"{path}: item {item_id!r} is not a JSON object")
        yield item_id, record


def iter_atomic(path: Path) -> Iterator[tuple[int, dict]]:
    """``(line number, record)`` from a RecBole atomic file (``ml-100k.item``).

    The first line is a typed, tab-separated header such as
    ``item_id:token<TAB>movie_title:token_seq``; the ``:type`` suffixes are dropped from the
    field names. Values stay strings (``token_seq`` values are space-separated tokens).
    """
    lines = text_lines(path)
    _, first = next(lines, (1, ""))
    header = first.rstrip("\r\n").split("\t")
    fields = [name.split(":", 1)[0] for name in header]
    if not any(":" in name for name in header):
        raise InputError(
            f"{path}: line 1 is not a RecBole atomic header "
            "(expected tab-separated 'name:type' fields such as 'item_id:token')"
        )
    for number, line in lines:
        line = line.rstrip("\r\n")
        if not line:
            continue
        values = line.split("\t")
        if len(values) != len(fields):
            raise InputError(
                f"{path}: line {number} has {len(values)} tab-separated fields, "
                f"the header has {len(fields)}"
            )
        yield number, dict(zip(fields, values, strict=True))
