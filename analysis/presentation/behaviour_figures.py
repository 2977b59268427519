"""Figures of the embedding and behaviour diagnostics (report and dashboard share them).

Every builder takes results (dataclasses, DataFrames) and returns a plotly Figure; options a
dashboard control changes (log axis, prefix length) are plain arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.metrics.churn import Churn
from analysis.metrics.embedding_geometry import EmbeddingGeometry
from analysis.presentation.figures import DEFAULT_COLOUR, layout, log_axis

SPACE_COLOURS = {"input": "#1f77b4", "latent": "#ff7f0e"}
GROUP_COLOURS = {"head": "#d62728", "tail": "#1f77b4", "cold": "#7f7f7f"}
MIN_LOG_SHARE = 1e-9  # variance shares below this are not drawn on a log axis


def norm_histogram(geometry: EmbeddingGeometry, bins: int = 60) -> go.Figure:
    """Histogram of the rows' L2 norms of one space. When every norm is 1 up to rounding
    (:meth:`EmbeddingGeometry.unit_norm`), the figure says "all embeddings are L2-normalised"
    instead of plotting float noise around 1."""
    title = f"{geometry.space.capitalize()} norms ({geometry.n_items:,} items, dim {geometry.dim})"
    if geometry.unit_norm():
        spread = float(np.abs(geometry.norms - 1.0).max())
        figure = go.Figure()
        figure.add_annotation(
            text=f"all {geometry.n_items:,} {_space_noun(geometry)} are L2-normalised<br>"
            f"(every norm is 1 within {spread:.0e})",
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
            showarrow=False,
            font=dict(size=16),
        )
        figure.update_xaxes(visible=False)
        figure.update_yaxes(visible=False)
        return layout(figure, title, height=300)
    figure = go.Figure(
        go.Histogram(
            x=geometry.norms,
            nbinsx=bins,
            marker_color=SPACE_COLOURS.get(geometry.space, "#1f77b4"),
            name=geometry.space,
        )
    )
    return layout(figure, title, "L2 norm", "items")


def _space_noun(geometry: EmbeddingGeometry) -> str:
    return "input embeddings" if geometry.space == "input" else f"{geometry.space} vectors"


def spectrum_figure(geometries: Sequence[EmbeddingGeometry], log_y: bool = True) -> go.Figure:
    """Share of the variance per principal component, one line per space, with the effective
    rank (participation ratio) in the legend."""
    figure = go.Figure()
    for geometry in geometries:
        spectrum = geometry.spectrum()
        shares = spectrum["variance_share"].to_numpy(dtype=float)
        if log_y:
            # Directions with no variance at all (round-off, ~1e-18) would stretch a log axis
            # over 15 decades; they are left out of the line, not out of the effective rank.
            shares = np.where(shares > MIN_LOG_SHARE, shares, np.nan)
        figure.add_trace(
            go.Scatter(
                x=spectrum["component"],
                y=shares,
                mode="lines+markers",
                marker=dict(size=3),
                line=dict(color=SPACE_COLOURS.get(geometry.space)),
                name=f"{geometry.space}: effective rank {geometry.effective_rank:.1f}",
                customdata=spectrum["cumulative_share"],
                hovertemplate="component %{x}: %{y:.3%} (cumulative %{customdata:.1%})"
                "<extra></extra>",
            )
        )
    if log_y:
        log_axis(figure, percent=True)
    else:
        figure.update_yaxes(tickformat=".1%")
    return layout(figure, "Eigenvalue spectrum", "principal component", "share of variance")


def alignment_figure(levels: pd.DataFrame, log_y: bool = True) -> go.Figure:
    """Per prefix length: share of co-occurring pairs sharing the prefix against random and
    popularity-matched random pairs (:func:`analysis.metrics.behaviour.behavioural_alignment`)."""
    x = [f"prefix {length}" for length in levels["prefix_length"]]
    series = (
        ("cooccurring_share", "co-occurring pairs", "#2ca02c"),
        ("popularity_share", "popularity-matched random pairs", "#ff7f0e"),
        ("random_share", "random pairs", "#7f7f7f"),
    )
    figure = go.Figure(
        [
            go.Bar(x=x, y=levels[column], name=name, marker_color=colour)
            for column, name, colour in series
        ]
    )
    figure.update_layout(barmode="group")
    if log_y:
        log_axis(figure, percent=True)
    return layout(figure, "Pairs that share the ID prefix", None, "share of pairs")


def popularity_groups_figure(groups: pd.DataFrame) -> go.Figure:
    """Mean number of items sharing an item's prefix, per popularity group and prefix length."""
    figure = go.Figure()
    for name, rows in groups[groups["items"] > 0].groupby("group", sort=False):
        figure.add_trace(
            go.Bar(
                x=[f"prefix {length}" for length in rows["prefix_length"]],
                y=rows["mean_group_size"],
                name=f"{name} ({int(rows['items'].iloc[0]):,} items)",
                marker_color=GROUP_COLOURS.get(name),
                customdata=rows["shared_share"],
                hovertemplate="%{y:.2f} items share the prefix; %{customdata:.1%} of the "
                "group's items share it<extra></extra>",
            )
        )
    figure.update_layout(barmode="group")
    log_axis(figure)
    return layout(
        figure, "Crowding by popularity: items sharing each item's prefix", None, "mean items"
    )


def fanout_figure(
    prefixes: pd.DataFrame, prefix_length: int = 1, colour: str = DEFAULT_COLOUR
) -> go.Figure:
    """Children per prefix against the prefix's interactions (one dot per prefix, the run's
    colour)."""
    rows = prefixes[prefixes["prefix_length"] == prefix_length]
    figure = go.Figure(
        go.Scatter(
            x=rows["interactions"].clip(lower=0.5),  # log axis: 0 interactions sit at 0.5
            y=rows["fanout"],
            mode="markers",
            marker=dict(
                size=np.clip(np.sqrt(rows["items"].to_numpy()) * 2, 4, 30),
                opacity=0.6,
                color=colour,
            ),
            customdata=np.stack([rows["prefix"], rows["items"]], axis=1) if len(rows) else None,
            hovertemplate="prefix %{customdata[0]}: %{customdata[1]} items, %{x} interactions, "
            "%{y} children<extra></extra>",
        )
    )
    log_axis(figure, "x")
    return layout(
        figure,
        f"Fan-out against popularity, prefixes of length {prefix_length}",
        "interactions under the prefix",
        "children (distinct next codes)",
    )


def churn_figure(
    churn: Churn, names: tuple[str, str] = ("A", "B"), colours: dict[str, str] | None = None
) -> go.Figure:
    """Raw and matched churn per prefix length between two runs, in run B's colour (raw
    faded), the legend naming both runs."""
    from analysis.presentation.run_colours import faded, run_colours

    colours = colours or run_colours(names)
    target = colours.get(names[1], DEFAULT_COLOUR)
    levels = churn.levels
    x = [f"prefix {length}" for length in levels["prefix_length"]]
    figure = go.Figure(
        [
            go.Bar(
                x=x,
                y=levels["raw_churn"],
                name=f"{names[0]} → {names[1]}: raw (labels as stored)",
                marker=dict(color=faded(target, 0.35), line=dict(color=target, width=1)),
            ),
            go.Bar(
                x=x,
                y=levels["matched_churn"],
                name=f"{names[0]} → {names[1]}: matched (Hungarian per level and prefix)",
                marker_color=target,
            ),
        ]
    )
    figure.update_layout(barmode="group", legend=dict(orientation="h", y=-0.2))
    figure.update_yaxes(range=[0, 1], tickformat=".0%")
    return layout(figure, f"ID churn {names[0]} → {names[1]}", None, "items whose prefix changes")
