"""Semantic IDs: run every item through a trained model and write ``semantic_ids.parquet``.

The table has one row per item, in embeddings row order::

    item_id     str    catalog id, sidecar id, or row number
    code_0..    int    the code chosen at each level
    collision   int    0 for the first item with that L-tuple, 1 for the second, ...
    sid         str    <|sid_start|><|sid_0_c0|>...<|sid_{L-1}_c{L-1}|><|sid_L_k|><|sid_end|>
                       (k = the collision index, as an extra level)

The collision index makes every ``sid`` unique; it follows row order, so it is deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rqvae.checkpoint import checkpoint_path, load_model
from rqvae.embeddings import EmbeddingsFile, load_embeddings
from rqvae.errors import InputError
from rqvae.model import RQVAE
from rqvae.runs import SEMANTIC_IDS_FILE, Run, atomic_write_parquet, sid_string


def encode_latents(model: RQVAE, embeddings: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Encoder outputs ``z``, float32, shape (n_items, latent_dim), computed in chunks."""
    return _map_chunks(
        model, embeddings, model.encode, model.config.latent_dim, np.float32, batch_size
    )


def encode_codes(model: RQVAE, embeddings: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Codes, int64, shape (n_items, num_levels), computed in chunks."""

    def codes_of(x: torch.Tensor) -> torch.Tensor:
        return model.quantizer.quantize(model.encode(x)).codes

    return _map_chunks(model, embeddings, codes_of, model.config.num_levels, np.int64, batch_size)


@torch.no_grad()
def _map_chunks(model, embeddings, function, width: int, dtype, batch_size: int) -> np.ndarray:
    """``function`` over row chunks of ``embeddings`` (a memmap is read one chunk at a time)."""
    _check_dim(model, embeddings)
    model.eval()
    result = np.empty((len(embeddings), width), dtype=dtype)
    for start in range(0, len(embeddings), batch_size):
        x = torch.from_numpy(np.array(embeddings[start : start + batch_size], dtype=np.float32))
        result[start : start + len(x)] = function(x).numpy()
    return result


def collision_index(codes: np.ndarray) -> np.ndarray:
    """Position of each item inside its group of identical L-tuples, int64, shape (n_items,).

    The first row with a given tuple gets 0, the next 1, and so on, in row order.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes has shape {codes.shape}, expected (n_items, n_levels)")
    n_items = len(codes)
    if n_items == 0:
        return np.zeros(0, dtype=np.int64)
    group = np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1)  # (n_items,)
    order = np.argsort(group, kind="stable")  # rows grouped, row order kept inside a group
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, n_items]))  # (n_items,)
    collisions = np.empty(n_items, dtype=np.int64)
    collisions[order] = np.arange(n_items) - group_start
    return collisions


def assign_run(
    run_dir: Path, embeddings_path: Path | None = None, checkpoint: str = "best"
) -> pd.DataFrame:
    """Assign IDs to every item of a run and write ``run_dir/semantic_ids.parquet``.

    ``embeddings_path`` defaults to the file the run was trained on; ``checkpoint`` is
    ``best`` (falling back to ``last`` when there is no best), ``last`` or ``epoch_NNNN``.
    Returns the table that was written.
    """
    run = Run(run_dir)
    if checkpoint != "best" and not checkpoint_path(run.path, checkpoint).exists():
        raise InputError(f"{run.path}: no checkpoint {checkpoint!r}")
    if embeddings_path is None:
        embeddings_path = run.embeddings_path
        if embeddings_path is None:
            raise InputError(f"{run.path}: config.json names no embeddings; pass --embeddings")
    embeddings = load_embeddings(Path(embeddings_path))
    model = load_model(run.path, checkpoint)
    if embeddings.dim != model.config.input_dim:
        raise InputError(
            f"{embeddings.path}: embeddings have dimension {embeddings.dim}, but the checkpoint "
            f"of {run.path} expects {model.config.input_dim}"
        )
    item_ids = _item_ids(run, embeddings)

    codes = encode_codes(model, embeddings.array)
    collisions = collision_index(codes)
    table = pd.DataFrame({"item_id": item_ids})
    for level in range(codes.shape[1]):
        table[f"code_{level}"] = codes[:, level]
    table["collision"] = collisions
    with_collision = np.column_stack([codes, collisions])
    table["sid"] = [sid_string(row) for row in with_collision.tolist()]
    atomic_write_parquet(run.path / SEMANTIC_IDS_FILE, table)
    return table


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
    expected = run.config.get("data", {}).get("n_items")
    if expected is not None and expected != embeddings.n_items:
        raise InputError(
            f"{embeddings.path}: {embeddings.n_items} rows, but {run.path} was trained on "
            f"{expected} items; pass the embeddings it was trained on"
        )
    return embeddings.ids()


def _check_dim(model: RQVAE, embeddings: np.ndarray) -> None:
    if embeddings.ndim != 2 or embeddings.shape[1] != model.config.input_dim:
        raise InputError(
            f"embeddings have shape {embeddings.shape}, the model expects "
            f"(n_items, {model.config.input_dim})"
        )
