"""The downstream probe's results (``RUN/probe.json``, written by ``rqvae probe``) as tables.

:func:`probe_results` puts every probed run's models side by side with their 95% bootstrap
intervals and the quantizer qualities of the same run (unique-ID ratio, level-0 perplexity),
so a reader can see which quantizer qualities go with downstream quality and which
differences the test users support. :func:`probe_comparisons` lists the paired differences
``rqvae probe --compare`` stored. Runs without ``probe.json`` add no rows. Probes made before
intervals existed (schema 1) read with empty interval columns.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.reading.run_tables import final_metrics
from rqvae.errors import InputError
from rqvae.files import read_json
from rqvae.probe import PROBE_FILE
from rqvae.runs.folder import Run

BASE_MODELS = ("item_sasrec", "popularity")  # item_sasrec: absent with item_model off
SEMANTIC_MODELS = ("semantic_pooled", "semantic_tiger", "semantic_sasrec")
MODELS = (*SEMANTIC_MODELS, *BASE_MODELS)
METRICS = ("recall_at_5", "ndcg_at_5", "recall_at_10", "ndcg_at_10")
COLUMNS = [
    "run",
    "kind",
    "model",
    "semantic_default",
    *[f"{metric}{suffix}" for metric in METRICS for suffix in ("", "_low", "_high")],
    "valid_recall_at_10",
    "valid_ndcg_at_10",
    "collisions",
    "naive_recall_at_10",
    "recall_at_10_inflation",
    "parameters",
    "train_seconds",
    "best_epoch",
    "epochs_trained",
    "invalid_share_unconstrained",
    "users",
    "ids_unique_ratio",
    "ids_perplexity_l0",
]
COMPARISON_COLUMNS = [
    "run",
    "other",
    "model",
    "metric",
    "run_value",
    "other_value",
    "difference",
    "difference_low",
    "difference_high",
    "users",
]


def read_probe(run_dir: str | Path) -> dict | None:
    """``probe.json`` of a run, checked; None when the run has not been probed."""
    path = Path(run_dir) / PROBE_FILE
    if not os.path.lexists(path):
        return None
    document = read_json(path, root=run_dir)
    models = document.get("models") if isinstance(document, dict) else None
    if (
        not isinstance(models, dict)
        or "popularity" not in models
        or not any(m in models for m in SEMANTIC_MODELS)
    ):
        raise InputError(
            f"{path}: expected {{'models': {{popularity and one of {', '.join(SEMANTIC_MODELS)}}}}}"
        )
    return document


def semantic_model(probe: dict) -> str:
    """The key of the semantic model a probe's settings chose (schema 1: semantic_sasrec)."""
    return probe.get("semantic_model", "semantic_sasrec")


def probe_results(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """One row per probed run and model (columns :data:`COLUMNS`), test split.

    ``recall_at_10`` etc.: test metrics (definitions in :mod:`rqvae.probe.ranking`: one
    held-out item per user, full catalog ranking; a semantic model's collision-corrected
    value) with ``_low`` / ``_high`` the 95% per-user bootstrap interval (NaN for probes made
    before intervals); ``semantic_default`` marks the semantic model the probe's settings
    chose; ``valid_*`` where measured; ``naive_recall_at_10`` and ``recall_at_10_inflation``
    (naive / corrected - 1) for semantic models; ``invalid_share_unconstrained``: the share of
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
        default = semantic_model(probe)
        for model in MODELS:
            result = probe["models"].get(model)
            if result is None:
                continue
            test, valid = result["test"], result.get("valid") or {}
            row = {
                "run": run.name,
                "kind": run.kind,
                "model": model,
                "semantic_default": model == default,
                "valid_recall_at_10": valid.get("recall_at_10"),
                "valid_ndcg_at_10": valid.get("ndcg_at_10"),
                "collisions": probe.get("settings", {}).get("collisions", "token")
                if model in SEMANTIC_MODELS
                else None,
                "naive_recall_at_10": (result.get("test_naive") or {}).get("recall_at_10"),
                "recall_at_10_inflation": (result.get("collision_inflation") or {}).get(
                    "recall_at_10"
                ),
                "parameters": result.get("parameters"),
                "train_seconds": result.get("train_seconds"),
                "best_epoch": result.get("best_epoch"),
                "epochs_trained": result.get("epochs_trained"),
                "invalid_share_unconstrained": result.get("invalid_share_unconstrained"),
                "users": probe["sequences"].get("users_used"),
                "ids_unique_ratio": final.get("ids_unique_ratio"),
                "ids_perplexity_l0": final.get("ids_perplexity_l0"),
            }
            for metric in METRICS:
                interval = test.get(f"{metric}_ci95") or [np.nan, np.nan]
                row[metric] = test.get(metric, np.nan)
                row[f"{metric}_low"], row[f"{metric}_high"] = interval
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def probe_comparisons(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """One row per stored paired comparison, model and metric (columns
    :data:`COMPARISON_COLUMNS`): ``difference`` = run - other on the same test users, with its
    95% paired bootstrap interval (:mod:`rqvae.probe.compare`)."""
    rows = []
    for run_dir in run_dirs:
        probe = read_probe(run_dir)
        if probe is None:
            continue
        for other, comparison in (probe.get("compare") or {}).items():
            for model, metrics in comparison["models"].items():
                for metric in METRICS:
                    if metric not in metrics:
                        continue
                    entry = metrics[metric]
                    low, high = entry["difference_ci95"]
                    rows.append(
                        {
                            "run": Run(run_dir).name,
                            "other": other,
                            "model": model,
                            "metric": metric,
                            "run_value": entry["a"],
                            "other_value": entry["b"],
                            "difference": entry["difference"],
                            "difference_low": low,
                            "difference_high": high,
                            "users": comparison["users"],
                        }
                    )
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
