"""Semantic IDs for every item of a run: ``rqvae assign`` writes ``semantic_ids.parquet``.

The run's quantizer (:func:`rqvae.quantizers.from_run.load_run_quantizer`) turns every
embedding into codes, in embeddings row order, chunk by chunk; the table and its collision
column are :mod:`rqvae.runs.semantic_ids`'. The table records the checkpoint it came from
(:func:`ids_source`), and the run's writer lock is held while it is written.

The same work split over shards (one part file per shard, merged later) or over the ranks of a
``torchrun`` job is :func:`assign_shard`, :func:`merge_ids` and :func:`assign_distributed`; all
three write the bytes an unsharded :func:`assign_run` writes. Shards take no lock: each writes
only its own part file, and the merge (which does lock) checks they share one checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rqvae.data.embeddings import EmbeddingsFile, load_embeddings
from rqvae.errors import InputError
from rqvae.files import now_iso, sha256_of
from rqvae.id_metrics import collision_index, id_changes
from rqvae.ids.extend_input import catalog_ids
from rqvae.ids.last_level import spread_with_quantizer
from rqvae.ids.shards import PARTS_DIR, Shard, read_parts, write_part
from rqvae.quantizers import Quantizer, assign_codes
from rqvae.quantizers.from_run import load_run_quantizer
from rqvae.runs.checkpoint import checkpoint_state
from rqvae.runs.extensions import (
    ASSIGNED_THROUGH_KEY,
    COMMITTED_KEY,
    EXTENSIONS_FILE,
    read_history,
    run_embeddings,
    write_history,
)
from rqvae.runs.folder import SEMANTIC_IDS_FILE, Run
from rqvae.runs.lock import run_lock
from rqvae.runs.safe_paths import remove_tree
from rqvae.runs.semantic_ids import read_code_table, write_semantic_ids

ASSIGN_CHUNK = 8192  # items per encoder pass; 8,192 measured as fast as any of 2,048-65,536
LAST_LEVEL_RULES = ("balanced", "nearest")  # see rqvae/ids/last_level.py; balanced is the default


@dataclass
class AssignJob:
    """What every way of assigning needs: the run, its quantizer, the embeddings, the ids."""

    run: Run
    quantizer: Quantizer
    embeddings: EmbeddingsFile
    item_ids: list[str]
    checkpoint: str

    @property
    def n_items(self) -> int:
        return self.embeddings.n_items

    def codes(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Codes int64 (stop - start, L) of embeddings rows ``[start, stop)``."""
        rows = self.embeddings.array
        if start != 0 or stop is not None:  # a view of a memory map; every row is read lazily
            rows = rows[start:stop]
        return assign_codes(self.quantizer, rows, chunk_size=ASSIGN_CHUNK)

    def source(self) -> dict:
        return ids_source(self.quantizer, self.checkpoint)

    def finish(self, codes: np.ndarray, source: dict, last_level: str) -> np.ndarray:
        """The written codes: ``codes`` (n, L) of every item, with the collision-aware last
        level applied unless ``last_level`` is "nearest"; ``source`` records what happened."""
        if last_level not in LAST_LEVEL_RULES:
            raise InputError(f"--last-level {last_level!r}: expected one of {LAST_LEVEL_RULES}")
        source["last_level"] = last_level
        if last_level == "nearest":
            return codes
        spread = spread_with_quantizer(self.quantizer, self.embeddings.array, codes)
        source["last_level_moved"] = int(len(spread.moved))
        source["last_level_left_colliding"] = int(spread.left_colliding)
        extra = float(spread.extra_cost.mean()) if len(spread.moved) else 0.0
        source["last_level_extra_cost_mean"] = extra
        return spread.codes


def open_assign_job(
    run_dir: Path, embeddings_path: Path | None = None, checkpoint: str = "best"
) -> AssignJob:
    """Load the quantizer and the embeddings of a run, checked against each other.

    A run grown by ``rqvae extend`` is read item by item from its extensions' files
    (:func:`rqvae.runs.extensions.run_embeddings`), in the order of its current table."""
    run = Run(run_dir)
    quantizer = load_run_quantizer(run, checkpoint)
    expected = quantizer.input_dim or quantizer.latent_dim  # codebooks alone: the latents are x
    ids_path = run.path / SEMANTIC_IDS_FILE
    if embeddings_path is None and ids_path.exists() and read_history(run.path).extended:
        item_ids = read_code_table(ids_path).item_ids
        stacked = run_embeddings(run, item_ids, catalog_ids(run))
        embeddings = EmbeddingsFile(run.path / EXTENSIONS_FILE, stacked, list(item_ids))
        if embeddings.dim != expected:
            raise InputError(
                f"{run.path}: its embeddings have dimension {embeddings.dim}, but its "
                f"checkpoint expects {expected}"
            )
        return AssignJob(run, quantizer, embeddings, embeddings.item_ids, checkpoint)
    if embeddings_path is None:
        embeddings_path = run.embeddings_path
        if embeddings_path is None:
            raise InputError(f"{run.path}: config.json names no embeddings; pass --embeddings")
    embeddings = load_embeddings(Path(embeddings_path))
    if embeddings.dim != expected:
        raise InputError(
            f"{embeddings.path}: embeddings have dimension {embeddings.dim}, but the checkpoint "
            f"of {run.path} expects {expected}"
        )
    return AssignJob(run, quantizer, embeddings, _item_ids(run, embeddings), checkpoint)


def assign_run(
    run_dir: Path,
    embeddings_path: Path | None = None,
    checkpoint: str = "best",
    last_level: str = "balanced",
) -> pd.DataFrame:
    """Assign IDs to every item of a run and write ``run_dir/semantic_ids.parquet``.

    ``embeddings_path`` defaults to the file the run was trained on; ``checkpoint`` is
    ``best`` (falling back to ``last`` when there is no best) or ``last``; ``last_level`` is
    "balanced" (colliding items move to free last-level codes, :mod:`rqvae.ids.last_level`) or
    "nearest" (every level takes the nearest codeword). Returns the table that was written.
    A run grown by ``rqvae extend`` is refused (:func:`reassign_all` re-assigns it).
    """
    return _assign(Path(run_dir), embeddings_path, checkpoint, last_level, False).table


@dataclass
class Reassigned:
    """What :func:`reassign_all` wrote (``table``) and how far the IDs moved from the table it
    replaced (``churn``, :func:`rqvae.id_metrics.id_changes` over the items both hold, or None
    when the run had no IDs)."""

    table: pd.DataFrame
    churn: dict | None


def reassign_all(
    run_dir: Path,
    embeddings_path: Path | None = None,
    checkpoint: str = "best",
    last_level: str = "balanced",
) -> Reassigned:
    """``rqvae assign --reassign-all``: :func:`assign_run` for any run, an extended one too.

    Every item gets the ID a one-shot assignment gives it now; the items keep their
    ``generation`` (when they joined), the table records that generations ``0..g`` were
    placed together, and extensions.json records the reassignment with its churn."""
    return _assign(Path(run_dir), embeddings_path, checkpoint, last_level, True)


def _assign(run_dir, embeddings_path, checkpoint, last_level, reassign) -> Reassigned:
    with run_lock(run_dir, "assign", existing=True):
        path = Run(run_dir).path / SEMANTIC_IDS_FILE
        history = read_history(run_dir)
        if history.extended and not reassign:
            added = history.generations[-1].rows[1] - history.base_items
            raise InputError(
                f"{run_dir / EXTENSIONS_FILE}: the run was extended {len(history.generations)} "
                f"time(s) ({added} items added); assigning again would move IDs that user "
                "histories hold: pass --reassign-all to re-assign every item (the churn is "
                "reported), or add items with rqvae extend"
            )
        previous = read_code_table(path) if reassign and path.exists() else None
        job = open_assign_job(run_dir, embeddings_path, checkpoint)
        source = job.source()
        codes = job.finish(job.codes(), source, last_level)
        if history.extended:  # every generation so far is now placed by this assignment
            source[COMMITTED_KEY] = source[ASSIGNED_THROUGH_KEY] = history.last_number
        churn, generation = None, None
        if previous is not None:
            churn, generation = _against(previous, job.item_ids, codes)
        table = write_semantic_ids(path, job.item_ids, codes, source, generation, root=job.run.path)
        if history.extended:
            history.reassignments.append(
                {
                    "created": now_iso(),
                    "after_generation": history.last_number,
                    "checkpoint": {key: source.get(key) for key in ("checkpoint", "sha256")},
                    "churn": churn,
                }
            )
            write_history(run_dir, history)
        return Reassigned(table, churn)


def _against(previous, item_ids: list[str], codes: np.ndarray) -> tuple[dict, np.ndarray | None]:
    """Churn of ``codes`` (with their collision index) against the replaced table, over the
    items both hold, and each item's generation carried over (None when the old table had no
    generation column; 0 for an item it lacked)."""
    rows = pd.Index(previous.item_ids).get_indexer(np.asarray(item_ids, dtype=object))
    both = rows >= 0
    old = np.column_stack([previous.codes, _collision(previous)])[rows[both]]
    new = np.column_stack([codes, collision_index(codes)])[both]
    churn = {**id_changes(old, new), "only_before": int(len(previous.codes) - both.sum())}
    churn["only_after"] = int((~both).sum())
    generation = None
    if previous.generation is not None:
        generation = np.where(both, previous.generation[np.maximum(rows, 0)], 0)
    return churn, generation


def _collision(table) -> np.ndarray:
    return collision_index(table.codes) if table.collision is None else table.collision


def refuse_extended(run_dir: Path, what: str) -> None:
    """InputError when ``run_dir`` was extended: ``what`` (sharded or torchrun assignment)
    re-assigns every item without reporting the churn; ``--reassign-all`` in one process does."""
    if read_history(run_dir).extended:
        raise InputError(
            f"{Path(run_dir) / EXTENSIONS_FILE}: the run was extended; {what} would re-assign "
            f"every item: run rqvae assign --run {run_dir} --reassign-all (one process) instead"
        )


def assign_shard(
    run_dir: Path, shard: Shard, embeddings_path: Path | None = None, checkpoint: str = "best"
) -> Path:
    """Assign the rows of one shard and write its part file (``rqvae assign --shard i/n``)."""
    refuse_extended(run_dir, "assign --shard")
    job = open_assign_job(run_dir, embeddings_path, checkpoint)
    start, stop = shard.rows(job.n_items)
    codes = job.codes(start, stop)
    return write_part(
        job.run.path, shard, job.item_ids[start:stop], codes, job.n_items, job.source()
    )


def merge_ids(
    run_dir: Path, embeddings_path: Path | None = None, last_level: str = "balanced"
) -> pd.DataFrame:
    """Combine a complete set of parts into ``semantic_ids.parquet`` (``rqvae merge-ids``).

    The collision column, and the collision-aware last level (``last_level``, as in
    :func:`assign_run`), are computed over the whole catalog here. The parts are removed once
    the merged table is in place. Returns the table that was written.
    """
    with run_lock(run_dir, "merge-ids", existing=True):
        refuse_extended(run_dir, "merge-ids")
        run = Run(run_dir)
        item_ids, codes, source = read_parts(run.path, run.info.codebook_sizes)
        items = run.items()
        if items is not None and items["item_id"].astype(str).tolist() != item_ids:
            raise InputError(
                f"{run.path / PARTS_DIR}: the parts' item ids do not match the run's catalog "
                f"({len(item_ids)} vs {len(items)} items, or a different order)"
            )
        if last_level != "nearest":
            job = open_assign_job(run.path, embeddings_path, source.get("checkpoint", "best"))
            if job.source().get("sha256") != source.get("sha256"):
                raise InputError(
                    f"{run.path / PARTS_DIR}: the parts come from another checkpoint than "
                    f"{job.checkpoint} holds now; assign the shards again"
                )
            if job.n_items != len(codes):
                raise InputError(
                    f"{job.embeddings.path}: {job.n_items} rows, the parts hold {len(codes)}"
                )
            codes = job.finish(codes, source, last_level)
        else:
            source["last_level"] = "nearest"
        path = run.path / SEMANTIC_IDS_FILE
        table = write_semantic_ids(path, item_ids, codes, source=source, root=run.path)
        remove_tree(run.path / PARTS_DIR, run.path)
        return table


def assign_distributed(
    run_dir: Path,
    embeddings_path: Path | None = None,
    checkpoint: str = "best",
    last_level: str = "balanced",
) -> pd.DataFrame | None:
    """``torchrun ... -m rqvae -- assign``: each rank encodes its contiguous shard, rank 0
    gathers the codes, computes collisions over the whole catalog and writes the table
    (returned on rank 0, None elsewhere). Needs an initialised process group
    (:mod:`rqvae.training.distributed`)."""
    import torch.distributed as dist

    from rqvae.training.distributed import gather_rows, same_on_every_rank

    refuse_extended(run_dir, "a torchrun assignment")
    job = open_assign_job(run_dir, embeddings_path, checkpoint)
    source = job.source()
    same_on_every_rank(str(source.get("sha256")), what=f"checkpoint of {job.run.path}")
    shard = Shard(dist.get_rank(), dist.get_world_size())
    start, stop = shard.rows(job.n_items)
    codes = gather_rows(job.codes(start, stop), job.n_items)
    if codes is None:
        return None
    with run_lock(run_dir, "assign (torchrun)", existing=True):
        path = job.run.path / SEMANTIC_IDS_FILE
        codes = job.finish(codes, source, last_level)
        return write_semantic_ids(path, job.item_ids, codes, source=source, root=job.run.path)


def ids_source(quantizer: Quantizer, checkpoint: str) -> dict:
    """What the IDs are computed from: the checkpoint asked for, its file, epoch and digest."""
    path = Path(quantizer.source) if getattr(quantizer, "source", "") else None
    if path is None or not path.is_file():
        return {"checkpoint": checkpoint, "file": None, "epoch": None, "sha256": None}
    root = path.parent.parent  # RUN/checkpoints/<file>
    return {
        "checkpoint": checkpoint,
        "file": path.name,
        "epoch": checkpoint_state(path, root=root).get("epoch"),
        "sha256": sha256_of(path, root=root),
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
