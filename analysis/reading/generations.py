"""A run's generations (``rqvae extend``): items per generation, their fit, the newest items.

Read from ``RUN/extensions.json`` and ``semantic_ids.parquet`` (:mod:`rqvae.runs.extensions`);
only committed generations count. Generation 0 is the original assignment. The fit numbers of
generation g >= 1 are those ``rqvae extend`` measured when it added the items
(:mod:`rqvae.ids.fit`): quantization error and nearest-codeword distances of the new items
against the generation-0 items, the share of new items above the originals' 95th
percentile, prefixes, level-0 balance and the recommendation ("extend" / "retrain").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rqvae.errors import InputError
from rqvae.files import parquet_columns, read_arrow_table
from rqvae.runs.extensions import History, read_history
from rqvae.runs.folder import ITEMS_FILE, SEMANTIC_IDS_FILE, Run
from rqvae.runs.semantic_ids import GENERATION_COLUMN, python_ids

NEWEST_SHOWN = 20


@dataclass
class Generations:
    """The generations of one run.

    table : one row per generation, 0 first: ``generation, created, items`` (items it added),
        ``updated, recommendation, quantization_error_above_p95, worst_level,
        distance_above_p95, colliding, moved, crowded_share, filled_prefixes,
        level0_total_variation`` (the fit columns are NaN / None for generation 0).
    fit_levels : the per-level fit of every extension: ``generation, measure`` ("level l
        distance" or "quantization error"), ``reference_p50, reference_p95, new_p50,
        new_p95, share_above_reference_p95``.
    history : what extensions.json says (:class:`rqvae.runs.extensions.History`).
    """

    table: pd.DataFrame
    fit_levels: pd.DataFrame
    history: History

    @property
    def latest(self) -> dict:
        """The extensions.json record of the newest generation."""
        return self.history.generations[-1].record


def run_generations(run_dir: str | Path) -> Generations | None:
    """The generations of ``run_dir``, or None for a run never extended."""
    run = Run(run_dir)
    if not (run.path / SEMANTIC_IDS_FILE).exists():
        return None
    history = read_history(run.path)
    if not history.extended:
        return None
    rows = [
        {
            "generation": 0,
            "created": run.info.document.get("created"),
            "items": history.base_items,
            "updated": 0,
            "recommendation": None,
        }
    ]
    levels = []
    for generation in history.generations:
        record, fit = generation.record, generation.record.get("fit") or {}
        rows.append(
            {
                "generation": generation.number,
                "created": record.get("created"),
                "items": generation.added,
                "updated": len(generation.updated_rows),
                **_fit_columns(fit),
            }
        )
        measures = [(f"level {row['level']} distance", row) for row in fit.get("levels", [])]
        if "quantization_error" in fit:
            measures.append(("quantization error", fit["quantization_error"]))
        for name, row in measures:
            levels.append({"generation": generation.number, "measure": name, **_quantiles(row)})
    return Generations(pd.DataFrame(rows), pd.DataFrame(levels), history)


def _fit_columns(fit: dict) -> dict:
    levels = fit.get("levels", [])
    shares = [row.get("share_above_reference_p95") for row in levels]
    known = [share for share in shares if share is not None]
    worst = shares.index(max(known)) if known else None
    return {
        "recommendation": fit.get("recommendation"),
        "quantization_error_above_p95": _number(
            fit.get("quantization_error", {}).get("share_above_reference_p95")
        ),
        "worst_level": worst,
        "distance_above_p95": _number(max(known) if known else None),
        "colliding": fit.get("colliding", {}).get("items"),
        "crowded_share": _number(fit.get("crowded", {}).get("share")),
        "filled_prefixes": fit.get("filled", {}).get("prefixes"),
        "level0_total_variation": _number(fit.get("level0", {}).get("total_variation")),
    }


def _quantiles(row: dict) -> dict:
    reference, new = row.get("reference") or {}, row.get("new") or {}
    return {
        "reference_p50": _number(reference.get("p50")),
        "reference_p95": _number(reference.get("p95")),
        "new_p50": _number(new.get("p50")),
        "new_p95": _number(new.get("p95")),
        "share_above_reference_p95": _number(row.get("share_above_reference_p95")),
    }


def _number(value) -> float:
    return float(value) if isinstance(value, int | float) else np.nan


def newest_items(run_dir: str | Path, limit: int = NEWEST_SHOWN) -> pd.DataFrame:
    """The ``limit`` items added last, newest first: ``item_id, title, generation, sid``.

    Items are appended in the order extensions add them, so the newest are the table's last
    rows; only those rows' ids and titles become Python strings. Titles are "" without a
    catalog; ``generation`` is 0 for a table without the column.
    """
    if limit < 1:
        raise InputError(f"limit must be at least 1, got {limit}")
    path = Run(run_dir).path / SEMANTIC_IDS_FILE
    names = parquet_columns(path)
    wanted = [name for name in ("item_id", "sid", GENERATION_COLUMN) if name in names]
    table = read_arrow_table(path, wanted)
    last = table.num_rows - 1
    table = table.take(np.arange(last, max(last - limit, -1), -1))  # newest first
    ids = python_ids(table.column("item_id"))
    newest = pd.DataFrame(
        {
            "item_id": ids,
            "title": _titles(Path(run_dir), ids),
            "generation": table.column(GENERATION_COLUMN).to_numpy()
            if GENERATION_COLUMN in wanted
            else np.zeros(len(ids), dtype=np.int64),
            "sid": table.column("sid").to_pylist() if "sid" in wanted else [""] * len(ids),
        }
    )
    return newest


def item_generations(run_dir: str | Path) -> np.ndarray:
    """The generation of every row of ``semantic_ids.parquet``, int64 (n_items,), in table
    order (0 = the original assignment; all 0 for a table without the column). The item map
    colours its points by it (their ``item_index`` is the row)."""
    path = Run(run_dir).path / SEMANTIC_IDS_FILE
    if GENERATION_COLUMN not in parquet_columns(path):
        import pyarrow.parquet as pq

        return np.zeros(pq.read_metadata(path).num_rows, dtype=np.int64)
    column = read_arrow_table(path, [GENERATION_COLUMN]).column(GENERATION_COLUMN)
    return column.to_numpy().astype(np.int64)


def _titles(run_dir: Path, ids: np.ndarray) -> list[str]:
    path = run_dir / ITEMS_FILE
    if not path.exists() or not {"item_id", "title"} <= set(parquet_columns(path)):
        return [""] * len(ids)
    import pyarrow as pa
    import pyarrow.compute as pc

    catalog = read_arrow_table(path, ["item_id", "title"])
    catalog_ids = catalog.column("item_id").cast(pa.large_string())
    found = pc.index_in(pa.array(list(ids), pa.large_string()), value_set=catalog_ids)
    titles = catalog.column("title").take(pc.fill_null(found, 0)).to_pylist()
    return [
        "" if row is None or title is None else str(title)
        for row, title in zip(found.to_pylist(), titles, strict=True)
    ]
