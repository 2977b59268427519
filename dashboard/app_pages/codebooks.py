"""Codebooks: how evenly each level's codes are used, dead codes marked, and the Lorenz curve;
optionally with the other picked runs overlaid."""

from __future__ import annotations

import streamlit as st

from analysis.presentation import figures
from analysis.presentation.labels import sizes_label
from dashboard import widgets

name, path, diagnosis = widgets.single_run_page("Codebooks")
colours = widgets.colours()
colour = colours.get(name, figures.DEFAULT_COLOUR)

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

# --- usage bars, or every picked run's usage overlaid ---------------------------------------------
controls = st.columns([1, 1, 2])
scale = controls[0].segmented_control(
    "Items axis", ["linear", "log"], default="linear", key="codebooks_scale"
)
order = controls[1].segmented_control(
    "Codes", ["sorted", "by code"], default="sorted", key="codebooks_order"
)
with controls[2]:
    overlay = widgets.overlay_switch("codebooks")
others = widgets.overlay_diagnoses(name) if overlay else {}
runs = {name: diagnosis, **others}
if overlay:
    widgets.run_legend(list(runs))
chart_columns = st.columns(2)
for level in range(diagnosis.n_levels):
    with chart_columns[level % 2]:
        if overlay:
            counts = {run: d.usage.counts[level] for run, d in runs.items() if d.n_levels > level}
            figure = figures.usage_overlay(counts, level, colours, log_y=scale == "log")
        else:
            figure = figures.usage_bars(
                diagnosis.usage.counts[level],
                level,
                log_y=scale == "log",
                sort=order != "by code",
                colour=colour,
            )
        widgets.plot(figure)

if overlay:
    lorenz = figures.lorenz_figure({run: d.usage.lorenz for run, d in runs.items()}, colours)
else:
    lorenz = figures.lorenz_figure(diagnosis.usage.lorenz, colour=colour)
widgets.plot(lorenz)
st.caption(
    "Colour is the run, the line style the level (solid: level 0, dashed: 1, dotted: 2). "
    "A level far from the diagonal leaves many codes nearly empty; k-means initialisation "
    "(`kmeans_init`, on by default), the dead-code reset (`dead_code_threshold` in a `--config` "
    "TOML) or a smaller `--codebook-size` spread the items more evenly."
)

with st.expander("Tables: usage and entropy per level"):
    widgets.table(usage)
    widgets.table(entropy)
    st.caption(
        f"Joint entropy of the full ID: {diagnosis.entropy.joint_entropy_nats:.3f} nats "
        f"(perplexity {diagnosis.entropy.joint_perplexity:,.1f})."
    )
