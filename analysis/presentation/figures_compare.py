"""Plotly figures that compare: Euclidean against Mahalanobis IDs (diagnostic 8) and several
runs (diagnostic 10). Same conventions as :mod:`analysis.presentation.figures`: data in,
titled figure out.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.metrics.curves import smooth
from analysis.presentation.figures import layout

ASSIGNMENT_COLOURS = {"euclidean": "#1f77b4", "mahalanobis": "#ff7f0e"}


# --- 8. Euclidean against Mahalanobis -------------------------------------------------------


def assignment_comparison_figure(comparison) -> go.Figure:
    """Per level: agreement, perplexity, unique-ID ratio of the prefix and purity, both
    assignments side by side (from an :class:`AssignmentComparison`)."""
    figure = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=(
            "items with the same code",
            "perplexity (effective codes)",
            "unique-ID ratio of the prefix",
            "category purity of the prefix",
        ),
    )
    agreement = comparison.agreement
    figure.add_trace(
        go.Bar(
            x=agreement["level"], y=agreement["agreement"], name="same code", marker_color="grey"
        ),
        1,
        1,
    )
    figure.add_trace(
        go.Scatter(
            x=agreement["level"],
            y=agreement["prefix_agreement"],
            name="same prefix",
            mode="lines+markers",
            line=dict(color="black"),
        ),
        1,
        1,
    )
    for name, rows in comparison.levels.groupby("assignment", sort=False):
        colour = ASSIGNMENT_COLOURS.get(name)
        for (row, col), column in (
            ((1, 2), "perplexity"),
            ((2, 1), "unique_id_ratio"),
            ((2, 2), "purity"),
        ):
            figure.add_trace(
                go.Bar(
                    x=rows["level"],
                    y=rows[column],
                    name=name,
                    marker_color=colour,
                    legendgroup=name,
                    showlegend=(row, col) == (1, 2),
                ),
                row,
                col,
            )
    figure.update_xaxes(title_text="level", dtick=1)
    return layout(
        figure, "Euclidean (model) against Mahalanobis assignment", barmode="group", height=600
    )


# --- 10. several runs -------------------------------------------------------------------------


def training_curves(
    curves: pd.DataFrame, metric: str, *, window: int = 1, method: str = "ema"
) -> go.Figure:
    """One metric over epochs for several runs.

    curves : :func:`analysis.reading.run_tables.compare_runs` (``run, epoch, metric, value``).

    With ``window > 1`` the raw curve is drawn faint and the smoothed one (see
    :func:`analysis.metrics.curves.smooth`) on top.
    """
    rows = curves[curves["metric"] == metric]
    figure = go.Figure()
    for index, (run, group) in enumerate(rows.groupby("run", sort=False)):
        group = group.sort_values("epoch")
        colour = _palette(index)
        smoothed = window > 1
        figure.add_trace(
            go.Scatter(
                x=group["epoch"],
                y=group["value"],
                mode="lines",
                name=run,
                line=dict(color=colour, width=1 if smoothed else 2),
                opacity=0.35 if smoothed else 1.0,
                legendgroup=run,
                showlegend=not smoothed,
            )
        )
        if smoothed:
            figure.add_trace(
                go.Scatter(
                    x=group["epoch"],
                    y=smooth(group["value"].to_numpy(), window, method),
                    mode="lines",
                    name=run,
                    line=dict(color=colour, width=2),
                    legendgroup=run,
                )
            )
    suffix = f" ({method} smoothing, window {window})" if window > 1 else ""
    return layout(figure, f"{metric} over epochs{suffix}", "epoch", metric)


def parallel_coordinates(table: pd.DataFrame, dimensions: list[str], color: str | None = None):
    """Runs as lines across hyperparameters and final metrics.

    table : one row per run; dimensions : its columns to draw, left to right. Text columns
    (e.g. ``model.distance``) become categorical axes.
    """
    axes = []
    for column in dimensions:
        values = table[column]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all():
            axes.append(dict(label=column, values=numeric.to_numpy(dtype=float)))
        else:
            codes, names = pd.factorize(values.astype(str))
            axes.append(
                dict(
                    label=column,
                    values=codes,
                    tickvals=list(range(len(names))),
                    ticktext=list(names),
                )
            )
    line = {}
    if color is not None and color in table:
        line = dict(
            color=pd.to_numeric(table[color], errors="coerce").fillna(0),
            colorscale="Viridis",
            showscale=True,
        )
    figure = go.Figure(go.Parcoords(dimensions=axes, line=line))
    layout(figure, "Hyperparameters against final metrics (one line per run)")
    return figure.update_layout(margin=dict(t=110, l=80, r=80))  # room for the axis labels


def _palette(index: int) -> str:
    colours = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
    ]
    return colours[index % len(colours)]
