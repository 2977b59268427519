"""Figures and display tables of the downstream probe, shared by the dashboard page and the
report. Runs keep their colour (:func:`analysis.presentation.run_colours.run_colours`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.presentation.columns import column_label
from analysis.presentation.figures import DEFAULT_COLOUR, layout
from analysis.presentation.run_colours import run_colours

MODEL_LABELS = {
    "semantic_pooled": "semantic-ID pooled SASRec",
    "semantic_tiger": "semantic-ID TIGER",
    "semantic_sasrec": "semantic-ID SASRec",
    "item_sasrec": "item-ID SASRec",
    "popularity": "popularity",
}
METRIC_LABELS = {
    "recall_at_5": "Recall@5",
    "ndcg_at_5": "NDCG@5",
    "recall_at_10": "Recall@10",
    "ndcg_at_10": "NDCG@10",
}


def probe_figure(
    results: pd.DataFrame,
    metric: str = "recall_at_10",
    colours: Mapping[str, str] | None = None,
) -> go.Figure:
    """Grouped bars: test ``metric`` per model (x) and run (colour), with its 95% per-user
    bootstrap interval as error bars where the probe has one, from
    :func:`analysis.reading.probe_results.probe_results`."""
    colours = colours or run_colours(results["run"].unique())
    figure = go.Figure()
    for run, rows in results.groupby("run", sort=False):
        figure.add_trace(
            go.Bar(
                x=rows["model"].map(MODEL_LABELS).fillna(rows["model"]),
                y=rows[metric],
                name=run,
                marker_color=colours.get(run, DEFAULT_COLOUR),
                error_y=_interval_bars(rows, metric),
                customdata=rows[["ids_unique_ratio", "ids_perplexity_l0"]].to_numpy(),
                hovertemplate=f"{run}: %{{y:.4f}}<br>unique-ID ratio %{{customdata[0]:.4f}}, "
                "level-0 perplexity %{customdata[1]:.1f}<extra></extra>",
            )
        )
    label = METRIC_LABELS.get(metric, column_label(metric))
    figure.update_layout(barmode="group")
    return layout(
        figure,
        f"Downstream probe: test {label} (bars: 95% bootstrap interval)",
        "model",
        f"{label} (test)",
    )


def quality_vs_probe_figure(
    results: pd.DataFrame,
    quality: str = "ids_unique_ratio",
    colours: Mapping[str, str] | None = None,
) -> go.Figure:
    """The chosen semantic model's test Recall@10 (with its interval) against a quantizer
    quality, one labelled point per run."""
    semantic = results[results["semantic_default"].astype(bool)]
    colours = colours or run_colours(semantic["run"].unique())
    figure = go.Figure()
    for run, rows in semantic.groupby("run", sort=False):
        figure.add_trace(
            go.Scatter(
                x=rows[quality],
                y=rows["recall_at_10"],
                error_y=_interval_bars(rows, "recall_at_10"),
                mode="markers+text",
                text=[run] * len(rows),
                textposition="top center",
                marker=dict(size=12, color=colours.get(run, DEFAULT_COLOUR)),
                name=run,
            )
        )
    return layout(
        figure,
        f"Semantic-ID Recall@10 against {column_label(quality)}",
        column_label(quality),
        "Recall@10 (test)",
    )


def _interval_bars(rows: pd.DataFrame, metric: str) -> dict:
    """Plotly error bars from the ``_low`` / ``_high`` columns (none where they are NaN)."""
    return dict(
        type="data",
        symmetric=False,
        array=(rows[f"{metric}_high"] - rows[metric]).to_numpy(dtype=float),
        arrayminus=(rows[metric] - rows[f"{metric}_low"]).to_numpy(dtype=float),
    )


def probe_display_table(results: pd.DataFrame) -> pd.DataFrame:
    """The probe table as people read it: labelled columns, each metric as
    ``0.0512 [0.0481, 0.0544]`` (value and 95% interval), empty cells instead of None."""
    table = pd.DataFrame(
        {
            "Run": results["run"],
            "Model": results["model"].map(MODEL_LABELS).fillna(results["model"]),
        }
    )
    for metric, label in METRIC_LABELS.items():
        table[f"Test {label} [95% CI]"] = [
            _with_interval(value, low, high)
            for value, low, high in zip(
                results[metric], results[f"{metric}_low"], results[f"{metric}_high"], strict=True
            )
        ]
    table["Validation Recall@10"] = results["valid_recall_at_10"].map(_number)
    table["Naive Recall@10 (shared IDs)"] = [
        _number(naive) if collisions == "shared" else ""
        for naive, collisions in zip(
            results["naive_recall_at_10"], results["collisions"], strict=True
        )
    ]
    table["Inflation"] = [
        f"{inflation:+.1%}" if collisions == "shared" and _finite(inflation) else ""
        for inflation, collisions in zip(
            results["recall_at_10_inflation"], results["collisions"], strict=True
        )
    ]
    table["Best epoch / trained"] = [
        f"{int(best)} / {int(trained)}" if _finite(best) and _finite(trained) else ""
        for best, trained in zip(results["best_epoch"], results["epochs_trained"], strict=True)
    ]
    table["Invalid IDs unconstrained"] = results["invalid_share_unconstrained"].map(
        lambda share: f"{share:.1%}" if _finite(share) else ""
    )
    table["Unique-ID ratio"] = results["ids_unique_ratio"].map(_number)
    return table


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def _number(value) -> str:
    return f"{value:.4f}" if _finite(value) else ""


def _with_interval(value, low, high) -> str:
    if not _finite(value):
        return ""
    if not (_finite(low) and _finite(high)):
        return f"{value:.4f}"
    return f"{value:.4f} [{low:.4f}, {high:.4f}]"
