"""The append-only ID history of a run: ``RUN/extensions.json``, and the embeddings it adds.

``rqvae extend`` (:mod:`rqvae.ids.extend`) adds items to a run whose IDs exist without moving
any of them. Each call is a *generation*: generation 0 is the original assignment, generation g
the items that extension g added. ``semantic_ids.parquet`` stays the one table every reader
reads; its ``generation`` column says which generation added each row, and the rows of
generation g are appended after all earlier ones, so they are one contiguous block.
``extensions.json`` keeps the history::

    {"schema": "rqvae-extensions/1",
     "base": {"items": n_0, "catalog_items": rows of items.parquet before the first extension
              (null without a catalog)},
     "generations": [
       {"generation": g, "created": ISO time,
        "rows": [start, stop],            # its new items are rows start..stop-1 of the table
        "first_item": id, "last_item": id,
        "added": stop - start, "already_in_run": k, "updated": u,
        "updated_rows": [row, ...],       # earlier items given a new embedding (--update)
        "input": {"embeddings": path, "embeddings_sha256": hex, "catalog": spec | null,
                  "catalog_sha256": hex | null, "item_ids": "catalog" | "sidecar" | "row_number"},
        "embeddings": "extensions/generation_g.npy",   # the added items, then the updated ones
        "checkpoint": {"checkpoint", "file", "epoch", "sha256"},  # what coded the new items
        "last_level": {"rule", "moved", "colliding"},
        "fit": {...}},                    # "extend or retrain?" (rqvae/ids/fit.py)
       ...],
     "reassignments": [{"created", "after_generation", "checkpoint", "churn"}, ...]}

**Commit point.** ``extend`` writes the generation's embeddings file, then extensions.json,
then (with a catalog) items.parquet, and ``semantic_ids.parquet`` last; the table's
``rqvae.ids_source`` metadata says how many generations it holds (``generations``). A
generation that extensions.json lists beyond that number was never committed (its writer was
killed): readers ignore it, and the next ``extend`` writes over it. So ``kill -9`` at any point
leaves the previous table, and a history that agrees with it.

**Embeddings of a grown run** (:func:`run_embeddings`): the generation-0 items are read from
the run's original embeddings file (config.json ``data.embeddings``, which row is which item as
:func:`rqvae.data.embeddings.item_rows` says, with the catalog as it was before the first
extension), the items of generation g from ``extensions/generation_g.npy`` inside the run
folder, and an item given a new embedding by ``--update`` from the file of the latest
generation that updated it. config.json keeps describing the original catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rqvae.data.embeddings import EmbeddingReader, StackedEmbeddings, item_rows
from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.files import atomic_write_json, read_json
from rqvae.runs.folder import SEMANTIC_IDS_FILE, Run
from rqvae.runs.semantic_ids import read_ids_source

EXTENSIONS_FILE = "extensions.json"
EXTENSIONS_DIR = "extensions"
SCHEMA = "rqvae-extensions/1"
# The table's rqvae.ids_source keys: generations it holds, and the last generation whose items
# were placed by one whole assignment (0, or the generation before `assign --reassign-all`).
COMMITTED_KEY = "generations"
ASSIGNED_THROUGH_KEY = "assigned_through_generation"


@dataclass
class Generation:
    """One committed extension. rows : (start, stop), its new items' rows of the table;
    updated_rows : int64 (u,), earlier rows it gave a new embedding; embeddings : its file,
    relative to the run folder; record : its whole entry of extensions.json."""

    number: int
    rows: tuple[int, int]
    updated_rows: np.ndarray
    embeddings: str
    record: dict

    @property
    def added(self) -> int:
        return self.rows[1] - self.rows[0]


@dataclass
class History:
    """What extensions.json says, restricted to the generations the table holds.

    base_items : items of generation 0; base_catalog_items : rows of items.parquet before the
    first extension (None without a catalog); assigned_through : generations ``0..a`` were
    placed by one whole assignment (``rqvae assign``, also ``--reassign-all``), later ones one
    extension at a time.
    """

    base_items: int
    base_catalog_items: int | None
    generations: list[Generation] = field(default_factory=list)
    reassignments: list[dict] = field(default_factory=list)
    assigned_through: int = 0

    @property
    def extended(self) -> bool:
        return bool(self.generations)

    @property
    def last_number(self) -> int:
        return self.generations[-1].number if self.generations else 0

    def document(self) -> dict:
        """The committed history as an extensions.json document."""
        return {
            "schema": SCHEMA,
            "base": {"items": self.base_items, "catalog_items": self.base_catalog_items},
            "generations": [generation.record for generation in self.generations],
            "reassignments": list(self.reassignments),
        }


def generation_file(number: int) -> str:
    """Where generation ``number`` keeps its embeddings, relative to the run folder."""
    return f"{EXTENSIONS_DIR}/generation_{number}.npy"


def read_history(run_dir: str | Path, n_items: int | None = None) -> History:
    """The committed history of ``run_dir`` (an empty one for a run never extended).

    ``n_items`` (the table's rows, when known) is checked against the generations' rows.
    InputError names extensions.json when it is malformed or disagrees with the table.
    """
    run_dir = Path(run_dir)
    ids_path, path = run_dir / SEMANTIC_IDS_FILE, run_dir / EXTENSIONS_FILE
    source = read_ids_source(ids_path, root=run_dir) if ids_path.exists() else None
    committed = _count((source or {}).get(COMMITTED_KEY, 0), ids_path, COMMITTED_KEY)
    through = _count((source or {}).get(ASSIGNED_THROUGH_KEY, 0), ids_path, ASSIGNED_THROUGH_KEY)
    if not path.exists():
        if committed:
            raise InputError(f"{path}: missing, but {ids_path} holds {committed} extension(s)")
        return History(base_items=n_items or 0, base_catalog_items=None)
    document = read_json(path, root=run_dir)
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise InputError(f"{path}: expected a JSON object with schema {SCHEMA!r}")
    base = document.get("base")
    if not isinstance(base, dict):
        raise InputError(f'{path}: "base" must be an object')
    base_items = _count(base.get("items"), path, "base.items")
    catalog_items = base.get("catalog_items")
    if catalog_items is not None:
        catalog_items = _count(catalog_items, path, "base.catalog_items")
    records = document.get("generations")
    reassignments = document.get("reassignments", [])
    if not isinstance(records, list) or not isinstance(reassignments, list):
        raise InputError(f'{path}: "generations" and "reassignments" must be lists')
    if len(records) < committed:
        raise InputError(
            f"{path}: lists {len(records)} generation(s), but {ids_path} holds {committed}"
        )
    generations, stop = [], base_items
    for number, record in enumerate(records[:committed], start=1):
        generation = _generation(record, number, path)
        if generation.rows[0] != stop:
            raise InputError(
                f"{path}: generation {number} starts at row {generation.rows[0]}, expected {stop}"
            )
        stop = generation.rows[1]
        generations.append(generation)
    if n_items is not None and stop != n_items:
        raise InputError(f"{path}: accounts for {stop} items, but {ids_path} has {n_items} rows")
    return History(
        base_items=base_items,
        base_catalog_items=catalog_items,
        generations=generations,
        reassignments=[entry for entry in reassignments if isinstance(entry, dict)],
        assigned_through=through,
    )


def write_history(run_dir: str | Path, history: History) -> None:
    """Write ``history`` as ``RUN/extensions.json`` (atomically)."""
    atomic_write_json(Path(run_dir) / EXTENSIONS_FILE, history.document(), root=run_dir)


def _generation(record, number: int, path: Path) -> Generation:
    if not isinstance(record, dict) or record.get("generation") != number:
        raise InputError(f"{path}: generation {number} is not an object numbered {number}")
    rows = record.get("rows")
    if not (isinstance(rows, list) and len(rows) == 2):
        raise InputError(f"{path}: generation {number}: rows must be [start, stop]")
    start, stop = (_count(value, path, f"generation {number} rows") for value in rows)
    updated = record.get("updated_rows", [])
    if not isinstance(updated, list):
        raise InputError(f"{path}: generation {number}: updated_rows must be a list")
    updated_rows = np.array(
        [_count(row, path, f"generation {number} updated_rows") for row in updated], np.int64
    )
    embeddings = record.get("embeddings")
    if not isinstance(embeddings, str) or Path(embeddings).is_absolute() or ".." in embeddings:
        raise InputError(f"{path}: generation {number}: embeddings must be a path in the run")
    if stop < start or (len(updated_rows) and updated_rows.max() >= start):
        raise InputError(f"{path}: generation {number}: rows {rows} or updated_rows out of order")
    return Generation(number, (start, stop), updated_rows, embeddings, record)


def _count(value, path: Path, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InputError(f"{path}: {name} = {value!r}, expected an integer >= 0")
    return value


# --- the embeddings of a grown run --------------------------------------------------------------


def run_embeddings(
    run: Run,
    item_ids: np.ndarray,
    catalog_ids: np.ndarray | None = None,
    history: History | None = None,
) -> EmbeddingReader | StackedEmbeddings:
    """The embeddings of every item of ``run``'s table, row i = item ``item_ids[i]``, read on
    demand (see the module docstring).

    item_ids : str (n_items,), the table's ids in row order; catalog_ids : the ids of
    items.parquet in its row order, or None. Raises DiagnosticUnavailable when the run names
    no embeddings file, InputError when a file is missing or does not fit.
    """
    path = run.embeddings_path
    if path is None:
        raise DiagnosticUnavailable("no embeddings: the run names no embeddings file")
    if not path.exists():
        raise InputError(f"{path}: embeddings file of run {run.name} not found")
    reader = EmbeddingReader(path)
    history = history if history is not None else read_history(run.path, len(item_ids))
    if not history.extended:
        return reader.aligned(item_rows(path, reader.file_rows, item_ids, catalog_ids))

    base = history.base_items
    catalog = None
    if catalog_ids is not None and history.base_catalog_items is not None:
        catalog = catalog_ids[: history.base_catalog_items]
    base_rows = item_rows(path, reader.file_rows, item_ids[:base], catalog)
    n_items = len(item_ids)
    source = np.zeros(n_items, dtype=np.int64)
    rows = np.empty(n_items, dtype=np.int64)
    rows[:base] = np.arange(base) if base_rows is None else base_rows
    readers = [reader]
    for generation in history.generations:
        added = EmbeddingReader(run.path / generation.embeddings)
        expected = generation.added + len(generation.updated_rows)
        if added.file_rows != expected:
            raise InputError(
                f"{added.path}: {added.file_rows} rows, but generation {generation.number} "
                f"added {generation.added} items and updated {len(generation.updated_rows)}"
            )
        start, stop = generation.rows
        number, updated = len(readers), generation.updated_rows
        readers.append(added)
        source[start:stop], rows[start:stop] = number, np.arange(generation.added)
        source[updated], rows[updated] = number, generation.added + np.arange(len(updated))
    return StackedEmbeddings(readers, source, rows)
