"""Diagnostic 10: several runs side by side: training curves, final numbers, config differences.

Runs are named by their folder name; when two folders share a name, by their full path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis.metrics.entropy import usage_entropy
from analysis.metrics.usage import codebook_usage
from analysis.reading.run_data import RunData
from rqvae.id_metrics import unique_id_ratio
from rqvae.runs.folder import SEMANTIC_IDS_FILE, Run

# Config keys that differ between any two runs without saying anything about them.
NOISE_KEYS = ("created",)


def compare_runs(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """Every run's ``metrics.jsonl`` as one tidy frame: columns ``run, epoch, metric, value``.

    One row per run, epoch and numeric metric (``epoch`` itself is not repeated as a metric;
    non-numeric fields are dropped). Runs without metrics (imported, or not started) add no
    rows. Sorted by run (in the order given), metric, epoch.
    """
    runs = _runs(run_dirs)
    frames = []
    for name, run in runs.items():
        metrics = run.metrics()
        if metrics.empty or "epoch" not in metrics:
            continue
        numeric = metrics.drop(columns="epoch").apply(pd.to_numeric, errors="coerce")
        numeric = numeric.loc[:, numeric.notna().any()]
        tidy = numeric.assign(epoch=metrics["epoch"].to_numpy()).melt(
            id_vars="epoch", var_name="metric", value_name="value"
        )
        frames.append(tidy.dropna(subset=["value"]).assign(run=name))
    if not frames:
        return pd.DataFrame({"run": [], "epoch": [], "metric": [], "value": []})
    result = pd.concat(frames, ignore_index=True)[["run", "epoch", "metric", "value"]]
    result["run"] = pd.Categorical(result["run"], categories=list(runs), ordered=True)
    result = result.sort_values(["run", "metric", "epoch"], kind="stable")
    result["run"] = result["run"].astype(str)
    return result.reset_index(drop=True)


def final_metrics(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """One row per run: its state, last-epoch metrics and the statistics of its semantic IDs.

    Columns: ``run, kind, state, epochs`` (rows in metrics.jsonl), every metric of the last
    epoch under its own name, and, when ``semantic_ids.parquet`` exists, ``n_items,
    n_levels, codebook_size, ids_unique_ratio`` (distinct L-tuples / items, collision index
    not included), ``ids_used_fraction_l{i}`` (used codes / K) and ``ids_perplexity_l{i}``.
    """
    rows = []
    for name, run in _runs(run_dirs).items():
        row = {"run": name, "kind": run.kind, "state": run.status().get("state", "unknown")}
        metrics = run.metrics()
        row["epochs"] = len(metrics)
        if len(metrics):
            row.update(metrics.iloc[-1].to_dict())
        if (run.path / SEMANTIC_IDS_FILE).exists():
            data = RunData.load(run)
            usage = codebook_usage(data.codes, data.codebook_sizes)
            entropy = usage_entropy(data.codes, data.codebook_sizes)
            row.update(
                n_items=data.n_items,
                n_levels=data.n_levels,
                codebook_size=data.codebook_size,
                ids_unique_ratio=unique_id_ratio(data.codes),
            )
            row.update({f"ids_used_fraction_l{i}": v for i, v in enumerate(usage["used_fraction"])})
            row.update({f"ids_perplexity_l{i}": v for i, v in enumerate(entropy["perplexity"])})
        rows.append(row)
    return pd.DataFrame(rows)


def config_diff(run_dirs: Sequence[str | Path], ignore: Sequence[str] = NOISE_KEYS) -> pd.DataFrame:
    """Flattened config keys whose values differ between the runs.

    Nested keys are joined with dots (``model.codebook_size``); lists and other non-scalar
    values are compared as JSON text. A key missing from a run counts as a difference and
    shows as None. Keys whose last part is in ``ignore`` (default: ``created``) are skipped.
    Columns: ``key`` then one column per run; one row per differing key, sorted by key.
    """
    runs = _runs(run_dirs)
    flat = {name: _flatten(run.config) for name, run in runs.items()}
    keys = sorted(set().union(*flat.values()))
    rows = []
    for key in keys:
        if key.rsplit(".", 1)[-1] in ignore:
            continue
        values = [flat[name].get(key) for name in runs]
        # A missing key differs from an explicit null.
        texts = {
            json.dumps(flat[name].get(key), default=str) if key in flat[name] else ""
            for name in runs
        }
        if len(texts) > 1:
            rows.append({"key": key, **dict(zip(runs, values, strict=True))})
    # Object columns keep each value as written (None stays None, ints stay ints).
    return pd.DataFrame(rows, columns=["key", *runs], dtype=object)


def _runs(run_dirs: Sequence[str | Path]) -> dict[str, Run]:
    runs = [Run(path) for path in run_dirs]
    names = [run.name for run in runs]
    if len(set(names)) < len(names):
        names = [str(run.path) for run in runs]
    return dict(zip(names, runs, strict=True))


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, name + "."))
        elif isinstance(value, list | dict):
            flat[name] = json.dumps(value, default=str)
        else:
            flat[name] = value
    return flat
