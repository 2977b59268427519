"""HTML / JSON / PDF reports: self-contained, verdict first, every diagnostic present."""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
import subprocess

import numpy as np
import plotly.offline
import pytest
from PIL import Image

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


def report_figures(page: str) -> list[dict]:
    """The figures the page draws, from their packed JSON, in page order."""
    packed = re.search(r"<script type='text/plain' id='rqvae-figures'>([^<]*)</script>", page)
    return json.loads(gzip.decompress(base64.b64decode(packed.group(1))))


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
    # plotly.js stored exactly once (compressed); every figure is a div drawn from the figures
    # stored once beside it, nothing is loaded from elsewhere
    packed = re.findall(r"<script type='text/plain' id='rqvae-plotly'>([^<]*)</script>", page)
    assert len(packed) == 1
    assert gzip.decompress(base64.b64decode(packed[0])).decode() == plotly.offline.get_plotlyjs()
    assert not re.search(r"<script[^>]*\ssrc=", page)
    figures = re.search(r"<script type='text/plain' id='rqvae-figures'>([^<]*)</script>", page)
    documents = json.loads(gzip.decompress(base64.b64decode(figures.group(1))))
    assert len(documents) == len(re.findall(r"data-figure='\d+'", page)) == result.figures > 10
    # every figure draws something: traces, or a note (unit-norm embeddings get no histogram)
    assert all(d["data"] or d["layout"].get("annotations") for d in documents)
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


@pytest.fixture(scope="module")
def trained_report(tmp_path_factory, trained_run, letter_run, scientific_dir):
    """A report of a trained run (every diagnostic, UMAP maps, behaviour) and an imported one."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    diagnoses = [
        diagnose_run(
            trained_run,
            umap_settings=UmapSettings(n_epochs=50, item_sample=300),
            sequences=scientific_dir / "sequences.jsonl.gz",  # nothing unavailable, behaviour too
        ),
        diagnose_run(letter_run, umap=False),
    ]
    return out, write_report([trained_run, letter_run], out, diagnoses=diagnoses)


@pytest.mark.slow
def test_trained_run_report_has_every_figure(trained_report):
    out, result = trained_report
    page = out.read_text()
    trained = page[page.index("id='run-trained'") : page.index("id='run-letter'")]
    assert "unavailable" not in trained
    for title in SECTIONS[3:5] + SECTIONS[7:8]:
        assert "data-figure=" in section_text(trained, title), title
    titles = [document["layout"]["title"]["text"] for document in report_figures(page)]
    assert "UMAP of the codewords, level 0" in titles
    # the report draws a sample of the item map's points
    assert any("Item map: 2,000 of 4,344 items" in title for title in titles + [trained])
    assert "Training curves" in page
    assert any("validation loss over epochs" in title for title in titles)
    # issue 21: plotly.js and the figures compressed once keep a two-run report small (the
    # full-size amazon-scientific pair: bench/RESULTS.md)
    assert out.stat().st_size < 4_000_000
    assert len(titles) == result.figures
    # the scorecard opens the comparison, each run's column headed in its colour
    colours = run_colours(["trained", "letter"])
    scorecard = page[page.index("id='scorecard'") : page.index("Final metrics per run")]
    for run in ("trained", "letter"):
        assert f"data-run='{run}' data-colour='{colours[run]}'" in scorecard
    assert "no checkpoint: imported IDs carry no codewords" in scorecard


@pytest.mark.slow
@pytest.mark.browser
def test_report_draws_every_figure_in_chromium(trained_report):
    """Opened from disk in Chromium, the page inflates plotly.js and the figures and draws
    every one of them (lazily on scroll; ``rqvaeDrawAll`` draws the rest), with no error."""
    from playwright.sync_api import sync_playwright

    from tests.dashboard.browser import CHROMIUM, launch_chromium

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    out, result = trained_report
    errors = []
    with sync_playwright() as playwright, launch_chromium(playwright) as browser:
        page = browser.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(out.as_uri())
        page.wait_for_function("() => document.body.dataset.figures", timeout=60_000)
        assert int(page.evaluate("() => document.body.dataset.figures")) == result.figures
        page.locator("div[data-figure='0']").scroll_into_view_if_needed()
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        drawn = page.locator(".js-plotly-plot").count()
        assert 0 < drawn < result.figures  # only the figures near the view, at first
        page.evaluate("() => window.rqvaeDrawAll()")
        page.wait_for_function(
            f"() => document.querySelectorAll('.js-plotly-plot').length == {result.figures}",
            timeout=120_000,
        )
        assert page.locator(".main-svg").count() >= result.figures  # each one really drawn
    assert errors == []


@pytest.mark.slow
def test_pdf_renders_every_figure(tmp_path, imported_diagnoses, letter_run, mql_run):
    if chromium_path() is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    result = write_report(
        [letter_run, mql_run],
        tmp_path / "r.html",
        pdf_path=tmp_path / "r.pdf",
        diagnoses=imported_diagnoses,
    )
    assert result.pdf_error is None
    assert result.pdf_figures == result.figures > 5
    pdf = (tmp_path / "r.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= 5
    # Tables fit the page (issue 21): rendered, no page has ink in its right margin (12 mm of
    # 210 mm), which a table wider than the page would run into before being cut off.
    if shutil.which("pdftoppm") is None:
        return
    subprocess.run(["pdftoppm", "-r", "30", "-png", tmp_path / "r.pdf", tmp_path / "p"], check=True)
    images = sorted(tmp_path.glob("p-*.png"))
    assert len(images) == pages
    for image in images:
        pixels = np.asarray(Image.open(image).convert("L"))
        margin = pixels[:, -int(pixels.shape[1] * 10 / 210) :]  # the outer 10 of 12 mm
        assert (margin > 200).all(), f"{image.name}: something runs into the right margin"
