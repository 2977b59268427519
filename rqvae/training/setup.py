"""Before the first epoch: every check on a training run's inputs, then its first files.

The trainer calls these so that its own module stays the loop. Every check that can fail on
user input runs before :func:`prepare_run_folder` writes the first file (``config.json`` in
the schema of :mod:`rqvae.runs.folder`, and ``items.parquet``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from rqvae.data.embeddings import EmbeddingsFile
from rqvae.errors import InputError
from rqvae.files import atomic_write_json, atomic_write_parquet, read_json, sha256_of
from rqvae.model.config import RunConfig, config_to_dict
from rqvae.runs.checkpoint import Checkpoint, checkpoint_path, load_checkpoint
from rqvae.runs.folder import CONFIG_FILE, ITEMS_FILE, config_document, embeddings_section, run_info
from rqvae.runs.lock import LOCK_FILE
from rqvae.training.metrics_log import metric_keys

if TYPE_CHECKING:
    from rqvae.data.catalog import CatalogSpec


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
    from rqvae.data.catalog import load_catalog

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


def read_previous_run(out_dir: Path, config: RunConfig, embeddings: EmbeddingsFile) -> Checkpoint:
    """For ``--resume``: check the run matches these settings and data; load its last checkpoint.

    Raises InputError when there is no checkpoint to continue from.
    """
    if not os.path.lexists(out_dir / CONFIG_FILE):
        raise InputError(f"{out_dir}: nothing to resume (no {CONFIG_FILE}); drop --resume")
    saved = run_info(read_json(out_dir / CONFIG_FILE, root=out_dir), out_dir / CONFIG_FILE)
    saved = saved.document
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
        # Retraining from scratch under --resume would silently discard what the user asked to
        # keep; say so and let them choose.
        raise InputError(
            f"{path}: no checkpoint to resume from (the run stopped before its first "
            f"checkpoint, or the file was removed); train into a new --out folder instead"
        )
    previous = load_checkpoint(path, root=out_dir)
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
        if any(entry.name != LOCK_FILE for entry in out_dir.iterdir()):
            raise InputError(f"{out_dir}: folder exists and is not empty; choose another --out")
    if embeddings.item_ids is not None and items is None:
        ids_source = "sidecar"
    else:
        ids_source = "catalog" if items is not None else "row_number"
    model = config.model
    document = config_document(
        "trained",
        levels=model.num_levels,
        codebook_sizes=[model.codebook_size] * model.num_levels,
        distance=model.distance,
        data=embeddings_section(embeddings, catalog, ids_source),
        **config_to_dict(config),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / CONFIG_FILE, document, root=out_dir)
    if items is not None:
        atomic_write_parquet(out_dir / ITEMS_FILE, items, root=out_dir)
