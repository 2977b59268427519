"""The checked tensors of another codebase's state dict: codebooks and encoder layers.

Every tensor a foreign quantizer uses is taken through :func:`weights`, which refuses what
cannot be a weight (one line naming the checkpoint key): anything but a dense tensor of a real
floating dtype (float16, bfloat16, float32, float64), and NaN or inf values (also after the
conversion to float32). Sparse, quantized and meta tensors reach here as
:class:`RefusedTensor` markers from the checkpoint reader. :func:`numbered` reads one codebook
per level and :func:`mlp` an encoder, checking every shape against its neighbours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from rqvae.errors import InputError, printable

REAL_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
BATCHNORM_EPS = 1e-5  # nn.BatchNorm1d's default, which every format here keeps


class RefusedTensor:
    """A tensor in a checkpoint that the workbench does not read (sparse, quantized, meta, a
    subclass): kept as a marker so that using it says what it was."""

    def __init__(self, description: str):
        self.description = description

    def __repr__(self) -> str:
        return self.description


def describe(value: Any) -> str:
    """A short, printable description of a state-dict value, for messages."""
    if isinstance(value, torch.Tensor | np.ndarray):
        return f"{value.dtype} {tuple(value.shape)}"
    if isinstance(value, RefusedTensor):
        return value.description
    return f"a {type(value).__name__} {printable(value, 60)}"


def weights(key: str, value: Any) -> np.ndarray:
    """``value`` (the tensor stored under ``key``) as float32, once it is known to be usable."""
    where = printable(key)
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value) if value.dtype.kind != "O" else value
    if not isinstance(value, torch.Tensor):
        raise InputError(
            f"{where} is {describe(value)}; only dense real floating-point tensors can be imported"
        )
    if value.layout != torch.strided or value.is_quantized or value.device.type != "cpu":
        raise InputError(f"{where} is a {value.layout} / {value.device} tensor; only dense ones")
    if value.dtype not in REAL_FLOATS:
        raise InputError(
            f"{where} has dtype {value.dtype}; a weight must be float16, bfloat16, float32 or "
            "float64 (a complex, integer or bool tensor is not one)"
        )
    array = value.detach().to(torch.float32).numpy()
    finite = np.isfinite(array)
    if not finite.all():
        nan = int(np.isnan(array).sum())
        raise InputError(
            f"{where} holds {nan:,} NaN and {array.size - int(finite.sum()) - nan:,} infinite "
            f"values (of {array.size:,}, as float32); a checkpoint with non-finite weights gives "
            "no IDs: import one saved before its training diverged"
        )
    return array


def numbered(state: Mapping[str, Any], pattern: str) -> list[np.ndarray]:
    """One codebook per level: the tensors whose key matches ``pattern`` (group 1: the level),
    each (K_l, D) with K_l >= 1 and D >= 1, levels 0..L-1 all present, one width D."""
    found: dict[int, tuple[str, Any]] = {}
    for key, tensor in state.items():
        match = re.fullmatch(pattern, key)
        if match:
            level = int(match.group(1))
            if level in found:
                raise InputError(f"{printable(key)}: a second codebook for level {level}")
            found[level] = (key, tensor)
    if not found or sorted(found) != list(range(len(found))):
        raise InputError(f"codebooks matching {pattern!r}: found levels {sorted(found)[:20]}")
    codebooks = []
    for level in range(len(found)):
        key, tensor = found[level]
        codebook = weights(key, tensor)
        if codebook.ndim != 2 or 0 in codebook.shape:
            raise InputError(
                f"{printable(key)} has shape {codebook.shape}; a codebook is (K, D) with at "
                "least one code of at least one dimension"
            )
        if codebooks and codebook.shape[1] != codebooks[0].shape[1]:
            raise InputError(
                f"{printable(key)} has width {codebook.shape[1]}, level 0's codebook "
                f"{codebooks[0].shape[1]}: every level quantizes the same latent"
            )
        codebooks.append(codebook)
    return codebooks


def mlp(
    state: Mapping[str, Any], prefix: str, activation: str
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """An MLP stored as numbered modules under ``prefix``: Linear (a 2-D ``weight``) or
    BatchNorm (``running_mean`` / ``running_var``), in index order; ``activation`` after every
    Linear (and its BatchNorm) but the last, as in every format here.

    Returns the :class:`~rqvae.quantizers.stored.StoredQuantizer` layer list and its tensors.
    Each layer's input width must be the previous one's output; a bias or BatchNorm vector must
    have that width; a BatchNorm needs both running statistics and a non-negative variance.
    """
    modules: dict[int, dict[str, tuple[str, Any]]] = {}
    for key, tensor in state.items():
        match = re.fullmatch(prefix + r"(\w+)", key)
        if match and len(match.group(1)) <= 9:
            modules.setdefault(int(match.group(1)), {})[match.group(2)] = (key, tensor)
    if not modules:
        raise InputError(f"no encoder layers matching {prefix!r}")
    kinds = {index: _kind(parts) for index, parts in modules.items()}
    linear = [index for index in sorted(modules) if kinds[index] == "linear"]
    encoder: list[dict] = []
    tensors: dict[str, np.ndarray] = {}
    width = None  # the output width of the layers so far
    for index in sorted(modules):
        parts, position = modules[index], len(encoder)
        if kinds[index] == "linear":
            key, weight = parts["weight"][0], weights(*parts["weight"])
            if weight.ndim != 2 or 0 in weight.shape:
                raise InputError(f"{printable(key)} has shape {weight.shape}, expected (out, in)")
            if width is not None and weight.shape[1] != width:
                raise InputError(
                    f"{printable(key)} takes {weight.shape[1]} inputs, but the layer before "
                    f"gives {width}"
                )
            width = weight.shape[0]
            encoder.append({"type": "linear"})
            tensors[f"encoder.{position}.weight"] = weight
            if "bias" in parts:
                tensors[f"encoder.{position}.bias"] = _vector(parts["bias"], width)
        elif kinds[index] == "batchnorm":
            where = next(iter(parts.values()))[0].rsplit(".", 1)[0]  # the module's own key
            if width is None:
                raise InputError(f"{printable(where)}: a BatchNorm before any Linear")
            encoder.append({"type": "batchnorm", "eps": BATCHNORM_EPS})
            for name, vector in _batchnorm(parts, where, width).items():
                tensors[f"encoder.{position}.{name}"] = vector
        else:
            continue  # a Dropout or activation: no tensors
        following = [i for i in sorted(modules) if i > index and kinds[i] != "other"]
        next_is_norm = bool(following) and kinds[following[0]] == "batchnorm"
        if any(i > index for i in linear) and not next_is_norm:
            encoder.append({"type": "activation", "name": activation})
    return encoder, tensors


def _kind(parts: Mapping[str, Any]) -> str:
    if "running_mean" in parts or "running_var" in parts:
        return "batchnorm"
    return "linear" if "weight" in parts else "other"


def _vector(item: tuple[str, Any], width: int) -> np.ndarray:
    key, value = item
    vector = weights(key, value)
    if vector.shape != (width,):
        raise InputError(
            f"{printable(key)} has shape {vector.shape}, expected ({width},): one value per "
            "output of its layer"
        )
    return vector


def _batchnorm(parts: Mapping[str, Any], where: str, width: int) -> dict[str, np.ndarray]:
    """running_mean, running_var, weight, bias of an eval-mode BatchNorm1d over ``width``."""
    missing = [name for name in ("running_mean", "running_var") if name not in parts]
    if missing:
        raise InputError(
            f"{printable(where)} is a BatchNorm without {' or '.join(missing)}: its eval-mode "
            "output cannot be rebuilt"
        )
    if ("weight" in parts) != ("bias" in parts):
        raise InputError(f"{printable(where)} is a BatchNorm with only one of weight and bias")
    vectors = {name: _vector(parts[name], width) for name in ("running_mean", "running_var")}
    if (vectors["running_var"] < 0).any():
        raise InputError(f"{printable(where)}.running_var has negative variances")
    for name, fill in (("weight", 1.0), ("bias", 0.0)):  # affine=False keeps neither
        present = name in parts
        vectors[name] = _vector(parts[name], width) if present else np.full(width, fill, "f4")
    return vectors
