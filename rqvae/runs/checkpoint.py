"""Checkpoints: one safetensors file holds everything needed to resume or reuse a model.

``checkpoints/<name>.safetensors`` stores, as tensors::

    model.<parameter or buffer>     network weights and quantizer state (codebooks, EMA, windows)
    optimizer.<index>.<key>         AdamW moments and step counts per parameter
    rng.<name>                      random-generator states (torch global, data shuffling)

and, in its string metadata, ``state`` (JSON: epoch, step, wall time, best-checkpoint record,
...) and ``optimizer_groups`` (JSON: the optimizer's hyper-parameters). Because the training
state travels inside the same file as the weights, the single atomic replace of that file is
the commit point: a kill can never pair new weights with old state. ``<name>.json`` is a
readable copy of ``state``, written after it, for people and tools that only want the epoch.

Nothing is ever unpickled: safetensors and JSON only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from rqvae.model.config import config_from_dict
from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.files import atomic_write_json, atomic_write_with, check_regular_file, read_json
from rqvae.model.network import RQVAE
from rqvae.runs.folder import CHECKPOINT_DIR, CONFIG_FILE, Run


@dataclass
class Checkpoint:
    """Contents of one checkpoint file."""

    path: Path
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None  # in torch's ``Optimizer.state_dict()`` layout
    rng_states: dict[str, torch.Tensor]
    state: dict[str, Any]


def checkpoint_path(run_dir: str | Path, which: str) -> Path:
    """``run_dir/checkpoints/<which>.safetensors``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"{which}.safetensors"


def save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    state: dict[str, Any],
    rng_states: dict[str, torch.Tensor] | None = None,
    root: Path | None = None,
) -> None:
    """Write weights, optimizer state, RNG states and ``state`` to ``path`` atomically
    (``root``: the run folder, whose folders down to ``path`` must be real ones)."""
    tensors = {f"model.{k}": v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    metadata = {"state": json.dumps(state)}
    if optimizer is not None:
        saved = optimizer.state_dict()
        for index, per_param in saved["state"].items():
            for key, value in per_param.items():
                if not isinstance(value, torch.Tensor):
                    value = torch.tensor(value)
                tensors[f"optimizer.{index}.{key}"] = value.detach().contiguous().clone()
        metadata["optimizer_groups"] = json.dumps(saved["param_groups"])
    for name, value in (rng_states or {}).items():
        tensors[f"rng.{name}"] = value.contiguous().clone()
    atomic_write_with(path, lambda tmp: save_file(tensors, tmp, metadata=metadata), root=root)
    atomic_write_json(Path(path).with_suffix(".json"), state, root=root)


def load_checkpoint(path: Path, root: Path | None = None) -> Checkpoint:
    """Read a checkpoint file; :class:`InputError` if it is missing, corrupt or truncated, not
    a regular file, or (with ``root``, its run folder) reached through a link."""
    path = Path(path)
    if not os.path.lexists(path):
        raise InputError(f"{path}: checkpoint not found")
    check_regular_file(path, root)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        state = json.loads(metadata["state"])
        groups = metadata.get("optimizer_groups")
        groups = json.loads(groups) if groups is not None else None
    except Exception as error:  # safetensors raises its own error types for damaged files
        raise InputError(f"{path}: corrupt or truncated checkpoint ({error})") from None

    model_state, rng_states, per_param = {}, {}, {}
    for key, value in tensors.items():
        kind, _, name = key.partition(".")
        if kind == "model":
            model_state[name] = value
        elif kind == "rng":
            rng_states[name] = value
        elif kind == "optimizer":
            index, _, field = name.partition(".")
            per_param.setdefault(int(index), {})[field] = value
    optimizer_state = {"state": per_param, "param_groups": groups} if groups is not None else None
    return Checkpoint(path, model_state, optimizer_state, rng_states, state)


def load_weights(model: RQVAE, checkpoint: Checkpoint) -> None:
    """Copy the checkpoint's weights into ``model``; InputError if the shapes do not fit."""
    expected = model.state_dict()
    for name, value in checkpoint.model_state.items():
        if name in expected and expected[name].shape != value.shape:
            raise InputError(
                f"{checkpoint.path}: {name} has shape {tuple(value.shape)}, the run's "
                f"config.json implies {tuple(expected[name].shape)}"
            )
    missing = sorted(set(expected) - set(checkpoint.model_state))
    unexpected = sorted(set(checkpoint.model_state) - set(expected))
    if missing or unexpected:
        raise InputError(
            f"{checkpoint.path}: weights do not match the run's config.json "
            f"(missing: {missing[:3]}, unexpected: {unexpected[:3]})"
        )
    model.load_state_dict(checkpoint.model_state)


def resolve_checkpoint(run_dir: str | Path, which: str = "best") -> Path:
    """The file of checkpoint ``which`` (``best`` or ``last``) of a run.

    ``best`` falls back to ``last`` for runs that have no best checkpoint (yet). Raises
    :class:`DiagnosticUnavailable` when the checkpoint does not exist (a run before its first
    checkpoint has none; that is not a broken run).
    """
    path = checkpoint_path(run_dir, which)
    if which == "best" and not path.exists():
        path = checkpoint_path(run_dir, "last")
    if not path.exists():
        raise DiagnosticUnavailable(
            f"no checkpoint {which!r}: {checkpoint_path(run_dir, which)} does not exist yet"
        )
    return path


def load_model(run_dir: str | Path, checkpoint: str | Path = "best") -> RQVAE:
    """The trained network of a run folder, in eval mode.

    ``checkpoint`` is a checkpoint file, or a name for :func:`resolve_checkpoint`.
    """
    run = Run(run_dir)
    path = (
        Path(checkpoint)
        if isinstance(checkpoint, Path)
        else resolve_checkpoint(run_dir, checkpoint)
    )
    config = config_from_dict(run.config, source=str(run.path / CONFIG_FILE))
    model = RQVAE(config.model)
    load_weights(model, load_checkpoint(path, root=run.path))
    return model.eval()


def checkpoint_state(path: str | Path, root: str | Path | None = None) -> dict:
    """The readable state copy ``<name>.json`` next to a checkpoint file ({} when absent);
    ``root``: the run folder (see :func:`rqvae.files.open_regular`)."""
    state_path = Path(path).with_suffix(".json")
    if not os.path.lexists(state_path):
        return {}
    state = read_json(state_path, root=root)
    return state if isinstance(state, dict) else {}


def best_warning(run_dir: str | Path) -> str | None:
    """A one-line warning when ``best`` holds an epoch that never met the best rule.

    The rule (:mod:`rqvae.training.best_rule`: full codebook usage and a level-0 neighbour lift of at
    least ``best_min_neighbor_lift``) ranks qualifying epochs first; when none qualified,
    ``best`` is merely the highest-ranked of the rest.
    """
    path = checkpoint_path(run_dir, "best")
    record = checkpoint_state(path, root=run_dir).get("best") or {}
    rank = record.get("rank")
    if not isinstance(rank, list) or not rank or rank[0]:
        return None
    return (
        f"{path}: no epoch met the best-checkpoint rule (every code used, level-0 cells that "
        f"group neighbours); best holds epoch {record.get('epoch')}, which did not qualify"
    )
