"""Taxonomy figures (diagnostic 6): the ID prefix tree as a sunburst or treemap coloured by
category purity, its drill-down below one prefix, and NMI per level. Same conventions as
:mod:`analysis.presentation.figures`: data in, titled figure out.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from analysis.presentation.figures import layout

# Sector labels smaller than this (pixels) are hidden rather than shrunk: a label is written
# only where the wedge is wide enough to read it; the hover still names every wedge.
MIN_LABEL_SIZE = 10
DEPTH_DASHES = ("solid", "dash", "dot", "dashdot")


def sunburst_frame(purity: pd.DataFrame, depth: int) -> pd.DataFrame:
    """Rows of :func:`node_purity` at one category depth, shaped for a plotly sunburst/treemap.

    Columns ``ids`` (node), ``parents`` (``""`` at the top), ``values`` (items; a parent's
    value equals the sum of its children, so use ``branchvalues="total"``), ``labels`` (the
    node's last code), plus ``majority`` and ``purity`` for colour and hover.
    """
    rows = purity[purity["depth"] == depth]
    return pd.DataFrame(
        {
            "ids": rows["node"].to_numpy(),
            "parents": rows["parent"].to_numpy(),
            "values": rows["items"].to_numpy(),
            "labels": rows["node"].str.rsplit("-", n=1).str[-1].to_numpy(),
            "majority": rows["majority"].to_numpy(),
            "purity": rows["purity"].to_numpy(),
        }
    )


def taxonomy_sunburst(
    purity: pd.DataFrame,
    depth: int,
    *,
    max_prefix_length: int = 2,
    max_nodes: int = 1500,
    kind: str = "sunburst",
) -> go.Figure:
    """Prefix tree as a sunburst (or treemap), sized by items, coloured by purity at ``depth``.

    purity : :func:`analysis.metrics.taxonomy.node_purity`. Only prefixes up to
    ``max_prefix_length`` are drawn and, below the first level, only the ``max_nodes`` largest
    nodes (a sunburst of 65,536 slivers helps nobody); hover gives the majority category and
    purity.
    """
    rows = purity[(purity["depth"] == depth) & (purity["prefix_length"] <= max_prefix_length)]
    first = rows[rows["prefix_length"] == 1]
    deeper = rows[rows["prefix_length"] > 1].nlargest(max_nodes, "items")
    frame = sunburst_frame(pd.concat([first, deeper]), depth)
    trace = go.Treemap if kind == "treemap" else go.Sunburst
    hover = [
        f"prefix {i}<br>{v:,} items<br>majority category: {m}<br>purity: {p:.2f}"
        for i, v, m, p in zip(
            frame["ids"], frame["values"], frame["majority"], frame["purity"].fillna(0), strict=True
        )
    ]
    figure = go.Figure(
        trace(
            ids=frame["ids"],
            parents=frame["parents"],
            values=frame["values"],
            labels=frame["labels"],
            branchvalues="total",
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            marker=dict(
                colors=frame["purity"].fillna(0),
                colorscale="RdYlGn",
                cmin=0,
                cmax=1,
                colorbar=dict(title="purity"),
                # thin borders: with hundreds of slivers, white outlines would wash out the colour
                line=dict(width=0.3, color="white"),
            ),
            maxdepth=max_prefix_length + 1,
        )
    )
    title = f"ID prefix tree coloured by category purity (category depth {depth})"
    layout(figure, title, height=650)
    return figure.update_layout(uniformtext=dict(minsize=MIN_LABEL_SIZE, mode="hide"))


def taxonomy_scores_figure(
    scores: pd.DataFrame | Mapping[str, pd.DataFrame],
    grouping: str = "prefix",
    *,
    colours: Mapping[str, str] | None = None,
    depths: list[int] | None = None,
) -> go.Figure:
    """NMI between codes (or prefixes) at each level and categories at each depth.

    scores : one run's :func:`analysis.metrics.taxonomy.taxonomy_scores`, or run name ->
    scores to overlay runs (colour = run from ``colours``, line style = category depth).
    depths : the category depths drawn (default all). The NMI axis runs from 0: NMI is 0 for
    IDs that say nothing about the categories.
    """
    runs = {"": scores} if isinstance(scores, pd.DataFrame) else dict(scores)
    colours = colours or {}
    figure = go.Figure()
    for run, table in runs.items():
        rows = table[table["grouping"] == grouping]
        for index, (depth, group) in enumerate(rows.groupby("depth")):
            if depths is not None and depth not in depths:
                continue
            colour = colours.get(run)
            # with run colours, the depth is the line style; without, plotly's colours
            dash = DEPTH_DASHES[index % len(DEPTH_DASHES)]
            line = dict(color=colour, dash=dash) if colour else {}
            figure.add_trace(
                go.Scatter(
                    x=group["level"],
                    y=group["nmi"],
                    mode="lines+markers",
                    name=f"{run}, category depth {depth}" if run else f"category depth {depth}",
                    line=line,
                )
            )
    what = "ID prefix up to the level" if grouping == "prefix" else "code at the level"
    layout(figure, f"NMI between the {what} and the categories", "level", "NMI (0-1)")
    top = max((float(t["nmi"].max()) for t in runs.values() if len(t)), default=1.0)
    figure.update_yaxes(range=[0, max(top * 1.1, 0.05)])
    figure.update_xaxes(dtick=1)
    return figure


# --- drill-down ------------------------------------------------------------------------------

SUBTREE_LEVELS = 2  # rings shown below the chosen prefix
# Sectors below the centre ring: the browser needs seconds for thousands of them, and finer
# detail is one drill-down away.
MAX_SECTORS = 400


def taxonomy_drilldown(
    purity: pd.DataFrame, prefix: str, depth: int, kind: str = "sunburst"
) -> go.Figure:
    """The prefix tree below one prefix (``"12"``, ``"12-7"``; ``""`` = the whole tree).

    purity : :func:`analysis.metrics.taxonomy.node_purity`. The chosen node becomes the centre (its
    parent is cleared) and the ``SUBTREE_LEVELS`` levels under it are drawn by
    :func:`taxonomy_sunburst`, coloured by purity at category ``depth``.
    """
    if not prefix:
        return _labels_only(taxonomy_sunburst(purity, depth, max_nodes=MAX_SECTORS, kind=kind))
    length = prefix.count("-") + 1
    inside = (purity["node"] == prefix) | purity["node"].str.startswith(prefix + "-")
    subtree = purity[inside & (purity["prefix_length"] <= length + SUBTREE_LEVELS)].copy()
    subtree.loc[subtree["node"] == prefix, "parent"] = ""
    figure = taxonomy_sunburst(subtree, depth, max_prefix_length=length + SUBTREE_LEVELS, kind=kind)
    figure.update_layout(
        title=f"ID prefix {prefix} and below, coloured by category purity (category depth {depth})"
    )
    return _labels_only(figure)


def _labels_only(figure: go.Figure) -> go.Figure:
    """Write only the code inside each sector; the long description stays in the hover.

    Laying out a paragraph of text in each of ~1,500 sectors takes the browser seconds.
    """
    return figure.update_traces(textinfo="label")
