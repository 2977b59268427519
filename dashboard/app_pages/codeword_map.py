"""Codeword map: the codewords of each level laid out in 2-D by UMAP, and an item sample."""

from __future__ import annotations

import streamlit as st

from analysis.presentation import figures
from dashboard import widgets

JOINT = "all levels (joint map)"
COLOURS = {"usage": "count", "majority category": "majority_category"}

name, path, diagnosis = widgets.single_run_page(
    "Codeword map", needs="geometry", what="The codeword map", with_maps=True
)
geometry = diagnosis.geometry
codewords = geometry.codewords

# --- the codeword map -----------------------------------------------------------------------------
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

# --- optional item sample -------------------------------------------------------------------------
if geometry.items is not None and st.toggle("Show an item sample", key="codeword_map_items"):
    item_columns = [c for c in geometry.items.columns if c.startswith("code_")]
    if "category" in geometry.items:
        item_columns.append("category")
    colour_items = st.selectbox("Colour items by", item_columns, key="codeword_map_item_colour")
    widgets.plot(figures.item_map(geometry.items, color=colour_items))

# --- numbers --------------------------------------------------------------------------------------
widgets.plot(figures.codeword_norms_figure(codewords))
st.dataframe(geometry.levels, hide_index=True, width="stretch")
