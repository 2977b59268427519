"""Runs: every run under the root with its state, settings, last metrics and health verdict;
one card per picked run listing every finding with what to do and a link to its evidence."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, diagnosis_jobs, session, widgets
from dashboard.markup import plain, with_code_spans
from dashboard.page_files import page_link_target
from dashboard.paths import run_path

LIVE_REFRESH_SECONDS = 5
SEVERITY_ICONS = {"error": ":red[:material/error:]", "warning": ":orange[:material/warning:]"}

st.title("Runs")
root = session.runs_root()
names = data.run_names(root)
if not names:
    widgets.empty_runs_folder()
    st.stop()

overviews = {name: data.run_overview(run_path(root, name)) for name in names}
# The verdict is the one `rqvae diagnose` gives; a run whose IDs cannot be read gets a problem.
diagnoses, problems, jobs = {}, {}, []
for name, overview in overviews.items():
    if overview.problem is not None:
        problems[name] = overview.problem
    elif overview.has_ids:
        try:
            partial = diagnosis_jobs.diagnosis_now(run_path(root, name))
            diagnoses[name] = partial.diagnosis
            if partial.job is not None:
                jobs.append(partial.job)
        except data.RUN_ERRORS as error:
            problems[name] = str(error)
        except Exception as error:  # keep the other runs usable whatever one of them does
            problems[name] = f"cannot be diagnosed ({type(error).__name__}: {error})"

# --- the table of all runs ------------------------------------------------------------------------
rows = []
for name, overview in overviews.items():
    diagnosis = diagnoses.get(name)
    rows.append(
        {
            "run": name,
            "state": "broken" if name in problems else overview.state,
            "verdict": diagnosis.verdict if diagnosis else None,
            "kind": overview.kind,
            "created": overview.created,
            "items": diagnosis.n_items if diagnosis else None,
            **overview.settings,
            "epochs": (  # text in every row: Arrow cannot mix "14/80" with the int 1
                f"{overview.epochs_done}/{overview.epochs_total}"
                if overview.epochs_total
                else str(overview.epochs_done or "") or None
            ),
            "unique_id_ratio": diagnosis.collisions.unique_id_ratio if diagnosis else None,
            "val_loss_total": overview.final_metrics.get("val_loss_total"),
            "checkpoint": overview.has_checkpoint,
        }
    )
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    width="stretch",
    column_config={
        "unique_id_ratio": st.column_config.NumberColumn(
            "unique-ID ratio, assigned IDs", format="%.4f"
        ),
        "val_loss_total": st.column_config.NumberColumn("val loss", format="%.4g"),
        "checkpoint": st.column_config.CheckboxColumn("checkpoint"),
    },
)
st.caption("Pick the runs to look at in the sidebar; the cards below follow that choice.")
if jobs:  # verdicts so far come from the ID diagnostics; residual checks follow
    widgets.job_progress(jobs[0])

# --- broken runs: say which file is wrong; the other runs stay usable -----------------------------
for name, problem in problems.items():
    widgets.error_card(name, problem)
# --- entries that resolve outside the runs folder: refused, never opened --------------------------
for name, reason in data.refused_runs(root).items():
    widgets.error_card(name, f"refused: {reason}")


# --- one card per picked run ----------------------------------------------------------------------
def finding_item(name: str, finding, scope: str = "") -> None:
    """One finding: severity and message, what to do, and a link to the page with the evidence
    (opened on this run)."""
    icon = SEVERITY_ICONS.get(finding.severity, ":blue[:material/info:]")
    st.markdown(f"{icon} **{finding.severity}**{scope}: {plain(finding.message)}")
    if finding.advice:
        # a stored diagnosis is a file: its text is escaped, only its code spans stay code
        st.caption(f"What to do: {with_code_spans(finding.advice)}")
    if finding.evidence:
        st.caption(f"Study: {plain(finding.evidence)}")
    target = page_link_target(finding.page)
    if target is not None:
        st.page_link(
            target,
            label=f"Evidence: {finding.page}",
            icon=":material/arrow_forward:",
            query_params={session.LINKED_RUN: name},
        )


def run_card(name: str) -> None:
    overview = overviews[name]
    with st.container(border=True):
        st.subheader(plain(name))
        widgets.state_badge("broken" if name in problems else overview.state)
        diagnosis = diagnoses.get(name)
        if diagnosis is not None:
            widgets.verdict_badge(diagnosis.verdict)
            for finding in diagnosis.run_findings:  # interrupted, stale IDs, best rule
                finding_item(name, finding, scope=" (run)")
            for finding in diagnosis.findings:  # every one: nothing is hidden behind "more"
                finding_item(name, finding)
            if not diagnosis.findings:
                st.caption("No findings: every health rule passed.")
        elif name in problems:
            st.caption("Broken: see the error above.")
        elif not overview.has_ids:
            st.caption("No semantic IDs yet (`rqvae assign` writes them after training).")


@st.fragment(run_every=LIVE_REFRESH_SECONDS)
def live_progress(name: str) -> None:
    """Re-reads a training run every few seconds; the rest of the page is not rerun."""
    try:
        overview = data.run_overview(run_path(root, name))
    except data.RUN_ERRORS as error:  # the folder went away while we watched it
        widgets.error_card(name, error)
        return
    last = overview.final_metrics
    st.progress(
        min(overview.epochs_done / overview.epochs_total, 1.0) if overview.epochs_total else 0.0,
        text=f"{plain(name)}: epoch {overview.epochs_done} of {overview.epochs_total or '?'}",
    )
    columns = st.columns(3)
    columns[0].metric("loss", f"{last.get('loss_total', float('nan')):.4g}")
    columns[1].metric(  # training measures the nearest-codeword IDs, before assign
        "unique-ID ratio, nearest codeword",
        f"{last.get('unique_id_ratio', float('nan')):.4f}",
    )
    columns[2].metric("samples / s", f"{last.get('samples_per_s', float('nan')):.0f}")


picked = [name for name in session.selected_runs() if name in overviews]
for column, name in zip(st.columns(max(len(picked), 1)), picked, strict=False):
    with column:
        run_card(name)
        if overviews[name].state in data.LIVE_STATES:
            live_progress(name)
