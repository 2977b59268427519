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


# --- settings side by side, whatever made the run ------------------------------------------------

TRAINED_ACTIVATION = "silu"  # rqvae.model.network: SiLU between the encoder's Linear layers
# import-ids' format names, as a reader knows the files
ID_FILE_FORMATS = {"lcrec_index": "LC-Rec .index.json", "parquet": "Parquet", "csv": "CSV"}
SOURCE_ORIGINS = {"checkpoint": "from the checkpoint", "flag": "from a flag", "default": "default"}


def settings_table(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """The settings that tell the runs apart, one readable row per setting, whatever made them.

    A trained run's ``model`` / ``train`` settings, an imported checkpoint's ``source``
    settings (format, activation, normalisation: with where each came from) and a baseline's
    method sit in the same rows: "encoder activation" holds ``silu`` for a trained run and
    ``relu (default)`` for an LC-Rec checkpoint. Columns: ``setting`` then one column per run,
    every value a string; ``""`` where a setting does not apply to a run (a baseline has no
    learning rate), never None. Rows where every run is ``""`` or every run has the same
    value are left out, so only differences remain (a single run keeps its non-empty rows).
    """
    runs = _runs(run_dirs)
    columns = {name: _readable_settings(run) for name, run in runs.items()}
    labels = list(dict.fromkeys(label for values in columns.values() for label in values))
    rows = []
    for label in labels:
        values = [columns[name].get(label, "") for name in runs]
        differs = len(set(values)) > 1 or len(values) == 1
        if any(values) and differs:
            rows.append({"setting": label, **dict(zip(runs, values, strict=True))})
    return pd.DataFrame(rows, columns=["setting", *runs], dtype=object)


def _readable_settings(run: Run) -> dict[str, str]:
    """``{row label: value text}`` of one run, in display order."""
    config = run.config
    model, train = config.get("model") or {}, config.get("train") or {}
    source, baseline = config.get("source") or {}, config.get("baseline") or {}
    data = config.get("data") or {}
    catalog = data.get("catalog") if isinstance(data.get("catalog"), dict) else {}
    settings = source.get("settings") or {}
    origins = source.get("settings_from") or {}

    def sourced(key: str) -> str:
        if key not in settings or settings[key] is None:
            return ""
        origin = SOURCE_ORIGINS.get(origins.get(key, ""), origins.get(key, ""))
        value = settings[key]
        text = ("on" if value else "off") if isinstance(value, bool) else str(value)
        return f"{text} ({origin})" if origin else text

    sizes = config.get("codebook_sizes") or []
    made_by = {
        "trained": "rqvae train",
        "imported-checkpoint": f"{source.get('format', '?')} checkpoint",
        "imported-ids": f"{ID_FILE_FORMATS.get(source.get('format'), source.get('format'))} IDs",
        "baseline": str(baseline.get("method", "baseline")),
    }.get(run.kind, run.kind)
    source_file = source.get("checkpoint") or source.get("ids_file")
    hidden = model.get("hidden_dims")
    values = {
        "made by": made_by,
        "source file": Path(str(source_file)).name if source_file else "",
        "levels": _text(config.get("levels")),
        "codes per level": "/".join(map(str, sizes))
        if len(set(sizes)) > 1
        else _text(sizes[0] if sizes else None),
        "distance": _text(config.get("distance")),
        "encoder layers": (
            " → ".join(map(str, [model.get("input_dim"), *hidden, model.get("latent_dim")]))
            if hidden
            else ""
        ),
        "encoder activation": (
            TRAINED_ACTIVATION if run.kind == "trained" else sourced("activation")
        ),
        "codebook normalisation": sourced("codebook_normalize"),
        "residual normalisation": sourced("normalize_residuals"),
        "gradient estimator": _text(model.get("gradient_estimator")),
        "EMA codebooks": _text(model.get("ema")),
        "beta (commitment)": _text(model.get("beta")),
        "k-means init": _text(model.get("kmeans_init")),
        "dead-code threshold": _text(model.get("dead_code_threshold")),
        "balanced clusters": _text(baseline.get("balanced")),
        "learning rate": _text(train.get("lr")),
        "batch size": _text(train.get("batch_size")),
        "epochs (at most)": _text(train.get("epochs")),
        "patience": _text(train.get("patience")),
        "seed": _text(train.get("seed", baseline.get("seed"))),
        "items": _text(data.get("n_items")),
        "embeddings": Path(str(data["embeddings"])).name if data.get("embeddings") else "",
        "catalog": Path(str(catalog["path"])).name if catalog.get("path") else "",
    }
    return values


def _text(value) -> str:
    """A config value as table text: "" for None, "on" / "off" for booleans, lists joined."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


# --- training history: the best epoch and the stop ---------------------------------------------


def training_marks(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """Where each run's training chose its best epoch and where it stopped.

    One row per run with training history (``metrics.jsonl`` lines): ``run``, ``best_epoch``
    (``status.json`` ``best.epoch``; None when the status names none), ``last_epoch`` (the
    last line's ``epoch``), ``stopped`` ("early", "epochs", or "" while training / unknown),
    ``stop_reason`` (``status.json`` text, "" if none) and the best rule's thresholds
    ``best_min_usage`` and ``best_min_neighbor_lift`` (the run's ``train`` settings; defaults
    of :class:`rqvae.model.config.TrainConfig` when a run does not record them; None for runs
    with no training settings, e.g. baselines). Runs without history are left out.
    """
    from rqvae.model.config import TrainConfig

    defaults = TrainConfig()
    rows = []
    for name, run in _runs(run_dirs).items():
        metrics = run.metrics()
        if metrics.empty or "epoch" not in metrics:
            continue
        status = run.status()
        best = status.get("best") if isinstance(status.get("best"), dict) else {}
        train = run.config.get("train") if isinstance(run.config.get("train"), dict) else None
        rows.append(
            {
                "run": name,
                "best_epoch": best.get("epoch"),
                "last_epoch": int(metrics["epoch"].iloc[-1]),
                "stopped": str(status.get("stopped") or ""),
                "stop_reason": str(status.get("stop_reason") or ""),
                "best_min_usage": None
                if train is None
                else train.get("best_min_usage", defaults.best_min_usage),
                "best_min_neighbor_lift": None
                if train is None
                else train.get("best_min_neighbor_lift", defaults.best_min_neighbor_lift),
            }
        )
    columns = ["run", "best_epoch", "last_epoch", "stopped", "stop_reason", "best_min_usage",
               "best_min_neighbor_lift"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def runs_without_history(run_dirs: Sequence[str | Path]) -> dict[str, str]:
    """``{run: why}`` for runs with no training curve: imported runs ("no training history:
    imported IDs") and runs with no ``metrics.jsonl`` line yet; baselines' one line counts as
    history (nothing is trained by gradient, the line holds their ID statistics)."""
    reasons = {}
    for name, run in _runs(run_dirs).items():
        if not run.metrics().empty:
            continue
        if run.kind.startswith("imported"):
            what = "checkpoint" if run.kind == "imported-checkpoint" else "IDs"
            reasons[name] = f"no training history: imported {what}"
        else:
            reasons[name] = "no training history yet"
    return reasons
