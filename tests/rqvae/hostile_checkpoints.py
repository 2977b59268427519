"""Builders of hostile and malformed ``torch.save`` files for the import-checkpoint tests.

``torch.save`` cannot write most of these (a storage that claims more bytes than it has, a
tuple key 40 levels deep without hashing it first), so they are written here byte by byte in
``torch.save``'s own layouts: the zip archive (``<name>/data.pkl`` + ``<name>/data/<key>``) and
the legacy stream (magic number, protocol, system info, the object, the storage keys, then each
storage as an int64 element count and its bytes).
"""

from __future__ import annotations

import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from tests.rqvae.test_import_checkpoint import DIM, HIDDEN, LATENT, K, linear

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class Storage:
    """A storage as a pickle names it: ``("storage", type, key, "cpu", numel)``."""

    def __init__(self, key: str, numel: int, storage_type=torch.FloatStorage):
        self.key, self.numel, self.storage_type = key, numel, storage_type


class Tensor:
    """A tensor as ``torch._utils._rebuild_tensor_v2`` rebuilds it: a view of a storage."""

    def __init__(self, storage: Storage, size, stride, offset: int = 0):
        self.storage, self.size, self.stride, self.offset = storage, size, stride, offset

    def __reduce__(self):
        rebuild = torch._utils._rebuild_tensor_v2
        args = (self.storage, self.offset, tuple(self.size), tuple(self.stride), False)
        return rebuild, (*args, OrderedDict())


class _Pickler(pickle.Pickler):
    def __init__(self, file, legacy: bool):
        super().__init__(file, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            saved = ("storage", obj.storage_type, obj.key, "cpu", obj.numel)
            return (*saved, None) if self.legacy else saved
        return None


def pickled(obj, legacy: bool = False) -> bytes:
    """``obj`` pickled as torch.save pickles it, :class:`Storage` objects as persistent ids."""
    import io

    buffer = io.BytesIO()
    _Pickler(buffer, legacy).dump(obj)
    return buffer.getvalue()


def write_zip(path: Path, data_pkl: bytes, records: dict[str, bytes] | None = None) -> Path:
    """A zip-format torch.save file holding ``data_pkl`` and the storage records given."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", "little")
        for key, data in (records or {}).items():
            archive.writestr(f"archive/data/{key}", data)
        archive.writestr("archive/version", "3\n")
    return path


def write_legacy(path: Path, obj, storages: dict[str, tuple[int, bytes]]) -> Path:
    """A legacy-format torch.save file: ``storages`` maps key -> (declared count, bytes)."""
    parts = [pickle.dumps(value, protocol=2) for value in (LEGACY_MAGIC, 1001, {})]
    parts.append(pickled(obj, legacy=True))
    parts.append(pickle.dumps(list(storages), protocol=2))
    for count, data in storages.values():
        parts.append(struct.pack("<q", count) + data)
    path.write_bytes(b"".join(parts))
    return path


def nested_tuple_ops(depth: int) -> bytes:
    """Pickle opcodes that push ``("x", "x")`` nested ``depth`` levels deep, each level's two
    halves one shared object (DUP): 5 bytes of pickle, 2^depth leaves to any walk of it."""
    return b"X\x01\x00\x00\x00x" + b"2\x86" * depth


def state_dict_pickle(inner_ops: bytes, as_key: bool) -> bytes:
    """``{"state_dict": {<inner>: 1}}`` (as_key) or ``{"state_dict": {"w": <inner>}}``, where
    ``inner_ops`` pushes one object."""
    outer = b"\x80\x02}X" + struct.pack("<I", 10) + b"state_dict}"
    as_value = b"X\x01\x00\x00\x00w" + inner_ops + b"s"  # "w", inner, SETITEM
    body = inner_ops + b"K\x01s" if as_key else as_value  # inner, BININT1 1, SETITEM
    return outer + body + b"s."


def lcrec_state(generator: torch.Generator, codebook=None) -> dict:
    """A valid LC-Rec state dict (no BatchNorm) with optionally a replaced level-0 codebook."""
    sizes, state = [DIM, *HIDDEN, LATENT], {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        weight, bias = linear(fan_in, fan_out, generator)
        state[f"encoder.mlp_layers.{3 * i + 1}.weight"] = weight
        state[f"encoder.mlp_layers.{3 * i + 1}.bias"] = bias
    for level in range(3):
        state[f"rq.vq_layers.{level}.embedding.weight"] = torch.randn(
            K, LATENT, generator=generator
        )
    if codebook is not None:
        state["rq.vq_layers.0.embedding.weight"] = codebook
    return state


def float_bytes(n: int) -> bytes:
    return np.arange(n, dtype="<f4").tobytes()


ARGS_MARK = "__ARGS__"  # a string saved in place of "args", replaced by raw opcodes


def save_with_raw_args(path: Path, state: dict, args_ops: bytes, **save_options) -> Path:
    """``torch.save({"state_dict": state, "args": <args_ops>})``: saved by torch itself (so the
    tensors are real), then ``args_ops`` (opcodes that push one object) put in place of the
    marker string in ``data.pkl``."""
    torch.save({"state_dict": state, "args": ARGS_MARK}, path, **save_options)
    marker = b"X" + struct.pack("<I", len(ARGS_MARK)) + ARGS_MARK.encode()
    if not zipfile.is_zipfile(path):  # legacy: one stream, the marker inside it
        path.write_bytes(path.read_bytes().replace(marker, args_ops, 1))
        return path
    with zipfile.ZipFile(path) as archive:
        records = {info.filename: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in records.items():
            if name.endswith("/data.pkl"):
                data = data.replace(marker, args_ops, 1)
            archive.writestr(name, data)
    return path


def global_ops(module: str, name: str) -> bytes:
    """The GLOBAL opcode: push ``module.name`` (any text, escapes included)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def text_ops(text: str) -> bytes:
    return b"X" + struct.pack("<I", len(text.encode())) + text.encode()
