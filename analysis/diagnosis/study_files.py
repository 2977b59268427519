"""Finding and reading ``study.json`` files (written by ``rqvae study``).

A study belongs to a catalog (its ``catalog_key``, :func:`analysis.diagnosis.study.catalog_key`).
Studies are looked for in a runs folder as ``ROOT/*.study.json`` and ``ROOT/studies/*.json``;
:func:`study_for_catalog` picks the newest one made on the catalog of a run, so a diagnosis
can cite how its findings' diagnostics tracked recall on that catalog.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

from analysis.diagnosis.study import STUDY_SCHEMA, catalog_key, evidence_for
from rqvae.errors import InputError
from rqvae.files import read_json
from rqvae.runs.semantic_ids import read_code_table

STUDY_PATTERNS = ("*.study.json", "studies/*.json")
REQUIRED = ("runs", "correlations", "targets")


def read_study(path: str | Path) -> dict:
    """A study document, checked (schema, the keys a reader needs); InputError otherwise."""
    path = Path(path)
    document = read_json(path)
    if not isinstance(document, dict) or document.get("schema") != STUDY_SCHEMA:
        raise InputError(f"{path}: not a study.json of schema {STUDY_SCHEMA} (rqvae study)")
    missing = [key for key in REQUIRED if not isinstance(document.get(key), list)]
    if missing:
        raise InputError(f"{path}: study without {', '.join(missing)}")
    for entry in document["correlations"]:
        if not isinstance(entry, Mapping) or not {"diagnostic", "target", "spearman"} <= set(entry):
            raise InputError(f"{path}: a correlation without diagnostic, target or spearman")
    return document


def study_files(runs_root: str | Path) -> list[Path]:
    """Regular files matching :data:`STUDY_PATTERNS` under ``runs_root`` (no links), sorted."""
    root = Path(runs_root)
    found = set()
    for pattern in STUDY_PATTERNS:
        for path in root.glob(pattern):
            if not os.path.islink(path) and path.is_file() and not os.path.islink(path.parent):
                found.add(path)
    return sorted(found)


def studies(runs_root: str | Path) -> list[tuple[Path, dict]]:
    """Every readable study under ``runs_root``, newest first; unreadable files are skipped
    (a stray JSON in the folder must not stop a diagnosis)."""
    documents = []
    for path in study_files(runs_root):
        try:
            documents.append((path, read_study(path)))
        except InputError:
            continue
    documents.sort(key=lambda pair: str(pair[1].get("created", "")), reverse=True)
    return documents


def study_for_catalog(runs_root: str | Path, key: str) -> tuple[Path, dict] | None:
    """The newest study under ``runs_root`` whose runs all share the catalog ``key``."""
    for path, document in studies(runs_root):
        if document.get("catalog_key") == key:
            return path, document
    return None


def run_catalog_key(run_dir: str | Path) -> str:
    """:func:`analysis.diagnosis.study.catalog_key` of the items in a run's
    ``semantic_ids.parquet``."""
    table = read_code_table(Path(run_dir) / "semantic_ids.parquet")
    return catalog_key(table.item_ids)


def study_for_run(run_dir: str | Path, study: str | Path | None = None) -> dict | None:
    """The study that speaks for ``run_dir``'s catalog: ``study`` when given (read and
    checked: an InputError when it is not a study or is of another catalog), else the newest
    one in the runs folder holding the run (:func:`study_for_catalog`), else None."""
    key = run_catalog_key(run_dir)
    if study is not None:
        document = read_study(study)
        if document.get("catalog_key") != key:
            raise InputError(
                f"{study}: a study of another catalog than {run_dir} "
                f"(catalog key {document.get('catalog_key')} against {key})"
            )
        return document
    found = study_for_catalog(Path(run_dir).resolve().parent, key)
    return None if found is None else found[1]


def with_study_evidence(diagnosis, study: str | Path | None = None):
    """``diagnosis`` with each finding's ``evidence`` set from the study of its catalog.

    study : a study.json to use (an InputError when it is not a study or is of another
        catalog); None: the newest study of the run's catalog in the runs folder holding the
        run, if any (a runs folder without study files costs one directory listing).
    Findings whose diagnostic the study has no correlation for keep an empty ``evidence``.
    Returns the same object (None passes through: a ``stored_only`` miss).
    """
    if diagnosis is None:
        return None
    if study is None:
        if not study_files(Path(diagnosis.run_dir).resolve().parent):
            return diagnosis
        document = None
        with suppress(InputError):  # a broken or foreign file must not stop a diagnosis
            document = study_for_run(diagnosis.run_dir)
    else:
        document = study_for_run(diagnosis.run_dir, study)
    if document is None:
        return diagnosis
    diagnosis.findings = [
        replace(finding, evidence=evidence_for(document, finding.code, finding.level) or "")
        for finding in diagnosis.findings
    ]
    return diagnosis
