"""IDs and collisions: how unique the IDs are at each prefix length, who collides, and lookup."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.diagnosis.scorecard import nearest_unique_ratio
from analysis.presentation import figures, labels
from dashboard import data, widgets
from dashboard.markup import plain

NEAREST_HELP = (
    "The quantizer's own nearest codeword at every level: what training's unique_id_ratio and "
    "the Euclidean column of the Euclidean vs Mahalanobis page measure. rqvae assign's "
    "collision-aware last level then moves colliding items to free codes of their prefix, so "
    "the assigned IDs can be more unique."
)
LOOKUP_LIMIT = 50
SHOWN_PER_GROUP = 5  # a group can hold thousands of items; the lookup box lists more
NO_MATCH_ICON = ":material/search_off:"

name, path, diagnosis = widgets.single_run_page("IDs and collisions")
collisions = diagnosis.collisions
colour = widgets.colours().get(name, figures.DEFAULT_COLOUR)

# --- headline numbers -----------------------------------------------------------------------------
# Two unique-ID ratios differ by design: the IDs in semantic_ids.parquet (what this page is
# about) and the quantizer's nearest codeword (training's unique_id_ratio, the Euclidean column
# of the Mahalanobis page), before assign's collision-aware last level moved colliding items.
nearest, nearest_missing = nearest_unique_ratio(diagnosis)
columns = st.columns(5)
columns[0].metric(
    "unique-ID ratio, assigned IDs",
    f"{collisions.unique_id_ratio:.4f}",
    help="Distinct full L-tuples / items of semantic_ids.parquet, without the collision index.",
)
columns[1].metric(
    "unique-ID ratio, nearest codeword",
    "–" if nearest is None else f"{nearest:.4f}",
    help=NEAREST_HELP if nearest is not None else f"Unavailable: {nearest_missing}",
)
columns[2].metric(
    "with collision index",
    f"{collisions.unique_id_ratio_with_collision:.4f}",
    help="1.0 when the collision column makes every ID unique.",
)
columns[3].metric("items in collisions", f"{collisions.collision_share:.2%}")
largest = collisions.largest_group
columns[4].metric("largest group", f"{largest:,} item{'s' if largest != 1 else ''}")
last_level = labels.last_level_note(diagnosis.last_level, diagnosis.n_items)
if last_level:
    st.caption(plain(last_level))

chart_columns = st.columns(2)
with chart_columns[0]:
    widgets.plot(figures.unique_ratio_figure(collisions, colour))
with chart_columns[1]:
    widgets.plot(figures.collision_histogram(collisions.group_sizes, colour))

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
    widgets.table(diagnosis.source_ids)

# --- the largest groups, with what is in them -----------------------------------------------------
st.subheader("Largest collision groups")
groups = collisions.largest_groups
if groups.empty:
    st.success("No collisions: every item has its own full ID.", icon=":material/check:")
else:
    widgets.table(
        pd.DataFrame(
            {
                "rank": groups["rank"],
                "prefix": groups["prefix"],
                "size": groups["size"],
                "first titles": [
                    " | ".join(data.item_titles(path, rows[:SHOWN_PER_GROUP]))
                    for rows in groups["rows"]
                ],
                "first item ids": [
                    ", ".join(map(str, ids[:SHOWN_PER_GROUP])) for ids in groups["item_ids"]
                ],
            }
        ),
        labels={"prefix": "shared full ID"},
    )

with st.expander("Per prefix length and branching factor"):
    widgets.table(collisions.prefixes)
    st.caption("How many distinct children each prefix uses, per level:")
    widgets.table(diagnosis.entropy.branching)

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
            widgets.table(matches)
