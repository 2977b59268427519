"""IDs and collisions: how unique the IDs are at each prefix length, who collides, and lookup."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.presentation import figures, labels
from dashboard import data, widgets
from dashboard.markup import plain

LOOKUP_LIMIT = 50
SHOWN_PER_GROUP = 5  # a group can hold thousands of items; the lookup box lists more
NO_MATCH_ICON = ":material/search_off:"

name, path, diagnosis = widgets.single_run_page("IDs and collisions")
collisions = diagnosis.collisions

# --- headline numbers -----------------------------------------------------------------------------
columns = st.columns(4)
columns[0].metric(
    "unique-ID ratio",
    f"{collisions.unique_id_ratio:.4f}",
    help="Distinct full L-tuples / items, without the collision index.",
)
columns[1].metric(
    "with collision index",
    f"{collisions.unique_id_ratio_with_collision:.4f}",
    help="1.0 when the collision column makes every ID unique.",
)
columns[2].metric("items in collisions", f"{collisions.collision_share:.2%}")
columns[3].metric("largest group", f"{collisions.largest_group:,} items")
last_level = labels.last_level_note(diagnosis.last_level, diagnosis.n_items)
if last_level:
    st.caption(plain(last_level))

chart_columns = st.columns(2)
with chart_columns[0]:
    widgets.plot(figures.unique_ratio_figure(collisions))
with chart_columns[1]:
    widgets.plot(figures.collision_histogram(collisions.group_sizes))

# --- an imported checkpoint's own IDs, side by side with the raw ones ----------------------------
if diagnosis.available("source_ids"):
    st.subheader("Raw IDs against the codebase's own IDs")
    raw, resolved = diagnosis.source_ids.iloc[0], diagnosis.source_ids.iloc[1]
    sides = st.columns(3)
    sides[0].metric("items moved by its collision handling", f"{raw['items_moved']:,}")
    sides[1].metric("unique-ID ratio, raw", f"{raw['unique_id_ratio']:.4f}")
    sides[2].metric(
        "unique-ID ratio, resolved",
        f"{resolved['unique_id_ratio']:.4f}",
        delta=f"{resolved['unique_id_ratio'] - raw['unique_id_ratio']:+.4f}",
    )
    st.dataframe(diagnosis.source_ids, hide_index=True, width="stretch")

# --- the largest groups, with what is in them -----------------------------------------------------
st.subheader("Largest collision groups")
groups = collisions.largest_groups
if groups.empty:
    st.success("No collisions: every item has its own full ID.", icon=":material/check:")
else:
    st.dataframe(
        pd.DataFrame(
            {
                "rank": groups["rank"],
                "ID prefix": groups["prefix"],
                "items": groups["size"],
                "first titles": [
                    " | ".join(data.item_titles(path, rows[:SHOWN_PER_GROUP]))
                    for rows in groups["rows"]
                ],
                "first item ids": [
                    ", ".join(map(str, ids[:SHOWN_PER_GROUP])) for ids in groups["item_ids"]
                ],
            }
        ),
        hide_index=True,
        width="stretch",
    )

with st.expander("Per prefix length and branching factor"):
    st.dataframe(collisions.prefixes, hide_index=True, width="stretch")
    st.caption("How many distinct children each prefix uses, per level:")
    st.dataframe(diagnosis.entropy.branching, width="stretch")

# --- items added by `rqvae extend` ---------------------------------------------------------------
newest = data.newest_items(path)
if newest is not None:
    st.subheader("Newest items")
    st.caption(
        "The catalogue grew with rqvae extend: these items were added last (newest first), "
        "each with its ID; no earlier item's ID moved. The report's Catalogue growth section "
        "says whether the new items still fit the quantizer or it is time to retrain."
    )
    st.dataframe(
        newest.rename(columns={"item_id": "item id", "sid": "ID"}),
        hide_index=True,
        width="stretch",
    )

# --- lookup ---------------------------------------------------------------------------------------
st.subheader("Look up an ID or an item")
query = st.text_input(
    "ID or title",
    key="ids_lookup_query",
    placeholder="<|sid_start|><|sid_0_12|>...  or part of a title",
    help="An ID (or its first tokens) lists the items under it; any other text searches titles.",
)
if query.strip():
    try:
        matches = data.lookup(path, query, limit=LOOKUP_LIMIT)
    except data.RUN_ERRORS as error:
        st.warning(plain(error), icon=NO_MATCH_ICON)
    else:
        if matches.empty:
            st.warning(
                f"Nothing in {plain(name)} matches {plain(repr(query.strip()))}.",
                icon=NO_MATCH_ICON,
            )
        else:
            st.caption(f"{len(matches)} match(es), at most {LOOKUP_LIMIT} shown.")
            st.dataframe(matches, hide_index=True, width="stretch")
