"""Session-state keys shared by the app shell and the pages, and how pages read them.

``app.py`` sets the defaults once per session and draws the run picker; pages only read. A key
used by a single page lives in that page and is named after it (``codebooks_scale``).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

RUNS_ROOT = "runs_root"  # str: absolute path of the runs folder for this session
SELECTED_RUNS = "selected_runs"  # list[str]: run names picked in the sidebar
FOCUS_RUN = "focus_run"  # str | None: the one run that single-run pages show
TAXONOMY_PREFIX = "taxonomy_prefix"  # str: the prefix the Taxonomy page is drilled into ("" = top)
REPORT_RUNS = "report_runs"  # list[str] | None: the runs the Report page last built a report for
REPORT_PDF_RUNS = "report_pdf_runs"  # list[str] | None: the runs the Report page made a PDF for
# Query parameter of a finding's link (Runs page): the run whose evidence the linked page shows.
LINKED_RUN = "run"


def set_defaults(runs_root: Path, run_names: list[str], default_picks: list[str]) -> None:
    """Fill in missing keys and drop run names that no longer exist under the root.

    ``default_picks`` are picked on a session's first visit: the app passes the first two
    readable runs, so a fresh ``rqvae demo`` opens on a comparison.
    """
    previous_root = st.session_state.get(RUNS_ROOT)
    if previous_root is not None and previous_root != str(runs_root):
        st.session_state.pop(SELECTED_RUNS, None)  # names under another root mean nothing here
        st.session_state.pop(FOCUS_RUN, None)
    st.session_state[RUNS_ROOT] = str(runs_root)
    if SELECTED_RUNS not in st.session_state:
        st.session_state[SELECTED_RUNS] = list(default_picks)
    else:
        kept = [name for name in st.session_state[SELECTED_RUNS] if name in run_names]
        st.session_state[SELECTED_RUNS] = kept
    st.session_state.setdefault(TAXONOMY_PREFIX, "")
    st.session_state.setdefault(REPORT_RUNS, None)
    st.session_state.setdefault(REPORT_PDF_RUNS, None)
    _follow_link(run_names)
    selected = st.session_state[SELECTED_RUNS]
    if st.session_state.get(FOCUS_RUN) not in selected:
        st.session_state[FOCUS_RUN] = selected[0] if selected else None


def _follow_link(run_names: list[str]) -> None:
    """A finding's link opens its page on the run the finding is about: ``?run=NAME`` makes
    NAME the focus run (picking it if needed), once; the parameter is then dropped so the
    sidebar choice wins again."""
    linked = st.query_params.get(LINKED_RUN)
    if linked is None:
        return
    del st.query_params[LINKED_RUN]
    if linked in run_names:
        if linked not in st.session_state[SELECTED_RUNS]:
            st.session_state[SELECTED_RUNS] = [*st.session_state[SELECTED_RUNS], linked]
        st.session_state[FOCUS_RUN] = linked


def runs_root() -> Path:
    return Path(st.session_state[RUNS_ROOT])


def selected_runs() -> list[str]:
    return list(st.session_state.get(SELECTED_RUNS, []))


def focus_run() -> str | None:
    return st.session_state.get(FOCUS_RUN)
