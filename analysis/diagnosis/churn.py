"""ID churn between two run folders on one catalog (``rqvae churn RUN_A RUN_B``).

Items are matched by ``item_id``; churn is measured over the items both runs have (a catalog
update adds and removes some, which are counted apart). The metric itself is
:func:`analysis.metrics.churn.id_churn`. JSON layout (``--json``)::

    {"schema": "rqvae-churn/1", "run_a", "run_b", "items_common", "items_only_a",
     "items_only_b", "n_levels_a", "n_levels_b", "seeds_only", "same_data", "full_id_raw",
     "full_id_matched", "levels": [{"level", "prefix_length", "items", "raw_changed",
     "raw_churn", "matched_changed", "matched_churn"}, ...], "findings": [...],
     "history": null | {"sequences", "interactions", "unknown", "tokens", "tokens_changed",
                        "token_churn", "interactions_changed", "interaction_churn",
                        "positions": [{"position", "token", "changed", "share"}, ...]}}

``same_data`` compares the digests both runs' config.json record: the catalogs'
(``data.catalog.sha256``) when both have one, else the embeddings files'
(``data.embeddings_sha256``); null when there is nothing to compare (also when either run was
grown by ``rqvae extend``: its config.json describes only generation 0). When they differ, the
finding ``different_catalogs`` (warning) says so: item ids are only names, and two catalogs
numbered 0..n-1 share every id without sharing an item.

``history`` (with ``--sequences``): the share of the user-history tokens that replacing A's IDs
by B's would change (:func:`analysis.metrics.churn.history_churn`), over the interactions of
the sequences file with A's items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.diagnosis.to_json import json_safe, records
from analysis.metrics.advice import with_advice
from analysis.metrics.behaviour_health import churn_findings
from analysis.metrics.churn import Churn, HistoryChurn, history_churn, id_churn
from analysis.metrics.health import Finding, HealthThresholds
from analysis.reading.behaviour_sequences import read_sequences
from analysis.reading.run_data import RunData
from analysis.reading.run_tables import config_diff
from rqvae.errors import DiagnosticUnavailable
from rqvae.id_metrics import collision_index
from rqvae.runs.extensions import read_history
from rqvae.runs.folder import Run

SCHEMA = "rqvae-churn/1"


@dataclass
class RunChurn:
    """Churn between run A and run B, with the item bookkeeping and the verdict findings.

    seeds_only : the runs' config.json differ in nothing but a seed (so churn is chance).
    same_data : whether the runs were made from the same catalog (or, without catalog digests,
        embeddings), by the digests in config.json; None when they record none to compare.
    """

    name_a: str
    name_b: str
    path_a: Path
    path_b: Path
    items_common: int
    items_only_a: int
    items_only_b: int
    seeds_only: bool
    churn: Churn
    same_data: bool | None = None
    findings: list[Finding] = field(default_factory=list)
    history: HistoryChurn | None = None  # with a sequences file
    sequences: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return json_safe(
            {
                "schema": SCHEMA,
                "run_a": {"name": self.name_a, "path": str(self.path_a)},
                "run_b": {"name": self.name_b, "path": str(self.path_b)},
                "items_common": self.items_common,
                "items_only_a": self.items_only_a,
                "items_only_b": self.items_only_b,
                "n_levels_a": self.churn.n_levels_a,
                "n_levels_b": self.churn.n_levels_b,
                "seeds_only": self.seeds_only,
                "same_data": self.same_data,
                "full_id_raw": self.churn.full_id_raw,
                "full_id_matched": self.churn.full_id_matched,
                "levels": records(self.churn.levels),
                "findings": [finding.to_dict() for finding in self.findings],
                "history": self._history_json(),
            }
        )

    def _history_json(self) -> dict | None:
        history = self.history
        if history is None:
            return None
        return {
            "sequences": str(self.sequences),
            "interactions": history.interactions,
            "unknown": history.unknown,
            "tokens": history.tokens,
            "tokens_changed": history.tokens_changed,
            "token_churn": history.token_churn,
            "interactions_changed": history.interactions_changed,
            "interaction_churn": history.interaction_churn,
            "positions": records(history.positions),
        }


def run_churn(
    run_a: str | Path,
    run_b: str | Path,
    thresholds: HealthThresholds | None = None,
    sequences: str | Path | None = None,
) -> RunChurn:
    """Read both runs' semantic IDs and measure the churn from A to B over their common items;
    with ``sequences`` (a user sequences file) also the user-history tokens that change.

    Raises InputError for an unusable run or sequences file, DiagnosticUnavailable when the
    runs share no item.
    """
    data_a, data_b = RunData.load(run_a), RunData.load(run_b)
    common, rows_a, rows_b = np.intersect1d(
        data_a.item_ids.astype(str), data_b.item_ids.astype(str), return_indices=True
    )
    if len(common) == 0:
        raise DiagnosticUnavailable(
            f"{data_a.run.path} and {data_b.run.path} have no item in common"
        )
    churn = id_churn(data_a.codes[rows_a], data_b.codes[rows_b])
    differing = set(config_diff([data_a.run.path, data_b.run.path])["key"])
    seeds_only = bool(differing) and all(key.rsplit(".", 1)[-1] == "seed" for key in differing)
    names = (data_a.name, data_b.name)
    history = None if sequences is None else _history(data_a, data_b, Path(sequences))
    same_data, data_finding = _same_data(data_a.run, data_b.run)
    findings = churn_findings(churn, thresholds or HealthThresholds(), seeds_only, names)
    return RunChurn(
        name_a=data_a.name,
        name_b=data_b.name,
        path_a=data_a.run.path,
        path_b=data_b.run.path,
        items_common=len(common),
        items_only_a=data_a.n_items - len(common),
        items_only_b=data_b.n_items - len(common),
        seeds_only=seeds_only,
        churn=churn,
        same_data=same_data,
        findings=([data_finding] if data_finding else []) + findings,
        history=history,
        sequences=Path(sequences) if sequences is not None else None,
    )


def _same_data(run_a: Run, run_b: Run) -> tuple[bool | None, Finding | None]:
    """Whether two runs were made from the same data, by the digests in their config.json, and
    the warning when they were not (see the module docstring)."""
    if read_history(run_a.path).extended or read_history(run_b.path).extended:
        return None, None  # config.json's digests cover only the original items
    digests = []
    for run in (run_a, run_b):
        data = run.info.document.get("data") or {}
        catalog = data.get("catalog") if isinstance(data.get("catalog"), dict) else {}
        digests.append((catalog.get("sha256"), data.get("embeddings_sha256")))
    (catalog_a, embeddings_a), (catalog_b, embeddings_b) = digests
    if catalog_a and catalog_b:
        what, first, second = "catalogs", catalog_a, catalog_b
    elif embeddings_a and embeddings_b:
        what, first, second = "embeddings files", embeddings_a, embeddings_b
    else:
        return None, None
    if first == second:
        return True, None
    message = (
        f"{run_a.name} and {run_b.name} were made from different {what} (sha256 "
        f"{str(first)[:12]} vs {str(second)[:12]}): items are matched by item_id, so this "
        "churn means something only if the same id names the same item in both"
    )
    finding = Finding("different_catalogs", "warning", None, message, None, None)
    return False, with_advice([finding], "*")[0]


def _history(data_a: RunData, data_b: RunData, sequences: Path) -> HistoryChurn:
    """The user-history token churn from A's IDs to B's over ``sequences``."""
    histories = read_sequences(sequences, data_a.item_ids)
    in_b = pd.Index(data_b.item_ids).get_indexer(data_a.item_ids)  # B's row of A's items
    tokens_b = np.full((data_a.n_items, data_b.n_levels + 1), -1, dtype=np.int64)
    found = in_b >= 0
    tokens_b[found] = _tokens(data_b)[in_b[found]]
    return history_churn(_tokens(data_a), tokens_b, histories.rows)


def _tokens(data: RunData) -> np.ndarray:
    """Codes and collision index of every item, int64 (n_items, L + 1)."""
    collision = data.collision if data.collision is not None else collision_index(data.codes)
    return np.column_stack([data.codes, collision])
