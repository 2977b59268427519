"""Figures of the downstream probe, shared by the dashboard page and the report. Runs keep
their colour (:func:`analysis.presentation.run_colours.run_colours`)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from analysis.presentation.columns import column_label
from analysis.presentation.figures import DEFAULT_COLOUR, layout
from analysis.presentation.run_colours import run_colours

MODEL_LABELS = {
    "semantic_sasrec": "semantic-ID SASRec",
    "item_sasrec": "item-ID SASRec",
    "popularity": "popularity",
}


def probe_figure(
    results: pd.DataFrame,
    metric: str = "recall_at_10",
    colours: Mapping[str, str] | None = None,
) -> go.Figure:
    """Grouped bars: ``metric`` per model (x) and run (colour), from
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
                customdata=rows[["ids_unique_ratio", "ids_perplexity_l0"]].to_numpy(),
                hovertemplate=f"{run}: %{{y:.4f}}<br>unique-ID ratio %{{customdata[0]:.4f}}, "
                "level-0 perplexity %{customdata[1]:.1f}<extra></extra>",
            )
        )
    label = column_label(metric)
    figure.update_layout(barmode="group")
    return layout(figure, f"Downstream probe: {label}", "model", label)


def quality_vs_probe_figure(
    results: pd.DataFrame,
    quality: str = "ids_unique_ratio",
    colours: Mapping[str, str] | None = None,
) -> go.Figure:
    """Semantic-ID Recall@10 against a quantizer quality, one labelled point per run."""
    semantic = results[results["model"] == "semantic_sasrec"]
    colours = colours or run_colours(semantic["run"].unique())
    figure = go.Figure()
    for run, rows in semantic.groupby("run", sort=False):
        figure.add_trace(
            go.Scatter(
                x=rows[quality],
                y=rows["recall_at_10"],
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
