"""What ``rqvae extend`` is given: the input's item ids, and which of them the run already has.

**Which row is which item** (the rules of ``train`` and ``import-ids``):

1. with ``--catalog``: row i is catalog item i (what ``rqvae embed`` writes); when the
   embeddings also have a sidecar, its ids must agree;
2. else the embeddings' sidecar ``item_ids`` (``EMB.json``);
3. else the row numbers ``"0", "1", ...``, the workbench's rule for unnamed rows. Such a file
   can only be the whole grown catalogue, its first rows the run's items in table order (a
   file of new items only would reuse the run's first ids, and is refused as changed items).

The input may hold only the new items or the whole grown catalogue: ids already in the run are
**known**, the others are **new** (appended in input order). A known item keeps its ID byte for
byte, and its embedding must equal the stored one: ``||x_new - x_stored|| <= SAME_EMBEDDING_RTOL
* ||x_stored||`` (Euclidean, per item; 1e-4 passes the last-bit differences of a model re-run
on another machine and catches any re-embedded text). Otherwise ``extend`` refuses unless
``--update``, which keeps the ID, stores the new embedding and records it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rqvae.data.catalog import CatalogSpec
from rqvae.data.embeddings import EmbeddingsFile, sidecar_path
from rqvae.errors import InputError
from rqvae.files import parquet_columns, read_arrow_table
from rqvae.runs.folder import ITEMS_FILE, Run
from rqvae.runs.semantic_ids import python_ids

SAME_EMBEDDING_RTOL = 1e-4
COMPARE_CHUNK = 65_536  # known items compared per chunk
LISTED = 3  # ids named in a message


@dataclass
class ExtendInput:
    """The input rows, named. ids : str (n_rows,); items : the normalised catalog rows (with
    ``--catalog``) or None; ids_from : "catalog" | "sidecar" | "row_number"."""

    embeddings: EmbeddingsFile
    ids: np.ndarray
    items: pd.DataFrame | None
    ids_from: str


def read_input(embeddings: EmbeddingsFile, catalog: CatalogSpec | None) -> ExtendInput:
    """Name every row of ``embeddings`` (module docstring); InputError naming the file for ids
    listed twice, a catalog of another length or ids that disagree with the sidecar."""
    if catalog is not None:
        from rqvae.training.setup import load_items  # the rule `train` applies

        items = load_items(catalog, embeddings)  # unique ids, one per row, sidecar agrees
        ids = items["item_id"].astype(str).to_numpy(dtype=object)
        return ExtendInput(embeddings, ids, items, "catalog")
    if embeddings.item_ids is not None:
        ids = np.asarray(embeddings.item_ids, dtype=object)
        duplicated = pd.Index(ids)[pd.Index(ids).duplicated()]
        if len(duplicated):
            names = ", ".join(map(repr, duplicated[:LISTED]))
            raise InputError(
                f"{sidecar_path(embeddings.path)}: {len(duplicated)} item id(s) listed more than "
                f"once ({names}); each item of the input must appear once"
            )
        return ExtendInput(embeddings, ids, None, "sidecar")
    ids = np.array([str(row) for row in range(embeddings.n_items)], dtype=object)
    return ExtendInput(embeddings, ids, None, "row_number")


def catalog_ids(run: Run) -> np.ndarray | None:
    """The ids of the run's items.parquet in its row order, or None without one."""
    path = run.path / ITEMS_FILE
    if not path.exists():
        return None
    if "item_id" not in parquet_columns(path):
        raise InputError(f"{path}: no item_id column")
    return python_ids(read_arrow_table(path, ["item_id"]).column("item_id"))


def changed_rows(
    incoming: EmbeddingsFile, input_rows: np.ndarray, table_rows: np.ndarray, stored
) -> tuple[np.ndarray, np.ndarray]:
    """Known items whose embedding changed: (positions into ``input_rows``, relative change).

    input_rows : int (k,), rows of the input holding known items; table_rows : int (k,), their
    rows of the run's table; stored : the run's embeddings in table order
    (:func:`rqvae.runs.extensions.run_embeddings`), read in increasing row order.
    """
    order = np.argsort(table_rows, kind="stable")
    changed, change = [], []
    for start in range(0, len(order), COMPARE_CHUNK):
        chunk = order[start : start + COMPARE_CHUNK]
        new = np.asarray(incoming.array[input_rows[chunk]], dtype=np.float64)
        old = np.asarray(stored[table_rows[chunk]], dtype=np.float64)
        difference = np.linalg.norm(new - old, axis=1)
        scale = np.linalg.norm(old, axis=1)
        bad = difference > SAME_EMBEDDING_RTOL * scale
        changed.append(chunk[bad])
        change.append(difference[bad] / np.maximum(scale[bad], np.finfo(np.float64).tiny))
    if not changed:
        return np.zeros(0, np.int64), np.zeros(0)
    positions, change = np.concatenate(changed), np.concatenate(change)
    order = np.argsort(positions)
    return positions[order], change[order]


def refuse_changed(
    incoming: EmbeddingsFile, ids: np.ndarray, rows: np.ndarray, change: np.ndarray
) -> None:
    """InputError naming the input file and the first known items whose embedding changed."""
    listed = ", ".join(
        f"{ids[row]!r} (row {row}, relative difference {value:.3g})"
        for row, value in zip(rows[:LISTED].tolist(), change[:LISTED].tolist(), strict=True)
    )
    raise InputError(
        f"{incoming.path}: {len(rows)} item(s) already in the run have another embedding than "
        f"the stored one (more than {SAME_EMBEDDING_RTOL:g} relative): {listed}; pass --update "
        "to keep their IDs and store the new embeddings (recorded in extensions.json)"
    )
