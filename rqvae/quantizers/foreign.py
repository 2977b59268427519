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

Settings come from the caller (``--activation``, ``--codebook-normalize``,
``--normalize-residuals``), else the checkpoint's saved config, else other evidence in the file
(the importer reads the activation from a pickled module tree), else the default the codebase's
own training code uses; :class:`ForeignQuantizer` records which. Saved values are parsed
strictly (a boolean must be true or false, an activation one of
:data:`~rqvae.quantizers.stored.ACTIVATIONS`). Where that default changed across the codebase's
history (:data:`CHANGED_DEFAULTS`) and nothing in the file decides, the result carries a
warning naming the flag to set. The tensors themselves are checked by
:mod:`rqvae.quantizers.foreign_layers`.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rqvae.errors import InputError, printable
from rqvae.quantizers.foreign_layers import RefusedTensor, describe, mlp, numbered, weights
from rqvae.quantizers.stored import ACTIVATIONS, StoredQuantizer

FORMATS = ("lcrec", "rqvae-recommender", "semantic-ids-llm", "grid", "codebooks")
STACK_SUFFIXES = (".npy", ".safetensors")  # plain codebook stacks, read without torch.load
DEFAULT_ACTIVATION = {"lcrec": "relu", "rqvae-recommender": "silu", "semantic-ids-llm": "silu"}
# Defaults that differ between versions of a codebase: guessing one silently gives wrong IDs.
CHANGED_DEFAULTS = {
    ("rqvae-recommender", "activation"): (
        "RQ-VAE-Recommender's encoder used SiLU from Oct 2024 to Mar 2026 (its published "
        "checkpoints) and ReLU before and after"
    ),
}
FLAGS = {
    "activation": "--activation relu|silu",
    "codebook_normalize": "--codebook-normalize / --no-codebook-normalize",
    "normalize_residuals": "--normalize-residuals / --no-normalize-residuals",
}


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
    warnings: list[str] = field(default_factory=list)  # settings the file did not decide


def detect_format(state: Mapping[str, Any]) -> str:
    """The format whose keys ``state`` (a state dict) holds; InputError when none does."""
    keys = [key for key in state if isinstance(key, str)]
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
    shown = ", ".join(printable(key, 80) for key in keys[:8])
    raise InputError(f"no known RQ-VAE checkpoint format: its tensors are {shown} ...")


def split_checkpoint(loaded: Any) -> tuple[dict[str, Any], Any]:
    """``(state dict, saved config or None)`` of a loaded checkpoint of any of the formats.

    The state dict's values are returned as saved (tensors, :class:`RefusedTensor` markers or
    anything else): each reader checks the ones it uses. Its keys must all be strings.
    """
    if not isinstance(loaded, Mapping):
        raise InputError(f"expected a dict saved by torch.save, found {describe(loaded)}")
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
            return _string_keys(state, state_key), config
    if loaded and all(_is_tensor(value) for value in loaded.values()):
        return _string_keys(loaded, "checkpoint"), None  # a bare state dict
    shown = ", ".join(printable(key, 40) for key in list(loaded)[:10])
    raise InputError(f"found no state dict among the checkpoint's keys {shown}")


def _is_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor | RefusedTensor)


def _string_keys(state: Mapping, where: str) -> dict[str, Any]:
    for key in state:
        if not isinstance(key, str):
            raise InputError(
                f"the {where} state dict has a key {printable(key, 60)} of type "
                f"{type(key).__name__}; state dict keys are parameter names (strings)"
            )
    return dict(state)


def rebuild(
    state: Mapping[str, torch.Tensor],
    config: Any,
    format: str = "auto",
    *,
    activation: str | None = None,
    codebook_normalize: bool | None = None,
    normalize_residuals: bool | None = None,
    evidence: Mapping[str, tuple[str, str]] | None = None,
) -> ForeignQuantizer:
    """Rebuild the quantizer of one checkpoint (flags given as None defer to config/default).

    evidence : settings read from elsewhere in the file, ``{name: (value, where)}``, e.g.
    ``{"activation": ("relu", "the checkpoint's module tree")}``; used after a flag and the
    saved config, before the default.
    """
    format = detect_format(state) if format == "auto" else format
    if format not in FORMATS:
        raise InputError(f"unknown --format {format!r}; one of {', '.join(FORMATS)} or auto")
    settings = _Settings(config, format, evidence or {})
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
    activation = settings.activation(flags["activation"], DEFAULT_ACTIVATION["lcrec"])
    codebooks = numbered(state, r"rq\.vq_layers\.(\d+)\.embedding\.weight")
    encoder, tensors = mlp(state, r"encoder\.mlp_layers\.(\d+)\.", activation)
    return settings.result("lcrec", StoredQuantizer(codebooks, encoder=encoder, tensors=tensors))


def _rqvae_recommender(state, settings, flags) -> ForeignQuantizer:
    default_activation = DEFAULT_ACTIVATION["rqvae-recommender"]
    activation = settings.activation(flags["activation"], default_activation)
    normalize = settings.boolean("codebook_normalize", flags["codebook_normalize"], False)
    codebooks = []
    for level, embedding in enumerate(numbered(state, r"layers\.(\d+)\.embedding\.weight")):
        key = f"layers.{level}.out_proj.0."
        if key + "weight" in state:  # codebook_sim_vq: the codebook used is out_proj(embedding)
            projection = weights(key + "weight", state[key + "weight"])
            if projection.ndim != 2 or projection.shape[1] != embedding.shape[1]:
                raise InputError(
                    f"{key}weight has shape {projection.shape}; it projects the "
                    f"{embedding.shape[1]}-wide codebook, so expected (D_out, {embedding.shape[1]})"
                )
            embedding = embedding @ projection.T
            if key + "bias" in state:
                bias = weights(key + "bias", state[key + "bias"])
                if bias.shape != (projection.shape[0],):
                    raise InputError(
                        f"{key}bias has shape {bias.shape}, expected ({projection.shape[0]},)"
                    )
                embedding = embedding + bias
        codebooks.append(embedding)
    encoder, tensors = mlp(state, r"encoder\.mlp\.(\d+)\.", activation)
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
    activation = settings.activation(flags["activation"], default_activation)
    codebooks = numbered(state, r"vq_layers\.(\d+)\.embedding\.weight")
    encoder, tensors = mlp(state, r"encoder\.(\d+)\.", activation)
    quantizer = StoredQuantizer(codebooks, encoder=encoder, tensors=tensors)
    return settings.result("semantic-ids-llm", quantizer)


def _grid(state, settings, flags) -> ForeignQuantizer:
    normalize = settings.boolean("normalize_residuals", flags["normalize_residuals"], True)
    kept = {k: v for k, v in state.items() if "initializer" not in k}
    codebooks = numbered(kept, r"(?:.*\.)?quantization_layer_list\.(\d+)\.centroids")
    quantizer = StoredQuantizer(codebooks, normalize_residuals=normalize)
    return settings.result("grid", quantizer)


def _codebooks(state, settings, flags) -> ForeignQuantizer:
    codebooks = numbered(state, r"codebook\.(\d+)")
    encoder, tensors = [], {}
    if any(key.startswith("encoder.") for key in state):
        activation = settings.activation(flags["activation"], "relu")
        encoder, tensors = mlp(state, r"encoder\.(?:mlp\.)?(\d+)\.", activation)
    normalize = settings.boolean("normalize_residuals", flags["normalize_residuals"], False)
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
    for given in (path, encoder):
        if given is not None:
            _require_regular_file(Path(given))
    try:
        if path.suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            stack = {"": torch.from_numpy(array.astype(array.dtype.newbyteorder("=")))}
        else:
            stack = load_file(str(path))
    except Exception as error:  # numpy and safetensors raise their own types for damage
        raise InputError(f"{path}: not a readable codebook stack ({printable(error)})") from None
    state = {k: v for k, v in stack.items() if re.fullmatch(r"codebook\.\d+", k)}
    if not state:
        arrays = [v for v in stack.values() if v.ndim == 3]
        if len(arrays) != 1:
            shapes = {k: tuple(v.shape) for k, v in stack.items()}
            raise InputError(f"{path}: expected a (levels, K, d) array, found {printable(shapes)}")
        state = {f"codebook.{level}": c for level, c in enumerate(arrays[0])}
    if encoder is not None:
        try:
            layers = load_file(str(encoder))
        except Exception as error:  # safetensors raises its own types for damage
            problem = printable(error)
            raise InputError(f"{encoder}: not a readable safetensors file ({problem})") from None
        state.update({f"encoder.{k.removeprefix('encoder.')}": v for k, v in layers.items()})
    return state


def _require_regular_file(path: Path) -> None:
    try:
        info = path.stat()
    except OSError:
        raise InputError(f"{path}: file not found") from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read, /dev/zero never end
        raise InputError(f"{path}: not a regular file")


# --- helpers ---------------------------------------------------------------------------------


class _Settings:
    """Reads settings from a saved config (Namespace, dict, or a placeholder) and records where
    each value came from, and a warning where the file did not decide a changed default."""

    def __init__(self, config: Any, format: str, evidence: Mapping[str, tuple[str, str]]):
        if isinstance(config, Mapping):
            self.values = dict(config)
        else:
            self.values = dict(getattr(config, "__dict__", {}) or {})
        self.format, self.evidence = format, evidence
        self.chosen: dict[str, Any] = {}
        self.origin: dict[str, str] = {}
        self.warnings: list[str] = []

    def saved(self, key: str) -> Any:
        value = self.values.get(key)
        return None if value is None or (isinstance(value, str) and value == "") else value

    def boolean(self, name: str, flag: bool | None, default: bool) -> bool:
        """A true/false setting: a saved value must be a boolean (or 0 / 1), nothing else."""
        saved = self.saved(name)
        if flag is None and saved is not None:
            if isinstance(saved, bool | np.bool_) or (type(saved) is int and saved in (0, 1)):
                saved = bool(saved)
            else:
                raise InputError(
                    f"saved config {name} is {printable(repr(saved), 60)}, not true or false; "
                    f"set {FLAGS[name]} to decide"
                )
        return self._choose(name, flag, saved, default)

    def activation(self, flag: str | None, default: str) -> str:
        """The encoder's activation: a saved or evidenced name must be one the workbench has."""
        saved = self.saved("activation")
        saved = saved.lower() if isinstance(saved, str) else saved
        found = self.evidence.get("activation")  # (name, where it was found) or None
        if flag is None and saved is not None and saved not in ACTIVATIONS:
            raise InputError(
                f"saved config activation is {printable(repr(saved), 60)}, which the workbench "
                f"cannot rebuild ({', '.join(ACTIVATIONS)}); set {FLAGS['activation']} to decide"
            )
        if flag is None and saved is None and found is not None:
            if found[0] not in ACTIVATIONS:
                raise InputError(
                    f"{found[1]} names {printable(found[0], 60)} as the encoder's activation, "
                    f"which the workbench cannot rebuild ({', '.join(ACTIVATIONS)})"
                )
            self.chosen["activation"], self.origin["activation"] = found
            return found[0]
        if found is not None and found[0] != (flag or saved):
            chosen = f"--activation {flag}" if flag else f"the saved config's {saved}"
            self.warnings.append(
                f"{chosen} is used, but {found[1]} names {printable(found[0], 60)} for the encoder"
            )
        return self._choose("activation", flag, saved, default)

    def _choose(self, name: str, flag: Any, saved: Any, default: Any) -> Any:
        if flag is not None:
            value, origin = flag, "flag"
        elif saved is not None:
            value, origin = saved, "checkpoint config"
        else:
            value, origin = default, "default"
            history = CHANGED_DEFAULTS.get((self.format, name))
            if history:
                self.warnings.append(
                    f"the checkpoint does not say which {name} it uses, and {history}; assumed "
                    f"{value}: if its IDs look wrong (compare them with --ids), import again "
                    f"with {FLAGS[name]}"
                )
        self.chosen[name], self.origin[name] = value, origin
        return value

    def result(self, format: str, quantizer: StoredQuantizer) -> ForeignQuantizer:
        return ForeignQuantizer(
            format, quantizer, dict(self.chosen), dict(self.origin), list(self.warnings)
        )
