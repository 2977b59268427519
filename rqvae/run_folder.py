"""The bookkeeping of a training run's folder: checks, config.json, status.json, metrics.jsonl.

The trainer calls these so that its own module stays the loop. Every check that can fail on
user input runs before :func:`prepare_run_folder` writes the first file.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from rqvae.checkpoint import Checkpoint, checkpoint_path, load_checkpoint
from rqvae.config import RunConfig, TrainConfig, config_to_dict
from rqvae.embeddings import EmbeddingsFile, sha256_of
from rqvae.errors import InputError
from rqvae.runs import (
    CONFIG_FILE,
    ITEMS_FILE,
    METRICS_FILE,
    STATUS_FILE,
    append_jsonl,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    now_iso,
    read_json,
)

if TYPE_CHECKING:
    from rqvae.catalog import CatalogSpec


def metric_keys(num_levels: int) -> list[str]:
    """Every key of a ``metrics.jsonl`` line, in the order they are written."""

    def per_level(*names: str) -> list[str]:
        return [f"{name}_l{level}" for name in names for level in range(num_levels)]

    return [
        "epoch", "step", "lr", "loss_total", "loss_recon",
        *per_level("loss_codebook", "loss_commit", "dead_codes_reset"),
        "grad_norm", "val_loss_total", "val_loss_recon", "unique_id_ratio",
        *per_level("residual_norm", "codebook_usage", "perplexity"),
        "samples_per_s", "wall_time_s",
    ]  # fmt: skip


# --- checks -----------------------------------------------------------------------------------


def check_best_rule(config: RunConfig) -> None:
    """The best-checkpoint rule must name metrics that exist."""
    keys = metric_keys(config.model.num_levels)
    for name in ("best_metric", "best_tiebreak"):
        value = getattr(config.train, name)
        if value not in keys:
            raise InputError(f"train.{name} = {value!r} is not a metric; choose from {keys}")


def load_items(catalog: CatalogSpec | None, embeddings: EmbeddingsFile) -> pd.DataFrame | None:
    """The normalised catalog, checked to describe the same rows as the embeddings."""
    if catalog is None:
        return None
    from rqvae.catalog import load_catalog

    items = load_catalog(catalog)
    if len(items) != embeddings.n_items:
        raise InputError(
            f"{catalog.path}: catalog has {len(items)} items but {embeddings.path} has "
            f"{embeddings.n_items} rows; the embeddings must be made from this catalog"
        )
    if embeddings.item_ids is not None:
        pairs = zip(items["item_id"].astype(str), embeddings.item_ids, strict=True)
        mismatch = [row for row, (ours, theirs) in enumerate(pairs) if ours != theirs]
        if mismatch:
            raise InputError(
                f"{catalog.path}: item ids differ from those in the sidecar of {embeddings.path} "
                f"(first at row {mismatch[0]}: {items['item_id'].iloc[mismatch[0]]!r} vs "
                f"{embeddings.item_ids[mismatch[0]]!r})"
            )
    return items


def read_previous_run(
    out_dir: Path, config: RunConfig, embeddings: EmbeddingsFile
) -> Checkpoint | None:
    """For ``--resume``: check the run matches these settings and data; load its last checkpoint.

    Returns None when the run was stopped before its first checkpoint (it restarts from scratch).
    """
    if not (out_dir / CONFIG_FILE).exists():
        raise InputError(f"{out_dir}: nothing to resume (no {CONFIG_FILE}); drop --resume")
    saved = read_json(out_dir / CONFIG_FILE)
    saved_dim = saved.get("model", {}).get("input_dim")
    if saved_dim != embeddings.dim:
        raise InputError(
            f"{embeddings.path}: embeddings have dimension {embeddings.dim}, but the checkpoint "
            f"in {out_dir} expects {saved_dim}"
        )
    changes = _differences(saved, config_to_dict(config))
    data = saved.get("data", {})
    if data.get("embeddings_sha256") != sha256_of(embeddings.path):
        changes.append(f"embeddings file content ({embeddings.path})")
    if changes:
        raise InputError(
            f"{out_dir / CONFIG_FILE}: --resume with a changed config: {'; '.join(changes)}. "
            f"Resume with the original settings, or train into a new --out folder"
        )
    path = checkpoint_path(out_dir, "last")
    if not path.exists():
        return None
    previous = load_checkpoint(path)
    if previous.optimizer_state is None or "shuffle" not in previous.rng_states:
        raise InputError(f"{path}: not a resumable checkpoint (no optimizer or RNG state)")
    return previous


def _differences(saved: dict, current: dict) -> list[str]:
    changes = []
    for section in ("model", "train"):
        before, after = saved.get(section, {}), current[section]
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                changes.append(f"{section}.{key} {before.get(key)!r} -> {after.get(key)!r}")
    return changes


# --- writing ----------------------------------------------------------------------------------


def prepare_run_folder(
    out_dir: Path,
    config: RunConfig,
    embeddings: EmbeddingsFile,
    catalog: CatalogSpec | None,
    items: pd.DataFrame | None,
    fresh: bool,
) -> None:
    """Write ``config.json`` (and ``items.parquet``); ``fresh`` requires an unused folder."""
    if fresh and out_dir.exists():
        if (out_dir / CONFIG_FILE).exists():
            raise InputError(
                f"{out_dir}: already holds a run; pass --resume to continue it, or choose "
                f"another --out"
            )
        if any(out_dir.iterdir()):
            raise InputError(f"{out_dir}: folder exists and is not empty; choose another --out")
    if embeddings.item_ids is not None and items is None:
        ids_source = "sidecar"
    else:
        ids_source = "catalog" if items is not None else "row_number"
    document = {
        "kind": "trained",
        "created": now_iso(),
        **config_to_dict(config),
        "data": {
            "embeddings": str(embeddings.path.resolve()),
            "embeddings_sha256": sha256_of(embeddings.path),
            "n_items": embeddings.n_items,
            "dim": embeddings.dim,
            "catalog": _spec_dict(catalog),
            "item_ids": ids_source,
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / CONFIG_FILE, document)
    if items is not None:
        atomic_write_parquet(out_dir / ITEMS_FILE, items)


def _spec_dict(catalog: CatalogSpec | None) -> dict | None:
    if catalog is None:
        return None
    spec = dataclasses.asdict(catalog)
    for key, value in spec.items():
        if isinstance(value, Path):
            spec[key] = str(value.resolve())
        elif isinstance(value, tuple):
            spec[key] = list(value)
    return spec


def set_status(out_dir: Path, state: str, epoch: int | None, train: TrainConfig, **extra) -> None:
    """``status.json``: ``{"state", "epoch", "epochs", "updated", ...}``."""
    status = read_json(out_dir / STATUS_FILE) if (out_dir / STATUS_FILE).exists() else {}
    status.update(state=state, epochs=train.epochs, updated=now_iso(), **extra)
    if epoch is not None:
        status["epoch"] = epoch
    if state != "failed":
        status.pop("error", None)
    atomic_write_json(out_dir / STATUS_FILE, status)


class Metrics:
    """``metrics.jsonl`` writer, and the rule that ranks epochs for the ``best`` checkpoint."""

    def __init__(self, out_dir: Path, train: TrainConfig):
        self.path = out_dir / METRICS_FILE
        self.train = train

    def append(self, record: dict[str, Any]) -> None:
        append_jsonl(self.path, record)

    def truncate_after(self, epoch: int) -> None:
        """Drop the lines of epochs after ``epoch``: a resume redoes them."""
        if not self.path.exists():
            return
        kept = [
            line
            for line in self.path.read_text().splitlines()
            if line.strip() and _epoch_of(line) is not None and _epoch_of(line) <= epoch
        ]
        atomic_write_bytes(self.path, "".join(line + "\n" for line in kept).encode())

    def rank(self, record: dict[str, Any]) -> tuple[int, float, float]:
        """Sort key of an epoch; the best checkpoint holds the epoch with the highest key.

        ``(qualified, best_metric, -best_tiebreak)``: an epoch qualifies when its codebook usage
        is at least ``best_min_usage`` at every level and it lies past the first
        ``best_after_fraction`` of the epochs; a missing tie-break value (no validation rows)
        ranks last. Plain floats, so the key can be stored in JSON.
        """
        usage = [value for key, value in record.items() if key.startswith("codebook_usage_l")]
        warmed_up = record["epoch"] > self.train.best_after_fraction * self.train.epochs
        qualified = int(min(usage) >= self.train.best_min_usage and warmed_up)
        tiebreak = record.get(self.train.best_tiebreak)
        tiebreak = sys.float_info.max if tiebreak is None else float(tiebreak)
        return (qualified, float(record[self.train.best_metric]), -tiebreak)


def _epoch_of(line: str) -> int | None:
    try:
        return int(json.loads(line)["epoch"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None  # a line cut short by a kill: dropped
