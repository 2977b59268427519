"""The report's "Embeddings and behaviour" section and the churn of the run comparison."""

from __future__ import annotations

import base64
import gzip
import json
import re

from analysis.diagnosis.diagnose import diagnose_run
from analysis.presentation.report import write_report
from tests.run_copies import permuted_copy

SECTION = "10. Embeddings and behaviour"


def section_of(page: str, run: str) -> str:
    run_part = page[page.index(f"id='run-{run}'") :]
    start = run_part.index(f"<h3>{SECTION}</h3>")
    end = run_part.find("<h2", start)
    return run_part[start : end if end > 0 else None]


def figure_titles(page: str, part: str) -> str:
    """The titles of the figures drawn in ``part`` of ``page`` (the report stores the figures
    packed once at the end of the page; each holder names its figure by index)."""
    packed = re.search(r"<script type='text/plain' id='rqvae-figures'>([^<]*)</script>", page)
    documents = json.loads(gzip.decompress(base64.b64decode(packed.group(1))))
    indices = [int(index) for index in re.findall(r"data-figure='(\d+)'", part)]
    return "\n".join(documents[i]["layout"].get("title", {}).get("text", "") for i in indices)


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
        assert title in trained + figure_titles(page, trained), title
    assert "125,574 co-occurring pairs" in trained
    letter = section_of(page, "letter")
    assert "unavailable: no checkpoint: imported IDs carry no codewords" in letter
    assert "Pairs that share the ID prefix" in letter + figure_titles(page, letter)

    # churn from the first run: the relabelled copy is 0 after matching
    assert "<h3>ID churn against the first run</h3>" in page
    assert "Churn trained → relabelled" in page and "Churn trained → letter" in page
    document = json.loads((tmp_path / "report.json").read_text())
    behaviour = document["runs"][0]["diagnostics"]["behaviour"]
    assert behaviour["available"] and behaviour["n_users"] == 8317
