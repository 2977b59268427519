"""Codebooks: how evenly each level's codes are used, dead codes marked, and the Lorenz curve."""

from __future__ import annotations

import streamlit as st

from analysis.presentation import figures
from analysis.presentation.labels import sizes_label
from dashboard import widgets

name, path, diagnosis = widgets.single_run_page("Codebooks")

usage = diagnosis.usage.table
entropy = diagnosis.entropy.table
st.caption(
    f"{diagnosis.n_items:,} items, {diagnosis.n_levels} levels of "
    f"{sizes_label(diagnosis.codebook_sizes)} codes."
    " Perplexity = exp(entropy), the number of equally used codes with the same entropy;"
    " KL to uniform = log K - H(p); Gini 0 = even use."
)

# --- numbers per level ----------------------------------------------------------------------------
for level in range(diagnosis.n_levels):
    used, spread = usage.iloc[level], entropy.iloc[level]
    columns = st.columns(5)
    columns[0].metric(
        f"Level {level}: codes used",
        f"{int(used['used_codes'])} / {int(used['codebook_size'])}",
        help="Codes with at least one item.",
    )
    columns[1].metric("dead codes", int(used["dead_codes"]))
    columns[2].metric("perplexity", f"{spread['perplexity']:.1f}")
    columns[3].metric(
        "KL to uniform",
        f"{spread['kl_uniform_nats']:.3f} nats",
        help=f"{spread['kl_uniform_bits']:.3f} bits",
    )
    columns[4].metric("Gini", f"{used['gini']:.3f}")

# --- usage bars -----------------------------------------------------------------------------------
controls = st.columns([1, 1, 3])
scale = controls[0].segmented_control(
    "Items axis", ["linear", "log"], default="linear", key="codebooks_scale"
)
order = controls[1].segmented_control(
    "Codes", ["sorted", "by code"], default="sorted", key="codebooks_order"
)
chart_columns = st.columns(2)
for level in range(diagnosis.n_levels):
    with chart_columns[level % 2]:
        widgets.plot(
            figures.usage_bars(
                diagnosis.usage.counts[level],
                level,
                log_y=scale == "log",
                sort=order != "by code",
            )
        )

widgets.plot(figures.lorenz_figure(diagnosis.usage.lorenz))

with st.expander("Tables: usage and entropy per level"):
    st.dataframe(usage, hide_index=True, width="stretch")
    st.dataframe(entropy, hide_index=True, width="stretch")
    st.caption(
        f"Joint entropy of the full ID: {diagnosis.entropy.joint_entropy_nats:.3f} nats "
        f"(perplexity {diagnosis.entropy.joint_perplexity:,.1f})."
    )
