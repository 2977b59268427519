"""Taxonomy: does the ID prefix tree follow the catalog's categories? Drill down one prefix."""

from __future__ import annotations

import streamlit as st

from analysis.presentation.taxonomy_figures import taxonomy_drilldown, taxonomy_scores_figure
from dashboard import data, session, widgets
from dashboard.markup import code, plain

name, path, diagnosis = widgets.single_run_page(
    "Taxonomy", needs="taxonomy", what="The taxonomy view"
)
purity, scores = diagnosis.taxonomy.purity, diagnosis.taxonomy.scores

# A prefix chosen for another run means nothing here: start again from the top.
if st.session_state[session.TAXONOMY_PREFIX] not in {"", *purity["node"]}:
    st.session_state[session.TAXONOMY_PREFIX] = ""
prefix = st.session_state[session.TAXONOMY_PREFIX]


def go_down() -> None:
    st.session_state[session.TAXONOMY_PREFIX] = st.session_state["taxonomy_child"]
    st.session_state["taxonomy_child"] = None


def go_up() -> None:
    st.session_state[session.TAXONOMY_PREFIX] = prefix.rpartition("-")[0]


# --- controls -------------------------------------------------------------------------------------
controls = st.columns([1, 1, 2])
depths = sorted(purity["depth"].unique().tolist())
depth = controls[0].selectbox(
    "Category depth",
    depths,
    index=depths.index(diagnosis.taxonomy.category_depth),
    key="taxonomy_depth",
    help="Depth 1 is the root category; deeper depths split it further. The page opens on the "
    "shallowest depth at which the items do not all share one category.",
)
kind = (
    controls[1].segmented_control(
        "Chart", ["sunburst", "treemap"], default="sunburst", key="taxonomy_kind"
    )
    or "sunburst"
)

at_depth = purity[purity["depth"] == depth]
children = at_depth[at_depth["parent"] == prefix].sort_values("items", ascending=False)
labels = {
    row.node: f"{row.node}  ({row.items} items, {row.majority}, purity {row.purity:.2f})"
    for row in children.itertuples()
}
navigation = st.columns([3, 1])
navigation[0].selectbox(
    f"Go down into a prefix under {plain(prefix or 'the top')}",
    list(labels),
    index=None,
    format_func=labels.get,
    key="taxonomy_child",
    on_change=go_down,
    placeholder="Choose a prefix" if labels else "No deeper prefixes",
)
navigation[1].button(
    "Up one level", on_click=go_up, disabled=not prefix, key="taxonomy_up", width="stretch"
)
st.markdown(f"**Prefix:** {code(prefix or '(top)')}")

# --- the tree and the category mix ----------------------------------------------------------------
widgets.plot(taxonomy_drilldown(purity, prefix, depth, kind=kind))
if prefix:
    mix = data.category_mix(path)
    here = mix[(mix["node"] == prefix) & (mix["depth"] == depth)]
    st.caption(
        f"Categories of the {int(here['items'].iloc[0]) if len(here) else 0} items under "
        f"{plain(prefix)}:"
    )
    widgets.table(here[["category", "count", "share"]])
if len(children):
    st.caption("Prefixes one level down, largest first:")
    widgets.table(
        children[["node", "items", "labelled", "majority", "purity", "category_entropy_nats"]]
    )

# --- overall agreement ----------------------------------------------------------------------------
st.subheader("Purity and NMI over the whole catalog")
grouping = (
    st.segmented_control(
        "Items grouped by", ["prefix", "code"], default="prefix", key="taxonomy_grouping"
    )
    or "prefix"
)
overlay = widgets.overlay_switch("taxonomy")
colours = widgets.colours()
runs = {name: scores}
if overlay:
    for other, result in widgets.overlay_diagnoses(name).items():
        if result.available("taxonomy"):
            runs[other] = result.taxonomy.scores
        else:
            st.caption(f"{other}: no taxonomy ({result.taxonomy.reason}).")
    widgets.run_legend(list(runs))
widgets.plot(
    taxonomy_scores_figure(
        runs,
        grouping=grouping,
        colours=colours,
        # overlaid runs at the depth this page is on; one run at every depth
        depths=[depth] if overlay else None,
    )
)
st.caption(
    "NMI 0: the IDs say nothing about the categories; 1: they name them exactly. Colour is the "
    "run, the line style the category depth. Level-0 NMI that stays near 0 while later levels "
    "rise means the first code splits the catalog along something other than its categories."
)
widgets.table(scores[scores["grouping"] == grouping])
