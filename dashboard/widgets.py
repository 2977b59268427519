"""Small pieces of screen the pages share: error cards, badges, the run a page is about, the
opening of every single-run page (:func:`single_run_page`), tables with readable columns
(:func:`table`), run colours (:func:`colours`) and the other runs a page may overlay
(:func:`overlay_diagnoses`)."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pandas as pd
import streamlit as st

from analysis.diagnosis.results import Diagnosis
from analysis.presentation.columns import FORMATS, column
from analysis.presentation.run_colours import run_colours
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


def selected_run_paths(cards: bool = True) -> dict[str, Path]:
    """Run name -> folder for every picked run that exists under the root and is readable.

    A broken run gets an error card naming its file (unless ``cards`` is False) and is left
    out, so the others still work.
    """
    paths = {}
    for name in session.selected_runs():
        try:
            path = run_path(session.runs_root(), name)
        except InputError as error:
            if cards:
                error_card(name, error)
            continue
        problem = data.run_overview(path).problem
        if problem is None:
            paths[name] = path
        elif cards:
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


# --- tables and colours ---------------------------------------------------------------------------

MISSING = "–"  # what a table shows for a missing value (never "None")


def table(
    frame: pd.DataFrame,
    *,
    context: str = "",
    key: str | None = None,
    pin: str | None = None,
    labels: dict[str, str] | None = None,
    **options,
):
    """``st.dataframe`` of ``frame`` as a reader should see it: readable column labels with
    units and one number format per quantity (:mod:`analysis.presentation.columns`), "–" for
    a missing value, and the identifying column (``pin``, default the first) pinned while the
    others scroll. context : "training" for metrics.jsonl names. labels : overrides.
    ``options`` go to ``st.dataframe`` (``height``, ``on_select``, ...)."""
    pin = frame.columns[0] if pin is None and len(frame.columns) else pin
    config = {}
    for name in frame.columns:
        spec = column(str(name), context)
        label = (labels or {}).get(name, spec.label)
        numeric = pd.api.types.is_numeric_dtype(frame[name]) and not pd.api.types.is_bool_dtype(
            frame[name]
        )
        if numeric and spec.kind != "text":
            config[name] = st.column_config.NumberColumn(
                label, format=FORMATS[spec.kind][0] or None, pinned=name == pin
            )
        else:
            config[name] = st.column_config.Column(label, pinned=name == pin)
    return st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config=config,
        placeholder=MISSING,
        key=key,
        **options,
    )


def colours() -> dict[str, str]:
    """``{run: colour}`` of the runs picked in the sidebar: the colours every figure, table
    and legend of this session uses (:func:`analysis.presentation.run_colours.run_colours`,
    the report's colours for the same runs)."""
    return run_colours(session.selected_runs())


def run_legend(names: list[str]) -> None:
    """The runs' names, each on a chip of its colour (a legend for the page)."""
    palette = colours()
    chips = "".join(
        f"<span data-run='{_attribute(name)}' style='display:inline-block;margin:0 0.8em 0.3em 0;"
        f"white-space:nowrap'><span style='display:inline-block;width:0.9em;height:0.9em;"
        f"border-radius:2px;margin-right:0.35em;vertical-align:-0.1em;"
        f"background:{palette.get(name, '#888')}'></span>{_text(name)}</span>"
        for name in names
    )
    st.html(f"<div class='run-legend'>{chips}</div>")


def _text(value: object) -> str:
    return html.escape(str(value))


def _attribute(value: object) -> str:
    return html.escape(str(value), quote=True)


def overlay_diagnoses(focus: str) -> dict[str, Diagnosis]:
    """``{run: diagnosis}`` of the other picked runs, for a single-run page's "overlay the
    other selected runs" switch: what each has at hand now (its ID diagnostics at least; a
    run still computing the rest fills in on a later visit). Broken runs are left out."""
    others = {}
    for name, path in selected_run_paths(cards=False).items():
        if name == focus:
            continue
        try:
            others[name] = diagnosis_jobs.diagnosis_now(path).diagnosis
        except data.RUN_ERRORS:
            continue
    return others


def overlay_switch(page: str) -> bool:
    """The "overlay the other selected runs" toggle of a single-run page (key
    ``<page>_overlay``); off, and disabled, when only one run is picked."""
    others = len(session.selected_runs()) - 1
    return st.toggle(
        "Overlay the other selected runs",
        key=f"{page}_overlay",
        disabled=others < 1,
        help="Draw the other runs picked in the sidebar on the same axes, each in its colour."
        if others
        else "Pick more runs in the sidebar to overlay them.",
    )
