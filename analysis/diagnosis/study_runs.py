"""Gathering a study's inputs: probe and diagnose every run, then correlate.

:func:`run_study` is what ``rqvae study`` runs; the arithmetic is in
:mod:`analysis.diagnosis.study`. Probing is the long part (minutes per run); a run whose
``probe.json`` was made from the same sequence file (SHA-256) with the same settings is not
probed again, so a study over runs that were probed before, or a second study after adding
one run, costs only the new probes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from analysis.diagnosis.diagnose import diagnose_run
from analysis.diagnosis.scorecard import scorecard
from analysis.diagnosis.study import StudyRun, study
from analysis.metrics.rank_correlation import N_RESAMPLES
from rqvae.errors import InputError
from rqvae.files import atomic_write_json, now_iso, sha256_of
from rqvae.probe.run import run_probe
from rqvae.probe.settings import ProbeSettings
from rqvae.runs.folder import Run
from rqvae.runs.semantic_ids import read_code_table

MIN_RUNS = 3  # below this no rank correlation is defined


def run_study(
    run_dirs: Sequence[str | Path],
    sequences_path: str | Path,
    out_path: str | Path | None,
    settings: ProbeSettings | None = None,
    *,
    n_resamples: int = N_RESAMPLES,
    retrain: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Probe (or reuse the probe of) and diagnose every run; return the study document
    (:mod:`analysis.diagnosis.study`) and write it to ``out_path`` (atomically) when given.

    run_dirs : at least :data:`MIN_RUNS` run folders with semantic IDs, distinct names.
    settings : the probe's settings, the same for every run.
    retrain : probe every run again even when its probe.json could be reused.
    """
    settings = settings or ProbeSettings()
    paths = [Path(run_dir) for run_dir in run_dirs]
    if len(paths) < MIN_RUNS:
        raise InputError(f"a study needs at least {MIN_RUNS} runs, got {len(paths)}")
    names = [path.resolve().name for path in paths]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(f"runs named twice: {', '.join(duplicates)} (names must be distinct)")
    runs = [Run(path) for path in paths]  # checks every folder before the first probe
    for run in runs:
        if not (run.path / "semantic_ids.parquet").is_file():
            raise InputError(f"{run.path}: no semantic_ids.parquet (assign or import IDs first)")
    inputs = []
    for number, run in enumerate(runs, start=1):
        log(f"[{number}/{len(runs)}] {run.name}: probe")
        probe = run_probe(
            run.path, sequences_path, settings, progress=progress, log=log, reuse=not retrain
        )
        log(f"[{number}/{len(runs)}] {run.name}: diagnose")
        diagnosis = diagnose_run(run.path, umap=False, cache=True, sequences=sequences_path)
        item_ids = read_code_table(run.path / "semantic_ids.parquet").item_ids
        inputs.append(
            StudyRun(
                name=run.name,
                path=str(run.path.resolve()),
                kind=run.kind,
                item_ids=[str(item) for item in item_ids],
                card=scorecard(diagnosis, probe),
                probe=probe,
            )
        )
    document = {
        "schema": None,  # filled by study(); first for a reader of the file
        "created": now_iso(),
        "sequences": {
            "path": str(Path(sequences_path).resolve()),
            "sha256": sha256_of(sequences_path),
        },
        "probe_settings": asdict(settings),
        **study(inputs, n_resamples=n_resamples),
    }
    if out_path is not None:
        atomic_write_json(out_path, document)
    return document
