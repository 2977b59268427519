"""Load what the diagnostics need from a run folder, aligned to the semantic-ID rows.

Every full-run diagnostic starts from :class:`RunData`: the codes of ``semantic_ids.parquet``
(row i = item ``item_ids[i]``) and, aligned to the same rows, the catalog's categories and
titles and the embeddings. Nothing is cached on disk here; categories and titles are read once
per object, embeddings are read on demand (:class:`rqvae.data.embeddings.EmbeddingReader`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.metrics.categories import CategoryTable
from rqvae.data.embeddings import EmbeddingReader, StackedEmbeddings, item_rows, positions_of
from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.files import parquet_columns, read_arrow_table, read_parquet
from rqvae.id_metrics import check_codebook_sizes
from rqvae.ids.last_level import last_level_record
from rqvae.runs.extensions import History, read_history, run_embeddings
from rqvae.runs.folder import ITEMS_FILE, SEMANTIC_IDS_FILE, Run
from rqvae.runs.semantic_ids import CodeTable, read_code_table, read_ids_source


@dataclass
class RunData:
    """One run's semantic IDs and the item data aligned to them.

    table : the checked ID columns (:class:`rqvae.runs.semantic_ids.CodeTable`).
    codebook_sizes : ``K_l`` per level, from config.json.

    codes : int64, shape (n_items, n_levels), the ``code_0..`` columns of semantic_ids.parquet.
    collision : int64, shape (n_items,), or None when the table has no ``collision`` column.
    generation : int64, shape (n_items,), the generation that added each item (all 0 for a
        run never extended, :mod:`rqvae.runs.extensions`).
    item_ids : object array of str, shape (n_items,), made on first use (the ID-only
        diagnostics never need them all: :meth:`item_ids_of` converts a few).
    """

    run: Run
    table: CodeTable = field(repr=False)
    codebook_sizes: list[int]
    _embedding_rows: tuple | None = field(default=None, repr=False, compare=False)
    _stacked: StackedEmbeddings | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, run_dir: str | Path | Run) -> RunData:
        """Read ``semantic_ids.parquet`` and ``config.json`` of a run folder."""
        run = run_dir if isinstance(run_dir, Run) else Run(run_dir)
        path = run.path / SEMANTIC_IDS_FILE
        if not path.exists():
            run.semantic_ids()  # raises the "run `rqvae assign`" message
        table = read_code_table(path, root=run.path)
        info = run.info
        if table.codes.shape[1] != info.levels:
            raise InputError(
                f"{path}: {table.codes.shape[1]} levels of codes, but config.json says "
                f"{info.levels}"
            )
        try:
            sizes = check_codebook_sizes(list(info.codebook_sizes), table.codes, name=str(path))
        except InputError as error:
            raise InputError(f"{run.path}: {error}") from None
        return cls(run, table, sizes)

    @property
    def codes(self) -> np.ndarray:
        return self.table.codes

    @property
    def collision(self) -> np.ndarray | None:
        return self.table.collision

    @property
    def generation(self) -> np.ndarray:
        generation = self.table.generation
        return np.zeros(self.n_items, np.int64) if generation is None else generation

    @property
    def item_ids(self) -> np.ndarray:
        return self.table.item_ids

    def item_ids_of(self, rows) -> list[str]:
        """Ids of the items at ``rows`` (int, semantic-ID rows), converting only those."""
        return self.table.item_ids_of(rows)

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def n_items(self) -> int:
        return self.codes.shape[0]

    @property
    def last_level(self) -> dict | None:
        """How ``assign`` chose the last level (:func:`rqvae.ids.last_level.last_level_record`)."""
        try:
            source = read_ids_source(self.run.path / SEMANTIC_IDS_FILE, root=self.run.path)
        except InputError:  # unreadable metadata: the IDs themselves are still fine
            return None
        return last_level_record(source)

    @property
    def n_levels(self) -> int:
        return self.codes.shape[1]

    @property
    def codebook_size(self) -> int:
        """The largest ``K_l`` (the codebook size, when every level has the same one)."""
        return max(self.codebook_sizes)

    @cached_property
    def items(self) -> pd.DataFrame | None:
        """``item_id, title, categories`` of the run's items.parquet (catalog order), or None.

        The ``text`` and ``raw`` columns are not read: at a million items they cost gigabytes
        and no diagnostic needs them.
        """
        path = self.run.path / ITEMS_FILE
        if not os.path.lexists(path):
            return None
        names = parquet_columns(path, root=self.run.path)
        wanted = [name for name in ("item_id", "title", "categories") if name in names]
        items = read_parquet(path, columns=wanted, root=self.run.path)
        if "item_id" not in items:
            raise InputError(f"{path}: no item_id column")
        return items

    @cached_property
    def _catalog_ids(self) -> np.ndarray | None:
        if self.items is None:
            return None
        return self.items["item_id"].astype(str).to_numpy(dtype=object)

    def _arrow_column(self, path: Path, name: str, dictionary: bool = False):
        """Column ``name`` of the Parquet file ``path`` as pyarrow (``dictionary``: its text
        dictionary-encoded, as :func:`rqvae.files.read_arrow_table`)."""
        column = read_arrow_table(path, [name], dictionary, root=self.run.path).column(name)
        return column if dictionary else column.combine_chunks()

    def _catalog_column(self, name: str, dictionary: bool = False):
        """Column ``name`` of items.parquet (catalog order) as pyarrow, or None without it."""
        path = self.run.path / ITEMS_FILE
        if not os.path.lexists(path) or name not in parquet_columns(path, root=self.run.path):
            return None
        return self._arrow_column(path, name, dictionary)

    @cached_property
    def _catalog_in_id_order(self) -> bool:
        """True when items.parquet lists the semantic-ID rows' items in the same order (what
        ``assign`` and ``import-ids`` write): compared in Arrow, so millions of ids never
        become Python strings just to find out that row i is row i."""
        import pyarrow as pa
        import pyarrow.compute as pc

        catalog = self._catalog_column("item_id")
        if catalog is None or len(catalog) != self.n_items:
            return False
        ids = self.table.item_id_column
        texts = (pa.types.is_string, pa.types.is_large_string)
        if not (any(t(catalog.type) for t in texts) and any(t(ids.type) for t in texts)):
            return False
        catalog, ids = catalog.cast(pa.large_string()), ids.cast(pa.large_string())
        same = pc.all(pc.fill_null(pc.equal(catalog, ids), False)).as_py()
        del catalog, ids
        pa.default_memory_pool().release_unused()  # the catalog's ids: hundreds of MB at 10M
        return bool(same)

    @cached_property
    def _catalog_rows(self) -> np.ndarray | None:
        """Row of items.parquet for each semantic-ID row, or None without items.parquet."""
        if not (self.run.path / ITEMS_FILE).exists():
            return None
        if self._catalog_in_id_order:
            return np.arange(self.n_items)
        if self._catalog_ids is None:
            return None
        positions = positions_of(self._catalog_ids, self.item_ids, self.run.path / ITEMS_FILE)
        missing = np.flatnonzero(positions < 0)
        if len(missing):
            names = ", ".join(self.item_ids[missing[:5]])
            raise InputError(
                f"{self.run.path / ITEMS_FILE}: {len(missing)} items of the semantic IDs "
                f"are not in the catalog (e.g. {names})"
            )
        return positions

    @cached_property
    def categories(self) -> list[list[str]] | None:
        """Category path (root first) of each item, aligned to ``codes``; None without catalog."""
        if self._catalog_rows is None or "categories" not in self.items:
            return None
        column = self.items["categories"].to_numpy(dtype=object)[self._catalog_rows]
        return [[] if path is None else [str(part) for part in path] for path in column]

    @cached_property
    def category_table(self) -> CategoryTable | None:
        """The categories of :attr:`categories` as a :class:`CategoryTable` (aligned to
        ``codes``), read from items.parquet in Arrow: no Python list per item. None without a
        catalog with categories."""
        import pyarrow as pa

        column = self._catalog_column("categories", dictionary=True)
        if column is None:
            return None
        if pa.types.is_null(column.type):  # every path missing
            column = pa.nulls(len(column), pa.list_(pa.string()))
        rows = self._catalog_rows
        table = CategoryTable.from_arrow(column)  # catalog order
        return table if self._catalog_in_id_order else table.take(rows)

    def titles_of(self, rows) -> list[str] | None:
        """Titles of the items at ``rows`` (int, semantic-ID rows), without reading every title
        into Python; None without a catalog with titles."""
        # read for the call and let go: at ten million items the column is hundreds of MB
        column = None if self._catalog_rows is None else self._catalog_column("title")
        if column is None:
            return None
        rows = np.asarray(rows, dtype=np.int64)
        return [str(title) for title in column.take(self._catalog_rows[rows]).to_pylist()]

    @cached_property
    def titles(self) -> list[str] | None:
        """Title of each item, aligned to ``codes``; None without catalog."""
        if self._catalog_rows is None or "title" not in self.items:
            return None
        return self.items["title"].astype(str).to_numpy(dtype=object)[self._catalog_rows].tolist()

    @cached_property
    def history(self) -> History:
        """The run's committed extensions (:mod:`rqvae.runs.extensions`; none for most runs)."""
        return read_history(self.run.path, self.n_items)

    def embeddings(self) -> EmbeddingReader | StackedEmbeddings:
        """The embeddings, row i = item i of ``codes``, read on demand.

        Which file row is which item follows :func:`rqvae.data.embeddings.item_rows`; a run
        grown by ``rqvae extend`` reads its new items from the files its extensions keep
        (:func:`rqvae.runs.extensions.run_embeddings`). Raises :class:`DiagnosticUnavailable`
        when the run names no embeddings file, InputError when a file does not fit the run.
        """
        if self.history.extended:
            if self._stacked is None:  # which file and row is which item: found once
                self._stacked = run_embeddings(
                    self.run, self.item_ids, self._catalog_ids, self.history
                )
            return self._stacked
        path = self.run.embeddings_path
        if path is None:
            raise DiagnosticUnavailable("no embeddings: the run names no embeddings file")
        if not path.exists():
            raise InputError(f"{path}: embeddings file of run {self.name} not found")
        reader = EmbeddingReader(path)
        key = (str(path), reader.file_rows)
        if self._embedding_rows is None or self._embedding_rows[0] != key:
            # which file row is which item: found once per object (a hash join of the ids)
            rows = item_rows(path, reader.file_rows, self.item_ids, self._catalog_ids)
            self._embedding_rows = (key, rows)
        return reader.aligned(self._embedding_rows[1])


def load_run_data(run_dir: str | Path | Run) -> RunData:
    """Shortcut for :meth:`RunData.load`."""
    return RunData.load(run_dir)
