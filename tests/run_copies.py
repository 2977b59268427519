"""Run folders derived from real runs for the churn tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from rqvae.runs.semantic_ids import level_columns, write_semantic_ids


def permuted_copy(run_dir: Path, out: Path, seed: int = 3) -> Path:
    """A copy of a run folder whose code labels are permuted at every level (same partition)."""
    shutil.copytree(run_dir, out)
    table = pd.read_parquet(out / "semantic_ids.parquet")
    codes = table[level_columns(table)].to_numpy().copy()
    rng = np.random.default_rng(seed)
    for level in range(codes.shape[1]):
        codes[:, level] = rng.permutation(codes[:, level].max() + 1)[codes[:, level]]
    write_semantic_ids(out / "semantic_ids.parquet", table["item_id"].tolist(), codes)
    return out
