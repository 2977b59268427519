"""Which diagnostics predict downstream recall? A study across runs of one catalog.

``rqvae study --runs R1 R2 ... --sequences F --out study.json`` probes every run (reusing a
``probe.json`` made from the same sequences with the same settings), takes each run's
:func:`~analysis.diagnosis.scorecard.scorecard` (the flat, stably keyed headline diagnostics)
and asks, for every diagnostic, how well it orders the runs as the probe does. This module is
the arithmetic; the command (``cli/study_command.py``) only gathers the inputs.

``study.json``::

    {"schema": 1, "created": ISO time,
     "sequences": {"path", "sha256"}, "probe_settings": {...}, "targets": [TARGETS],
     "catalog_key": CATALOG KEY shared by the runs (None when they differ),
     "runs": [{"name", "path", "kind", "catalog_key", "items", "probe_model",
               "targets": {target: value}, "targets_ci95": {target: [low, high]},
               "diagnostics": {key: value}}, ...],
     "diagnostics": {key: {"label", "unit", "direction", "group"}},
     "correlations": [{"diagnostic", "target", "spearman", "spearman_ci95", "kendall",
                       "kendall_ci95", "n_runs", "resamples_used", "label", "direction"}, ...]}

``correlations`` is grouped by target (Recall@10 first) and within a target sorted by
``|spearman|``, strongest first; undefined correlations (fewer than 3 runs with a value, or
a diagnostic that is constant over the runs) come last with NaN statistics, written as
JSON null. Statistics and intervals: :mod:`analysis.metrics.rank_correlation` (Spearman's
rho, Kendall's tau-b, percentile bootstrap over runs).

A *catalog key* (:func:`catalog_key`) names the set of items a run covers, so a diagnosis
finds the study made on its own catalog (:func:`evidence_for`): findings cite how well their
diagnostic tracked recall there.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from analysis.diagnosis.scorecard import Score
from analysis.metrics.rank_correlation import N_RESAMPLES, rank_correlation

STUDY_SCHEMA = 1
TARGETS = ("recall_at_10", "ndcg_at_10")
TARGET_LABELS = {"recall_at_10": "Recall@10", "ndcg_at_10": "NDCG@10"}
# below this many runs a bootstrap over runs cannot tell much (with 3 runs most resamples are
# degenerate and the interval collapses onto the point): no diagnostic is said to track
MIN_RUNS_TO_CALL = 6
# scorecard keys that are not diagnostics: the targets themselves and the catalog size
NOT_DIAGNOSTICS = ("items", "probe_recall_at_10", "probe_ndcg_at_10")

# finding code -> the scorecard key holding the number it judges ("{level}": the finding's
# level, when it has one). Findings about training history or files have no entry.
FINDING_DIAGNOSTIC = {
    "collapsed_level": "perplexity_l{level}",
    "dead_codes": "used_fraction_l{level}",
    "low_unique_ratio": "unique_id_ratio_assigned",
    "large_collision_group": "largest_collision_group",
    "residual_not_shrinking": "residual_kept_l{level}",
    "residual_growing": "residual_kept_l{level}",
    "latent_rank_collapse": "latent_rank_share",
    "prefixes_ignore_behaviour": "behaviour_lift_l0",
    "popular_items_in_collisions": "unique_id_ratio_assigned",
}


@dataclass(frozen=True)
class StudyRun:
    """One run's inputs to a study.

    name, path, kind : the run (kind: "trained", "imported-ids", "baseline", ...).
    item_ids : the run's item ids (for :func:`catalog_key`).
    card : its :func:`~analysis.diagnosis.scorecard.scorecard`.
    probe : its ``probe.json`` document.
    """

    name: str
    path: str
    kind: str
    item_ids: Sequence[str]
    card: Mapping[str, Score]
    probe: Mapping


def catalog_key(item_ids: Iterable[str]) -> str:
    """SHA-256 (first 16 hex digits) of the sorted distinct item ids joined by newlines: two
    runs over the same items have the same key, whatever their row order."""
    joined = "\n".join(sorted({str(item) for item in item_ids}))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def probe_targets(probe: Mapping) -> tuple[str, dict[str, float], dict[str, list[float]]]:
    """(model key, ``{target: test value}``, ``{target: [low, high]}``) of the probe's
    semantic-ID model (the one its settings chose; older probes: ``semantic_sasrec``)."""
    model = probe.get("semantic_model", "semantic_sasrec")
    test = probe["models"][model]["test"]
    values = {target: float(test[target]) for target in TARGETS}
    intervals = {
        target: [float(x) for x in test[f"{target}_ci95"]]
        for target in TARGETS
        if f"{target}_ci95" in test
    }
    return model, values, intervals


def study(
    runs: Sequence[StudyRun],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> dict:
    """The study document (module docstring) without its provenance fields (``created``,
    ``sequences``, ``probe_settings``: the command adds them).

    runs : at least 3 runs; a diagnostic correlates over the runs that have a value for it.
    n_resamples, seed : the bootstrap over runs of every interval.
    """
    rows, meta = [], {}
    for run in runs:
        model, values, intervals = probe_targets(run.probe)
        diagnostics = {}
        for key, score in run.card.items():
            if key in NOT_DIAGNOSTICS:
                continue
            meta.setdefault(
                key,
                {
                    "label": score.label,
                    "unit": score.unit,
                    "direction": score.direction,
                    "group": score.group,
                },
            )
            diagnostics[key] = score.comparable
        rows.append(
            {
                "name": run.name,
                "path": run.path,
                "kind": run.kind,
                "catalog_key": catalog_key(run.item_ids),
                "items": len(run.item_ids),
                "probe_model": model,
                "targets": values,
                "targets_ci95": intervals,
                "diagnostics": diagnostics,
            }
        )
    keys = list(meta)
    correlations = []
    for target in TARGETS:
        y = np.array([row["targets"][target] for row in rows], dtype=np.float64)
        block = []
        for key in keys:
            x = np.array([_number(row["diagnostics"].get(key)) for row in rows], dtype=np.float64)
            result = rank_correlation(x, y, n_resamples=n_resamples, seed=seed)
            block.append(
                {
                    "diagnostic": key,
                    "target": target,
                    "spearman": _json_float(result.spearman),
                    "spearman_ci95": [_json_float(v) for v in result.spearman_ci95],
                    "kendall": _json_float(result.kendall),
                    "kendall_ci95": [_json_float(v) for v in result.kendall_ci95],
                    "n_runs": result.n_runs,
                    "resamples_used": result.resamples_used,
                    "label": meta[key]["label"],
                    "direction": meta[key]["direction"],
                }
            )
        block.sort(key=_strength)
        correlations.extend(block)
    catalogs = {row["catalog_key"] for row in rows}
    return {
        "schema": STUDY_SCHEMA,
        "targets": list(TARGETS),
        "catalog_key": catalogs.pop() if len(catalogs) == 1 else None,
        "runs": rows,
        "diagnostics": meta,
        "correlations": correlations,
    }


def correlation_for(document: Mapping, diagnostic: str, target: str = TARGETS[0]) -> dict | None:
    """The study's correlation entry of ``diagnostic`` with ``target``, or None."""
    for entry in document.get("correlations", []):
        if entry.get("diagnostic") == diagnostic and entry.get("target") == target:
            return entry
    return None


def evidence_for(
    document: Mapping, code: str, level: int | None = None, target: str = TARGETS[0]
) -> str | None:
    """One sentence on how the diagnostic behind finding ``code`` tracked ``target`` in the
    study ``document``, e.g. "on this catalog, level 0: perplexity tracked Recall@10:
    Spearman 0.71 [0.40, 0.88] over 16 runs"; None when the finding has no diagnostic
    (:data:`FINDING_DIAGNOSTIC`) or the study has no defined correlation for it.

    "tracked" when the interval excludes 0 in the direction the diagnostic is meant to go
    (higher-is-better: positive), "went against" when it excludes 0 the other way, "did not
    clearly track" when it contains 0; with fewer than :data:`MIN_RUNS_TO_CALL` runs, no call.
    """
    template = FINDING_DIAGNOSTIC.get(code)
    if template is None:
        return None
    key = template.format(level=0 if level is None else level)
    entry = correlation_for(document, key, target)
    if entry is None or entry.get("spearman") is None:
        return None
    rho = float(entry["spearman"])
    low, high = entry["spearman_ci95"]
    sign = -1.0 if entry.get("direction") == "lower is better" else 1.0
    defined = low is not None and high is not None
    if entry["n_runs"] < MIN_RUNS_TO_CALL:
        verb = "could not be judged (too few runs) against"
    elif defined and (low > 0 or high < 0):
        agrees = (rho > 0) == (sign > 0)
        verb = "tracked" if agrees else "went against"
    else:
        verb = "did not clearly track"
    interval = f" [{low:.2f}, {high:.2f}]" if defined else ""
    label = entry.get("label", key)
    label = label[0].lower() + label[1:] if label else key
    return (
        f"on this catalog, {label} {verb} {TARGET_LABELS.get(target, target)}: "
        f"Spearman {rho:.2f}{interval} over {entry['n_runs']} runs"
    )


def _number(value) -> float:
    if value is None:
        return math.nan
    return float(value)


def _json_float(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _strength(entry: Mapping) -> tuple[int, float]:
    rho = entry["spearman"]
    return (1, 0.0) if rho is None else (0, -abs(rho))
