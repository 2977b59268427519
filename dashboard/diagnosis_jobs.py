"""One run's diagnosis for the pages: what is at hand now, and the background job for the rest.

The numbers come from :func:`analysis.diagnosis.diagnose.diagnose_run`; this module only
decides when to compute them. A run's full diagnosis can take a minute at a million items, so
pages get a :class:`PartialDiagnosis`: the stored diagnosis when ``rqvae diagnose`` (or an
earlier job) left one in ``RUN/cache/``, else the ID diagnostics (seconds) plus the
:class:`dashboard.background.Job` computing the rest, whose progress the page shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from analysis.diagnosis.diagnose import diagnose_run
from analysis.diagnosis.results import Diagnosis
from analysis.reading.behaviour_sequences import find_sequences
from dashboard import background
from dashboard.stamps import DIAGNOSIS_FILES, RUN_FILES, Stamp, file_stamp, stamp
from rqvae.runs.folder import Run
from rqvae.runs.lock import is_locked


def diagnosis_with_maps(run_dir: Path) -> Diagnosis:
    """Every diagnostic of the run with the UMAP maps of the codewords and of an item sample
    (shared object: do not modify), waiting for the background job of :func:`diagnosis_now`.
    Raises InputError when the run itself is unusable (missing or corrupt semantic IDs or
    config); a diagnostic the run cannot have is an ``Unavailable`` inside the result.

    UMAP is slow on first use; ``analysis`` caches its coordinates in ``RUN/cache/``, so only
    the first visit of the Codeword map page of a run pays for it.
    """
    return _started_job(run_dir, with_maps=True).result()


@dataclass
class PartialDiagnosis:
    """What a page can show now. ``job`` is None when ``diagnosis`` is complete; otherwise
    ``diagnosis`` has the ID diagnostics only (the rest are ``Unavailable`` with reason
    :data:`analysis.diagnosis.diagnose.DEFERRED`) and ``job`` is computing the rest."""

    diagnosis: Diagnosis
    job: background.Job | None


NO_WAIT_ITEMS = 200_000  # above this, a full diagnosis takes far longer than the wait


def diagnosis_now(run_dir: Path, with_maps: bool = False) -> PartialDiagnosis:
    """The full diagnosis when it is at hand (a job of this server finished it, or the on-disk
    store holds it: a run diagnosed by the CLI opens at once) or ready within
    ``RQVAE_DASHBOARD_WAIT_S`` seconds (default 2; no wait above :data:`NO_WAIT_ITEMS`
    items); else the ID diagnostics and the job that
    completes them. The ID diagnostics are computed before the job starts, so the page's first
    numbers never share the CPU with the slow diagnostics."""
    sequences = find_sequences(Run(run_dir))
    key = _diagnosis_key(run_dir, with_maps, sequences)
    job = background.existing(key)
    if job is None:
        stored = diagnose_run(
            run_dir, umap=with_maps, cache=True, stored_only=True, sequences=sequences
        )
        if stored is not None:
            return PartialDiagnosis(stored, None)
    quick = None
    if job is None or not job.done():
        quick = _id_diagnosis(
            str(run_dir), stamp(run_dir, RUN_FILES), is_locked(run_dir), file_stamp(sequences)
        )
    job = job or _diagnosis_job(key, run_dir, with_maps, sequences)
    # a small run is often complete within the wait, and then shows at once; a big one never is
    big = quick is not None and quick.n_items > NO_WAIT_ITEMS
    if job.wait(0.0 if big else float(os.environ.get("RQVAE_DASHBOARD_WAIT_S", "2"))):
        return PartialDiagnosis(job.result(), None)
    return PartialDiagnosis(quick, job)


def _started_job(run_dir: Path, with_maps: bool) -> background.Job:
    """The background job of the run's full diagnosis, started if it is not."""
    sequences = find_sequences(Run(run_dir))
    key = _diagnosis_key(run_dir, with_maps, sequences)
    return background.existing(key) or _diagnosis_job(key, run_dir, with_maps, sequences)


def _diagnosis_key(run_dir: Path, with_maps: bool, sequences: Path | None) -> tuple:
    # the lock is in the key: a trainer killed without touching a file makes a run "interrupted"
    return (
        "diagnosis",
        str(run_dir),
        stamp(run_dir, DIAGNOSIS_FILES),
        with_maps,
        is_locked(run_dir),
        file_stamp(sequences),
    )


def _diagnosis_job(
    key: tuple, run_dir: Path, with_maps: bool, sequences: Path | None
) -> background.Job:
    title = "UMAP maps and codebook diagnostics" if with_maps else "Codebook diagnostics"
    # the on-disk store is shared with `rqvae diagnose`: a run diagnosed there opens at once
    return background.job(
        key,
        title,
        # user sequences in the run folder or next to its catalog feed the behaviour diagnostics
        lambda report: diagnose_run(
            run_dir, umap=with_maps, cache=True, progress=report, sequences=sequences
        ),
    )


@st.cache_resource(show_spinner="Counting codes ...", max_entries=16)
def _id_diagnosis(run_dir: str, run_stamp: Stamp, locked: bool, sequences: tuple) -> Diagnosis:
    found = Path(sequences[0]) if sequences else None
    return diagnose_run(run_dir, umap=False, model=False, cache=True, sequences=found)
