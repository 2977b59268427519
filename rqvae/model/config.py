"""Settings: what to build (:class:`ModelConfig`) and how to train it (:class:`TrainConfig`).

Every field has a default; ``rqvae train --lr 3e-4`` sets the field of the same name, and a TOML
file may set any field, either in ``[model]`` / ``[train]`` tables or flat at the top level::

    [model]
    codebook_size = 128
    [train]
    epochs = 200

Nothing is executed from config files. ``config.json`` in a run folder holds
``{"model": {...}, "train": {...}}`` as written by :func:`config_to_dict`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

from rqvae.errors import InputError

DISTANCES = ("euclidean", "cosine")
GRADIENT_ESTIMATORS = ("ste", "rotation")


@dataclass
class ModelConfig:
    """The network: MLP encoder/decoder around a residual quantizer."""

    input_dim: int = 0  # embedding dimension; 0 = take it from the embeddings file
    hidden_dims: tuple[int, ...] = (512, 256, 128)  # encoder widths; the decoder mirrors them
    latent_dim: int = 32  # dimension of the quantized latent
    num_levels: int = 3  # stacked codebooks (length of a semantic ID)
    codebook_size: int = 256  # codes per level (K)
    distance: str = "euclidean"  # "euclidean" or "cosine" (codewords kept on the unit sphere)
    # "ste": straight-through; "rotation": rotation trick, https://arxiv.org/abs/2410.06424
    gradient_estimator: str = "rotation"
    ema: bool = False  # update codewords by exponential moving averages instead of gradients
    ema_decay: float = 0.99
    beta: float = 0.25  # commitment weight
    kmeans_init: bool = True  # initialise each level by k-means on the first batch's residuals
    kmeans_iters: int = 25  # Lloyd iterations per level
    kmeans_init_size: int = 8192  # rows of training data in that first batch
    dead_code_window: int = 10  # training steps per usage window
    dead_code_threshold: int = 1  # codes used fewer times than this in a window are reset

    def __post_init__(self) -> None:
        self.hidden_dims = tuple(int(width) for width in self.hidden_dims)


@dataclass
class TrainConfig:
    """The optimisation: AdamW with linear warm-up and cosine decay, and what to record."""

    # Short and gentle on purpose: the unique-ID ratio peaks once the dead-code resets have
    # filled every codebook and then decays as reconstruction keeps improving; the "best"
    # checkpoint keeps that peak and early stopping ends the run soon after. Batch 128 takes
    # 4x the steps of 512 per epoch, and gets there in fewer epochs and seconds: full usage
    # by epoch 16-20 instead of 50-60 on amazon-scientific, and from epoch 1-2 on
    # debian-packages, with a level-0 NMI of 0.44-0.45 instead of 0.42-0.44 (bench/RESULTS.md).
    epochs: int = 80
    batch_size: int = 128
    lr: float = 2e-4  # peak learning rate, reached after the warm-up
    min_lr_fraction: float = 0.05  # the cosine decay ends at lr * min_lr_fraction
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    seed: int = 0
    val_fraction: float = 0.05  # share of items held out for the validation losses
    checkpoint_every: int = 10  # epochs between "last" checkpoints (the final one is always kept)
    eval_sample: int = 100_000  # ID metrics use all items, or this fixed random sample of them
    # The "best" checkpoint (rqvae/training/best_rule.py, README): among epochs whose codebook
    # usage is >= best_min_usage at every level and whose neighbor_lift_l0 is
    # >= best_min_neighbor_lift, the highest best_metric (higher is better), ties broken by the
    # lowest best_tiebreak. Epochs that miss the bars only win while none met them.
    best_metric: str = "unique_id_ratio"
    best_min_usage: float = 1.0
    best_min_neighbor_lift: float = 10.0  # the semantic check (x chance); 0 turns it off
    # Epochs in the first best_after_fraction of training never qualify (0: the semantic check
    # does this job; the rule before it skipped the first 20 %).
    best_after_fraction: float = 0.0
    best_tiebreak: str = "val_loss_total"
    # Early stopping: stop once the best epoch is this many epochs old (0: run every epoch).
    # On both real catalogs (3 seeds each) no later epoch beat the first valid one by more
    # than 0.002 in unique-ID ratio, so 3 epochs of patience lose nothing (bench/RESULTS.md).
    patience: int = 3


@dataclass
class RunConfig:
    """Everything ``rqvae train`` needs besides the data."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# Command-line flag -> (section, field). The flag names are the field names.
OVERRIDE_FIELDS = {
    "epochs": "train",
    "num_levels": "model",
    "codebook_size": "model",
    "beta": "model",
    "lr": "train",
    "batch_size": "train",
    "seed": "train",
    "distance": "model",
    "gradient_estimator": "model",
    "ema": "model",
    "patience": "train",
}


def load_config(toml_path: Path | None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Defaults, then the TOML file (if any), then command-line ``overrides``.

    Raises :class:`InputError` naming the file (or ``command line``) and the offending key for
    an unknown setting, a value of the wrong type, or a value out of range.
    """
    values: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    if toml_path is not None:
        _merge(values, _read_toml(Path(toml_path)), source=str(toml_path))
    for key, value in (overrides or {}).items():
        if key not in OVERRIDE_FIELDS:
            raise InputError(f"command line: unknown setting {key!r}")
        values[OVERRIDE_FIELDS[key]][key] = value
    source = str(toml_path) if toml_path is not None else "command line"
    return _build(values, source)


def config_to_dict(config: RunConfig) -> dict[str, dict[str, Any]]:
    """``{"model": {...}, "train": {...}}`` with JSON-friendly values (tuples become lists)."""
    return {"model": _plain(config.model), "train": _plain(config.train)}


def config_from_dict(data: dict[str, Any], source: str = "config.json") -> RunConfig:
    """Inverse of :func:`config_to_dict`; ``source`` names the file in error messages."""
    values = {"model": {}, "train": {}}
    _merge(values, {k: data.get(k, {}) for k in ("model", "train")}, source=source)
    return _build(values, source)


# --- parsing and checking ---------------------------------------------------------------------


def _plain(settings: ModelConfig | TrainConfig) -> dict[str, Any]:
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dataclasses.asdict(settings).items()
    }


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{path}: config file not found")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not valid TOML ({error})") from None


def _merge(values: dict[str, dict[str, Any]], data: dict[str, Any], source: str) -> None:
    """Sort ``data`` (tables or flat keys) into ``values["model"]`` / ``values["train"]``."""
    fields = {name: {f.name for f in dataclasses.fields(cls)} for name, cls in _SECTIONS.items()}
    for key, value in data.items():
        if key in fields and isinstance(value, dict):
            for inner, inner_value in value.items():
                if inner not in fields[key]:
                    raise InputError(f"{source}: unknown setting {key}.{inner!r}")
                values[key][inner] = inner_value
            continue
        section = next((name for name, names in fields.items() if key in names), None)
        if section is None:
            raise InputError(f"{source}: unknown setting {key!r}")
        values[section][key] = value


def _build(values: dict[str, dict[str, Any]], source: str) -> RunConfig:
    sections = {}
    for name, cls in _SECTIONS.items():
        defaults = cls()
        for key, value in values[name].items():
            values[name][key] = _coerce(value, getattr(defaults, key), f"{source}: {name}.{key}")
        sections[name] = cls(**values[name])
    config = RunConfig(**sections)
    _check_ranges(config, source)
    return config


def _coerce(value: Any, default: Any, where: str) -> Any:
    """Check ``value`` has the type of the field's default; ints are accepted for floats."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: expected an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
        ):
            raise InputError(f"{where}: expected a list of positive integers, got {value!r}")
        return tuple(value)
    if not isinstance(value, str):
        raise InputError(f"{where}: expected a string, got {value!r}")
    return value


def _check_ranges(config: RunConfig, source: str) -> None:
    model, train = config.model, config.train
    # NaN passes every comparison below and inf passes most; neither is a setting, and both
    # would end in a non-finite loss (and a config.json that is not valid JSON).
    for name, section in (("model", model), ("train", train)):
        for key, value in dataclasses.asdict(section).items():
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError(f"{source}: {name}.{key} = {value!r} must be a finite number")
    checks = [
        ("model.input_dim", model.input_dim >= 0, "must be >= 0"),
        ("model.latent_dim", model.latent_dim >= 1, "must be >= 1"),
        ("model.num_levels", model.num_levels >= 1, "must be >= 1"),
        ("model.codebook_size", model.codebook_size >= 2, "must be >= 2"),
        ("model.distance", model.distance in DISTANCES, f"must be one of {DISTANCES}"),
        (
            "model.gradient_estimator",
            model.gradient_estimator in GRADIENT_ESTIMATORS,
            f"must be one of {GRADIENT_ESTIMATORS}",
        ),
        ("model.ema_decay", 0.0 < model.ema_decay < 1.0, "must be in (0, 1)"),
        ("model.beta", model.beta >= 0.0, "must be >= 0"),
        ("model.kmeans_iters", model.kmeans_iters >= 0, "must be >= 0"),
        ("model.kmeans_init_size", model.kmeans_init_size >= 1, "must be >= 1"),
        ("model.dead_code_window", model.dead_code_window >= 0, "must be >= 0 (0 = never)"),
        ("model.dead_code_threshold", model.dead_code_threshold >= 0, "must be >= 0"),
        ("train.epochs", train.epochs >= 1, "must be >= 1"),
        ("train.batch_size", train.batch_size >= 1, "must be >= 1"),
        ("train.lr", train.lr > 0.0, "must be > 0"),
        ("train.min_lr_fraction", 0.0 <= train.min_lr_fraction <= 1.0, "must be in [0, 1]"),
        ("train.warmup_steps", train.warmup_steps >= 0, "must be >= 0"),
        ("train.weight_decay", train.weight_decay >= 0.0, "must be >= 0"),
        ("train.grad_clip", train.grad_clip >= 0.0, "must be >= 0"),
        ("train.val_fraction", 0.0 <= train.val_fraction < 1.0, "must be in [0, 1)"),
        ("train.checkpoint_every", train.checkpoint_every >= 1, "must be >= 1"),
        ("train.eval_sample", train.eval_sample >= 1, "must be >= 1"),
        ("train.best_min_usage", 0.0 <= train.best_min_usage <= 1.0, "must be in [0, 1]"),
        ("train.best_after_fraction", 0.0 <= train.best_after_fraction < 1.0, "must be in [0, 1)"),
        (
            "train.best_min_neighbor_lift",
            train.best_min_neighbor_lift >= 0.0,
            "must be >= 0 (0 = no semantic check)",
        ),
        ("train.patience", train.patience >= 0, "must be >= 0 (0 = never stop early)"),
        # numpy's and torch's generators take seeds in [0, 2^32) and [0, 2^64)
        ("train.seed", 0 <= train.seed < 2**32, "must be in [0, 2^32)"),
    ]
    for name, ok, requirement in checks:
        if not ok:
            value = getattr(getattr(config, name.split(".")[0]), name.split(".")[1])
            raise InputError(f"{source}: {name} = {value!r} {requirement}")


_SECTIONS = {"model": ModelConfig, "train": TrainConfig}
