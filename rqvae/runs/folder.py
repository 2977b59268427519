"""Run folders: the on-disk layout and the one ``config.json`` schema every kind of run shares.

A run folder is self-describing; the folder alone is enough to rebuild and diagnose the run::

    runs/NAME/
        config.json            # kind, levels, codebook_sizes, distance, data (+ the kind's own)
        status.json            # {"state": "training"|"finished"|"failed"|"imported", ...}
        metrics.jsonl          # one JSON object per finished epoch (trained runs)
        items.parquet          # normalised catalog: item_id, title, text, categories, raw
        semantic_ids.parquet   # item_id, code_0..code_{L-1}, collision, sid
        checkpoints/           # <name>.safetensors + <name>.json (best, last)
        .lock                  # the writer lock (rqvae.runs.lock)
        tb/                    # TensorBoard event files
        cache/                 # analysis caches (UMAP coordinates, ...), safe to delete

``config.json`` (schema 2), the same for every kind::

    {"schema": 2, "kind": "trained" | "imported-ids" | "imported-checkpoint" | "baseline",
     "created": ISO time,
     "levels": L, "codebook_sizes": [K_0, ..., K_{L-1}], "distance": "euclidean" | "cosine",
     "data": {"embeddings": path | null, "embeddings_sha256": hex | null, "n_items": n,
              "dim": d | null, "catalog": {"path", "format", ...} | null,
              "item_ids": "catalog" | "sidecar" | "row_number" | "id_file"},
     ...}                         # trained: "model" and "train" settings; imported: "source"

Runs written before schema 2 are migrated when read (:func:`migrate_config`), never rewritten:
a missing ``kind`` is ``trained`` and its ``levels`` / ``codebook_sizes`` / ``distance`` come
from ``model.num_levels`` / ``model.codebook_size`` / ``model.distance``; kind ``imported`` is
``imported-ids``, its top-level ``codebook_size`` becomes the list, its ``n_items`` moves
into ``data``, and its ``data.catalog`` path string becomes ``{"path", "format"}``.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rqvae.errors import InputError
from rqvae.files import (
    JSON_MAX_BYTES,
    atomic_write_json,
    current_umask,
    now_iso,
    read_bytes,
    read_json,
    read_parquet,
    real_folder,
    sha256_of,
)

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
ITEMS_FILE = "items.parquet"
SEMANTIC_IDS_FILE = "semantic_ids.parquet"
CHECKPOINT_DIR = "checkpoints"
TENSORBOARD_DIR = "tb"
CACHE_DIR = "cache"

SCHEMA_VERSION = 2
KINDS = ("trained", "imported-ids", "imported-checkpoint", "baseline")
DISTANCES = ("euclidean", "cosine")
STATES = ("training", "finished", "failed", "imported")  # status.json "state"


# --- the schema -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    """What ``config.json`` says about any run, checked (see the module docstring).

    codebook_sizes : ``K_l`` per level. embeddings : the embeddings file of the run's items,
    or None. catalog : the catalog spec as a dict (``path``, ``format``, field flags), or None.
    document : the whole (migrated) config.json.
    """

    kind: str
    levels: int
    codebook_sizes: tuple[int, ...]
    distance: str
    embeddings: Path | None
    n_items: int | None
    catalog: dict | None
    document: dict

    @property
    def codebook_size(self) -> int:
        """The largest ``K_l``: the codebook size when every level has the same one."""
        return max(self.codebook_sizes)


def config_document(
    kind: str,
    levels: int,
    codebook_sizes: list[int],
    distance: str,
    data: dict[str, Any],
    **rest: Any,
) -> dict[str, Any]:
    """A schema-2 ``config.json`` document; ``rest`` holds the kind's own sections."""
    return {
        "schema": SCHEMA_VERSION,
        "kind": kind,
        "created": now_iso(),
        "levels": int(levels),
        "codebook_sizes": [int(size) for size in codebook_sizes],
        "distance": distance,
        "data": data,
        **rest,
    }


def embeddings_section(embeddings, catalog, item_ids: str, **extra: Any) -> dict[str, Any]:
    """The ``data`` section of ``config.json`` for a run over ``embeddings`` (an
    :class:`rqvae.data.embeddings.EmbeddingsFile`) and an optional catalog spec; ``item_ids`` says
    where the run's item ids come from ("catalog", "sidecar", "row_number", ...)."""
    return {
        "embeddings": str(embeddings.path.resolve()),
        "embeddings_sha256": sha256_of(embeddings.path),
        "n_items": embeddings.n_items,
        "dim": embeddings.dim,
        "catalog": catalog.to_dict() if catalog is not None else None,
        "item_ids": item_ids,
        **extra,
    }


def write_run_files(out_dir: Path, write: Callable[[Path], None]) -> Path:
    """Write a new run's files with ``write(staging_folder)``, then move them into ``out_dir``.

    The files move in one by one with ``config.json`` last, so the run is listed (listing
    needs config.json) only once it is whole; ``out_dir`` itself may already exist because
    the writer holds its lock. Nothing is left behind when ``write`` fails.
    """
    from rqvae.runs.safe_paths import move_into  # it imports this module

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        staging.chmod(0o777 & ~current_umask())  # mkdtemp makes it private; a run is not
        write(staging)
        for entry in sorted(staging.iterdir(), key=lambda path: path.name == CONFIG_FILE):
            move_into(entry, out_dir, entry.name)
        staging.rmdir()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def migrate_config(document: Any, source: Path) -> dict[str, Any]:
    """A config.json document in schema 2 (a copy; older layouts are converted, see above).

    Raises InputError naming ``source`` when the document is not a run config.
    """
    if not isinstance(document, dict):
        raise InputError(f"{source}: expected a JSON object, found {type(document).__name__}")
    document = copy.deepcopy(document)
    kind = document.setdefault("kind", "trained")
    if kind == "imported":  # schema 1: imported IDs kept their sizes at the top level
        document["kind"] = "imported-ids"
        document.setdefault(
            "codebook_sizes", [document.get("codebook_size")] * _int_or_zero(document.get("levels"))
        )
        data = document.setdefault("data", {})
        if isinstance(data, dict):
            data.setdefault("n_items", document.get("n_items"))
            catalog = data.get("catalog")
            if isinstance(catalog, str):
                data["catalog"] = {"path": catalog, "format": data.pop("catalog_format", None)}
            data.setdefault("item_ids", "id_file")
    elif kind == "trained" and "levels" not in document:  # schema 1: sizes in "model"
        model = document.get("model")
        if not isinstance(model, dict):
            raise InputError(f'{source}: "model" must be an object of model settings')
        document["levels"] = model.get("num_levels")
        document["codebook_sizes"] = [model.get("codebook_size")] * _int_or_zero(
            model.get("num_levels")
        )
        document["distance"] = model.get("distance", "euclidean")
    document.setdefault("distance", "euclidean")
    document.setdefault("schema", SCHEMA_VERSION)
    return document


def run_info(document: Any, source: Path) -> RunInfo:
    """Migrate and check a config.json document; InputError names ``source`` and the key."""
    document = migrate_config(document, source)
    kind, levels = document.get("kind"), document.get("levels")
    sizes, distance, data = document.get("codebook_sizes"), document.get("distance"), None
    if kind not in KINDS:
        raise InputError(f"{source}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if not _positive_int(levels):
        raise InputError(f"{source}: levels = {levels!r}, expected a positive integer")
    if (
        not isinstance(sizes, list)
        or len(sizes) != levels
        or not all(_positive_int(size) and size >= 2 for size in sizes)
    ):
        raise InputError(
            f"{source}: codebook_sizes = {sizes!r}, expected {levels} integers >= 2 (one per level)"
        )
    if distance not in DISTANCES:
        raise InputError(f"{source}: distance {distance!r} is not one of {', '.join(DISTANCES)}")
    data = document.get("data", {})
    if not isinstance(data, dict):
        raise InputError(f'{source}: "data" must be an object')
    catalog = data.get("catalog")
    if catalog is not None and not (
        isinstance(catalog, dict) and isinstance(catalog.get("path"), str)
    ):
        raise InputError(f'{source}: data.catalog must be null or an object with a "path"')
    embeddings = data.get("embeddings")
    if embeddings is not None and not isinstance(embeddings, str):
        raise InputError(f"{source}: data.embeddings must be null or a path")
    n_items = data.get("n_items")
    if kind == "trained":
        _check_trained_settings(document, source)
    return RunInfo(
        kind=kind,
        levels=levels,
        codebook_sizes=tuple(sizes),
        distance=distance,
        embeddings=Path(embeddings) if embeddings else None,
        n_items=n_items if _positive_int(n_items) else None,
        catalog=catalog,
        document=document,
    )


def _check_trained_settings(document: dict, source: Path) -> None:
    """A trained run's "model" and "train" sections must be objects whose known settings have
    the types and ranges the trainer accepts. Keys this version does not know are left to the
    code that builds the model (a run from another version stays listable and diagnosable)."""
    import dataclasses

    from rqvae.model.config import ModelConfig, TrainConfig, config_from_dict  # imports nothing of ours

    known = {}
    for section, settings in (("model", ModelConfig), ("train", TrainConfig)):
        value = document.get(section)
        if not isinstance(value, dict):
            raise InputError(
                f'{source}: "{section}" must be an object of {section} settings, '
                f"found {type(value).__name__} {value!r:.40}"
            )
        names = {field.name for field in dataclasses.fields(settings)}
        known[section] = {key: item for key, item in value.items() if key in names}
    config_from_dict(known, source=str(source))


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _int_or_zero(value: Any) -> int:
    return value if _positive_int(value) else 0


# --- status -----------------------------------------------------------------------------------


def set_status(run_dir: Path, state: str, **fields: Any) -> None:
    """Update ``status.json``: ``state``, ``updated`` and the given fields (None drops a field).

    ``error`` is kept only while the state is "failed".
    """
    path = Path(run_dir) / STATUS_FILE
    status = read_json(path, root=run_dir) if os.path.lexists(path) else {}
    if not isinstance(status, dict):
        status = {}
    status.update(state=state, updated=now_iso())
    for key, value in fields.items():
        if value is None:
            status.pop(key, None)
        else:
            status[key] = value
    if state != "failed":
        status.pop("error", None)
    atomic_write_json(path, status, root=run_dir)


# --- reading a run ----------------------------------------------------------------------------


class Run:
    """Read-only view of a run folder. Cheap to create; every accessor reads from disk.

    Reading while the run trains is safe: all files are replaced atomically. Every file is
    read with the run folder as ``root`` (:func:`rqvae.files.open_regular`): a link, FIFO or
    device in a run is an InputError naming it, and JSON files are capped at
    :data:`rqvae.files.JSON_MAX_BYTES`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise InputError(f"{self.path}: not a run folder (folder does not exist)")
        if not os.path.lexists(self.path / CONFIG_FILE):
            raise InputError(f"{self.path}: not a run folder ({CONFIG_FILE} is missing)")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def info(self) -> RunInfo:
        """``config.json``, migrated to schema 2 and checked."""
        path = self.path / CONFIG_FILE
        return run_info(read_json(path, root=self.path), path)

    @property
    def config(self) -> dict:
        """The whole ``config.json`` document, migrated to schema 2."""
        return self.info.document

    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def embeddings_path(self) -> Path | None:
        """The embeddings file this run was trained on or imported with, if any."""
        return self.info.embeddings

    def status(self) -> dict:
        """Contents of ``status.json``; ``{"state": "unknown"}`` if it is absent."""
        path = self.path / STATUS_FILE
        if not os.path.lexists(path):
            return {"state": "unknown"}
        status = read_json(path, root=self.path)
        if not isinstance(status, dict):
            raise InputError(f"{path}: expected a JSON object, found {type(status).__name__}")
        state = status.get("state")
        if state not in STATES:
            raise InputError(f"{path}: state {state!r} is not one of {', '.join(STATES)}")
        for key in ("epoch", "epochs"):
            if key in status and not (isinstance(status[key], int) and status[key] >= 0):
                raise InputError(f"{path}: {key} = {status[key]!r}, expected an integer >= 0")
        return status

    def metrics(self) -> pd.DataFrame:
        """``metrics.jsonl`` as a DataFrame, one row per epoch (empty if none yet).

        A last line cut short by a concurrent writer is ignored rather than raised.
        """
        path = self.path / METRICS_FILE
        if not os.path.lexists(path):
            return pd.DataFrame()
        rows = []
        try:
            lines = read_bytes(path, self.path, JSON_MAX_BYTES).decode().splitlines()
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 text") from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                if number == len(lines):
                    break
                raise InputError(f"{path}: line {number} is not valid JSON") from None
        return pd.DataFrame(rows)

    def checkpoint_path(self, which: str = "best") -> Path:
        """Path of ``checkpoints/<which>.safetensors`` (``best`` or ``last``)."""
        return self.path / CHECKPOINT_DIR / f"{which}.safetensors"

    @property
    def has_checkpoint(self) -> bool:
        return any(self.checkpoint_path(w).exists() for w in ("best", "last"))

    def items(self) -> pd.DataFrame | None:
        """Normalised catalog (``item_id, title, text, categories, raw``), or None if absent."""
        path = self.path / ITEMS_FILE
        return read_parquet(path, root=self.path) if os.path.lexists(path) else None

    def semantic_ids(self) -> pd.DataFrame:
        """``semantic_ids.parquet``: ``item_id, code_0..code_{L-1}, collision, sid``."""
        path = self.path / SEMANTIC_IDS_FILE
        if not os.path.lexists(path):
            raise InputError(f"{path}: no semantic IDs yet (run `rqvae assign --run {self.path}`)")
        return read_parquet(path, root=self.path)

    def cache_dir(self) -> Path | None:
        """``RUN/cache``, made if missing; None when it cannot be used: a link (to anywhere),
        a file in its place, or a read-only run folder. Analysis then simply does not cache."""
        try:
            return real_folder(self.path, self.path / CACHE_DIR, create=True)
        except (InputError, OSError):
            return None


def list_runs(root: str | Path) -> list[Path]:
    """Run folders directly under ``root`` (those holding a ``config.json``), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        return []
    # Dot-folders are staging areas of unfinished imports or writes, never runs. A config.json
    # that is a link still makes a run (a broken one: readers refuse the link and say so).
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and os.path.lexists(p / CONFIG_FILE)
    )
