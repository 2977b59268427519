"""Downstream probe: do a recommender's numbers on each picked run's IDs differ beyond chance?"""

from __future__ import annotations

import streamlit as st

from analysis.presentation import figures_probe
from analysis.presentation.columns import column_label
from dashboard import data, widgets

st.title("Downstream probe")
runs = widgets.selected_run_paths()
if not runs:
    st.info("Pick one or more runs in the sidebar.", icon=":material/arrow_back:")
    st.stop()
results = widgets.load_or_stop(", ".join(runs), lambda: data.probe_table(list(runs.values())))
if results.empty:
    st.info(
        "None of the picked runs has been probed yet. Run "
        "`rqvae probe --run RUN --sequences FILE` to write RUN/probe.json.",
        icon=":material/info:",
    )
    st.stop()

st.caption(
    "Sequential recommenders on the same user sequences, leave-last-out (last item test). "
    "The semantic-ID model (by default a SASRec over items' pooled ID tokens; or TIGER's "
    "encoder-decoder, or a decoder-only SASRec over ID tokens) generates the next item's ID "
    "by beam search constrained to IDs that exist; item-ID SASRec scores every "
    "item; popularity ranks by training interactions. Recall and NDCG over the full catalog; "
    "brackets and error bars are 95% per-user bootstrap intervals."
)
colours = widgets.colours()
widgets.run_legend(list(runs))
metric = (
    st.segmented_control(
        "Metric",
        list(figures_probe.METRIC_LABELS),
        default="recall_at_10",
        format_func=figures_probe.METRIC_LABELS.get,
        key="probe_metric",
    )
    or "recall_at_10"
)
widgets.plot(figures_probe.probe_figure(results, metric, colours))
widgets.table(figures_probe.probe_display_table(results), pin="Run")
if results["run"].nunique() > 1:
    quality = st.selectbox(
        "Quantizer quality",
        ["ids_unique_ratio", "ids_perplexity_l0"],
        format_func=column_label,
        key="probe_quality",
    )
    widgets.plot(figures_probe.quality_vs_probe_figure(results, quality, colours))
unprobed = [name for name in runs if name not in set(results["run"])]
if unprobed:
    st.caption(f"Not probed: {', '.join(unprobed)}.")
st.markdown(
    "**What to do:** two runs whose intervals overlap may still differ; "
    "`rqvae probe --run A --compare B --sequences FILE` gives the paired difference A - B on "
    "the same users, with its interval. A semantic-ID model far below item-ID SASRec says "
    "the IDs (or the model's training) lose information the recommender needs."
)
