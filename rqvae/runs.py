"""Run folders: the on-disk layout every part of the workbench reads and writes.

A run folder is self-describing; the folder alone is enough to rebuild and diagnose the run::

    runs/NAME/
        config.json            # settings + data provenance; "kind": "trained" or "imported"
        status.json            # {"state": "training"|"finished"|"failed"|"imported", ...}
        metrics.jsonl          # one JSON object per finished epoch (trained runs)
        items.parquet          # normalised catalog: item_id, title, text, categories, raw
        semantic_ids.parquet   # item_id, code_0..code_{L-1}, collision, sid
        checkpoints/
            last.safetensors   # weights + optimizer state, written at checkpoint epochs
            last.json          # epoch, step, RNG and scheduler state that goes with it
            best.safetensors / best.json
        tb/                    # TensorBoard event files
        cache/                 # analysis caches (UMAP coordinates, ...), safe to delete

Every write goes through :func:`atomic_write_bytes` (temp file in the same folder, fsync,
``os.replace``) so a reader never sees half a file and a killed run never leaves one behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rqvae.errors import InputError

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
ITEMS_FILE = "items.parquet"
SEMANTIC_IDS_FILE = "semantic_ids.parquet"
CHECKPOINT_DIR = "checkpoints"
TENSORBOARD_DIR = "tb"
CACHE_DIR = "cache"

SID_START = "<|sid_start|>"
SID_END = "<|sid_end|>"


def now_iso() -> str:
    """Current UTC time as an ISO-8601 string with seconds precision."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- atomic writes ----------------------------------------------------------------------------


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old or the new file, never half."""
    atomic_write_with(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_with(path: str | Path, writer: Callable[[str], Any]) -> None:
    """Call ``writer(tmp_path)`` to produce the file, then rename it over ``path``.

    The temp file lives in the destination folder so ``os.replace`` is a same-filesystem rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp creates 0600 files; give run files the usual permissions so others can read them.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        writer(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as pretty JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    atomic_write_bytes(path, text.encode())


def atomic_write_parquet(path: str | Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame as Parquet, atomically."""
    atomic_write_with(path, lambda tmp: frame.to_parquet(tmp, index=False))


def append_jsonl(path: str | Path, obj: dict) -> None:
    """Append one JSON object as a line, rewriting the file atomically.

    Rewriting keeps the file valid at every instant (a plain append can be cut mid-line by a
    kill); metrics files hold one line per epoch, so the cost is negligible.
    """
    path = Path(path)
    old = path.read_bytes() if path.exists() else b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    line = json.dumps(obj, default=_json_default) + "\n"
    atomic_write_bytes(path, old + line.encode())


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: str | Path) -> Any:
    """Read a JSON file, turning a missing or corrupt file into an :class:`InputError`."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None


# --- semantic ID strings ----------------------------------------------------------------------


def sid_string(codes: np.ndarray | list[int]) -> str:
    """Token string of one ID: ``<|sid_start|><|sid_0_201|><|sid_1_17|>...<|sid_end|>``.

    ``codes`` holds the level codes followed by the collision index (when there is one); the
    level number sits inside each token so tokens of different levels never clash.
    """
    body = "".join(f"<|sid_{level}_{int(code)}|>" for level, code in enumerate(codes))
    return f"{SID_START}{body}{SID_END}"


def parse_sid_string(text: str) -> list[int]:
    """Inverse of :func:`sid_string`; raises :class:`InputError` on a malformed string."""
    import re

    text = text.strip()
    if not (text.startswith(SID_START) and text.endswith(SID_END)):
        raise InputError(f"{text!r}: expected an ID of the form {SID_START}<|sid_0_N|>...{SID_END}")
    tokens = re.findall(r"<\|sid_(\d+)_(\d+)\|>", text[len(SID_START) : -len(SID_END)])
    if not tokens or [int(level) for level, _ in tokens] != list(range(len(tokens))):
        raise InputError(f"{text!r}: levels must run 0, 1, 2, ... in order")
    return [int(code) for _, code in tokens]


def level_columns(frame: pd.DataFrame) -> list[str]:
    """The ``code_0, code_1, ...`` columns of a semantic-ID table, in level order."""
    columns = [c for c in frame.columns if c.startswith("code_") and c[5:].isdigit()]
    return sorted(columns, key=lambda c: int(c[5:]))


# --- reading a run ----------------------------------------------------------------------------


@dataclass
class Run:
    """Read-only view of a run folder. Cheap to create; every accessor reads from disk.

    Reading while the run trains is safe: all files are replaced atomically.
    """

    path: Path

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise InputError(f"{self.path}: not a run folder (folder does not exist)")
        if not (self.path / CONFIG_FILE).exists():
            raise InputError(f"{self.path}: not a run folder ({CONFIG_FILE} is missing)")

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> dict:
        return read_json(self.path / CONFIG_FILE)

    @property
    def kind(self) -> str:
        """``"trained"`` for runs made by ``rqvae train``, ``"imported"`` for external IDs."""
        return self.config.get("kind", "trained")

    def status(self) -> dict:
        """Contents of ``status.json``; ``{"state": "unknown"}`` if it is absent."""
        path = self.path / STATUS_FILE
        return read_json(path) if path.exists() else {"state": "unknown"}

    def metrics(self) -> pd.DataFrame:
        """``metrics.jsonl`` as a DataFrame, one row per epoch (empty if none yet).

        A last line cut short by a concurrent writer is ignored rather than raised.
        """
        path = self.path / METRICS_FILE
        if not path.exists():
            return pd.DataFrame()
        rows = []
        lines = path.read_text().splitlines()
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
        """Path of ``checkpoints/<which>.safetensors`` (``best``, ``last`` or ``epoch_0010``)."""
        return self.path / CHECKPOINT_DIR / f"{which}.safetensors"

    @property
    def has_checkpoint(self) -> bool:
        return any(self.checkpoint_path(w).exists() for w in ("best", "last"))

    def items(self) -> pd.DataFrame | None:
        """Normalised catalog (``item_id, title, text, categories, raw``), or None if absent."""
        path = self.path / ITEMS_FILE
        if not path.exists():
            return None
        return _read_parquet(path)

    def semantic_ids(self) -> pd.DataFrame:
        """``semantic_ids.parquet``: ``item_id, code_0..code_{L-1}, collision, sid``."""
        path = self.path / SEMANTIC_IDS_FILE
        if not path.exists():
            raise InputError(f"{path}: no semantic IDs yet (run `rqvae assign --run {self.path}`)")
        return _read_parquet(path)

    @property
    def embeddings_path(self) -> Path | None:
        """The embeddings file this run was trained on or imported with, if any."""
        value = self.config.get("data", {}).get("embeddings")
        return Path(value) if value else None

    def cache_dir(self) -> Path:
        path = self.path / CACHE_DIR
        path.mkdir(exist_ok=True)
        return path


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for damaged files
        raise InputError(f"{path}: cannot read Parquet ({error})") from None


def list_runs(root: str | Path) -> list[Path]:
    """Run folders directly under ``root`` (those holding a ``config.json``), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        return []
    # Dot-folders are staging areas of unfinished imports or writes, never runs.
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / CONFIG_FILE).exists()
    )
