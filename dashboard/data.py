"""Every load the dashboard makes, cached, and nothing else: the numbers come from ``analysis``.

Cached functions take plain arguments (the run folder as a string, a level) plus a *stamp*
(:mod:`dashboard.stamps`): the modification time and size of the files the result depends on.
A run that trains rewrites ``metrics.jsonl`` and ``status.json`` atomically, so the stamp
changes, the cache misses and the page shows the new epoch; an untouched run is read once per
process. One run's diagnosis, which may take a minute, lives in :mod:`dashboard.diagnosis_jobs`.

Small results use ``st.cache_data`` (a copy per caller). The big per-run objects (the ID table
of a million items, :class:`analysis.reading.run_data.RunData`) use ``st.cache_resource``: one
shared object, which callers must treat as read-only.

Every error a run can cause is a :class:`rqvae.errors.WorkbenchError` (``RUN_ERRORS``): pages
show it as a card and go on.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet
import streamlit as st

from analysis.diagnosis.churn import RunChurn, run_churn
from analysis.diagnosis.study_files import studies as read_studies
from analysis.diagnosis.study_files import study_files
from analysis.metrics.prefix_members import prefix_members as analysis_prefix_members
from analysis.metrics.taxonomy import prefix_taxonomy
from analysis.presentation.labels import sizes_label
from analysis.presentation.report import write_report
from analysis.reading.generations import item_generations as generation_of_rows
from analysis.reading.generations import newest_items as newest_items_table
from analysis.reading.generations import run_generations
from analysis.reading.probe_results import probe_results, read_probe
from analysis.reading.run_data import RunData
from analysis.reading.run_tables import (
    compare_runs,
    config_diff,
    final_metrics,
    runs_without_history,
    settings_table,
    training_marks,
)
from dashboard.diagnosis_jobs import diagnosis_with_maps
from dashboard.paths import run_path
from dashboard.stamps import DIAGNOSIS_FILES, ID_FILES, RUN_FILES, Stamp, file_stamp, stamp
from rqvae.errors import InputError, WorkbenchError
from rqvae.files import check_regular_file
from rqvae.ids.lookup import lookup_table
from rqvae.probe import PROBE_FILE
from rqvae.runs.folder import (
    CONFIG_FILE,
    ITEMS_FILE,
    METRICS_FILE,
    SEMANTIC_IDS_FILE,
    Run,
    RunInfo,
    list_runs,
)
from rqvae.runs.lock import effective_state, is_locked

LIVE_STATES = ("training",)
# Errors that mean "this run (or this diagnostic) cannot be shown", not "the dashboard is broken".
RUN_ERRORS = (WorkbenchError,)


def run_names(root: Path) -> list[str]:
    """Names of the run folders under ``root`` (not cached: a directory listing is cheap).

    Hidden folders are skipped: ``rqvae import-ids`` builds a run in ``.NAME.xxxx`` first.
    Entries that resolve outside the root (a symlink pointing elsewhere) are not runs of this
    dashboard: they are left out here and listed by :func:`refused_runs`.
    """
    return [name for name in _candidate_names(root) if _outside_root(root, name) is None]


def refused_runs(root: Path) -> dict[str, str]:
    """Name -> why, for entries of ``root`` that look like runs but resolve outside it.

    Nothing inside them is opened: the check only resolves the path.
    """
    refused = {name: _outside_root(root, name) for name in _candidate_names(root)}
    return {name: reason for name, reason in refused.items() if reason is not None}


def _candidate_names(root: Path) -> list[str]:
    return [path.name for path in list_runs(root) if not path.name.startswith(".")]


def _outside_root(root: Path, name: str) -> str | None:
    try:
        run_path(root, name)
    except InputError as error:
        return str(error)
    return None


# --- the Runs page --------------------------------------------------------------------------------


@dataclass
class RunOverview:
    """What the Runs page shows about one run. ``problem`` is set when the run is broken."""

    name: str
    state: str  # training | interrupted | finished | failed | imported | unknown | broken
    kind: str = "unknown"  # trained | imported-ids | imported-checkpoint | baseline
    created: str | None = None
    settings: dict = field(default_factory=dict)  # the few config values worth a column
    epochs_done: int = 0
    epochs_total: int | None = None
    final_metrics: dict = field(default_factory=dict)  # last line of metrics.jsonl
    has_checkpoint: bool = False
    has_ids: bool = False
    problem: str | None = None  # "<file>: <what is wrong>" for a broken run


def run_overview(run_dir: Path) -> RunOverview:
    """Status, settings and last metrics of a run; a broken run comes back with ``problem``."""
    # The lock is part of the key: a killed trainer changes no file, only who holds the lock.
    return _run_overview(str(run_dir), stamp(run_dir, RUN_FILES), is_locked(run_dir))


@st.cache_data(show_spinner=False, max_entries=512)
def _run_overview(run_dir: str, file_stamp: Stamp, locked: bool) -> RunOverview:
    path = Path(run_dir)
    overview = RunOverview(name=path.name, state="unknown")
    try:
        run = Run(path)
        info, status = run.info, run.status()
        overview.kind = info.kind
        overview.state = effective_state(path, str(status.get("state", "unknown")))
        overview.created = info.document.get("created") or status.get("created")
        overview.settings = _key_settings(info)
        train = info.document.get("train")
        overview.epochs_total = train.get("epochs") if isinstance(train, dict) else None
        metrics = run.metrics()
        overview.epochs_done = len(metrics)
        if len(metrics):
            overview.final_metrics = metrics.iloc[-1].dropna().to_dict()
        overview.has_checkpoint = run.has_checkpoint
        overview.has_ids = os.path.lexists(path / SEMANTIC_IDS_FILE)
        if overview.has_ids:
            _check_parquet(path / SEMANTIC_IDS_FILE, path)
    except WorkbenchError as error:
        overview.state, overview.problem = "broken", str(error)
    return overview


def _check_parquet(path: Path, run_dir: Path) -> None:
    """Read only the footer of a Parquet file: a cut or corrupt file fails here, cheaply (and
    a link or special file in its place, before anything opens it by its path)."""
    check_regular_file(path, run_dir)
    try:
        pyarrow.parquet.read_metadata(path)
    except Exception as error:  # pyarrow raises several types for damaged files
        raise InputError(f"{path}: cannot read Parquet ({error})") from None


def _key_settings(info: RunInfo) -> dict:
    """Levels x codes, and the few settings that tell runs of that kind apart."""
    settings = {"levels": info.levels, "codebook_size": sizes_label(info.codebook_sizes)}
    document = info.document
    if info.kind == "trained":
        model, train = document.get("model", {}), document.get("train", {})
        settings.update(
            distance=info.distance,
            estimator=model.get("gradient_estimator"),
            beta=model.get("beta"),
            lr=train.get("lr"),
        )
    elif isinstance(document.get("source"), dict):
        settings["source"] = Path(str(document["source"].get("ids_file", "?"))).name
    return settings


# --- one run's semantic IDs ----------------------------------------------------------------------


def run_data(run_dir: Path) -> RunData:
    """The run's codes, item ids and catalog fields (shared object: do not modify)."""
    return _run_data(str(run_dir), stamp(run_dir, ID_FILES))


@st.cache_resource(show_spinner="Reading semantic IDs ...", max_entries=8)
def _run_data(run_dir: str, file_stamp: Stamp) -> RunData:
    return RunData.load(run_dir)


def item_titles(run_dir: Path, rows: list[int]) -> list[str]:
    """Titles of the items at these semantic-ID rows ("" without a catalog)."""
    titles = run_data(run_dir).titles
    return ["" if titles is None else titles[row] for row in rows]


def category_mix(run_dir: Path) -> pd.DataFrame:
    """Category distribution of every prefix node
    (:func:`analysis.metrics.taxonomy.prefix_taxonomy`)."""
    return _category_mix(str(run_dir), stamp(run_dir, ID_FILES))


@st.cache_data(show_spinner="Counting categories per prefix ...", max_entries=8)
def _category_mix(run_dir: str, file_stamp: Stamp) -> pd.DataFrame:
    ids = run_data(Path(run_dir))
    return prefix_taxonomy(ids.codes, ids.categories)


def newest_items(run_dir: Path) -> pd.DataFrame | None:
    """The items ``rqvae extend`` added last, newest first (``item_id, title, generation,
    sid``), or None for a run never extended (:mod:`analysis.reading.generations`)."""
    growth = _growth(str(run_dir), stamp(run_dir, ID_FILES))
    return None if growth is None else growth[0]


def item_generations(run_dir: Path) -> np.ndarray | None:
    """The generation of every semantic-ID row, int64 (n_items,), or None for a run never
    extended (:func:`analysis.reading.generations.item_generations`)."""
    growth = _growth(str(run_dir), stamp(run_dir, ID_FILES))
    return None if growth is None else growth[1]


@st.cache_data(show_spinner=False, max_entries=32)
def _growth(run_dir: str, file_stamp: Stamp) -> tuple[pd.DataFrame, np.ndarray] | None:
    if run_generations(run_dir) is None:
        return None
    return newest_items_table(run_dir), generation_of_rows(run_dir)


def prefix_members(run_dir: Path, row: int, limit: int = 10) -> pd.DataFrame:
    """Items sharing item ``row``'s prefix at each length
    (:func:`analysis.metrics.prefix_members.prefix_members`), with the listed items' ids and
    titles: columns ``prefix_length, prefix, items, item_ids, titles``."""
    return _prefix_members(str(run_dir), stamp(run_dir, ID_FILES), row, limit)


@st.cache_data(show_spinner=False, max_entries=64)
def _prefix_members(run_dir: str, file_stamp: Stamp, row: int, limit: int) -> pd.DataFrame:
    ids = run_data(Path(run_dir))
    members = analysis_prefix_members(ids.codes, row, limit)
    members["item_ids"] = [list(map(str, ids.item_ids_of(rows))) for rows in members["rows"]]
    members["titles"] = [item_titles(Path(run_dir), rows.tolist()) for rows in members["rows"]]
    return members.drop(columns="rows")


def lookup(run_dir: Path, query: str, limit: int = 50) -> pd.DataFrame:
    """Items whose ID starts with ``query``, or whose title contains it (``rqvae lookup``)."""
    stamped = stamp(run_dir, (SEMANTIC_IDS_FILE, ITEMS_FILE))
    return lookup_table(
        _id_table(str(run_dir), stamped), _items(str(run_dir), stamped), query, limit
    )


@st.cache_resource(show_spinner=False, max_entries=8)
def _id_table(run_dir: str, file_stamp: Stamp) -> pd.DataFrame:
    return Run(run_dir).semantic_ids()


@st.cache_resource(show_spinner=False, max_entries=8)
def _items(run_dir: str, file_stamp: Stamp) -> pd.DataFrame | None:
    return Run(run_dir).items()


# --- several runs ---------------------------------------------------------------------------------


RunsKey = tuple[tuple[str, Stamp], ...]


def _runs_key(run_dirs: list[Path], names: tuple[str, ...]) -> RunsKey:
    return tuple((str(path), stamp(path, names)) for path in run_dirs)


def curves(run_dirs: list[Path]) -> pd.DataFrame:
    """Training metrics of several runs, tidy: ``run, epoch, metric, value``."""
    return _curves(_runs_key(run_dirs, (METRICS_FILE,)))


@st.cache_data(show_spinner=False, max_entries=64)
def _curves(runs: RunsKey) -> pd.DataFrame:
    return compare_runs([path for path, _ in runs])


def settings_diff(run_dirs: list[Path]) -> pd.DataFrame:
    """Config keys whose values differ between the runs: ``key`` then one column per run, every
    value as text ("" where a run lacks the key; lists as JSON), so a table never shows None."""
    return _settings_diff(_runs_key(run_dirs, (CONFIG_FILE,)))


@st.cache_data(show_spinner=False, max_entries=64)
def _settings_diff(runs: RunsKey) -> pd.DataFrame:
    diff = config_diff([path for path, _ in runs])
    # one dtype per column: Arrow cannot hold a column of mixed ints, floats and strings
    return diff.apply(lambda values: values.map(lambda v: "" if v is None else str(v)))


def readable_settings(run_dirs: list[Path]) -> pd.DataFrame:
    """:func:`analysis.reading.run_tables.settings_table`: the settings that tell the runs
    apart in readable rows, an imported run's source settings beside a trained run's."""
    return _readable_settings(_runs_key(run_dirs, (CONFIG_FILE,)))


@st.cache_data(show_spinner=False, max_entries=64)
def _readable_settings(runs: RunsKey) -> pd.DataFrame:
    return settings_table([path for path, _ in runs])


def training_history(run_dirs: list[Path]) -> tuple[pd.DataFrame, dict[str, str]]:
    """(:func:`analysis.reading.run_tables.training_marks`, :func:`runs_without_history`)."""
    return _training_history(_runs_key(run_dirs, RUN_FILES))


@st.cache_data(show_spinner=False, max_entries=64)
def _training_history(runs: RunsKey) -> tuple[pd.DataFrame, dict[str, str]]:
    paths = [path for path, _ in runs]
    return training_marks(paths), runs_without_history(paths)


def runs_table(run_dirs: list[Path]) -> pd.DataFrame:
    """One row per run: :func:`analysis.reading.run_tables.final_metrics` (``run, kind,
    state, epochs``, last-epoch metrics, ``ids_*`` statistics of the assigned IDs)."""
    return _runs_table(_runs_key(run_dirs, RUN_FILES))


@st.cache_data(show_spinner="Reading final metrics ...", max_entries=64)
def _runs_table(runs: RunsKey) -> pd.DataFrame:
    return final_metrics([path for path, _ in runs])


def churn(run_a: Path, run_b: Path) -> RunChurn:
    """ID churn from run A to run B, raw and matched
    (:func:`analysis.diagnosis.churn.run_churn`)."""
    return _churn(_runs_key([run_a, run_b], ID_FILES))


@st.cache_data(show_spinner="Matching the two runs' codes ...", max_entries=32)
def _churn(runs: RunsKey) -> RunChurn:
    (path_a, _), (path_b, _) = runs
    return run_churn(path_a, path_b)


@dataclass
class Report:
    """The report files of :func:`analysis.presentation.report.write_report`, in memory."""

    html: bytes
    json: bytes
    verdict: str  # worst severity over the runs
    figures: int


def report(run_dirs: list[Path]) -> Report:
    """The HTML and JSON report over the runs, as ``rqvae report`` writes it (UMAP included)."""
    return _report(_runs_key(run_dirs, (*DIAGNOSIS_FILES, PROBE_FILE)))


@st.cache_data(show_spinner="Writing the report ...", max_entries=8)
def _report(runs: RunsKey) -> Report:
    paths = [Path(path) for path, _ in runs]
    diagnoses = [diagnosis_with_maps(path) for path in paths]
    with tempfile.TemporaryDirectory(prefix="rqvae-report-") as folder:
        html_path, json_path = Path(folder) / "report.html", Path(folder) / "report.json"
        result = write_report(paths, html_path, json_path, diagnoses=diagnoses)
        return Report(
            html=html_path.read_bytes(),
            json=json_path.read_bytes(),
            verdict=result.verdict,
            figures=result.figures,
        )


@dataclass
class ReportPdf:
    """The PDF of the report, or why Chromium could not print it."""

    pdf: bytes | None
    error: str | None
    figures: int


def report_pdf(run_dirs: list[Path]) -> ReportPdf:
    """The report as PDF (:func:`analysis.presentation.report.write_pdf`: every figure rendered
    by kaleido, the page printed by Chromium); takes about a second per figure."""
    return _report_pdf(_runs_key(run_dirs, (*DIAGNOSIS_FILES, PROBE_FILE)))


@st.cache_data(show_spinner="Printing the PDF (every figure is rendered) ...", max_entries=4)
def _report_pdf(runs: RunsKey) -> ReportPdf:
    paths = [Path(path) for path, _ in runs]
    diagnoses = [diagnosis_with_maps(path) for path in paths]
    with tempfile.TemporaryDirectory(prefix="rqvae-report-") as folder:
        html_path, pdf_path = Path(folder) / "report.html", Path(folder) / "report.pdf"
        result = write_report(paths, html_path, pdf_path=pdf_path, diagnoses=diagnoses)
        if result.pdf_error is not None:
            return ReportPdf(pdf=None, error=result.pdf_error, figures=0)
        return ReportPdf(pdf=pdf_path.read_bytes(), error=None, figures=result.pdf_figures)


# --- downstream probe -----------------------------------------------------------------------------

PROBE_FILES = (*RUN_FILES, PROBE_FILE)


def probe_table(run_dirs: list[Path]) -> pd.DataFrame:
    """:func:`analysis.reading.probe_results.probe_results` of the runs (probed ones only)."""
    return _probe_table(_runs_key(run_dirs, PROBE_FILES))


@st.cache_data(show_spinner="Reading probe results ...", max_entries=64)
def _probe_table(runs: RunsKey) -> pd.DataFrame:
    return probe_results([path for path, _ in runs])


def probe_document(run_dir: Path) -> dict | None:
    """The run's ``probe.json`` (:func:`analysis.reading.probe_results.read_probe`), or None
    when it was not probed."""
    return _probe_document(str(run_dir), stamp(run_dir, (PROBE_FILE,)))


@st.cache_data(show_spinner=False, max_entries=64)
def _probe_document(run_dir: str, file_stamp: Stamp) -> dict | None:
    return read_probe(run_dir)


def studies(root: Path) -> list[tuple[str, dict]]:
    """Every readable ``study.json`` under the runs root (``*.study.json``, ``studies/*.json``),
    newest first, as (path relative to the root, document)."""
    files = tuple((str(path), file_stamp(path)) for path in study_files(root))
    return _studies(str(root), files)


@st.cache_data(show_spinner="Reading studies ...", max_entries=16)
def _studies(root: str, files: tuple) -> list[tuple[str, dict]]:
    return [(str(path.relative_to(root)), document) for path, document in read_studies(root)]


def clear_caches() -> None:
    """Forget every cached load (tests call this between apps)."""
    st.cache_data.clear()
    st.cache_resource.clear()


@st.cache_resource(show_spinner=False)
def start_umap_import() -> threading.Thread:
    """Import umap-learn in a background thread, once per server process, so the first map a
    visitor opens does not wait for it (about 1-2 s with numba's on-disk cache warm; see
    :mod:`analysis.metrics.numba_cache`). A page that needs UMAP sooner simply waits for this
    import to finish (Python's import lock)."""
    from analysis.metrics.numba_cache import import_umap

    thread = threading.Thread(target=import_umap, name="rqvae-umap-import", daemon=True)
    thread.start()
    return thread
