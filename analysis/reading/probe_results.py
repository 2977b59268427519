"""The downstream probe's results (``RUN/probe.json``, written by ``rqvae probe``) as tables.

:func:`probe_results` puts every probed run's models side by side with the quantizer
qualities of the same run (unique-ID ratio, level-0 perplexity), so a reader can see which
quantizer qualities go with downstream quality. Runs without ``probe.json`` add no rows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis.reading.run_tables import final_metrics
from rqvae.errors import InputError
from rqvae.files import read_json
from rqvae.probe import PROBE_FILE
from rqvae.runs.folder import Run

MODELS = ("semantic_sasrec", "item_sasrec", "popularity")
COLUMNS = [
    "run",
    "kind",
    "model",
    "recall_at_10",
    "ndcg_at_10",
    "valid_recall_at_10",
    "parameters",
    "train_seconds",
    "invalid_share_unconstrained",
    "users",
    "ids_unique_ratio",
    "ids_perplexity_l0",
]


def read_probe(run_dir: str | Path) -> dict | None:
    """``probe.json`` of a run, checked; None when the run has not been probed."""
    path = Path(run_dir) / PROBE_FILE
    if not os.path.lexists(path):
        return None
    document = read_json(path, root=run_dir)
    models = document.get("models") if isinstance(document, dict) else None
    if not isinstance(models, dict) or not all(m in models for m in MODELS):
        raise InputError(f"{path}: expected {{'models': {{{', '.join(MODELS)}}}}}")
    return document


def probe_results(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """One row per probed run and model (columns :data:`COLUMNS`), test split.

    ``recall_at_10`` / ``ndcg_at_10``: test metrics (definitions in
    :mod:`rqvae.probe.ranking`: one held-out item per user, full catalog ranking);
    ``valid_recall_at_10`` where measured; ``parameters`` and ``train_seconds`` for the
    SASRec models; ``invalid_share_unconstrained`` for the semantic-ID model: the share of
    IDs an unconstrained beam returns that name no item. ``ids_*`` come from
    :func:`analysis.reading.run_tables.final_metrics` of the same run.
    """
    rows = []
    for run_dir in run_dirs:
        probe = read_probe(run_dir)
        if probe is None:
            continue
        run = Run(run_dir)
        final = final_metrics([run_dir]).iloc[0]
        for model in MODELS:
            result = probe["models"][model]
            valid = result.get("valid") or {}
            rows.append(
                {
                    "run": run.name,
                    "kind": run.kind,
                    "model": model,
                    "recall_at_10": result["test"]["recall_at_10"],
                    "ndcg_at_10": result["test"]["ndcg_at_10"],
                    "valid_recall_at_10": valid.get("recall_at_10"),
                    "parameters": result.get("parameters"),
                    "train_seconds": result.get("train_seconds"),
                    "invalid_share_unconstrained": result.get("invalid_share_unconstrained"),
                    "users": probe["sequences"].get("users_used"),
                    "ids_unique_ratio": final.get("ids_unique_ratio"),
                    "ids_perplexity_l0": final.get("ids_perplexity_l0"),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
