"""Read a ``torch.save`` file (zip or legacy format) with bounded memory, running nothing in it.

PyTorch's own loader is not used: it allocates each storage at the size the pickle declares,
and turns a stride-0 view of 32 stored floats into a 2^24 x 32 tensor on first use. Here the
pickles are read by :mod:`rqvae.importers.safe_unpickle` and every tensor is checked before
any memory is given to it:

- a **storage** (the bytes behind tensors) declares ``numel x itemsize`` bytes; they must be
  in the file (zip: its ``data/<key>`` record, stored uncompressed, holds at least that many;
  legacy: the bytes after the pickle, whose own length header must agree), and all storages
  together may declare no more than the file's size. Only then are their buffers allocated.
- a **tensor** is a view ``(offset, shape, strides)`` of a storage: it must lie inside it and
  must not overlap itself (a stride-0 "expanded" dimension or overlapping strides are refused,
  never copied), so it is never larger than its storage; all tensors together may declare at
  most :data:`MAX_TENSOR_BYTES`.
- sparse, quantized, meta, nested and device-only tensors become :class:`RefusedTensor`
  markers that say what they were; the quantizer readers refuse them if they are used.

:func:`load_foreign_checkpoint` returns the saved object and the names of the globals that
became placeholders (``config.json``'s ``source.not_loaded``).
"""

from __future__ import annotations

import math
import stat
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from rqvae.errors import InputError, printable
from rqvae.importers.safe_unpickle import check_result, restricted_load
from rqvae.quantizers.foreign import RefusedTensor

MAX_TENSOR_BYTES = 4 << 30  # all tensors of one checkpoint, at their declared sizes
MAX_DIMS = 32
ZIP_MAGIC = b"PK\x03\x04"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
LEGACY_PROTOCOL = 1001
READ_CHUNK = 16 << 20

# The storage classes torch.save names, and the dtype of each (torch.storage's own table).
STORAGE_DTYPES = {
    "DoubleStorage": torch.float64,
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexDoubleStorage": torch.complex128,
    "ComplexFloatStorage": torch.complex64,
    "QInt8Storage": torch.qint8,
    "QInt32Storage": torch.qint32,
    "QUInt8Storage": torch.quint8,
    "QUInt4x2Storage": torch.quint4x2,
    "QUInt2x4Storage": torch.quint2x4,
    "UntypedStorage": torch.uint8,
}
QUANTIZED = (torch.qint8, torch.qint32, torch.quint8, torch.quint4x2, torch.quint2x4)


@dataclass(frozen=True)
class StorageType:
    """What ``torch.FloatStorage`` and its kin resolve to: only their dtype matters."""

    name: str
    dtype: torch.dtype


@dataclass
class Storage:
    """One storage of the file: its declared size and the buffer its bytes are read into."""

    key: str
    dtype: torch.dtype
    numel: int
    buffer: bytearray
    values: torch.Tensor | None  # 1-D view of ``buffer``; None for quantized dtypes

    @property
    def nbytes(self) -> int:
        return len(self.buffer)


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty(0, dtype=dtype).element_size() if dtype not in QUANTIZED else 1


class _TensorFile:
    """The storages and tensors of one file, checked as the pickle declares them."""

    def __init__(self, path: Path, file_size: int, record_size: Callable[[str], int] | None):
        self.path, self.file_size = path, file_size
        self.record_size = record_size  # zip: bytes of data/<key>; legacy: None
        self.storages: dict[str, Storage] = {}
        self.storage_bytes = 0
        self.tensor_bytes = 0

    def globals(self) -> dict[tuple[str, str], Any]:
        rebuilders = {
            ("torch._utils", "_rebuild_tensor"): self.rebuild_tensor,
            ("torch._utils", "_rebuild_tensor_v2"): self.rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): _first,
            ("torch._utils", "_rebuild_parameter_with_state"): _first,
            ("torch._tensor", "_rebuild_from_type"): self.rebuild_from_type,
            ("torch._tensor", "_rebuild_from_type_v2"): self.rebuild_from_type,
            ("torch._utils", "_rebuild_qtensor"): _refused("a quantized tensor"),
            ("torch._utils", "_rebuild_sparse_tensor"): _refused("a sparse tensor"),
            ("torch._utils", "_rebuild_sparse_csr_tensor"): _refused("a sparse tensor"),
            ("torch._utils", "_rebuild_meta_tensor_no_storage"): _refused(
                "a meta tensor (no data)"
            ),
            ("torch._utils", "_rebuild_wrapper_subclass"): _refused("a tensor subclass"),
            ("torch._utils", "_rebuild_nested_tensor"): _refused("a nested tensor"),
            ("torch._utils", "_rebuild_device_tensor_from_numpy"): _refused("a device tensor"),
            ("torch._utils", "_rebuild_device_tensor_from_cpu_tensor"): _refused("a device tensor"),
        }
        types = {
            ("torch", name): StorageType(name, dtype) for name, dtype in STORAGE_DTYPES.items()
        }
        return {**rebuilders, **types}

    def load_pickle(self, file: BinaryIO, refused: list[str]) -> Any:
        found = self.globals()
        calls = [value for value in found.values() if callable(value)]
        return restricted_load(
            file,
            refused,
            extra_globals=found,
            extra_calls=calls,
            persistent_load=self.persistent_load,
        )

    # -- storages --

    def persistent_load(self, pid: Any) -> Storage | Any:
        """A storage the pickle names: ``("storage", type, key, location, numel[, view])``."""
        if not isinstance(pid, tuple) or not pid:
            raise InputError("a persistent id that is not a tuple")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module" and self.record_size is None and len(pid) == 4:
            return pid[1]  # legacy: a module class saved with its source; a placeholder
        if kind != "storage" or len(pid) != (5 if self.record_size else 6):
            raise InputError(f"an unknown persistent id {printable(pid)}")
        storage_type, key, _location, numel = pid[1:5]
        if self.record_size is None and pid[5] is not None:
            raise InputError("a storage view (torch < 1.0 legacy format)")
        key = key.decode("ascii") if isinstance(key, bytes) else key
        if not isinstance(storage_type, StorageType):
            raise InputError(f"storage of unknown type {printable(storage_type)}")
        if not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise InputError(f"storage {printable(key)} has no valid key or size")
        if key in self.storages:
            known = self.storages[key]
            if known.numel != numel or known.dtype != storage_type.dtype:
                raise InputError(f"storage {printable(key)} is declared twice, differently")
            return known
        return self._new_storage(key, storage_type.dtype, numel)

    def _new_storage(self, key: str, dtype: torch.dtype, numel: int) -> Storage:
        nbytes = numel * _itemsize(dtype)
        where = f"storage {printable(key)}"
        if self.record_size is not None:
            held = self.record_size(key)
            if held < nbytes:
                raise InputError(f"{where} declares {nbytes:,} bytes, its record holds {held:,}")
        self.storage_bytes += nbytes
        if self.storage_bytes > self.file_size:
            raise InputError(
                f"{where}: the storages declare {self.storage_bytes:,} bytes, more than the "
                f"file's {self.file_size:,}"
            )
        buffer = bytearray(nbytes)  # bounded by the file's size, checked just above
        values = None
        if dtype not in QUANTIZED:
            values = (
                torch.frombuffer(buffer, dtype=dtype) if nbytes else torch.empty(0, dtype=dtype)
            )
        storage = Storage(key, dtype, numel, buffer, values)
        self.storages[key] = storage
        return storage

    # -- tensors --

    def rebuild_tensor(
        self, storage: Any, offset: Any, size: Any, stride: Any, *_: Any
    ) -> torch.Tensor | RefusedTensor:
        """``_rebuild_tensor(_v2)``: a view of ``storage``, checked before it is made."""
        if not isinstance(storage, Storage):
            raise InputError("a tensor without a storage")
        if storage.values is None:
            return RefusedTensor(f"a quantized tensor ({storage.dtype})")
        size, stride = _ints(size, "shape"), _ints(stride, "strides")
        if type(offset) is not int or offset < 0 or len(size) != len(stride):
            where = printable(offset, 40)
            raise InputError(f"a tensor of shape {size} with strides {stride} at offset {where}")
        numel = math.prod(size)
        self.tensor_bytes += numel * storage.values.element_size()
        if self.tensor_bytes > MAX_TENSOR_BYTES:
            raise InputError(
                f"the tensors declare more than {MAX_TENSOR_BYTES:,} bytes (at shape {size})"
            )
        if numel:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
            if last >= storage.numel:
                raise InputError(
                    f"a tensor of shape {size} reaches element {last:,} of a storage of "
                    f"{storage.numel:,}"
                )
            _check_no_overlap(size, stride, storage.numel)
        return torch.as_strided(storage.values, size, stride, offset)

    def rebuild_from_type(self, func: Any, new_type: Any, args: Any, state: Any) -> Any:
        if func not in (self.rebuild_tensor, _first) or not isinstance(args, tuple):
            raise InputError("a tensor subclass rebuilt by an unknown function")
        return func(*args)


def _first(data: Any, *_: Any) -> Any:
    """``_rebuild_parameter(data, requires_grad, hooks[, state])``: a parameter is its data."""
    return data


def _refused(description: str) -> Callable[..., RefusedTensor]:
    def rebuild(*args: Any) -> RefusedTensor:
        return RefusedTensor(description)

    rebuild.__name__ = description
    return rebuild


def _ints(values: Any, what: str) -> tuple[int, ...]:
    if not isinstance(values, tuple | list) or len(values) > MAX_DIMS:
        raise InputError(f"a tensor whose {what} is not a short tuple of integers")
    if not all(type(v) is int and v >= 0 for v in values):
        raise InputError(f"a tensor whose {what} {printable(values)} is not non-negative integers")
    return tuple(values)


def _check_no_overlap(size: tuple[int, ...], stride: tuple[int, ...], storage_numel: int) -> None:
    """Refuse views that reuse elements: each dimension (longer than 1), taken by increasing
    stride, must step past everything the smaller ones span."""
    span = 1
    for n, s in sorted(
        ((n, s) for n, s in zip(size, stride, strict=True) if n > 1), key=_by_stride
    ):
        if s == 0:
            raise InputError(
                f"a tensor of shape {size} with strides {stride} repeats its {storage_numel:,} "
                "stored elements (a stride-0, expanded view): refused"
            )
        if s < span:
            raise InputError(
                f"a tensor of shape {size} with strides {stride} overlaps itself: refused"
            )
        span = s * n


def _by_stride(pair: tuple[int, int]) -> int:
    return pair[1]


class _Bounded:
    """A file clamped to ``limit`` bytes: pickle's ``read(n)`` of a declared length would
    otherwise allocate n bytes before finding the file shorter."""

    def __init__(self, file: BinaryIO, limit: int):
        self.file, self.left = file, limit

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.file.read(n)
        self.left -= len(data)
        return data

    def readline(self) -> bytes:
        data = self.file.readline(self.left)
        self.left -= len(data)
        return data


# --- the two formats ---------------------------------------------------------------------


def load_foreign_checkpoint(path: str | Path) -> tuple[Any, list[str]]:
    """The object saved in ``path`` and the globals that became placeholders.

    InputError naming the file when it is missing, not a regular file, damaged, or breaks a
    limit of this module or of :mod:`rqvae.importers.safe_unpickle`.
    """
    path = Path(path)
    try:
        info = path.stat()
    except OSError:
        raise InputError(f"{path}: checkpoint file not found") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path}: not a regular file")
    refused: list[str] = []
    try:
        with path.open("rb") as handle:
            zipped = handle.read(4) == ZIP_MAGIC
        loader = _load_zip if zipped else _load_legacy
        loaded = loader(path, info.st_size, refused)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
    except Exception as error:  # zip, pickle and struct errors alike mean a damaged file
        problem = printable(f"{type(error).__name__}: {error}")
        raise InputError(f"{path}: not a readable PyTorch checkpoint ({problem})") from None
    return loaded, refused


def _load_zip(path: Path, file_size: int, refused: list[str]) -> Any:
    with zipfile.ZipFile(path) as archive:
        records = {info.filename: info for info in archive.infolist()}
        pickles = [n for n in records if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise InputError("a zip archive without exactly one <name>/data.pkl")
        prefix = pickles[0].removesuffix("data.pkl")
        for info in records.values():
            if info.compress_type != zipfile.ZIP_STORED or info.file_size > file_size:
                # torch.save never compresses: a deflated record could expand without bound
                raise InputError(f"record {printable(info.filename)} is compressed or too large")

        def record_size(key: str) -> int:
            info = records.get(f"{prefix}data/{key}")
            if info is None:
                raise InputError(f"storage {printable(key)} has no data/ record")
            return info.file_size

        tensors = _TensorFile(path, file_size, record_size)
        order = archive.read(f"{prefix}byteorder") if f"{prefix}byteorder" in records else b"little"
        with archive.open(pickles[0]) as handle:
            loaded = tensors.load_pickle(_Bounded(handle, records[pickles[0]].file_size), refused)
        check_result(loaded)
        for storage in tensors.storages.values():
            with archive.open(f"{prefix}data/{storage.key}") as handle:
                _read_into(handle, storage)
            _to_native(storage, order.decode("ascii", "replace"))
    return loaded


def _load_legacy(path: Path, file_size: int, refused: list[str]) -> Any:
    """``torch.save(..., _use_new_zipfile_serialization=False)``: magic number, protocol,
    system info and the object as pickles, then the storage keys, then each storage as an
    int64 element count and its bytes."""
    tensors = _TensorFile(path, file_size, None)
    with path.open("rb") as raw:
        handle = _Bounded(raw, file_size)
        if restricted_load(handle, refused) != LEGACY_MAGIC:
            raise InputError("neither a zip archive nor a legacy torch.save file")
        if restricted_load(handle, refused) != LEGACY_PROTOCOL:
            raise InputError("a legacy torch.save file of an unknown protocol")
        system = restricted_load(handle, refused)
        little = not isinstance(system, dict) or system.get("little_endian", True)
        loaded = tensors.load_pickle(handle, refused)
        check_result(loaded)
        keys = restricted_load(handle, refused)
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise InputError("the storage list is not a list of keys")
        if sorted(keys) != sorted(tensors.storages):
            raise InputError("the storage list does not match the storages the pickle uses")
        for key in keys:
            storage = tensors.storages[key]
            (count,) = struct.unpack("<q", handle.read(8))
            if count != storage.numel:
                raise InputError(
                    f"storage {printable(key)}: {count:,} elements, declared {storage.numel:,}"
                )
            _read_into(handle, storage)
            _to_native(storage, "little" if little else "big")
    return loaded


def _read_into(handle: Any, storage: Storage) -> None:
    view, done = memoryview(storage.buffer), 0
    while done < storage.nbytes:
        chunk = handle.read(min(READ_CHUNK, storage.nbytes - done))
        if not chunk:
            raise InputError(f"storage {printable(storage.key)} is cut short")
        view[done : done + len(chunk)] = chunk
        done += len(chunk)


def _to_native(storage: Storage, order: str) -> None:
    """Swap a big-endian file's numbers in place (complex: each of their two parts)."""
    if order not in ("little", "big"):
        raise InputError(f"unknown byte order {printable(order)}")
    if order == "little" or storage.values is None:
        return
    part = storage.values.element_size() // (2 if storage.dtype.is_complex else 1)
    if part > 1:
        np.frombuffer(storage.buffer, dtype=f"u{part}").byteswap(inplace=True)
