"""Plotly figures built from diagnostic results: the HTML report and the dashboard both use them.

Every builder takes data (DataFrames, arrays, result dataclasses), never widgets, and returns a
``plotly.graph_objects.Figure`` with a title and labelled axes. Interactivity (which level,
log scale, colour) is a plain argument so a dashboard control maps onto it one to one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

TEMPLATE = "plotly_white"
DEAD_COLOUR = "#d62728"


def layout(figure: go.Figure, title: str, x: str | None = None, y: str | None = None, **kw):
    """Common look: white template, title, axis titles, compact margins."""
    figure.update_layout(template=TEMPLATE, title=title, margin=dict(t=60, l=60, r=20, b=50), **kw)
    if x is not None:
        figure.update_xaxes(title_text=x)
    if y is not None:
        figure.update_yaxes(title_text=y)
    return figure


# --- 1. usage ---------------------------------------------------------------------------------


def usage_bars(counts, level: int, *, log_y: bool = False, sort: bool = True, title=None):
    """Items per code of one level. counts : (K,) for that level. Sorted: most used first, so
    dead codes (0 items) gather at the right; they are marked with red crosses on the axis."""
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
            marker_color="#1f77b4",
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
        figure.update_yaxes(type="log")
    return figure


def lorenz_figure(lorenz: pd.DataFrame) -> go.Figure:
    """Lorenz curves (from :func:`analysis.metrics.usage.lorenz_curve`), one per level, and the
    diagonal."""
    figure = go.Figure(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="even usage", line=dict(dash="dot", color="grey")
        )
    )
    for level, rows in lorenz.groupby("level"):
        figure.add_trace(
            go.Scatter(
                x=rows["code_share"], y=rows["item_share"], mode="lines", name=f"level {level}"
            )
        )
    return layout(
        figure,
        "Lorenz curve of code usage (further from the diagonal = more uneven)",
        "share of codes (least used first)",
        "share of items",
    )


# --- 3. collisions ----------------------------------------------------------------------------


def unique_ratio_figure(collisions) -> go.Figure:
    """Unique-ID ratio per prefix length (from a :class:`CollisionReport`), with the value after
    appending the collision index."""
    prefixes = collisions.prefixes
    figure = go.Figure(
        go.Scatter(
            x=prefixes["prefix_length"],
            y=prefixes["unique_id_ratio"],
            mode="lines+markers+text",
            text=[f"{v:.3f}" for v in prefixes["unique_id_ratio"]],
            textposition="top center",
            name="codes only",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[collisions.n_levels + 1],
            y=[collisions.unique_id_ratio_with_collision],
            mode="markers",
            marker=dict(symbol="diamond", size=10),
            name="with collision index",
        )
    )
    layout(
        figure, "Unique-ID ratio by prefix length", "prefix length (levels)", "distinct IDs / items"
    )
    figure.update_yaxes(range=[0, 1.08])
    figure.update_xaxes(dtick=1)
    return figure


def collision_histogram(group_sizes: pd.DataFrame) -> go.Figure:
    """Groups of items sharing one full ID, by group size (``group_sizes`` of a CollisionReport)."""
    figure = go.Figure(
        go.Bar(
            x=group_sizes["size"].astype(str),
            y=group_sizes["groups"],
            customdata=group_sizes["items"],
            hovertemplate="%{y} groups of %{x} items (%{customdata} items)<extra></extra>",
        )
    )
    layout(
        figure, "Collision groups by size (size 1 = unique ID)", "items sharing one ID", "groups"
    )
    figure.update_yaxes(type="log")
    return figure


# --- 4. residuals -----------------------------------------------------------------------------


def residual_norms_figure(residuals, kind: str = "box", log_y: bool = False) -> go.Figure:
    """Residual norm per stage (input, after level 0, ...) from a :class:`ResidualNorms` sample.

    kind : "box" or "violin"; log_y : log axis (norms that shrink by orders of magnitude)."""
    figure = go.Figure()
    trace = go.Violin if kind == "violin" else go.Box
    for _, rows in residuals.sample.groupby("level", sort=True):
        name = rows["stage"].iloc[0]
        figure.add_trace(trace(y=rows["norm"], name=name, showlegend=False))
    ratios = ", ".join(
        f"L{row.level}: {row.ratio_to_input:.2f}" for row in residuals.levels.itertuples()
    )
    layout(
        figure,
        f"Residual norm after each level (mean / input mean: {ratios})",
        "stage",
        "residual L2 norm (latent units)",
    )
    if log_y:
        figure.update_yaxes(type="log")
    return figure


# --- 5. geometry ------------------------------------------------------------------------------


def codeword_norms_figure(codewords: pd.DataFrame) -> go.Figure:
    """Codeword norms and nearest-codeword distances per level (box plots)."""
    figure = make_subplots(
        rows=1, cols=2, subplot_titles=("codeword norm", "distance to nearest codeword")
    )
    for level, rows in codewords.groupby("level"):
        figure.add_trace(go.Box(y=rows["norm"], name=f"level {level}", showlegend=False), 1, 1)
        figure.add_trace(
            go.Box(y=rows["nearest_distance"], name=f"level {level}", showlegend=False), 1, 2
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
                    colorbar=dict(title="log10(items + 1)"),
                    symbol=np.where(counts == 0, "x", "circle"),
                ),
                showlegend=False,
            )
        )
    where = f"level {level}" if level is not None else "all levels (joint)"
    return layout(figure, f"UMAP of the codewords, {where}", "UMAP 1", "UMAP 2")


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


def item_map(items: pd.DataFrame, color: str = "code_0", max_legend: int = 20) -> go.Figure:
    """UMAP of the item sample with the level-0 codewords (black crosses).

    color : a ``code_l`` column or "category". Categories beyond the ``max_legend`` most frequent
    are drawn grey as "other".
    """
    points = items[items["kind"] == "item"]
    figure = go.Figure()
    labels = points[color].astype(str) if color in points else pd.Series("all", index=points.index)
    top = labels.value_counts().index[:max_legend]
    labels = labels.where(labels.isin(top), "other")
    hover = points["title"].astype(str).str.slice(0, 80) if "title" in points else labels
    for label in [*top, "other"]:
        group = points[labels == label]
        if group.empty:
            continue
        figure.add_trace(
            go.Scatter(
                x=group["x"],
                y=group["y"],
                mode="markers",
                name=str(label)[:50],
                marker=dict(size=5, color="lightgrey" if label == "other" else None),
                text=hover[group.index],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    codewords = items[items["kind"] == "codeword"]
    figure.add_trace(
        go.Scatter(
            x=codewords["x"],
            y=codewords["y"],
            mode="markers",
            name="level-0 codeword",
            marker=dict(symbol="x", color="black", size=7),
            text=codewords["code"],
            hovertemplate="codeword %{text}<extra></extra>",
        )
    )
    title = "UMAP of an item sample and the level-0 codewords, coloured by " + color.replace(
        "_", " "
    )
    return layout(figure, title, "UMAP 1", "UMAP 2")


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
    figure.update_yaxes(type="log")
    return figure
