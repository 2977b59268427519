"""Report: download the same self-contained HTML and JSON report as `rqvae report`."""

from __future__ import annotations

import shlex

import streamlit as st

from dashboard import data, session, widgets
from dashboard.markup import code

st.title("Report")
runs = widgets.selected_run_paths()
if not runs:
    st.info("Pick the runs to report on in the sidebar.", icon=":material/arrow_back:")
    st.stop()

st.markdown(
    "One HTML page that works offline (plotly inlined once; the verdict first, then the run "
    "comparison and every diagnostic of every run) and the same numbers as JSON: what "
    + code(
        f"rqvae report {' '.join(shlex.quote(str(path)) for path in runs.values())} "
        "--out report.html --json report.json"
    )
    + " writes."
)
if st.button("Build the report", key="report_build", type="primary", icon=":material/build:"):
    st.session_state[session.REPORT_RUNS] = list(runs)

if st.session_state[session.REPORT_RUNS] == list(runs):
    report = widgets.load_or_stop(", ".join(runs), lambda: data.report(list(runs.values())))
    widgets.verdict_badge(report.verdict)
    st.caption(f"{report.figures} figures, {len(report.html) / 1e6:.1f} MB of HTML.")
    columns = st.columns([1, 1, 3])
    columns[0].download_button(
        "Download HTML report",
        report.html,
        file_name="rqvae-report.html",
        mime="text/html",
        on_click="ignore",
        key="report_download_html",
        icon=":material/download:",
    )
    columns[1].download_button(
        "Download JSON",
        report.json,
        file_name="rqvae-report.json",
        mime="application/json",
        on_click="ignore",
        key="report_download_json",
        icon=":material/data_object:",
    )
