"""Figures only the dashboard needs, built from ``analysis`` results like those of
:mod:`analysis.figures` (which the report shares); widgets never reach in here.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analysis import figures

SUBTREE_LEVELS = 2  # rings shown below the chosen prefix
# Sectors below the centre ring: the browser needs seconds for thousands of them, and finer
# detail is one drill-down away.
MAX_SECTORS = 400


def taxonomy_drilldown(
    purity: pd.DataFrame, prefix: str, depth: int, kind: str = "sunburst"
) -> go.Figure:
    """The prefix tree below one prefix (``"12"``, ``"12-7"``; ``""`` = the whole tree).

    purity : :func:`analysis.taxonomy.node_purity`. The chosen node becomes the centre (its
    parent is cleared) and the ``SUBTREE_LEVELS`` levels under it are drawn by
    :func:`analysis.figures.taxonomy_sunburst`, coloured by purity at category ``depth``.
    """
    if not prefix:
        return _labels_only(
            figures.taxonomy_sunburst(purity, depth, max_nodes=MAX_SECTORS, kind=kind)
        )
    length = prefix.count("-") + 1
    inside = (purity["node"] == prefix) | purity["node"].str.startswith(prefix + "-")
    subtree = purity[inside & (purity["prefix_length"] <= length + SUBTREE_LEVELS)].copy()
    subtree.loc[subtree["node"] == prefix, "parent"] = ""
    figure = figures.taxonomy_sunburst(
        subtree, depth, max_prefix_length=length + SUBTREE_LEVELS, kind=kind
    )
    figure.update_layout(
        title=f"ID prefix {prefix} and below, coloured by category purity (category depth {depth})"
    )
    return _labels_only(figure)


def _labels_only(figure: go.Figure) -> go.Figure:
    """Write only the code inside each sector; the long description stays in the hover.

    Laying out a paragraph of text in each of ~1,500 sectors takes the browser seconds.
    """
    return figure.update_traces(textinfo="label")
