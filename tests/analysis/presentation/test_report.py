"""HTML / JSON / PDF reports: self-contained, verdict first, every diagnostic present."""

from __future__ import annotations

import json
import re

import plotly.offline
import pytest

from analysis.diagnosis.diagnose import diagnose_run
from analysis.metrics.umap_maps import UmapSettings
from analysis.presentation.report import chromium_path, write_report
from analysis.presentation.run_colours import run_colours

SECTIONS = (
    "1. Codebook usage",
    "2. Entropy, perplexity and KL to uniform",
    "3. Unique IDs and collisions",
    "4. Residual norms and reconstruction",
    "5. Codeword geometry and UMAP",
    "6. Category taxonomy per prefix",
    "7. Semantic coherence",
    "8. Euclidean against Mahalanobis assignment",
    "9. Health verdict",
    "11. Concentration, prefix structure, neighbourhood and robustness",
)


@pytest.fixture(scope="module")
def imported_diagnoses(letter_run, mql_run):
    return [diagnose_run(letter_run, umap=False), diagnose_run(mql_run, umap=False)]


def section_text(page: str, title: str) -> str:
    """Text of one run section from its heading to the next h3/h2."""
    start = page.index(f"<h3>{title}</h3>")
    ends = [page.find(tag, start + 5) for tag in ("<h3>", "<h2")]
    return page[start : min(e for e in ends if e > 0) if any(e > 0 for e in ends) else None]


def test_two_imported_runs(tmp_path, imported_diagnoses, letter_run, mql_run):
    out = tmp_path / "report.html"
    result = write_report(
        [letter_run, mql_run], out, json_path=tmp_path / "r.json", diagnoses=imported_diagnoses
    )
    page = out.read_text()
    # plotly.js inlined exactly once; every figure is a div that calls it.
    plotly_js = plotly.offline.get_plotlyjs()
    assert page.count(plotly_js[:300]) == 1
    assert not re.search(r"<script[^>]*\ssrc=", page)  # nothing loaded from elsewhere
    assert len(re.findall(r"Plotly\.newPlot\(", page)) == result.figures > 10
    # The verdict comes before any run section; the comparison exists for two runs.
    assert (
        page.index("id='verdict'") < page.index("id='comparison'") < page.index("id='run-letter'")
    )
    for run in ("letter", "mql4grec"):
        run_part = page[page.index(f"id='run-{run}'") :]
        for title in SECTIONS:
            assert f"<h3>{title}</h3>" in run_part
    mql_part = page[page.index("id='run-mql4grec'") :]
    assert "unavailable: no checkpoint: imported IDs carry no codewords" in section_text(
        mql_part, SECTIONS[3]
    )
    assert "unavailable: no embeddings" in section_text(mql_part, SECTIONS[6])
    # issue 22: concentration and structure for both; LETTER has embeddings but no quantizer
    letter_part = page[page.index("id='run-letter'") : page.index("id='run-mql4grec'")]
    literature = section_text(letter_part, SECTIONS[-1])
    assert "share of items on the top 5 codes" in literature
    assert "children per prefix, median" in literature
    assert "Jaccard@10" in literature and "RBO@20" in literature
    assert "1,000 of 4,344 items (a random sample, seed 0)" in literature
    assert "unavailable: no checkpoint: imported IDs carry no codewords" in literature
    assert "unavailable: no embeddings" in section_text(mql_part, SECTIONS[-1])
    # LETTER: one warning (dead codes). MQL4GRec: levels 0-2 use 1, 8 and 10 of 256 codes,
    # each below the 5 % collapse line; level 3 uses 229.
    assert result.verdict == "error"
    assert result.severities == {"ok": 0, "info": 0, "warning": 1, "error": 3}
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["verdict"] == "error"
    assert [run["run"]["name"] for run in document["runs"]] == ["letter", "mql4grec"]


@pytest.mark.slow
def test_trained_run_report_has_every_figure(tmp_path, trained_run, letter_run, scientific_dir):
    out = tmp_path / "report.html"
    diagnoses = [
        diagnose_run(
            trained_run,
            umap_settings=UmapSettings(n_epochs=50, item_sample=300),
            sequences=scientific_dir / "sequences.jsonl.gz",  # nothing unavailable, behaviour too
        ),
        diagnose_run(letter_run, umap=False),
    ]
    write_report([trained_run, letter_run], out, diagnoses=diagnoses)
    page = out.read_text()
    trained = page[page.index("id='run-trained'") : page.index("id='run-letter'")]
    assert "unavailable" not in trained
    for title in SECTIONS[3:5] + SECTIONS[7:8]:
        assert "Plotly.newPlot(" in section_text(trained, title), title
    assert "UMAP of the codewords, level 0" in trained
    assert "Item map: 2,000 of 4,344 items" in trained  # the report draws a sample of the points
    assert "Training curves" in page and "validation loss over epochs" in page
    # the scorecard opens the comparison, each run's column headed in its colour
    colours = run_colours(["trained", "letter"])
    scorecard = page[page.index("id='scorecard'") : page.index("Final metrics per run")]
    for run in ("trained", "letter"):
        assert f"data-run='{run}' data-colour='{colours[run]}'" in scorecard
    assert "no checkpoint: imported IDs carry no codewords" in scorecard


@pytest.mark.slow
def test_pdf_renders_every_figure(tmp_path, imported_diagnoses, letter_run):
    if chromium_path() is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    diagnoses = imported_diagnoses[:1]
    result = write_report(
        [letter_run], tmp_path / "r.html", pdf_path=tmp_path / "r.pdf", diagnoses=diagnoses
    )
    assert result.pdf_error is None
    assert result.pdf_figures == result.figures > 5
    pdf = (tmp_path / "r.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= 5
