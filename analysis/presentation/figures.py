"""Plotly figures built from diagnostic results: the HTML report and the dashboard both use them.

Every builder takes data (DataFrames, arrays, result dataclasses), never widgets, and returns a
``plotly.graph_objects.Figure`` with a title and labelled axes. Interactivity (which level,
log scale, colour) is a plain argument so a dashboard control maps onto it one to one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

TEMPLATE = "plotly_white"
DEAD_COLOUR = "#d62728"
DEFAULT_COLOUR = "#4e79a7"  # a figure drawn without a run colour (the first of the palette)
LEVEL_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def layout(figure: go.Figure, title: str, x: str | None = None, y: str | None = None, **kw):
    """Common look: white template, title, axis titles, compact margins."""
    figure.update_layout(template=TEMPLATE, title=title, margin=dict(t=60, l=60, r=20, b=50), **kw)
    if x is not None:
        figure.update_xaxes(title_text=x)
    if y is not None:
        figure.update_yaxes(title_text=y)
    return figure


def log_axis(figure: go.Figure, axis: str = "y", *, percent: bool = False) -> go.Figure:
    """Make ``axis`` ("x" or "y") logarithmic with one labelled tick per power of ten: 1, 10,
    100, 1,000 (or 0.1%, 1%, 10% with ``percent``), never bare minor ticks ("2", "5")."""
    settings = dict(type="log", dtick=1, tickformat="~%" if percent else ",~g")
    if axis == "x":
        figure.update_xaxes(**settings)
    else:
        figure.update_yaxes(**settings)
    return figure


def level_dash(level: int) -> str:
    """Line style of a level when colour already means the run."""
    return LEVEL_DASHES[level % len(LEVEL_DASHES)]


# --- 1. usage ---------------------------------------------------------------------------------


def usage_bars(
    counts,
    level: int,
    *,
    log_y: bool = False,
    sort: bool = True,
    title: str | None = None,
    colour: str = DEFAULT_COLOUR,
) -> go.Figure:
    """Items per code of one level. counts : (K,) for that level. Sorted: most used first, so
    dead codes (0 items) gather at the right; they are marked with red crosses on the axis.
    colour : the run's colour (:func:`analysis.presentation.run_colours.run_colours`)."""
    counts = np.asarray(counts)
    codes = np.argsort(-counts, kind="stable") if sort else np.arange(len(counts))
    values = counts[codes]
    positions = np.arange(len(codes))
    dead = values == 0
    figure = go.Figure(
        go.Bar(
            x=positions,
            y=values,
            customdata=codes,
            name="items per code",
            marker_color=colour,
            hovertemplate="code %{customdata}: %{y} items<extra></extra>",
        )
    )
    if dead.any():
        # A log axis cannot show 0; put the markers just under the smallest count instead.
        floor = 0.5 * values[~dead].min() if log_y and (~dead).any() else 0
        figure.add_trace(
            go.Scatter(
                x=positions[dead],
                y=np.full(dead.sum(), floor),
                customdata=codes[dead],
                mode="markers",
                marker=dict(symbol="x", color=DEAD_COLOUR, size=6),
                name=f"dead code ({dead.sum()})",
                hovertemplate="code %{customdata}: never used<extra></extra>",
            )
        )
    used = int((~dead).sum())
    heading = title or f"Level {level}: items per code ({used} of {len(counts)} used)"
    x_label = "code rank (most used first)" if sort else "code"
    layout(figure, heading, x_label, "items", showlegend=bool(dead.any()), bargap=0.05, height=340)
    if log_y:
        log_axis(figure)
    return figure


def usage_overlay(
    counts_by_run: Mapping[str, np.ndarray],
    level: int,
    colours: Mapping[str, str],
    *,
    log_y: bool = False,
) -> go.Figure:
    """Items per code of one level for several runs: each run's counts sorted, most used
    first, as a line in the run's colour (bars of several runs would hide each other).

    counts_by_run : run name -> (K_l,) items per code of that run's level ``level``.
    """
    figure = go.Figure()
    for run, counts in counts_by_run.items():
        values = np.sort(np.asarray(counts))[::-1]
        used = int((values > 0).sum())
        shown = np.where(values > 0, values, np.nan) if log_y else values
        figure.add_trace(
            go.Scatter(
                x=np.arange(len(values)),
                y=shown,
                mode="lines",
                line=dict(color=colours.get(run, DEFAULT_COLOUR), shape="hv", width=2),
                name=f"{run} ({used} of {len(values)} used)",
                hovertemplate=f"{run}: rank %{{x}}: %{{y}} items<extra></extra>",
            )
        )
    layout(
        figure,
        f"Level {level}: items per code, runs overlaid",
        "code rank (most used first)",
        "items",
        height=360,
    )
    if log_y:
        log_axis(figure)
    return figure


def lorenz_figure(
    lorenz: pd.DataFrame | Mapping[str, pd.DataFrame],
    colours: Mapping[str, str] | None = None,
    levels: Sequence[int] | None = None,
    *,
    colour: str = DEFAULT_COLOUR,
) -> go.Figure:
    """Lorenz curves (from :func:`analysis.metrics.usage.lorenz_curve`) and the diagonal.

    lorenz : one run's curves (drawn in ``colour``, legend "level l"), or run name -> curves
    to overlay runs (``colours``, legend "run, level l"). Colour is the run, the line style
    the level; ``levels`` limits the levels drawn.
    """
    curves = {"": lorenz} if isinstance(lorenz, pd.DataFrame) else dict(lorenz)
    colours = {"": colour, **(colours or {})}
    figure = go.Figure(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="even usage", line=dict(dash="dot", color="grey")
        )
    )
    for run, frame in curves.items():
        for level, rows in frame.groupby("level"):
            if levels is not None and level not in levels:
                continue
            figure.add_trace(
                go.Scatter(
                    x=rows["code_share"],
                    y=rows["item_share"],
                    mode="lines",
                    name=f"{run}, level {level}" if run else f"level {level}",
                    line=dict(color=colours.get(run, DEFAULT_COLOUR), dash=level_dash(level)),
                )
            )
    return layout(
        figure,
        "Lorenz curve of code usage (further from the diagonal = more uneven)",
        "share of codes (least used first)",
        "share of items",
    )


# --- 3. collisions ----------------------------------------------------------------------------


def unique_ratio_figure(collisions, colour: str = DEFAULT_COLOUR) -> go.Figure:
    """Unique-ID ratio of the assigned IDs per prefix length (from a :class:`CollisionReport`),
    with the value after appending the collision index."""
    prefixes = collisions.prefixes
    figure = go.Figure(
        go.Scatter(
            x=prefixes["prefix_length"],
            y=prefixes["unique_id_ratio"],
            mode="lines+markers+text",
            text=[f"{v:.3f}" for v in prefixes["unique_id_ratio"]],
            textposition="top center",
            name="codes only",
            line=dict(color=colour),
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[collisions.n_levels + 1],
            y=[collisions.unique_id_ratio_with_collision],
            mode="markers",
            marker=dict(symbol="diamond", size=10, color=colour),
            name="with collision index",
        )
    )
    layout(
        figure,
        "Unique-ID ratio by prefix length (assigned IDs)",
        "prefix length (levels)",
        "distinct IDs / items",
    )
    figure.update_yaxes(range=[0, 1.08])
    figure.update_xaxes(dtick=1)
    return figure


def collision_histogram(group_sizes: pd.DataFrame, colour: str = DEFAULT_COLOUR) -> go.Figure:
    """Groups of items sharing one full ID, by group size (``group_sizes`` of a CollisionReport)."""
    figure = go.Figure(
        go.Bar(
            x=group_sizes["size"].astype(str),
            y=group_sizes["groups"],
            marker_color=colour,
            customdata=group_sizes["items"],
            hovertemplate="%{y} groups of %{x} items (%{customdata} items)<extra></extra>",
        )
    )
    layout(
        figure, "Collision groups by size (size 1 = unique ID)", "items sharing one ID", "groups"
    )
    return log_axis(figure)


# --- 4. residuals -----------------------------------------------------------------------------


def residual_norms_figure(
    residuals,
    kind: str = "box",
    log_y: bool = False,
    *,
    colour: str = DEFAULT_COLOUR,
    others: Mapping[str, object] | None = None,
    colours: Mapping[str, str] | None = None,
    name: str = "",
) -> go.Figure:
    """Residual norm per stage (input, after level 0, ...) from a :class:`ResidualNorms` sample.

    kind : "box" or "violin"; log_y : log axis (norms that shrink by orders of magnitude).
    others : run name -> ResidualNorms of other runs to draw beside this one (run ``name``),
    grouped per stage, each in its colour from ``colours``."""
    figure = go.Figure()
    trace = go.Violin if kind == "violin" else go.Box
    runs = {name: residuals, **(others or {})}
    colours = {name: colour, **(colours or {})}
    overlay = len(runs) > 1
    for run, result in runs.items():
        sample = result.sample.sort_values("level", kind="stable")
        figure.add_trace(
            trace(
                x=sample["stage"],
                y=sample["norm"],
                name=run or "residual norm",
                showlegend=overlay,
                line=dict(color=colours.get(run, DEFAULT_COLOUR)),
                offsetgroup=run if overlay else None,
            )
        )
    if overlay:
        title = "Residual norm after each level, runs side by side (latent units of each run)"
        figure.update_layout(boxmode="group", violinmode="group")
    else:
        ratios = ", ".join(
            f"L{row.level}: {row.ratio_to_input:.2f}" for row in residuals.levels.itertuples()
        )
        title = f"Residual norm after each level (mean / input mean: {ratios})"
    layout(figure, title, "stage", "residual L2 norm (latent units)")
    if log_y:
        log_axis(figure)
    return figure


# --- 5. geometry ------------------------------------------------------------------------------


def codeword_norms_figure(codewords: pd.DataFrame, colour: str = DEFAULT_COLOUR) -> go.Figure:
    """Codeword norms and nearest-codeword distances per level (box plots, the run's colour)."""
    figure = make_subplots(
        rows=1, cols=2, subplot_titles=("codeword norm", "distance to nearest codeword")
    )
    for level, rows in codewords.groupby("level"):
        for column, index in (("norm", 1), ("nearest_distance", 2)):
            figure.add_trace(
                go.Box(
                    y=rows[column],
                    name=f"level {level}",
                    showlegend=False,
                    line=dict(color=colour),
                ),
                1,
                index,
            )
    figure.update_yaxes(title_text="latent units", row=1, col=1)
    return layout(figure, "Codeword geometry per level")


def codeword_map(codewords: pd.DataFrame, level: int | None = 0, color: str = "count") -> go.Figure:
    """UMAP of the codewords of one level (``level``) or of all levels (``None``: joint map).

    color : "count" (items per code, log colour scale), "majority_category" or "level" (for
    the joint map). Hover shows the code, its usage, majority category and top items.
    """
    x, y = ("umap_x", "umap_y") if level is not None else ("joint_x", "joint_y")
    rows = codewords if level is None else codewords[codewords["level"] == level]
    rows = rows.dropna(subset=[x, y])
    figure = go.Figure()
    if color in ("majority_category", "level") and color in rows:
        for value, group in rows.groupby(color, sort=True):
            figure.add_trace(
                go.Scatter(
                    x=group[x],
                    y=group[y],
                    mode="markers",
                    name=f"level {value}" if color == "level" else str(value)[:60],
                    text=_codeword_hover(group),
                    hovertemplate="%{text}<extra></extra>",
                )
            )
    else:
        counts = rows["count"].to_numpy(dtype=float) if "count" in rows else np.ones(len(rows))
        figure.add_trace(
            go.Scatter(
                x=rows[x],
                y=rows[y],
                mode="markers",
                text=_codeword_hover(rows),
                hovertemplate="%{text}<extra></extra>",
                marker=dict(
                    color=np.log10(counts + 1),
                    colorscale="Viridis",
                    size=8,
                    colorbar=_count_colourbar(counts),
                    symbol=np.where(counts == 0, "x", "circle"),
                ),
                showlegend=False,
            )
        )
    where = f"level {level}" if level is not None else "all levels (joint)"
    return layout(figure, f"UMAP of the codewords, {where}", "UMAP 1", "UMAP 2")


def _count_colourbar(counts: np.ndarray) -> dict:
    """A colour bar over log10(items + 1) whose ticks read as item counts: 0, 1, 10, 100."""
    top = float(counts.max()) if len(counts) else 1.0
    ticks = [0, 1, *[10**power for power in range(1, int(np.log10(max(top, 1))) + 2)]]
    ticks = [tick for tick in ticks if tick <= max(top, 1) * 1.0001] or [0, 1]
    return dict(
        title="items",
        tickvals=np.log10(np.asarray(ticks, dtype=float) + 1).tolist(),
        ticktext=[f"{tick:,}" for tick in ticks],
    )


def _codeword_hover(rows: pd.DataFrame) -> np.ndarray:
    parts = [f"level {lv} code {c}" for lv, c in zip(rows["level"], rows["code"], strict=True)]
    texts = np.array(parts, dtype=object)
    if "count" in rows:
        texts = texts + "<br>" + rows["count"].astype(str).to_numpy() + " items"
    if "majority_category" in rows:
        share = rows["majority_share"].fillna(0).to_numpy()
        texts = texts + [
            f"<br>{c} ({s:.0%})" for c, s in zip(rows["majority_category"], share, strict=True)
        ]
    if "top_items" in rows:
        texts = texts + [
            "<br>" + "<br>".join(t[:80] for t in str(v).split("; ")[:5]) if v else ""
            for v in rows["top_items"]
        ]
    return texts


# --- 7. coherence ---------------------------------------------------------------------------


def coherence_figure(coherence: pd.DataFrame) -> go.Figure:
    """Share of nearest-neighbour pairs sharing the ID prefix against random pairs, per level."""
    labels = [f"prefix {length}" for length in coherence["prefix_length"]]
    figure = go.Figure(
        [
            go.Bar(x=labels, y=coherence["neighbor_share"], name="nearest neighbours"),
            go.Bar(x=labels, y=coherence["random_share"], name="random pairs"),
        ]
    )
    layout(
        figure,
        "Semantic coherence: pairs sharing the ID prefix",
        "prefix length",
        "share of pairs",
        barmode="group",
    )
    return log_axis(figure, percent=True)
