"""Small pieces of screen the pages share: error cards, badges, the run a page is about, and the
opening of every single-run page (:func:`single_run_page`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import streamlit as st

from analysis.diagnosis.results import Diagnosis
from dashboard import background, data, diagnosis_jobs, session
from dashboard.markup import code, plain
from dashboard.paths import run_path
from rqvae.errors import InputError

Loaded = TypeVar("Loaded")

STATE_COLORS = {
    "training": "blue",
    "interrupted": "orange",
    "finished": "green",
    "imported": "violet",
    "failed": "red",
    "broken": "red",
    "unknown": "gray",
}
VERDICT_COLORS = {"ok": "green", "info": "blue", "warning": "orange", "error": "red"}
VERDICT_ICONS = {
    "ok": ":material/check_circle:",
    "info": ":material/info:",
    "warning": ":material/warning:",
    "error": ":material/error:",
}

HOW_TO_MAKE_A_RUN = """\
```bash
rqvae demo                                   # MovieLens-100k: two small runs to compare
rqvae train --embeddings EMB.npy --catalog CATALOG --out runs/NAME
rqvae import-ids --ids Scientific.index.json --out runs/NAME   # IDs from another tool
```"""


def error_card(run_name: str, error: BaseException | str) -> None:
    """A red card naming the run, the file and the problem (the message of an InputError)."""
    st.error(f"**{plain(run_name)}**: {plain(error)}", icon=":material/error:")


def unavailable_card(what: str, error: BaseException | str) -> None:
    """A grey note for a diagnostic this run cannot have (e.g. no checkpoint)."""
    st.info(
        f"**{plain(what)}** is unavailable for this run: {plain(error)}", icon=":material/block:"
    )


def state_badge(state: str) -> None:
    st.badge(state, color=STATE_COLORS.get(state, "gray"))


def verdict_badge(verdict: str) -> None:
    st.badge(
        f"verdict: {verdict}",
        icon=VERDICT_ICONS.get(verdict),
        color=VERDICT_COLORS.get(verdict, "gray"),
    )


def empty_runs_folder() -> None:
    """What to tell someone whose runs folder holds no run yet."""
    st.info(
        f"No runs in {code(session.runs_root())} yet. Make one, then reload this page:",
        icon=":material/folder_open:",
    )
    st.markdown(HOW_TO_MAKE_A_RUN)
    st.caption(
        "Open another folder with `rqvae dashboard --runs-dir DIR` "
        "or the `RQVAE_RUNS_DIR` environment variable."
    )


def focus_run_path() -> tuple[str, Path]:
    """The run that a single-run page is about, checked to lie under the runs root.

    Stops the page with a note when no run is picked or the folder has gone away.
    """
    name = session.focus_run()
    if name is None:
        if session.selected_runs():
            st.info("Pick the run to show in the sidebar.", icon=":material/arrow_back:")
        else:
            st.info("Pick one or more runs in the sidebar.", icon=":material/arrow_back:")
        st.stop()
    try:
        return name, run_path(session.runs_root(), name)
    except InputError as error:
        error_card(name, error)
        st.stop()


def load_or_stop(what: str, load: Callable[[], Loaded]) -> Loaded:
    """``load()``; when a run makes that impossible, an error card naming ``what`` and a stop."""
    try:
        return load()
    except data.RUN_ERRORS as error:
        error_card(what, error)
        st.stop()


def single_run_page(
    title: str,
    *,
    needs: str | None = None,
    what: str | None = None,
    with_maps: bool = False,
) -> tuple[str, Path, Diagnosis]:
    """Open a single-run page: title, the focus run and its diagnosis, or a card and a stop.

    needs : a diagnostic the page cannot do without (``"residuals"``); when the run cannot
    have it, a grey card says why (``what`` names it) and the page stops. with_maps : also
    compute the UMAP maps (the Codeword map page).
    """
    name, path = focus_run_path()
    st.title(f"{title}: {plain(name)}")
    partial = load_or_stop(name, lambda: diagnosis_jobs.diagnosis_now(path, with_maps))
    diagnosis = partial.diagnosis
    if partial.job is not None:
        # the ID diagnostics are here; the rest fills in when the job is done
        job_progress(partial.job)
        if needs is not None or with_maps:
            st.stop()
    if needs is not None and not diagnosis.available(needs):
        unavailable_card(what or title, getattr(diagnosis, needs).reason)
        st.stop()
    return name, path, diagnosis


def selected_run_paths() -> dict[str, Path]:
    """Run name -> folder for every picked run that exists under the root and is readable.

    A broken run gets an error card naming its file and is left out, so the others still work.
    """
    paths = {}
    for name in session.selected_runs():
        try:
            path = run_path(session.runs_root(), name)
        except InputError as error:
            error_card(name, error)
            continue
        problem = data.run_overview(path).problem
        if problem is None:
            paths[name] = path
        else:
            error_card(name, problem)
    return paths


def plot(figure, key: str | None = None) -> None:
    """Draw a plotly figure full width."""
    st.plotly_chart(figure, width="stretch", key=key)


@st.fragment(run_every=1.0)
def job_progress(job: background.Job) -> None:
    """A progress bar for a background job; the whole page re-runs once the job is done."""
    if job.done():
        st.rerun(scope="app")
    st.progress(
        min(job.fraction, 0.99),
        text=f"{job.title}: {job.stage.replace('_', ' ')} "
        f"({job.elapsed():.0f} s). The page fills in when they are ready.",
    )
