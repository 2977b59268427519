"""Embeddings and behaviour: why the catalog is hard to quantize, and whether the IDs follow
what users do (geometry of inputs and latents, behavioural alignment, popularity allocation)."""

from __future__ import annotations

import streamlit as st

from analysis.diagnosis.results import Unavailable
from analysis.presentation import behaviour_figures
from analysis.presentation.figures import DEFAULT_COLOUR
from dashboard import widgets
from dashboard.markup import code

name, path, diagnosis = widgets.single_run_page("Embeddings and behaviour")
colour = widgets.colours().get(name, DEFAULT_COLOUR)

# --- geometry of the input embeddings and of the latents ------------------------------------------
st.subheader("Embedding geometry")
spaces = []
columns = st.columns(2)
for column, label, result in zip(
    columns,
    ("Input embeddings", "Latent space"),
    (diagnosis.input_geometry, diagnosis.latent_geometry),
    strict=True,
):
    with column:
        st.markdown(f"**{label}**")
        if isinstance(result, Unavailable):
            widgets.unavailable_card(label, result.reason)
            continue
        spaces.append(result)
        cards = st.columns(3)
        cards[0].metric(
            "anisotropy",
            f"{result.anisotropy:.3f}",
            help=f"Mean cosine of {result.n_pairs:,} random pairs (seed {result.seed}); exact "
            f"mean over all pairs {result.mean_cosine_all_pairs:.3f}.",
        )
        cards[1].metric(
            "effective rank",
            f"{result.effective_rank:.1f} / {result.dim}",
            help="Participation ratio of the covariance eigenvalues: (Σλ)² / Σλ².",
        )
        cards[2].metric("mean norm", f"{result.norms.mean():.4g}")
        widgets.plot(behaviour_figures.norm_histogram(result), key=f"eb_norms_{result.space}")
if spaces:
    log_spectrum = st.toggle("Log scale", value=True, key="embeddings_behaviour_log")
    widgets.plot(behaviour_figures.spectrum_figure(spaces, log_y=log_spectrum))

# --- behavioural alignment ------------------------------------------------------------------------
st.subheader("Behavioural alignment")
alignment = diagnosis.behaviour
if isinstance(alignment, Unavailable):
    widgets.unavailable_card("Behavioural alignment", alignment.reason)
else:
    st.caption(
        f"{alignment.n_pairs:,} co-occurring pairs (items at most {alignment.window} positions "
        f"apart) from {alignment.n_users:,} users in {code(diagnosis.sequences)}. Random and "
        "popularity-matched shares are exact expectations."
    )
    first = alignment.levels.iloc[0]
    cards = st.columns(3)
    cards[0].metric("pairs sharing the first code", f"{first['cooccurring_share']:.2%}")
    cards[1].metric("lift over random pairs", f"{first['lift_random']:.2f}x")
    cards[2].metric("lift over popularity-matched", f"{first['lift_popularity']:.2f}x")
    widgets.plot(behaviour_figures.alignment_figure(alignment.levels))
    widgets.table(alignment.levels)

# --- popularity allocation ------------------------------------------------------------------------
st.subheader("Popularity allocation")
allocation = diagnosis.popularity
if isinstance(allocation, Unavailable):
    widgets.unavailable_card("Popularity allocation", allocation.reason)
else:
    summary = allocation.summary()
    cards = st.columns(3)
    cards[0].metric(
        "popular items in collisions",
        f"{summary['head_collision_share']:.1%}",
        help=f"Top {allocation.head_fraction:.0%} of the items by interactions "
        f"({summary['head_items']:,} items, {summary['head_interaction_share']:.1%} of "
        "interactions) that share their full ID with another item.",
    )
    cards[1].metric("tail items in collisions", f"{summary['tail_collision_share']:.1%}")
    cards[2].metric(
        "interactions on colliding items", f"{summary['interaction_collision_share']:.1%}"
    )
    widgets.plot(behaviour_figures.popularity_groups_figure(allocation.groups))
    widgets.table(allocation.levels)
    lengths = sorted(allocation.prefixes["prefix_length"].unique().tolist())
    if lengths:
        length = st.selectbox("Fan-out of prefixes of length", lengths, key="embeddings_fanout")
        widgets.plot(behaviour_figures.fanout_figure(allocation.prefixes, length, colour))
