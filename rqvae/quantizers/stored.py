"""A quantizer kept in a run folder as tensors and a description: safetensors + JSON, no pickle.

Imported checkpoints of other codebases and the non-neural baselines both end up here, so a run
folder alone is enough to rebuild its quantizer::

    checkpoints/quantizer.safetensors   codebook.{l}: float32 (K_l, D) per level, and the
                                        encoder's tensors, named encoder.{i}.{name}
    checkpoints/quantizer.json          {"format": "rqvae-stored-quantizer/1", "distance",
                                         "normalize_residuals", "encoder": [layer, ...],
                                         "source": {...}}

``encoder`` lists layers applied in order to the embeddings (an empty list is the identity):

    {"type": "linear"}                      x @ weight.T (+ bias); tensors weight (out, in), bias
    {"type": "batchnorm", "eps": 1e-5}      eval-mode BatchNorm1d; running_mean, running_var,
                                            weight, bias
    {"type": "activation", "name": "relu"}  relu | silu | gelu | tanh | sigmoid
    {"type": "l2_normalize"}                rows scaled to unit length

``normalize_residuals``: the residual entering each level is L2-normalised before the nearest
codeword is chosen and subtracted (GRID's RQ-KMeans).

Optional tensors ``code_bias.{l}`` (float32 (K_l,)) make level l choose
``argmin ||r - c_k||^2 + bias_k`` (balanced RQ-KMeans; see
:func:`rqvae.quantizers.base.nearest_codewords`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from rqvae.errors import InputError, printable
from rqvae.files import atomic_write_json, atomic_write_with, check_regular_file, read_bytes
from rqvae.quantizers.base import Quantizer, nearest_codewords

FORMAT = "rqvae-stored-quantizer/1"
TENSORS_FILE = "quantizer.safetensors"
SPEC_FILE = "quantizer.json"
ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0))),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
}
LAYER_TENSORS = {
    "linear": ("weight",),  # bias optional
    "batchnorm": ("running_mean", "running_var", "weight", "bias"),
    "activation": (),
    "l2_normalize": (),
}


class StoredQuantizer(Quantizer):
    """Codebooks, an optional feed-forward encoder and the options above, run in numpy.

    codebooks : float32 (K_l, D) per level. encoder : the layer list of the module docstring.
    tensors : the encoder's tensors, ``encoder.{i}.{name}``. No decoder: the foreign
    codebases' decoders are not needed for IDs, residuals or geometry.
    """

    def __init__(
        self,
        codebooks: list[np.ndarray],
        *,
        distance: str = "euclidean",
        encoder: list[dict[str, Any]] | None = None,
        tensors: dict[str, np.ndarray] | None = None,
        normalize_residuals: bool = False,
        source: str = "",
        code_biases: list[np.ndarray] | None = None,
    ):
        self._codebooks = [np.ascontiguousarray(c, dtype=np.float32) for c in codebooks]
        # per-level additive costs on the squared distance (balanced k-means), or None
        self.code_biases = (
            None if code_biases is None else [np.asarray(b, dtype=np.float32) for b in code_biases]
        )
        self.distance = distance
        self.encoder = list(encoder or [])
        self.tensors = {k: np.asarray(v, dtype=np.float32) for k, v in (tensors or {}).items()}
        self.normalize_residuals = normalize_residuals
        self.prepares_residuals = normalize_residuals
        self.source = source
        _check_spec(self, source or "stored quantizer")

    @property
    def codebooks(self) -> list[np.ndarray]:
        return self._codebooks

    @property
    def input_dim(self) -> int | None:
        for index, layer in enumerate(self.encoder):
            if layer["type"] == "linear":
                return int(self.tensors[f"encoder.{index}.weight"].shape[1])
        return None

    def encode(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=np.float32)
        # an overflow is not warned about here: the residual chain refuses non-finite latents
        with np.errstate(over="ignore", invalid="ignore"):
            for index, layer in enumerate(self.encoder):
                h = _apply(layer, index, h, self.tensors)
        return np.ascontiguousarray(h, dtype=np.float32)

    def nearest(self, level: int, residual: np.ndarray) -> np.ndarray:
        if self.code_biases is None:
            return super().nearest(level, residual)
        return nearest_codewords(
            residual, self.codebooks[level], self.distance, bias=self.code_biases[level]
        )

    def prepare_residual(self, level: int, residual: np.ndarray) -> np.ndarray:
        if not self.normalize_residuals:
            return residual
        return _unit_rows(residual)

    # --- files ----------------------------------------------------------------------------------

    def save(self, folder: Path, source: dict[str, Any] | None = None) -> None:
        """Write ``quantizer.safetensors`` and ``quantizer.json`` into ``folder``, atomically."""
        tensors = {f"codebook.{level}": c for level, c in enumerate(self._codebooks)}
        if self.code_biases is not None:
            tensors.update({f"code_bias.{level}": b for level, b in enumerate(self.code_biases)})
        tensors.update(self.tensors)
        tensors = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
        atomic_write_with(Path(folder) / TENSORS_FILE, lambda tmp: save_file(tensors, tmp))
        spec = {
            "format": FORMAT,
            "distance": self.distance,
            "levels": len(self._codebooks),
            "normalize_residuals": self.normalize_residuals,
            "encoder": self.encoder,
            "source": source or {},
        }
        atomic_write_json(Path(folder) / SPEC_FILE, spec)

    @classmethod
    def load(cls, folder: Path, root: Path | None = None) -> StoredQuantizer:
        """Read a quantizer written by :meth:`save`; InputError naming the file when damaged,
        not a regular file, or (with ``root``, the run folder) reached through a link."""
        folder = Path(folder)
        spec_path, tensor_path = folder / SPEC_FILE, folder / TENSORS_FILE
        if not os.path.lexists(spec_path) or not os.path.lexists(tensor_path):
            raise InputError(f"{folder}: no stored quantizer ({SPEC_FILE}, {TENSORS_FILE})")
        spec_text = read_bytes(spec_path, root=root)
        check_regular_file(tensor_path, root)
        try:
            spec = json.loads(spec_text)
            with safe_open(str(tensor_path), framework="numpy") as handle:
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        except Exception as error:  # json and safetensors raise their own types for damage
            raise InputError(f"{folder}: unreadable stored quantizer ({error})") from None
        if not isinstance(spec, dict) or spec.get("format") != FORMAT:
            raise InputError(f"{spec_path}: not a {FORMAT} description")
        levels = spec.get("levels")
        codebooks = [tensors.pop(f"codebook.{level}", None) for level in range(levels or 0)]
        if not levels or any(c is None for c in codebooks):
            raise InputError(f"{tensor_path}: expected codebook.0 .. codebook.{levels} tensors")
        biases = [tensors.pop(f"code_bias.{level}", None) for level in range(levels)]
        if any(b is not None for b in biases) and any(b is None for b in biases):
            raise InputError(f"{tensor_path}: code_bias tensors for some levels but not all")
        return cls(
            codebooks,
            distance=spec.get("distance", "euclidean"),
            encoder=spec.get("encoder", []),
            tensors=tensors,
            normalize_residuals=bool(spec.get("normalize_residuals", False)),
            source=str(tensor_path),
            code_biases=None if biases[0] is None else biases,
        )


def _apply(layer: dict[str, Any], index: int, h: np.ndarray, tensors: dict) -> np.ndarray:
    name = f"encoder.{index}."
    kind = layer["type"]
    if kind == "linear":
        h = h @ tensors[name + "weight"].T
        bias = tensors.get(name + "bias")
        return h + bias if bias is not None else h
    if kind == "batchnorm":
        mean, var = tensors[name + "running_mean"], tensors[name + "running_var"]
        scale = tensors[name + "weight"] / np.sqrt(var + float(layer.get("eps", 1e-5)))
        return (h - mean) * scale + tensors[name + "bias"]
    if kind == "activation":
        return ACTIVATIONS[layer["name"]](h)
    return _unit_rows(h)  # l2_normalize


def _check_spec(quantizer: StoredQuantizer, where: str) -> None:
    """:func:`_check_layers` on a quantizer, the message prefixed with ``where``."""
    try:
        _check_layers(quantizer.codebooks, quantizer.encoder, quantizer.tensors)
        if quantizer.code_biases is not None:
            for level, (bias, codebook) in enumerate(
                zip(quantizer.code_biases, quantizer.codebooks, strict=True)
            ):
                if bias.shape != (codebook.shape[0],):
                    raise InputError(
                        f"code_bias.{level} has shape {bias.shape}, expected ({codebook.shape[0]},)"
                    )
    except InputError as error:
        raise InputError(f"{where}: {error}") from None
    except ValueError:  # zip(strict=True): a bias list of another length
        raise InputError(f"{where}: code_bias tensors for some levels only") from None


def _check_layers(
    codebooks: list[np.ndarray], encoder: list[dict[str, Any]], tensors: dict[str, np.ndarray]
) -> None:
    """InputError unless the layers chain: every codebook (K_l, D) with K_l, D >= 1 and one D;
    every layer of a known type with its tensors; each Linear's input the width before it, its
    bias and every BatchNorm vector that width; the encoder's output D."""
    if not codebooks:
        raise InputError("no codebooks")
    for level, codebook in enumerate(codebooks):
        if codebook.ndim != 2 or 0 in codebook.shape:
            raise InputError(f"codebook.{level} has shape {codebook.shape}, expected (K, D)")
    dims = {c.shape[1] for c in codebooks}
    if len(dims) != 1:
        raise InputError(f"codebooks of different widths {sorted(dims)}")
    width = None  # after the layers so far; None: the embeddings' own
    for index, layer in enumerate(encoder):
        kind = layer.get("type") if isinstance(layer, dict) else None
        if kind not in LAYER_TENSORS:
            raise InputError(f"encoder layer {index} has unknown type {printable(repr(kind), 60)}")
        if kind == "activation" and layer.get("name") not in ACTIVATIONS:
            raise InputError(
                f"activation {printable(repr(layer.get('name')), 60)} is not one of "
                f"{', '.join(ACTIVATIONS)}"
            )
        name = f"encoder.{index}."
        missing = [n for n in LAYER_TENSORS[kind] if name + n not in tensors]
        if missing:
            raise InputError(f"encoder layer {index} ({kind}) lacks {missing}")
        if kind == "linear":
            weight = tensors[name + "weight"]
            if weight.ndim != 2 or 0 in weight.shape:
                raise InputError(f"{name}weight has shape {weight.shape}, expected (out, in)")
            if width is not None and weight.shape[1] != width:
                raise InputError(
                    f"{name}weight takes {weight.shape[1]} inputs, the layer before gives {width}"
                )
            width = weight.shape[0]
        vectors = ["bias"] if kind == "linear" else list(LAYER_TENSORS[kind])
        for vector in (name + n for n in vectors if name + n in tensors):
            if width is None or tensors[vector].shape != (width,):
                raise InputError(f"{vector} has shape {tensors[vector].shape}, expected ({width},)")
    if width is not None and width not in dims:
        raise InputError(f"the encoder gives {width} dimensions, the codebooks have {dims.pop()}")


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(x)
