"""Run folders for the ``rqvae extend`` tests, and a way to tell that nothing was written.

- :func:`codebook_run`: a run imported from a hand-made codebook stack (identity encoder, two
  levels of four codewords in 2-D), so every item's codes can be worked out on paper:
  ``x = C0[a] + C1[b] + e`` with ``|e| < 1`` has codes ``(a, b)``.
- :func:`save_items`: an embeddings file whose sidecar names its rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# Level 0: four far-apart centres; level 1: four offsets around them.
LEVEL_0 = np.array([[0, 0], [100, 0], [0, 100], [100, 100]], dtype=np.float32)
LEVEL_1 = np.array([[-4, -4], [4, -4], [-4, 4], [4, 4]], dtype=np.float32)
# The base catalog: prefix 0 uses last codes 0 and 1 (2 and 3 are free), prefix 1 all four,
# prefix 2 only code 3, prefix 3 nothing.
BASE_CODES = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (1, 3), (2, 3)]


def point(a: int, b: int, noise=(0.0, 0.0)) -> np.ndarray:
    """The embedding with codes (a, b), moved by ``noise``."""
    return LEVEL_0[a] + LEVEL_1[b] + np.asarray(noise, dtype=np.float32)


def save_items(path: Path, x: np.ndarray, ids: list[str]) -> Path:
    """``x`` as float32 ``.npy`` with a sidecar naming its rows ``ids``."""
    np.save(path, np.asarray(x, dtype=np.float32))
    sidecar = {"model": "test", "n_items": len(ids), "dim": int(x.shape[1]), "item_ids": ids}
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def codebook_run(folder: Path, x: np.ndarray | None = None, ids: list[str] | None = None) -> Path:
    """A run imported from the hand-made stack, over ``x`` (default: one item per
    :data:`BASE_CODES` entry, ids ``base-a-b``) with nearest-codeword IDs."""
    from rqvae.importers.import_checkpoint import import_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    if x is None:
        x = np.stack([point(a, b) for a, b in BASE_CODES])
        ids = [f"base-{a}-{b}" for a, b in BASE_CODES]
    np.save(folder / "stack.npy", np.stack([LEVEL_0, LEVEL_1]))
    embeddings = save_items(folder / "base.npy", x, ids)
    import_checkpoint(folder / "stack.npy", embeddings, folder / "run")
    return folder / "run"


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run folder (but the lock file) and its bytes."""
    return {
        str(path.relative_to(run_dir)): path.read_bytes()
        for path in sorted(run_dir.rglob("*"))
        if path.is_file() and path.name != ".lock"
    }
