"""``source_ids.parquet``: the IDs another codebase wrote for the items of an imported checkpoint.

LC-Rec / LETTER re-assign colliding items with a Sinkhorn pass before writing their
``*.index.json``; RQ-VAE-Recommender and others append a counter. Keeping that file next to
the raw IDs the checkpoint assigns (``semantic_ids.parquet``) lets the diagnostics show what the
codebase's collision handling did (:mod:`analysis.metrics.resolution`). Same columns as
``semantic_ids.parquet``, rows in the run's item order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rqvae.errors import InputError
from rqvae.runs.semantic_ids import write_semantic_ids

SOURCE_IDS_FILE = "source_ids.parquet"


def write_source_ids(run_dir: Path, ids_path: Path, item_ids: list[str]) -> pd.DataFrame:
    """Read ``ids_path`` (any file ``rqvae import-ids`` reads), put its rows in the order of
    ``item_ids`` and write ``run_dir/source_ids.parquet``. InputError when it lacks an item."""
    from rqvae.importers.import_ids import read_id_file

    file_ids, codes, _ = read_id_file(ids_path)
    positions = pd.Index(file_ids.astype(str)).get_indexer(np.asarray(item_ids, dtype=str))
    missing = np.flatnonzero(positions < 0)
    if len(missing):
        shown = ", ".join(repr(item_ids[i]) for i in missing[:5])
        raise InputError(
            f"{ids_path}: has no IDs for {len(missing)} of the {len(item_ids)} items (e.g. {shown})"
        )
    return write_semantic_ids(Path(run_dir) / SOURCE_IDS_FILE, item_ids, codes[positions])
