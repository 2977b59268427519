"""The report's "Embeddings and behaviour" section and the churn of the run comparison."""

from __future__ import annotations

import json

from analysis.diagnosis.diagnose import diagnose_run
from analysis.presentation.report import write_report
from tests.run_copies import permuted_copy

SECTION = "10. Embeddings and behaviour"


def section_of(page: str, run: str) -> str:
    run_part = page[page.index(f"id='run-{run}'") :]
    start = run_part.index(f"<h3>{SECTION}</h3>")
    end = run_part.find("<h2", start)
    return run_part[start : end if end > 0 else None]


def test_section_and_churn_in_the_report(tmp_path, trained_run, letter_run, scientific_dir):
    sequences = scientific_dir / "sequences.jsonl.gz"
    copy = permuted_copy(trained_run, tmp_path / "relabelled")
    runs = [trained_run, letter_run, copy]
    diagnoses = [
        diagnose_run(run, umap=False, sequences=sequences, coherence_queries=50) for run in runs
    ]
    out = tmp_path / "report.html"
    write_report(runs, out, json_path=tmp_path / "report.json", diagnoses=diagnoses)
    page = out.read_text()

    trained = section_of(page, "trained")
    for title in (
        "Input norms",
        "Latent norms",
        "Eigenvalue spectrum",
        "Pairs that share the ID prefix",
        "Crowding by popularity",
        "Fan-out against popularity",
    ):
        assert title in trained, title
    assert "125,574 co-occurring pairs" in trained
    letter = section_of(page, "letter")
    assert "unavailable: no checkpoint: imported IDs carry no codewords" in letter
    assert "Pairs that share the ID prefix" in letter

    # churn from the first run: the relabelled copy is 0 after matching
    assert "<h3>ID churn against the first run</h3>" in page
    assert "Churn trained → relabelled" in page and "Churn trained → letter" in page
    document = json.loads((tmp_path / "report.json").read_text())
    behaviour = document["runs"][0]["diagnostics"]["behaviour"]
    assert behaviour["available"] and behaviour["n_users"] == 8317
