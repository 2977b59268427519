"""Codeword map: every item on a 2-D map of the latent space (where do the IDs put which
items?), then the codewords of each level laid out by UMAP, and their geometry."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.presentation import figures, figures_items
from dashboard import data, widgets
from dashboard.markup import code, plain

JOINT = "all levels (joint map)"
COLOURS = {"usage": "count", "majority category": "majority_category"}
ITEM_KEY = "codeword_map_item"  # the item whose prefixes are listed (a semantic-ID row)
SHOWN_PER_PREFIX = 10

name, path, diagnosis = widgets.single_run_page(
    "Codeword map", needs="geometry", what="The codeword map", with_maps=True
)
geometry = diagnosis.geometry
codewords = geometry.codewords

# --- the item map ---------------------------------------------------------------------------------
st.subheader("Items")
items = geometry.items
if items is None:
    st.info("No item map for this run: its latents could not be computed.", icon=":material/block:")
else:
    generation = data.item_generations(path)  # None: never extended (rqvae extend)
    if generation is not None:
        items = figures_items.with_generations(items, generation)
    points = figures_items.item_points(items)
    choices = [
        label
        for label, column in figures_items.COLOUR_BY.items()
        if column in points and (column != "category" or points[column].nunique() > 1)
    ]
    controls = st.columns([2, 3])
    colour_by = (
        controls[0].segmented_control(
            "Colour by", choices, default=choices[0], key="codeword_map_item_colour"
        )
        or choices[0]
    )
    query = controls[1].text_input(
        "Highlight titles containing",
        key="codeword_map_search",
        placeholder="e.g. capacitor",
        disabled="title" not in points,
    )
    figure = figures_items.item_map_figure(
        items,
        colour_by,
        highlight=query,
        density=geometry.item_density,
        n_items=geometry.n_items or diagnosis.n_items,
        density_items=geometry.density_items,
    )
    event = st.plotly_chart(
        figure,
        width="stretch",
        key="codeword_map_items_chart",
        on_select="rerun",
        selection_mode="points",
    )
    fitted, placed = int((~points["placed"]).sum()), int(points["placed"].sum())
    how = f"UMAP of the encoder latents, fitted on {fitted:,} items with the level-0 codewords"
    if placed:
        how += (
            f"; the other {placed:,} items placed at the weighted mean of their 10 nearest fitted "
            "items in latent space (where UMAP's own transform starts them)"
        )
    if geometry.item_density is not None:
        how += (
            f". Grey: where {geometry.density_items:,} items lie (density, log scale), of "
            f"which {len(points):,} are drawn as points (a seeded sample)"
        )
    st.caption(how + ". Hover a point for its title and full ID; click one to list its prefixes.")

    # A click on the map picks an item; so does choosing one of the search matches.
    clicked = [p for p in event.selection.get("points", []) if len(p.get("customdata", [])) >= 4]
    if clicked:
        st.session_state[ITEM_KEY] = int(clicked[0]["customdata"][3])
    matches = points[figures_items.title_matches(items, query)]
    if query.strip():
        st.caption(
            f"{len(matches):,} of the {len(points):,} items drawn have {plain(repr(query))} "
            "in their title."
        )
        if len(matches):
            options = matches["item_index"].astype(int).tolist()[:200]
            titles = dict(zip(options, matches["title"].astype(str).tolist()[:200], strict=True))
            chosen = st.selectbox(
                "List the prefixes of a matching item",
                options,
                index=None,
                format_func=lambda row: titles.get(row, str(row))[:100],
                key="codeword_map_match",
                placeholder="Choose an item",
            )
            if chosen is not None:
                st.session_state[ITEM_KEY] = int(chosen)

    row = st.session_state.get(ITEM_KEY)
    if row is not None and 0 <= row < diagnosis.n_items:
        shown = points[points["item_index"] == row]
        label = shown["title"].iloc[0] if len(shown) and "title" in shown else f"row {row}"
        full_id = shown["full_id"].iloc[0] if len(shown) and "full_id" in shown else ""
        st.markdown(f"**{plain(label)}**, ID {code(full_id)}: the items that share its prefix")
        members = data.prefix_members(path, row, SHOWN_PER_PREFIX)
        widgets.table(
            pd.DataFrame(
                {
                    "prefix_length": members["prefix_length"],
                    "prefix": members["prefix"],
                    "items": members["items"],
                    "first titles": [" | ".join(t) for t in members["titles"]],
                    "first item ids": [", ".join(i) for i in members["item_ids"]],
                }
            ),
            labels={"items": "items with this prefix"},
        )
        st.caption(
            f"At most {SHOWN_PER_PREFIX} other items listed per prefix, in catalog order; "
            "the full-ID row is the item's collision group."
        )

# --- the codeword map -----------------------------------------------------------------------------
st.subheader("Codewords")
controls = st.columns([1, 1, 2])
level = controls[0].selectbox(
    "Level", [*range(diagnosis.n_levels), JOINT], key="codeword_map_level"
)
colour_names = [c for c, column in COLOURS.items() if column in codewords]
colour = (
    controls[1].segmented_control(
        "Colour by", colour_names, default=colour_names[0], key="codeword_map_colour"
    )
    or colour_names[0]
)
if "umap_x" not in codewords:
    st.info("No UMAP coordinates for this run.", icon=":material/block:")
else:
    widgets.plot(
        figures.codeword_map(
            codewords, level=None if level == JOINT else level, color=COLOURS[colour]
        )
    )
    st.caption("Hover a codeword for its usage, majority category and the items nearest to it.")

# --- numbers --------------------------------------------------------------------------------------
run_colour = widgets.colours().get(name, figures.DEFAULT_COLOUR)
widgets.plot(figures.codeword_norms_figure(codewords, run_colour))
widgets.table(geometry.levels)
st.caption(
    "Duplicate codewords: a codeword with another one at (almost) the same place is wasted; "
    "codewords at norm 0 never move a residual."
)
