"""Scorecard: which of the picked runs should I ship? Their headline diagnostics side by side,
the best value of each row starred, and where to look for what a run lacks."""

from __future__ import annotations

import streamlit as st

from analysis.diagnosis.scorecard import scorecard
from analysis.presentation.scorecard_view import scorecard_csv, scorecard_html
from dashboard import data, diagnosis_jobs, widgets

# Where the evidence behind each group of rows is shown.
PAGES = {
    "IDs": ("app_pages/ids_collisions.py", "IDs and collisions"),
    "Codebooks": ("app_pages/codebooks.py", "Codebooks"),
    "Residuals": ("app_pages/residuals.py", "Residuals"),
    "Meaning": ("app_pages/taxonomy.py", "Taxonomy"),
    "Behaviour": ("app_pages/embeddings_behaviour.py", "Embeddings and behaviour"),
    "Downstream probe": ("app_pages/probe.py", "Downstream probe"),
    "Growth": ("app_pages/ids_collisions.py", "IDs and collisions (newest items)"),
}

st.title("Scorecard")
runs = widgets.selected_run_paths()
if not runs:
    st.info("Pick the runs to compare in the sidebar.", icon=":material/arrow_back:")
    st.stop()

# --- every run's headline numbers -----------------------------------------------------------------
cards, kinds, jobs = {}, {}, []
for name, path in runs.items():
    partial = widgets.load_or_stop(name, lambda path=path: diagnosis_jobs.diagnosis_now(path))
    if partial.job is not None:
        jobs.append(partial.job)
    cards[name] = scorecard(partial.diagnosis, data.probe_document(path))
    kinds[name] = partial.diagnosis.kind
if jobs:  # the ID rows are here; residuals, nearest-codeword IDs, coherence follow
    widgets.job_progress(jobs[0])

st.caption(
    "The picked runs side by side, each in its colour. Per row, ★ marks the best value (ties: "
    "all of them) and the direction says which way is better; grey text says why a run has no "
    "value. Unique-ID ratio comes twice: of the assigned IDs (semantic_ids.parquet) and of the "
    "quantizer's nearest codeword (before rqvae assign's collision-aware last level)."
)
widgets.run_legend(list(runs))
st.html(scorecard_html(cards, widgets.colours(), kinds))

columns = st.columns([1, 3])
columns[0].download_button(
    "Download the scorecard (CSV)",
    scorecard_csv(cards),
    file_name="rqvae-scorecard.csv",
    mime="text/csv",
    on_click="ignore",
    key="scorecard_csv",
    icon=":material/download:",
)
columns[1].caption(
    "The same table opens the run comparison of the report (Report page, or "
    "`rqvae report RUN RUN ... --out report.html`)."
)

# --- where to look next ---------------------------------------------------------------------------
st.subheader("Where to look next")
st.caption(
    "A run that loses a group of rows shows why on that group's page (the run shown there is "
    "picked in the sidebar); its findings, with what to change, are on the Runs page."
)
links = st.columns(3)
for index, (group, (page, title)) in enumerate(PAGES.items()):
    links[index % 3].page_link(page, label=f"{group}: {title}", icon=":material/arrow_forward:")
