"""Load what the diagnostics need from a run folder, aligned to the semantic-ID rows.

Every full-run diagnostic starts from :class:`RunData`: the codes of ``semantic_ids.parquet``
(row i = item ``item_ids[i]``) and, aligned to the same rows, the catalog's categories and
titles and the embeddings. Nothing is cached on disk here; categories and titles are read once
per object, embeddings are memory-mapped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from analysis.checks import check_codebook_size, check_codes
from rqvae.errors import InputError
from rqvae.runs import ITEMS_FILE, SEMANTIC_IDS_FILE, Run, level_columns


@dataclass
class RunData:
    """One run's semantic IDs and the item data aligned to them.

    codes : int64, shape (n_items, n_levels), the ``code_0..`` columns of semantic_ids.parquet.
    collision : int64, shape (n_items,), or None when the table has no ``collision`` column.
    item_ids : object array of str, shape (n_items,).
    codebook_size : K, from config.json (``model.codebook_size`` for trained runs, the top-level
        ``codebook_size`` for imported ones).
    """

    run: Run
    codes: np.ndarray
    collision: np.ndarray | None
    item_ids: np.ndarray
    codebook_size: int

    @classmethod
    def load(cls, run_dir: str | Path | Run) -> RunData:
        """Read ``semantic_ids.parquet`` and ``config.json`` of a run folder."""
        run = run_dir if isinstance(run_dir, Run) else Run(run_dir)
        path = run.path / SEMANTIC_IDS_FILE
        table = _read_id_columns(run, path)
        columns = level_columns(table)
        if not columns or "item_id" not in table:
            raise InputError(f"{path}: expected columns item_id, code_0, code_1, ...")
        if table[columns].isna().any().any():
            raise InputError(f"{path}: some items have missing codes")
        codes = check_codes(table[columns].to_numpy(), name=str(path))
        collision = None
        if "collision" in table:
            if table["collision"].isna().any():
                raise InputError(f"{path}: some items have no collision index")
            collision = table["collision"].to_numpy(np.int64)
        size = _codebook_size(run, codes)
        return cls(
            run=run,
            codes=codes,
            collision=collision,
            item_ids=table["item_id"].astype(str).to_numpy(dtype=object),
            codebook_size=size,
        )

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def n_items(self) -> int:
        return self.codes.shape[0]

    @property
    def n_levels(self) -> int:
        return self.codes.shape[1]

    @cached_property
    def items(self) -> pd.DataFrame | None:
        """``item_id, title, categories`` of the run's items.parquet (catalog order), or None.

        The ``text`` and ``raw`` columns are not read: at a million items they cost gigabytes
        and no diagnostic needs them.
        """
        path = self.run.path / ITEMS_FILE
        if not path.exists():
            return None
        try:
            names = pq.read_schema(path).names
            wanted = [name for name in ("item_id", "title", "categories") if name in names]
            items = pd.read_parquet(path, columns=wanted)
        except Exception as error:  # pyarrow raises several types for damaged files
            raise InputError(f"{path}: cannot read Parquet ({error})") from None
        if "item_id" not in items:
            raise InputError(f"{path}: no item_id column")
        return items

    @cached_property
    def _catalog_rows(self) -> np.ndarray | None:
        """Row of items.parquet for each semantic-ID row, or None without items.parquet."""
        if self.items is None:
            return None
        catalog_ids = self.items["item_id"].astype(str).to_numpy(dtype=object)
        positions = _positions(catalog_ids, self.item_ids, self.run.path / ITEMS_FILE)
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
    def titles(self) -> list[str] | None:
        """Title of each item, aligned to ``codes``; None without catalog."""
        if self._catalog_rows is None or "title" not in self.items:
            return None
        return self.items["title"].astype(str).to_numpy(dtype=object)[self._catalog_rows].tolist()

    def embeddings(self) -> np.ndarray | None:
        """Embeddings aligned to ``codes`` (n_items, dim), or None when the run names none.

        A read-only memmap when the file's rows are already in semantic-ID order (the usual
        case); otherwise the rows are gathered into memory. See :meth:`embedding_rows`.
        """
        matrix = self._embedding_matrix()
        if matrix is None:
            return None
        rows = self.embedding_rows()
        return matrix if rows is None else np.asarray(matrix[rows])

    def embedding_rows(self) -> np.ndarray | None:
        """Row of the embeddings file holding each item, or None when row i is item i.

        The file's row ids come from its JSON sidecar (``EMB.json`` with ``item_ids``), else
        from the run's items.parquet (row i = catalog item i, how ``rqvae embed`` writes them),
        else they are taken to be the semantic-ID order (the row counts must then match).
        """
        matrix = self._embedding_matrix()
        if matrix is None:
            return None
        path = self.run.embeddings_path
        row_ids = self._embedding_row_ids(path, matrix.shape[0])
        if row_ids is None:
            return None
        positions = _positions(row_ids, self.item_ids, path)
        if (positions < 0).any():
            missing = self.item_ids[positions < 0][:5]
            raise InputError(f"{path}: no embedding for items {', '.join(missing)}")
        in_order = len(row_ids) == len(positions) and np.array_equal(
            positions, np.arange(len(positions))
        )
        return None if in_order else positions

    def _embedding_matrix(self) -> np.ndarray | None:
        path = self.run.embeddings_path
        if path is None:
            return None
        if not path.exists():
            raise InputError(f"{path}: embeddings file of run {self.name} not found")
        try:
            matrix = np.load(path, mmap_mode="r")
        except (ValueError, OSError) as error:
            raise InputError(f"{path}: cannot read embeddings ({error})") from None
        if matrix.ndim != 2 or matrix.dtype.kind != "f":
            raise InputError(
                f"{path}: embeddings have shape {matrix.shape} and dtype {matrix.dtype}, "
                "expected a float matrix (n_items, dim)"
            )
        return matrix

    def _embedding_row_ids(self, path: Path, n_rows: int) -> np.ndarray | None:
        """Item id of each embeddings row, or None when rows are in semantic-ID order."""
        sidecar = path.with_suffix(".json")
        if sidecar.exists():
            try:
                ids = json.loads(sidecar.read_text()).get("item_ids")
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                ids = None
            if ids is not None and len(ids) == n_rows:
                return np.asarray([str(i) for i in ids], dtype=object)
        if self.items is not None and len(self.items) == n_rows:
            return self.items["item_id"].astype(str).to_numpy(dtype=object)
        if n_rows == self.n_items:
            return None
        raise InputError(
            f"{path}: {n_rows} embedding rows, but the run has {self.n_items} items and no "
            "sidecar or catalog says which row is which item"
        )


def load_run_data(run_dir: str | Path | Run) -> RunData:
    """Shortcut for :meth:`RunData.load`."""
    return RunData.load(run_dir)


def _read_id_columns(run: Run, path: Path) -> pd.DataFrame:
    """semantic_ids.parquet without the ``sid`` strings (not needed here; 1M of them cost time)."""
    if not path.exists():
        return run.semantic_ids()  # raises the "run `rqvae assign`" message
    try:
        names = pq.read_schema(path).names
        return pd.read_parquet(path, columns=[name for name in names if name != "sid"])
    except Exception as error:  # pyarrow raises several types for damaged files
        raise InputError(f"{path}: cannot read Parquet ({error})") from None


def _codebook_size(run: Run, codes: np.ndarray) -> int:
    config = run.config
    size = config.get("codebook_size")
    if size is None:
        size = config.get("model", {}).get("codebook_size")
    if size is None:
        raise InputError(f"{run.path / 'config.json'}: no codebook_size (model.codebook_size)")
    try:
        return check_codebook_size(size, codes)
    except InputError as error:
        raise InputError(f"{run.path}: {error}") from None


def _positions(haystack: np.ndarray, needles: np.ndarray, source: Path) -> np.ndarray:
    """Index of each needle in ``haystack`` (unique strings), -1 where absent; vectorised."""
    index = pd.Index(haystack)
    if not index.is_unique:
        duplicated = ", ".join(map(repr, index[index.duplicated()][:5]))
        raise InputError(f"{source}: item ids listed more than once: {duplicated}")
    return index.get_indexer(needles)
