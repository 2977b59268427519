"""Semantic IDs for every item of a run: ``rqvae assign`` writes ``semantic_ids.parquet``.

The run's quantizer (:func:`rqvae.quantizers.from_run.load_run_quantizer`) turns every
embedding into codes, in embeddings row order, chunk by chunk; the table and its collision
column are :mod:`rqvae.semantic_ids`'. The table records the checkpoint it came from
(:func:`ids_source`), and the run's writer lock is held while it is written.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rqvae.checkpoint import checkpoint_state
from rqvae.embeddings import EmbeddingsFile, load_embeddings
from rqvae.errors import InputError
from rqvae.files import sha256_of
from rqvae.quantizers import Quantizer, assign_codes
from rqvae.quantizers.from_run import load_run_quantizer
from rqvae.run_folder import SEMANTIC_IDS_FILE, Run
from rqvae.run_lock import run_lock
from rqvae.semantic_ids import write_semantic_ids

ASSIGN_CHUNK = 8192  # items per forward pass; bounds memory on big catalogs


def assign_run(
    run_dir: Path, embeddings_path: Path | None = None, checkpoint: str = "best"
) -> pd.DataFrame:
    """Assign IDs to every item of a run and write ``run_dir/semantic_ids.parquet``.

    ``embeddings_path`` defaults to the file the run was trained on; ``checkpoint`` is
    ``best`` (falling back to ``last`` when there is no best) or ``last``.
    Returns the table that was written.
    """
    with run_lock(run_dir, "assign"):
        return _assign_locked(Run(run_dir), embeddings_path, checkpoint)


def _assign_locked(run: Run, embeddings_path: Path | None, checkpoint: str) -> pd.DataFrame:
    quantizer = load_run_quantizer(run, checkpoint)
    if embeddings_path is None:
        embeddings_path = run.embeddings_path
        if embeddings_path is None:
            raise InputError(f"{run.path}: config.json names no embeddings; pass --embeddings")
    embeddings = load_embeddings(Path(embeddings_path))
    if embeddings.dim != quantizer.input_dim:
        raise InputError(
            f"{embeddings.path}: embeddings have dimension {embeddings.dim}, but the checkpoint "
            f"of {run.path} expects {quantizer.input_dim}"
        )
    item_ids = _item_ids(run, embeddings)
    codes = assign_codes(quantizer, embeddings.array, chunk_size=ASSIGN_CHUNK)
    source = ids_source(quantizer, checkpoint)
    return write_semantic_ids(run.path / SEMANTIC_IDS_FILE, item_ids, codes, source=source)


def ids_source(quantizer: Quantizer, checkpoint: str) -> dict:
    """What the IDs are computed from: the checkpoint asked for, its file, epoch and digest."""
    path = Path(quantizer.source) if getattr(quantizer, "source", "") else None
    if path is None or not path.is_file():
        return {"checkpoint": checkpoint, "file": None, "epoch": None, "sha256": None}
    return {
        "checkpoint": checkpoint,
        "file": path.name,
        "epoch": checkpoint_state(path).get("epoch"),
        "sha256": sha256_of(path),
    }


def _item_ids(run: Run, embeddings: EmbeddingsFile) -> list[str]:
    """Item ids from the run's catalog, else the embeddings sidecar, else row numbers."""
    items = run.items()
    if items is not None:
        if len(items) != embeddings.n_items:
            raise InputError(
                f"{embeddings.path}: {embeddings.n_items} rows, but the run's catalog "
                f"({run.path / 'items.parquet'}) has {len(items)} items"
            )
        return items["item_id"].astype(str).tolist()
    expected = run.info.n_items
    if expected is not None and expected != embeddings.n_items:
        raise InputError(
            f"{embeddings.path}: {embeddings.n_items} rows, but {run.path} was trained on "
            f"{expected} items; pass the embeddings it was trained on"
        )
    return embeddings.ids()
