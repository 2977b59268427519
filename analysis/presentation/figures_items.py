"""The item map, in the spirit of Apple's Embedding Atlas: every item as a point on the UMAP
of the latents (all items up to 50,000; above that a seeded sample over a density layer of the
rest), coloured by category, level-0 code, collision group or, for a run grown by
``rqvae extend``, generation, with a title search that lights up the matching items. Data:
``Geometry.items`` / ``item_density`` of :func:`analysis.diagnosis.geometry.build_geometry`.

Points are drawn with WebGL (``Scattergl``): tens of thousands stay smooth in the browser.
Each point's ``customdata`` ends with its ``item_index`` (row of the run's semantic IDs), so a
click on the map names the item.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.presentation.figures import layout

COLOUR_BY = {
    "category": "category",
    "level-0 code": "code_0",
    "collision group": "collision_group",
    "generation": "generation",  # only with the column :func:`with_generations` adds
}
# A colour per level-0 code: 26 + 24 distinct hues (plotly's Alphabet and Dark24), cycled.
CODE_PALETTE = (
    "#AA0DFE", "#3283FE", "#85660D", "#782AB6", "#565656", "#1C8356", "#16FF32", "#F7E1A0",
    "#E2E2E2", "#1CBE4F", "#C4451C", "#DEA0FD", "#FE00FA", "#325A9B", "#FEAF16", "#F8A19F",
    "#90AD1C", "#F6222E", "#1CFFCE", "#2ED9FF", "#B10DA1", "#C075A6", "#FC1CBF", "#B00068",
    "#FBE426", "#FA0087", "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A",
    "#B68100", "#750D86", "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D",
    "#6C7C32", "#778AAE", "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516",
    "#0D2A63", "#AF0038",
)  # fmt: skip
GROUP_PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7",
    "#9c755f", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22", "#7f7f7f", "#393b79",
)  # fmt: skip
OTHER_COLOUR = "#c8c8c8"
MATCH_COLOUR = "#ffd400"
TITLE_CHARACTERS = 90  # hover text per title


def item_points(items: pd.DataFrame) -> pd.DataFrame:
    """The item rows of ``Geometry.items`` (not the codewords)."""
    return items[items["kind"] == "item"]


def with_generations(items: pd.DataFrame, generation: np.ndarray) -> pd.DataFrame:
    """``items`` with a ``generation`` column: each item point's generation, looked up by its
    ``item_index`` in ``generation`` int (n_items,) (one per semantic-ID row,
    :func:`analysis.reading.generations.item_generations`); -1 for the codeword rows."""
    index = items["item_index"].to_numpy()
    known = (index >= 0) & (index < len(generation))
    column = np.full(len(items), -1, dtype=np.int64)
    column[known] = np.asarray(generation)[index[known]]
    return items.assign(generation=column)


def title_matches(items: pd.DataFrame, query: str) -> np.ndarray:
    """bool mask over :func:`item_points`: titles containing ``query`` (case-insensitive,
    plain text, not a pattern). All False for an empty query or items without titles."""
    points = item_points(items)
    query = query.strip()
    if not query or "title" not in points:
        return np.zeros(len(points), dtype=bool)
    found = points["title"].astype(str).str.contains(query, case=False, regex=False)
    return found.to_numpy(dtype=bool)


def item_map_figure(
    items: pd.DataFrame,
    colour_by: str = "category",
    *,
    highlight: str = "",
    density: pd.DataFrame | None = None,
    n_items: int | None = None,
    density_items: int = 0,
    max_points: int | None = None,
    max_legend: int = 20,
) -> go.Figure:
    """The item map (see the module docstring).

    items : ``Geometry.items``; colour_by : a key of :data:`COLOUR_BY`; highlight : a title
    search, matching items drawn large on top and the rest faded; density : ``Geometry.
    item_density`` (drawn as a grey layer under the points); n_items, density_items : the
    run's items and those behind the density layer, for the title; max_points : draw a seeded
    sample of at most this many points (the HTML report keeps its size down this way).
    """
    points = item_points(items)
    n_items = n_items or len(points)
    if max_points is not None and len(points) > max_points:
        keep = np.sort(np.random.default_rng(0).choice(len(points), max_points, replace=False))
        points = points.iloc[keep]
    column = COLOUR_BY.get(colour_by, colour_by)
    figure = go.Figure()
    if density is not None and len(density):
        figure.add_trace(_density_trace(density))
    matches = title_matches(points.assign(kind="item"), highlight)
    faded = bool(matches.any()) or bool(highlight.strip())
    for name, members, colour, show_legend in _colour_groups(points, column, max_legend):
        group = points[members]
        figure.add_trace(
            go.Scattergl(
                x=group["x"],
                y=group["y"],
                mode="markers",
                name=name,
                showlegend=show_legend,
                marker=dict(size=_point_size(len(points)), color=colour, line=dict(width=0)),
                opacity=0.18 if faded else 0.8,
                customdata=_hover_data(group),
                hovertemplate=_HOVER,
            )
        )
    if matches.any():
        group = points[matches]
        figure.add_trace(
            go.Scattergl(
                x=group["x"],
                y=group["y"],
                mode="markers",
                name=f"titles containing {highlight.strip()!r} ({len(group):,})",
                marker=dict(size=10, color=MATCH_COLOUR, line=dict(color="black", width=1.5)),
                customdata=_hover_data(group),
                hovertemplate=_HOVER,
            )
        )
    codewords = items[items["kind"] == "codeword"]
    if len(codewords):
        figure.add_trace(
            go.Scattergl(
                x=codewords["x"],
                y=codewords["y"],
                mode="markers",
                name="level-0 codeword",
                marker=dict(symbol="x-thin", color="#222222", size=7, line=dict(width=1.5)),
                opacity=0.7,
                text=codewords["code"],
                hovertemplate="level-0 codeword %{text}<extra></extra>",
                visible="legendonly" if len(points) > 5_000 else True,
            )
        )
    figure.update_xaxes(showticklabels=False, zeroline=False, showgrid=False)
    figure.update_yaxes(showticklabels=False, zeroline=False, showgrid=False)
    layout(figure, _title(len(points), n_items, density_items), "UMAP 1", "UMAP 2", height=680)
    return figure.update_layout(
        legend=dict(itemsizing="constant"), dragmode="pan", hovermode="closest"
    )


_HOVER = "<b>%{customdata[0]}</b><br>ID %{customdata[1]}<br>%{customdata[2]}<extra></extra>"


def _title(shown: int, n_items: int, density_items: int) -> str:
    if shown >= n_items:
        return f"Item map: all {n_items:,} items (UMAP of the latents)"
    title = f"Item map: {shown:,} of {n_items:,} items (a seeded sample)"
    if density_items:
        title += f" over the density of {density_items:,} items"
    return title


def _point_size(points: int) -> float:
    """Bigger dots for small maps, small ones where tens of thousands overlap."""
    return 7.0 if points <= 2_000 else 5.0 if points <= 10_000 else 3.0


def _hover_data(points: pd.DataFrame) -> np.ndarray:
    """(n, 4) object array: title, full ID, category, item_index."""
    n = len(points)
    titles = (
        points["title"].astype(str).str.slice(0, TITLE_CHARACTERS)
        if "title" in points
        else pd.Series(["(no title)"] * n, index=points.index)
    )
    categories = (
        points["category"].astype(str)
        if "category" in points
        else pd.Series([""] * n, index=points.index)
    )
    full_ids = points["full_id"] if "full_id" in points else points["code_0"].astype(str)
    return np.stack(
        [
            titles.to_numpy(dtype=object),
            full_ids.to_numpy(dtype=object),
            categories.to_numpy(dtype=object),
            points["item_index"].to_numpy(dtype=object),
        ],
        axis=1,
    )


def _colour_groups(points: pd.DataFrame, column: str, max_legend: int):
    """(legend name, row mask, colour or per-point colours, show in legend) per trace."""
    if column == "code_0":
        codes = points["code_0"].to_numpy()
        colours = np.asarray(CODE_PALETTE, dtype=object)[codes % len(CODE_PALETTE)]
        yield "items (colour: level-0 code)", np.ones(len(points), bool), colours, False
        return
    if column == "generation" and "generation" in points:
        # in generation order (the original first), each generation its own hue
        generations = points["generation"].to_numpy()
        for number in np.unique(generations):
            members = generations == number
            name = "original" if number == 0 else f"extension {number}"
            colour = _label_colour(int(number))
            yield f"{name} ({int(members.sum()):,})", members, colour, True
        return
    if column == "collision_group" and "collision_group" in points:
        groups = points["collision_group"].to_numpy()
        unique = groups < 0
        yield f"unique ID ({int(unique.sum()):,} items)", unique, OTHER_COLOUR, True
        for rank in np.unique(groups[groups >= 0])[:max_legend]:
            members = groups == rank
            full_id = points["full_id"].to_numpy()[members][0].split("#")[0]
            colour = GROUP_PALETTE[int(rank) % len(GROUP_PALETTE)]
            yield f"ID {full_id} ({int(members.sum())} items)", members, colour, True
        rest = groups >= max_legend
        if rest.any():
            yield f"other shared IDs ({int(rest.sum()):,} items)", rest, "#555555", True
        return
    if column not in points:
        yield "items", np.ones(len(points), bool), GROUP_PALETTE[0], False
        return
    labels = points[column].astype(str)
    top = labels.value_counts().index[:max_legend]
    for index, label in enumerate(top):
        members = (labels == label).to_numpy()
        yield f"{_short(label)} ({int(members.sum()):,})", members, _label_colour(index), True
    rest = (~labels.isin(top)).to_numpy()
    if rest.any():
        yield f"other ({int(rest.sum()):,})", rest, OTHER_COLOUR, True


def _short(category: str, width: int = 45) -> str:
    """A category path's last part ("... > Fasteners" -> "Fasteners"), cut to ``width``: the
    legend names the categories, the hover still shows the whole path."""
    last = category.rsplit(" > ", 1)[-1]
    return last if len(last) <= width else last[: width - 1] + "…"


def _label_colour(index: int) -> str:
    return GROUP_PALETTE[index % len(GROUP_PALETTE)]


def _density_trace(density: pd.DataFrame) -> go.Heatmap:
    """The density layer: items per grid cell on a log scale, grey, empty cells clear."""
    x = np.sort(density["x"].unique())
    y = np.sort(density["y"].unique())
    grid = density.pivot_table(index="y", columns="x", values="count", aggfunc="sum")
    grid = grid.reindex(index=y, columns=x).to_numpy(dtype=float)
    shown = np.where(grid > 0, np.log10(np.maximum(grid, 1)) + 1, np.nan)
    return go.Heatmap(
        x=x,
        y=y,
        z=shown,
        colorscale=[[0, "#f0f0f0"], [1, "#5a5a5a"]],
        showscale=False,
        hoverinfo="skip",
        name="density",
        opacity=0.8,
    )
