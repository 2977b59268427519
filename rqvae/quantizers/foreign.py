"""Quantizers rebuilt from other codebases' checkpoints, from tensors and saved settings only.

No class of those codebases is imported or reconstructed (their code is not installed, and
RQ-VAE-Recommender's class re-runs k-means when built). Each format reader maps a state dict
onto a :class:`~rqvae.quantizers.stored.StoredQuantizer`: an encoder as a list of layers
(linear, batchnorm, activation, l2_normalize) and the codebooks. Facts per format (keys,
activations, normalisations) are in ``../shared/checkpoint-formats.md``; in short:

=================  ==========================================  ==============================
format             detected by                                 not in the tensors
=================  ==========================================  ==============================
lcrec              ``rq.vq_layers.{l}.embedding.weight``       activation (ReLU)
rqvae-recommender  ``layers.{l}.embedding.weight`` +           activation (SiLU), codebook
                   ``encoder.mlp.{j}.weight``                  normalisation (model_config)
semantic-ids-llm   ``vq_layers.{l}.embedding.weight``          activation (SiLU)
grid               ``quantization_layer_list.{l}.centroids``   residual normalisation
codebooks          a ``.npy`` (L, K, d) or ``.safetensors``    the encoder (``--encoder``),
                   stack (``codebook.{l}`` or one 3-D tensor)  activation (ReLU)
=================  ==========================================  ==============================

Settings come from the checkpoint's saved config when it has them, else from the caller
(``--activation``, ``--codebook-normalize``, ``--normalize-residuals``), else the default the
codebase's own training code uses; :class:`ForeignQuantizer` records which.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rqvae.errors import InputError
from rqvae.quantizers.stored import StoredQuantizer

FORMATS = ("lcrec", "rqvae-recommender", "semantic-ids-llm", "grid", "codebooks")
STACK_SUFFIXES = (".npy", ".safetensors")  # plain codebook stacks, read without torch.load
DEFAULT_ACTIVATION = {"lcrec": "relu", "rqvae-recommender": "silu", "semantic-ids-llm": "silu"}


@dataclass
class ForeignQuantizer:
    """A rebuilt quantizer and how it was read.

    settings : every setting that is not in the tensors, with ``settings_from`` saying for each
    whether it came from the checkpoint's config, a flag, or the codebase's default.
    """

    format: str
    quantizer: StoredQuantizer
    settings: dict[str, Any] = field(default_factory=dict)
    settings_from: dict[str, str] = field(default_factory=dict)


def detect_format(state: Mapping[str, Any]) -> str:
    """The format whose keys ``state`` (a state dict) holds; InputError when none does."""
    keys = list(state)
    if any(re.search(r"(^|\.)quantization_layer_list\.\d+\.centroids$", k) for k in keys):
        return "grid"
    if any(re.fullmatch(r"codebook\.\d+", k) for k in keys):
        return "codebooks"
    if any(re.fullmatch(r"rq\.vq_layers\.\d+\.embedding\.weight", k) for k in keys):
        return "lcrec"
    if any(re.fullmatch(r"(_orig_mod\.)?vq_layers\.\d+\.embedding\.weight", k) for k in keys):
        return "semantic-ids-llm"
    if any(re.fullmatch(r"layers\.\d+\.embedding\.weight", k) for k in keys):
        return "rqvae-recommender"
    shown = ", ".join(keys[:8])
    raise InputError(f"no known RQ-VAE checkpoint format: its tensors are {shown} ...")


def split_checkpoint(loaded: Any) -> tuple[dict[str, torch.Tensor], Any]:
    """``(state dict, saved config or None)`` of a loaded checkpoint of any of the formats."""
    if not isinstance(loaded, Mapping):
        raise InputError(f"expected a dict saved by torch.save, found {type(loaded).__name__}")
    for state_key, config_key in (
        ("state_dict", "args"),  # LC-Rec / LETTER / MiniOneRec
        ("model", "model_config"),  # RQ-VAE-Recommender
        ("model_state_dict", "config"),  # semantic-ids-llm
        ("state_dict", "hyper_parameters"),  # GRID (Lightning)
    ):
        if isinstance(loaded.get(state_key), Mapping) and (
            config_key in loaded or state_key == "state_dict"
        ):
            state = loaded[state_key]
            config = loaded.get(config_key, loaded.get("hyper_parameters"))
            return _tensors(state), config
    if all(isinstance(value, torch.Tensor) for value in loaded.values()):
        return _tensors(loaded), None  # a bare state dict
    raise InputError(f"found no state dict among the checkpoint's keys {sorted(loaded)[:10]}")


def rebuild(
    state: Mapping[str, torch.Tensor],
    config: Any,
    format: str = "auto",
    *,
    activation: str | None = None,
    codebook_normalize: bool | None = None,
    normalize_residuals: bool | None = None,
) -> ForeignQuantizer:
    """Rebuild the quantizer of one checkpoint (flags given as None defer to config/default)."""
    format = detect_format(state) if format == "auto" else format
    if format not in FORMATS:
        raise InputError(f"unknown --format {format!r}; one of {', '.join(FORMATS)} or auto")
    settings = _Settings(config)
    reader: Callable[..., ForeignQuantizer] = {
        "lcrec": _lcrec,
        "rqvae-recommender": _rqvae_recommender,
        "semantic-ids-llm": _semantic_ids_llm,
        "grid": _grid,
        "codebooks": _codebooks,
    }[format]
    flags = {
        "activation": activation,
        "codebook_normalize": codebook_normalize,
        "normalize_residuals": normalize_residuals,
    }
    result = reader(state, settings, flags)
    result.format = format
    return result


# --- formats ---------------------------------------------------------------------------------


def _lcrec(state, settings, flags) -> ForeignQuantizer:
    activation = settings.pick("activation", flags["activation"], DEFAULT_ACTIVATION["lcrec"])
    codebooks = _numbered(state, r"rq\.vq_layers\.(\d+)\.embedding\.weight")
    encoder, tensors = _mlp(state, r"encoder\.mlp_layers\.(\d+)\.", activation)
    return settings.result("lcrec", StoredQuantizer(codebooks, encoder=encoder, tensors=tensors))


def _rqvae_recommender(state, settings, flags) -> ForeignQuantizer:
    default_activation = DEFAULT_ACTIVATION["rqvae-recommender"]
    activation = settings.pick("activation", flags["activation"], default_activation)
    normalize = bool(
        settings.pick(
            "codebook_normalize", flags["codebook_normalize"], False, key="codebook_normalize"
        )
    )
    codebooks = []
    for level, embedding in enumerate(_numbered(state, r"layers\.(\d+)\.embedding\.weight")):
        projection = state.get(f"layers.{level}.out_proj.0.weight")
        if projection is not None:  # codebook_sim_vq: the codebook used is out_proj(embedding)
            embedding = embedding @ projection.numpy().T
            bias = state.get(f"layers.{level}.out_proj.0.bias")
            embedding = embedding + bias.numpy() if bias is not None else embedding
        codebooks.append(embedding)
    encoder, tensors = _mlp(state, r"encoder\.mlp\.(\d+)\.", activation)
    if normalize:  # codebook_normalize: unit encoder outputs and a unit level-0 codebook
        encoder.append({"type": "l2_normalize"})
        codebooks[0] = codebooks[0] / np.maximum(
            np.linalg.norm(codebooks[0], axis=1, keepdims=True), 1e-12
        )
    quantizer = StoredQuantizer(codebooks, encoder=encoder, tensors=tensors)
    return settings.result("rqvae-recommender", quantizer)


def _semantic_ids_llm(state, settings, flags) -> ForeignQuantizer:
    state = {k.removeprefix("_orig_mod."): v for k, v in state.items()}
    default_activation = DEFAULT_ACTIVATION["semantic-ids-llm"]
    activation = settings.pick("activation", flags["activation"], default_activation)
    codebooks = _numbered(state, r"vq_layers\.(\d+)\.embedding\.weight")
    encoder, tensors = _mlp(state, r"encoder\.(\d+)\.", activation)
    quantizer = StoredQuantizer(codebooks, encoder=encoder, tensors=tensors)
    return settings.result("semantic-ids-llm", quantizer)


def _grid(state, settings, flags) -> ForeignQuantizer:
    normalize = bool(settings.pick("normalize_residuals", flags["normalize_residuals"], True))
    kept = {k: v for k, v in state.items() if "initializer" not in k}
    codebooks = _numbered(kept, r"(?:.*\.)?quantization_layer_list\.(\d+)\.centroids")
    quantizer = StoredQuantizer(codebooks, normalize_residuals=normalize)
    return settings.result("grid", quantizer)


def _codebooks(state, settings, flags) -> ForeignQuantizer:
    codebooks = _numbered(state, r"codebook\.(\d+)")
    encoder, tensors = [], {}
    if any(key.startswith("encoder.") for key in state):
        activation = settings.pick("activation", flags["activation"], "relu")
        encoder, tensors = _mlp(state, r"encoder\.(?:mlp\.)?(\d+)\.", activation)
    normalize = bool(settings.pick("normalize_residuals", flags["normalize_residuals"], False))
    quantizer = StoredQuantizer(
        codebooks, encoder=encoder, tensors=tensors, normalize_residuals=normalize
    )
    return settings.result("codebooks", quantizer)


def read_codebook_stack(path: Path, encoder: Path | None = None) -> dict[str, torch.Tensor]:
    """A plain codebook stack as a state dict ``codebook.{l}`` (+ ``encoder.{i}.weight/bias``).

    path : ``.npy`` holding one (L, K, d) array (never unpickled), or ``.safetensors`` holding
    ``codebook.{l}`` tensors or one 3-D tensor. encoder : optional ``.safetensors`` with the
    encoder's Linear layers as ``{i}.weight`` / ``{i}.bias`` (``nn.Sequential`` numbering,
    ``encoder.`` prefix allowed). InputError naming the file when it is not such a stack.
    """
    from safetensors.torch import load_file

    path = Path(path)
    try:
        if path.suffix == ".npy":
            stack = {"": torch.from_numpy(np.load(path, allow_pickle=False))}
        else:
            stack = load_file(str(path))
    except Exception as error:  # numpy and safetensors raise their own types for damage
        raise InputError(f"{path}: not a readable codebook stack ({error})") from None
    state = {k: v for k, v in stack.items() if re.fullmatch(r"codebook\.\d+", k)}
    if not state:
        arrays = [v for v in stack.values() if v.ndim == 3]
        if len(arrays) != 1:
            shapes = {k: tuple(v.shape) for k, v in stack.items()}
            raise InputError(f"{path}: expected a (levels, K, d) array, found {shapes}")
        state = {f"codebook.{level}": c for level, c in enumerate(arrays[0].float())}
    if encoder is not None:
        try:
            layers = load_file(str(encoder))
        except Exception as error:  # safetensors raises its own types for damage
            raise InputError(f"{encoder}: not a readable safetensors file ({error})") from None
        state.update({f"encoder.{k.removeprefix('encoder.')}": v for k, v in layers.items()})
    return _tensors(state)


# --- helpers ---------------------------------------------------------------------------------


class _Settings:
    """Reads settings from a saved config (Namespace, dict, or a placeholder) and records where
    each value came from."""

    def __init__(self, config: Any):
        if isinstance(config, Mapping):
            self.values = dict(config)
        else:
            self.values = dict(getattr(config, "__dict__", {}) or {})
        self.chosen: dict[str, Any] = {}
        self.origin: dict[str, str] = {}

    def pick(self, name: str, flag: Any, default: Any, key: str | None = None) -> Any:
        key = key or name
        saved = self.values.get(key)
        if flag is not None:
            value, origin = flag, "flag"
        elif isinstance(saved, bool | str | int | float) and saved != "":
            value, origin = saved, "checkpoint config"
        else:
            value, origin = default, "default"
        self.chosen[name], self.origin[name] = value, origin
        return value

    def result(self, format: str, quantizer: StoredQuantizer) -> ForeignQuantizer:
        return ForeignQuantizer(format, quantizer, dict(self.chosen), dict(self.origin))


def _tensors(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    return {
        str(k): v.detach().to(torch.float32) if v.is_floating_point() else v
        for k, v in state.items()
        if isinstance(v, torch.Tensor)
    }


def _numbered(state: Mapping[str, torch.Tensor], pattern: str) -> list[np.ndarray]:
    """Tensors whose key matches ``pattern`` (one group: the level), by level, as float32."""
    found = {}
    for key, tensor in state.items():
        match = re.fullmatch(pattern, key)
        if match:
            found[int(match.group(1))] = tensor.numpy().astype(np.float32)
    if not found or sorted(found) != list(range(len(found))):
        raise InputError(f"codebooks matching {pattern!r}: found levels {sorted(found)}")
    return [found[level] for level in range(len(found))]


def _mlp(
    state: Mapping[str, torch.Tensor], prefix: str, activation: str
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """An MLP stored as numbered modules under ``prefix``: Linear (2-D weight) or BatchNorm
    (``running_mean``), in index order; ``activation`` after every Linear (and its BatchNorm)
    but the last, as in every format here."""
    modules: dict[int, dict[str, np.ndarray]] = {}
    for key, tensor in state.items():
        match = re.match(prefix + r"(\w+)$", key)
        if match:
            modules.setdefault(int(match.group(1)), {})[match.group(2)] = tensor.numpy()
    if not modules:
        raise InputError(f"no encoder layers matching {prefix!r}")
    linear = [i for i in sorted(modules) if modules[i].get("weight", np.empty(0)).ndim == 2]
    encoder: list[dict] = []
    tensors: dict[str, np.ndarray] = {}
    for index in sorted(modules):
        parts = modules[index]
        position = len(encoder)
        if index in linear:
            encoder.append({"type": "linear"})
            tensors[f"encoder.{position}.weight"] = parts["weight"]
            if "bias" in parts:
                tensors[f"encoder.{position}.bias"] = parts["bias"]
        elif "running_mean" in parts:
            encoder.append({"type": "batchnorm", "eps": 1e-5})
            for name in ("running_mean", "running_var", "weight", "bias"):
                tensors[f"encoder.{position}.{name}"] = parts[name]
        else:
            continue
        following = [i for i in sorted(modules) if i > index]
        next_is_norm = bool(following) and "running_mean" in modules[following[0]]
        more_linear = any(i > index for i in linear)
        if more_linear and not next_is_norm:
            encoder.append({"type": "activation", "name": activation})
    return encoder, tensors
