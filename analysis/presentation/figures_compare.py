"""Plotly figures that compare: Euclidean against Mahalanobis IDs (diagnostic 8) and several
runs (diagnostic 10). Same conventions as :mod:`analysis.presentation.figures`: data in,
titled figure out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.metrics.curves import smooth
from analysis.presentation.columns import column, column_label, format_value
from analysis.presentation.figures import DEFAULT_COLOUR, layout
from analysis.presentation.run_colours import run_colours

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
        for (row, col), name_of_column in (
            ((1, 2), "perplexity"),
            ((2, 1), "unique_id_ratio"),
            ((2, 2), "purity"),
        ):
            figure.add_trace(
                go.Bar(
                    x=rows["level"],
                    y=rows[name_of_column],
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
    curves: pd.DataFrame,
    metric: str,
    *,
    window: int = 1,
    method: str = "ema",
    colours: Mapping[str, str] | None = None,
    marks: pd.DataFrame | None = None,
    without_history: Mapping[str, str] | None = None,
    threshold: float | None = None,
) -> go.Figure:
    """One metric over epochs for several runs, each in its colour (``colours``, by default
    :func:`analysis.presentation.run_colours.run_colours` of the runs drawn).

    curves : :func:`analysis.reading.run_tables.compare_runs` (``run, epoch, metric, value``).
    With ``window > 1`` the raw curve is drawn faint and the smoothed one (see
    :func:`analysis.metrics.curves.smooth`) on top.
    marks : :func:`analysis.reading.run_tables.training_marks`: a star on the best epoch and
    a cross where training stopped early. without_history : run -> why it has no curve
    (imported runs); each gets a legend entry saying so instead of vanishing, and so does a
    run of ``curves`` that did not record ``metric`` (a baseline has no losses).
    threshold : a horizontal dashed line (the best rule's minimum for this metric).
    """
    rows = curves[curves["metric"] == metric]
    runs = list(dict.fromkeys(rows["run"]))
    colours = colours or run_colours([*runs, *(without_history or {})])
    figure = go.Figure()
    for run, group in rows.groupby("run", sort=False):
        group = group.sort_values("epoch")
        colour = colours.get(run, DEFAULT_COLOUR)
        smoothed = window > 1
        # one point (a baseline's single line) would be an invisible line: draw a marker
        mode = "lines+markers" if len(group) < 3 else "lines"
        figure.add_trace(
            go.Scatter(
                x=group["epoch"],
                y=group["value"],
                mode=mode,
                name=run,
                line=dict(color=colour, width=1 if smoothed else 2),
                opacity=0.35 if smoothed else 1.0,
                legendgroup=run,
                showlegend=not smoothed,
            )
        )
        values = group["value"].to_numpy()
        if smoothed:
            values = smooth(values, window, method)
            figure.add_trace(
                go.Scatter(
                    x=group["epoch"],
                    y=values,
                    mode=mode,
                    name=run,
                    line=dict(color=colour, width=2),
                    legendgroup=run,
                )
            )
        if marks is not None:
            _mark_best_and_stop(figure, group["epoch"].to_numpy(), values, run, colour, marks)
    unrecorded = {
        run: "not recorded by this run"
        for run in dict.fromkeys(curves["run"])
        if run not in runs and run not in (without_history or {})
    }
    for run, reason in {**(without_history or {}), **unrecorded}.items():
        figure.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker=dict(color=colours.get(run, DEFAULT_COLOUR), symbol="line-ew-open"),
                name=f"{run}: {reason}",
            )
        )
    if threshold is not None:
        figure.add_hline(
            y=threshold,
            line=dict(dash="dash", color="grey", width=1),
            annotation_text=f"best rule: at least {threshold:g}",
            annotation_position="bottom right",
        )
    suffix = f" ({method} smoothing, window {window})" if window > 1 else ""
    label = column_label(metric, context="training")
    figure = layout(figure, f"{label} over epochs{suffix}", "epoch", label)
    return figure.update_layout(legend=dict(orientation="h", y=-0.25))


def _mark_best_and_stop(
    figure, epochs, values, run: str, colour: str, marks: pd.DataFrame, *, stop=True, cell=None
):
    """A star on the run's best epoch and, with ``stop``, an "x" on the epoch an early stop
    ended at. cell : ``(row, col)`` of a subplot figure."""
    row = marks[marks["run"] == run]
    if row.empty:
        return
    row = row.iloc[0]
    points = []
    best = row["best_epoch"]
    if best is not None and not (isinstance(best, float) and math.isnan(best)):
        points.append(("best", int(best), "star", 14, f"{run}: best epoch {int(best)}"))
    if stop and row["stopped"] == "early":
        last = int(row["last_epoch"])
        points.append(("stop", last, "x", 11, f"{run}: stopped early at epoch {last}"))
    for _, epoch, symbol, size, text in points:
        where = np.flatnonzero(epochs == epoch)
        if not len(where):
            continue
        figure.add_trace(
            go.Scatter(
                x=[epoch],
                y=[values[where[0]]],
                mode="markers",
                marker=dict(
                    symbol=symbol, size=size, color=colour, line=dict(color="black", width=1)
                ),
                name=text,
                legendgroup=run,
                showlegend=cell is None,
                hovertemplate=text + "<extra></extra>",
            ),
            *(cell or ()),
        )


def best_rule_figure(
    curves: pd.DataFrame,
    marks: pd.DataFrame,
    colours: Mapping[str, str] | None = None,
) -> go.Figure:
    """The best rule's validity checks over epochs: each level's codebook usage and
    ``neighbor_lift_l0``, with the thresholds an epoch must reach (dashed) and the best epoch
    starred. Runs whose training recorded none of these metrics are left out."""
    metrics = sorted(m for m in curves["metric"].unique() if m.startswith("codebook_usage_l"))
    if "neighbor_lift_l0" in set(curves["metric"]):
        metrics.append("neighbor_lift_l0")
    colours = colours or run_colours(curves["run"].unique())
    figure = make_subplots(
        rows=1,
        cols=max(len(metrics), 1),
        subplot_titles=[column_label(metric) for metric in metrics],
    )
    thresholds = {"codebook_usage": "best_min_usage", "neighbor_lift": "best_min_neighbor_lift"}
    for index, metric in enumerate(metrics, start=1):
        rows = curves[curves["metric"] == metric]
        for run, group in rows.groupby("run", sort=False):
            group = group.sort_values("epoch")
            colour = colours.get(run, DEFAULT_COLOUR)
            figure.add_trace(
                go.Scatter(
                    x=group["epoch"],
                    y=group["value"],
                    mode="lines+markers" if len(group) < 3 else "lines",
                    name=run,
                    line=dict(color=colour, width=2),
                    legendgroup=run,
                    showlegend=index == 1,
                ),
                1,
                index,
            )
            _mark_best_and_stop(
                figure, group["epoch"].to_numpy(), group["value"].to_numpy(), run, colour,
                marks, stop=False, cell=(1, index),
            )  # fmt: skip
        setting = thresholds["neighbor_lift" if metric.startswith("neighbor") else "codebook_usage"]
        levels = marks[setting].dropna().unique() if setting in marks else []
        if len(levels) == 1:
            figure.add_hline(
                y=float(levels[0]), line=dict(dash="dash", color="grey", width=1), row=1, col=index
            )
    figure.update_xaxes(title_text="epoch")
    layout(
        figure,
        "Best-rule checks over epochs (an epoch qualifies when every panel is on or above "
        "its dashed line; star: best epoch)",
        height=340,
    )
    return figure.update_layout(legend=dict(orientation="h", y=-0.3))


def runs_profile(
    table: pd.DataFrame,
    dimensions: Sequence[str],
    colours: Mapping[str, str] | None = None,
) -> go.Figure:
    """Runs across settings and final metrics: one coloured, labelled line per run.

    table : one row per run with a ``run`` column; dimensions : its columns, left to right.
    Each axis is scaled to its own range (bottom = lowest run, top = highest) and labelled
    with its rounded end values; every point is labelled with the run's value. Text columns
    become categories spread over the axis. A run with no value on an axis is drawn as a
    hollow marker under the axis labelled "missing", and its line breaks there.
    """
    runs = table["run"].astype(str).tolist()
    colours = colours or run_colours(runs)
    positions, texts, annotations = {}, {}, []
    for index, name in enumerate(dimensions):
        values = table[name]
        numeric = pd.to_numeric(values, errors="coerce")
        kind = column(name).kind
        if numeric.notna().sum() == values.notna().sum() and numeric.notna().any():
            low, high = float(numeric.min()), float(numeric.max())
            span = high - low
            positions[name] = ((numeric - low) / span if span > 0 else numeric * 0 + 0.5).to_numpy()
            texts[name] = [format_value(v, kind) for v in numeric]
            ends = (format_value(low, kind), format_value(high, kind)) if span > 0 else ("", "")
        else:
            present = values.where(values.notna() & (values.astype(str) != ""))
            names = list(dict.fromkeys(present.dropna().astype(str)))
            spread = {n: (i + 0.5) / len(names) for i, n in enumerate(names)}
            positions[name] = np.array([spread.get(str(v), np.nan) if pd.notna(v) else np.nan
                                        for v in present])  # fmt: skip
            texts[name] = [str(v) if pd.notna(v) else "" for v in present]
            ends = ("", "")
        annotations += [
            dict(x=index, y=-0.08, text=ends[0], showarrow=False, font=dict(size=10, color="grey")),
            dict(x=index, y=1.08, text=ends[1], showarrow=False, font=dict(size=10, color="grey")),
        ]
    figure = go.Figure()
    x = list(range(len(dimensions)))
    for row, run in enumerate(runs):
        y = np.array([positions[name][row] for name in dimensions], dtype=float)
        labels = [texts[name][row] for name in dimensions]
        colour = colours.get(run, DEFAULT_COLOUR)
        figure.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines+markers+text",
                text=labels,
                textposition="middle right",
                textfont=dict(color=colour, size=11),
                name=run,
                line=dict(color=colour, width=3),
                marker=dict(size=9, color=colour),
                connectgaps=False,
                hovertemplate=f"{run}<br>%{{customdata}}<extra></extra>",
                customdata=[
                    f"{column_label(n)}: {t or 'missing'}"
                    for n, t in zip(dimensions, labels, strict=True)
                ],  # fmt: skip
            )
        )
        missing = np.isnan(y)
        if missing.any():
            figure.add_trace(
                go.Scatter(
                    x=np.array(x)[missing],
                    y=np.full(missing.sum(), -0.2),
                    mode="markers+text",
                    marker=dict(symbol="circle-open", size=10, color=colour),
                    text=["missing"] * int(missing.sum()),
                    textposition="bottom center",
                    textfont=dict(color=colour, size=10),
                    name=f"{run}: missing",
                    legendgroup=run,
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
    for index in x:
        figure.add_shape(type="line", x0=index, x1=index, y0=0, y1=1, line=dict(color="#ccc"))
    figure.update_xaxes(
        tickvals=x, ticktext=[column_label(name) for name in dimensions], range=[-0.3, len(x) - 0.2]
    )
    figure.update_yaxes(visible=False, range=[-0.32, 1.15])
    layout(figure, "Settings and final metrics, one line per run (axes: lowest to highest run)")
    return figure.update_layout(annotations=annotations, height=460, hovermode="closest")
