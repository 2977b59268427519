"""Cache keys made of file stamps: a result is recomputed exactly when a file it reads changes.

A run that trains rewrites ``metrics.jsonl`` and ``status.json`` atomically, so their stamps
change and every result that depends on them misses the cache; an untouched run is read once
per process.
"""

from __future__ import annotations

import os
from pathlib import Path

from rqvae.runs.extensions import EXTENSIONS_FILE
from rqvae.runs.folder import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    ITEMS_FILE,
    METRICS_FILE,
    SEMANTIC_IDS_FILE,
    STATUS_FILE,
)

# What each kind of result depends on.
Stamp = tuple[tuple[str, int, int], ...]

RUN_FILES = (CONFIG_FILE, STATUS_FILE, METRICS_FILE, SEMANTIC_IDS_FILE, ITEMS_FILE)
ID_FILES = (CONFIG_FILE, SEMANTIC_IDS_FILE, ITEMS_FILE, EXTENSIONS_FILE)
DIAGNOSIS_FILES = (
    *RUN_FILES,
    f"{CHECKPOINT_DIR}/best.safetensors",
    f"{CHECKPOINT_DIR}/last.safetensors",
)


def stamp(run_dir: Path, names: tuple[str, ...]) -> Stamp:
    """``(name, mtime_ns, size)`` of each file (``-1, -1`` when absent): the cache key part.

    ``lstat``: a link in a run is stamped as itself, never followed (readers refuse it)."""
    entries = []
    for name in names:
        try:
            info = os.lstat(run_dir / name)
            entries.append((name, info.st_mtime_ns, info.st_size))
        except FileNotFoundError:
            entries.append((name, -1, -1))
    return tuple(entries)


def file_stamp(path: Path | None) -> tuple:
    """``(path, mtime_ns, size)`` of an optional file outside the run folder, or ``()``."""
    if path is None:
        return ()
    info = Path(path).stat()
    return (str(path), info.st_mtime_ns, info.st_size)
