"""Figures of the downstream probe, shared by the dashboard page and the report."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

MODEL_LABELS = {
    "semantic_sasrec": "semantic-ID SASRec",
    "item_sasrec": "item-ID SASRec",
    "popularity": "popularity",
}


def probe_figure(results: pd.DataFrame, metric: str = "recall_at_10") -> go.Figure:
    """Grouped bars: ``metric`` per run (x) and model (colour), from
    :func:`analysis.reading.probe_results.probe_results`."""
    frame = results.assign(model=results["model"].map(MODEL_LABELS).fillna(results["model"]))
    figure = px.bar(
        frame,
        x="run",
        y=metric,
        color="model",
        barmode="group",
        hover_data=["ids_unique_ratio", "ids_perplexity_l0"],
        labels={metric: metric.replace("_at_", "@").replace("_", " ")},
    )
    figure.update_layout(title=f"Downstream probe: test {metric.replace('_at_', '@')}")
    return figure


def quality_vs_probe_figure(results: pd.DataFrame, quality: str = "ids_unique_ratio") -> go.Figure:
    """Semantic-ID Recall@10 against a quantizer quality, one point per run."""
    semantic = results[results["model"] == "semantic_sasrec"]
    figure = px.scatter(semantic, x=quality, y="recall_at_10", text="run")
    figure.update_traces(textposition="top center")
    figure.update_layout(title=f"Semantic-ID Recall@10 vs {quality}")
    return figure
