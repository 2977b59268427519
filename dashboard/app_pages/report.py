"""Report: download the same self-contained HTML, PDF and JSON report as `rqvae report`."""

from __future__ import annotations

import shlex

import streamlit as st

from dashboard import data, session, widgets
from dashboard.markup import code, plain

st.title("Report")
runs = widgets.selected_run_paths()
if not runs:
    st.info("Pick the runs to report on in the sidebar.", icon=":material/arrow_back:")
    st.stop()

st.markdown(
    "One HTML page that works offline (the verdict and every finding with what to do first, "
    "then the run comparison and every diagnostic of every run), the same as a PDF, and the "
    "numbers as JSON: what "
    + code(
        f"rqvae report {' '.join(shlex.quote(str(path)) for path in runs.values())} "
        "--out report.html --pdf report.pdf --json report.json"
    )
    + " writes."
)
if st.button("Build the report", key="report_build", type="primary", icon=":material/build:"):
    st.session_state[session.REPORT_RUNS] = list(runs)

if st.session_state[session.REPORT_RUNS] == list(runs):
    report = widgets.load_or_stop(", ".join(runs), lambda: data.report(list(runs.values())))
    widgets.verdict_badge(report.verdict)
    st.caption(f"{report.figures} figures, {len(report.html) / 1e6:.1f} MB of HTML.")
    columns = st.columns([1, 1, 1, 2])
    columns[0].download_button(
        "Download HTML report",
        report.html,
        file_name="rqvae-report.html",
        mime="text/html",
        on_click="ignore",
        key="report_download_html",
        icon=":material/download:",
    )
    columns[2].download_button(
        "Download JSON",
        report.json,
        file_name="rqvae-report.json",
        mime="application/json",
        on_click="ignore",
        key="report_download_json",
        icon=":material/data_object:",
    )
    # The PDF renders every figure (about a second each): made when asked for, then kept.
    if st.session_state[session.REPORT_PDF_RUNS] != list(runs) and columns[1].button(
        "Make the PDF", key="report_build_pdf", icon=":material/print:"
    ):
        st.session_state[session.REPORT_PDF_RUNS] = list(runs)
    if st.session_state[session.REPORT_PDF_RUNS] == list(runs):
        pdf = widgets.load_or_stop(", ".join(runs), lambda: data.report_pdf(list(runs.values())))
        if pdf.pdf is None:
            st.warning(f"No PDF: {plain(pdf.error)}", icon=":material/print_disabled:")
        else:
            columns[1].download_button(
                "Download PDF report",
                pdf.pdf,
                file_name="rqvae-report.pdf",
                mime="application/pdf",
                on_click="ignore",
                key="report_download_pdf",
                icon=":material/picture_as_pdf:",
            )
