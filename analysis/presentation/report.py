"""Self-contained HTML (and JSON, and optionally PDF) reports over one or more runs.

The HTML works offline: plotly.js and the figures are stored once, compressed, and every figure
is a div drawn from them when it scrolls into view (:mod:`analysis.presentation.report_html`:
a two-run amazon-scientific report is 3.3 MB instead of 9.3 MB, every figure kept). The
verdict comes first, then the run comparison, then every diagnostic of every run. The JSON
holds each run's :func:`~analysis.diagnosis.to_json.diagnosis_to_json` under ``"runs"``.

PDF: every figure is rendered to SVG with kaleido (headless Chromium), the same blocks are laid
out as a static page and Chromium prints it. Chromium is found through ``$CHROMIUM_PATH``,
``$BROWSER_PATH`` or ``chromium`` on the PATH; without it the PDF is skipped with a reason.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from analysis.diagnosis.diagnose import diagnose_run
from analysis.diagnosis.results import Diagnosis
from analysis.diagnosis.to_json import diagnosis_to_json, json_safe
from analysis.metrics.health import SEVERITY_ORDER, HealthThresholds
from analysis.presentation import report_html
from analysis.presentation.report_comparison import comparison_blocks, report_colours
from analysis.presentation.report_probe import probe_blocks, probe_documents
from analysis.presentation.report_sections import Block, run_blocks, verdict_blocks
from analysis.presentation.report_study import study_blocks
from analysis.reading.behaviour_sequences import find_sequences
from rqvae.errors import InputError
from rqvae.files import atomic_write_bytes, atomic_write_json, now_iso
from rqvae.runs.folder import Run

REPORT_SCHEMA = "rqvae-report/1"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { border-bottom: 2px solid #333; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #bbb; }
table.data { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.85rem; max-width: 100%; }
table.data th, table.data td { border: 1px solid #ddd; padding: 3px 8px; text-align: left;
  vertical-align: top; overflow-wrap: break-word; }
table.data th { background: #f3f3f3; }
table.findings td:nth-child(3), table.findings td:nth-child(4) { min-width: 16em; }
@page { size: A4; margin: 12mm; }
@media print { body { margin: 0; max-width: none; font-size: 10pt; }
  table.data { font-size: 7.5pt; } table.data th, table.data td { padding: 2px 4px; } }
.badge { padding: 1px 8px; border-radius: 8px; color: white; font-weight: bold;
  white-space: nowrap; }
.badge.ok { background: #2ca02c; } .badge.info { background: #1f77b4; }
.badge.warning { background: #e6a100; } .badge.error { background: #d62728; }
.unavailable { color: #777; font-style: italic; } .note, .caption { color: #555; }
.figure { margin: 1rem 0; page-break-inside: avoid; } .figure img { width: 100%; }
"""


@dataclass
class ReportResult:
    """What :func:`write_report` wrote and found.

    verdict : worst severity over all runs ("ok", "info", "warning", "error").
    pdf_error : why no PDF was written although one was asked for, else None.
    """

    html_path: Path
    json_path: Path | None
    pdf_path: Path | None
    diagnoses: list[Diagnosis]
    verdict: str
    pdf_error: str | None = None
    figures: int = 0  # figures in the HTML
    pdf_figures: int = 0  # figures rendered into the PDF (equal to ``figures`` when it worked)
    severities: dict[str, int] = field(default_factory=dict)


def write_report(
    run_dirs: Sequence[str | Path],
    out_html: str | Path,
    json_path: str | Path | None = None,
    pdf_path: str | Path | None = None,
    *,
    thresholds: HealthThresholds | None = None,
    diagnoses: Sequence[Diagnosis] | None = None,
    **diagnose_options,
) -> ReportResult:
    """Diagnose ``run_dirs`` (or use the given ``diagnoses``) and write the report files.

    Every file is written atomically. ``diagnose_options`` go to :func:`diagnose_run`; without
    a ``sequences`` file among them, each run uses the one the dashboard finds for it
    (:func:`analysis.reading.behaviour_sequences.find_sequences`), so a report written here
    and one made on the dashboard's Report page have the same sections.
    """
    if not run_dirs and not diagnoses:
        raise InputError("report: no runs given")
    if diagnoses is None:
        given = diagnose_options.pop("sequences", None)
        diagnoses = [
            diagnose_run(
                path,
                thresholds,
                sequences=given if given is not None else find_sequences(Run(path)),
                **diagnose_options,
            )
            for path in run_dirs
        ]
    diagnoses = list(diagnoses)
    blocks = report_blocks(diagnoses, diagnose_options.get("study"))
    out_html = Path(out_html)
    atomic_write_bytes(out_html, render_html(blocks, diagnoses).encode())
    if json_path is not None:
        atomic_write_json(json_path, report_json(diagnoses))

    pdf_error, pdf_figures = None, 0
    if pdf_path is not None:
        try:
            pdf_figures = write_pdf(blocks, diagnoses, Path(pdf_path))
        except PdfUnavailable as error:
            pdf_error = str(error)
    all_findings = [f for d in diagnoses for f in d.findings]
    return ReportResult(
        html_path=out_html,
        json_path=Path(json_path) if json_path is not None else None,
        pdf_path=Path(pdf_path) if pdf_path is not None and pdf_error is None else None,
        diagnoses=diagnoses,
        verdict=max((d.verdict for d in diagnoses), key=SEVERITY_ORDER.__getitem__),
        pdf_error=pdf_error,
        figures=sum(block.figure is not None for block in blocks),
        pdf_figures=pdf_figures,
        severities={s: sum(f.severity == s for f in all_findings) for s in SEVERITY_ORDER},
    )


def report_blocks(diagnoses: Sequence[Diagnosis], study: str | Path | None = None) -> list[Block]:
    """Verdict, comparison, then each run's diagnostics, in report order."""
    blocks = verdict_blocks(diagnoses) + comparison_blocks(diagnoses)
    blocks += probe_blocks([d.run_dir for d in diagnoses])
    blocks += study_blocks([d.run_dir for d in diagnoses], study)
    colours = report_colours(diagnoses)  # one colour per run, as on the dashboard
    for diagnosis in diagnoses:
        blocks += run_blocks(diagnosis, colours[diagnosis.name])
    return blocks


def report_json(diagnoses: Sequence[Diagnosis]) -> dict:
    """``{"schema", "created", "verdict", "runs": [diagnosis_to_json(d), ...]}``."""
    return json_safe(
        {
            "schema": REPORT_SCHEMA,
            "created": now_iso(),
            "verdict": max((d.verdict for d in diagnoses), key=SEVERITY_ORDER.__getitem__),
            "runs": [diagnosis_to_json(d) for d in diagnoses],
            # each probed run's probe.json, by run name (runs without one are left out)
            "probes": probe_documents([d.run_dir for d in diagnoses]),
        }
    )


def render_html(blocks: Sequence[Block], diagnoses: Sequence[Diagnosis]) -> str:
    """The interactive page: one div per figure, drawn from plotly.js and the figures stored
    once, compressed, at the end of the body (:mod:`analysis.presentation.report_html`)."""
    body, figures = [], []
    for block in blocks:
        if block.figure is None:
            body.append(block.html)
            continue
        body.append(report_html.figure_holder(len(figures), block.figure))
        figures.append(block.figure)
    body.append(report_html.scripts(figures))
    return _page(diagnoses, "", "\n".join(body))


def _page(diagnoses: Sequence[Diagnosis], head_extra: str, body: str) -> str:
    names = ", ".join(html.escape(d.name) for d in diagnoses)
    links = " &middot; ".join(
        f"<a href='#run-{''.join(c if c.isalnum() else '-' for c in d.name)}'>"
        f"{html.escape(d.name)}</a>"
        for d in diagnoses
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Semantic-ID report: {names}</title><style>{STYLE}</style>{head_extra}</head>"
        f"<body><h1>Semantic-ID quantizer report</h1><p>Runs: {links}. Generated {now_iso()} "
        "by <code>rqvae report</code>.</p>"
        f"{body}</body></html>"
    )


# --- PDF --------------------------------------------------------------------------------------


class PdfUnavailable(Exception):
    """The PDF cannot be made on this machine (no Chromium, rendering failed)."""


def chromium_path() -> str | None:
    """Chromium executable from ``$CHROMIUM_PATH``, ``$BROWSER_PATH`` or the PATH."""
    for variable in ("CHROMIUM_PATH", "BROWSER_PATH"):
        if os.environ.get(variable) and Path(os.environ[variable]).exists():
            return os.environ[variable]
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def write_pdf(blocks: Sequence[Block], diagnoses: Sequence[Diagnosis], pdf_path: Path) -> int:
    """Render every figure to SVG with kaleido, lay the report out statically, print to PDF.

    Returns the number of figures rendered.
    Raises :class:`PdfUnavailable` with the reason when Chromium or kaleido cannot do it.
    """
    browser = chromium_path()
    if browser is None:
        raise PdfUnavailable("no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)")
    os.environ.setdefault("BROWSER_PATH", browser)  # where kaleido looks for it
    body, rendered = [], 0
    try:
        import kaleido

        kaleido.start_sync_server(silence_warnings=True)
        try:
            with warnings.catch_warnings():
                # plotly warns that per-call options are ignored with a shared server
                warnings.filterwarnings("ignore", message="The kopts argument is ignored")
                for block in blocks:
                    if block.figure is None:
                        body.append(block.html)
                        continue
                    height = block.figure.layout.height or 480
                    svg = block.figure.to_image(format="svg", width=1100, height=height)
                    encoded = base64.b64encode(svg).decode()
                    body.append(
                        f"<div class='figure'><img src='data:image/svg+xml;base64,{encoded}'></div>"
                    )
                    rendered += 1
        finally:
            kaleido.stop_sync_server(silence_warnings=True)
    except Exception as error:  # kaleido/choreographer raise many types when Chromium fails
        raise PdfUnavailable(f"figure rendering failed: {error}") from None
    page = _page(diagnoses, "", "\n".join(body))
    with tempfile.TemporaryDirectory(prefix="rqvae-pdf-") as folder:
        page_path, printed = Path(folder) / "report.html", Path(folder) / "report.pdf"
        page_path.write_text(page)
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
            f"--print-to-pdf={printed}", page_path.as_uri(),
        ]  # fmt: skip
        try:
            subprocess.run(command, capture_output=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            raise PdfUnavailable("Chromium did not finish printing within 300 s") from None
        if not printed.exists() or printed.stat().st_size == 0:
            raise PdfUnavailable("Chromium did not write the PDF")
        atomic_write_bytes(pdf_path, printed.read_bytes())
    return rendered
