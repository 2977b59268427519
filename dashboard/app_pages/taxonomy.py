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
    st.dataframe(
        here[["category", "count", "share"]],
        hide_index=True,
        width="stretch",
        column_config={"share": st.column_config.ProgressColumn("share", min_value=0, max_value=1)},
    )
if len(children):
    st.caption("Prefixes one level down, largest first:")
    st.dataframe(
        children[["node", "items", "labelled", "majority", "purity", "category_entropy_nats"]],
        hide_index=True,
        width="stretch",
    )

# --- overall agreement ----------------------------------------------------------------------------
st.subheader("Purity and NMI over the whole catalog")
grouping = (
    st.segmented_control(
        "Items grouped by", ["prefix", "code"], default="prefix", key="taxonomy_grouping"
    )
    or "prefix"
)
widgets.plot(taxonomy_scores_figure(scores, grouping=grouping))
st.dataframe(scores[scores["grouping"] == grouping], hide_index=True, width="stretch")
