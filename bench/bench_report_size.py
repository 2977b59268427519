"""How big is the HTML report, packed (report_html) against the plain way (issue 21, item 8)?

Usage::

    python bench/bench_report_size.py RUN [RUN ...]

Diagnoses the runs (stored diagnoses are reused, user sequences found as ``rqvae report`` finds
them), builds the report's blocks once and renders them twice: as ``rqvae report`` does
(:func:`analysis.presentation.report.render_html`: plotly.js and the figures gzip-compressed
once, drawn as they scroll into view) and the plain way (plotly.js inlined once, every figure
its own ``Plotly.newPlot`` call with its full JSON). Prints the figure count, both sizes and
how the packed page divides into plotly.js, figures and the rest (Markdown). With Chromium at
/usr/bin/chromium, also how long each page takes to open from disk: until the browser's load
event, and until the first figure is drawn (packed: after inflating plotly.js and the figures
and scrolling to it; plain: every figure is drawn before the load event).
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

import plotly.offline

from analysis.diagnosis.diagnose import diagnose_run
from analysis.presentation import report_html
from analysis.presentation.report import _page, render_html, report_blocks
from analysis.reading.behaviour_sequences import find_sequences
from rqvae.runs.folder import Run


def plain_html(blocks, diagnoses) -> str:
    """The page as written before issue 21: plotly.js in the head, one newPlot per figure."""
    body = []
    for number, block in enumerate(blocks):
        if block.figure is None:
            body.append(block.html)
            continue
        div = block.figure.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"figure-{number}",
            config=report_html.PLOTLY_CONFIG,
        )
        body.append(f"<div class='figure'>{div}</div>")
    script = f"<script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script>"
    return _page(diagnoses, script, "\n".join(body))


def open_seconds(path: Path, packed: bool) -> tuple[float, float]:
    """(seconds to the load event, seconds until a figure is drawn) in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        start = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load", timeout=300_000)
        loaded = time.perf_counter() - start
        if packed:
            # ready: plotly.js and the figures inflated; the first figure lies below the
            # verdict and the scorecard, so it is drawn once scrolled to
            page.wait_for_function("() => document.body.dataset.figures", timeout=300_000)
            page.locator("div[data-figure='0']").scroll_into_view_if_needed()
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=300_000)
        drawn = time.perf_counter() - start
        browser.close()
    return loaded, drawn


def main(runs: list[str]) -> None:
    diagnoses = [diagnose_run(r, cache=True, sequences=find_sequences(Run(r))) for r in runs]
    blocks = report_blocks(diagnoses)
    figures = sum(block.figure is not None for block in blocks)
    start = time.perf_counter()
    packed = render_html(blocks, diagnoses)
    packed_seconds = time.perf_counter() - start
    plain = plain_html(blocks, diagnoses)

    def part(name: str) -> int:
        found = re.search(rf"<script type='text/plain' id='{name}'>([^<]*)</script>", packed)
        return len(found.group(1))

    plotly_bytes, figure_bytes = part("rqvae-plotly"), part("rqvae-figures")
    print(f"runs: {', '.join(d.name for d in diagnoses)}; {figures} figures\n")
    print("| page | bytes |\n|---|---:|")
    print(f"| plain (plotly.js inlined, one newPlot per figure) | {len(plain.encode()):,} |")
    print(f"| packed (rqvae report) | {len(packed.encode()):,} |")
    print(f"| - of which plotly.js, gzip + base64 | {plotly_bytes:,} |")
    print(f"| - of which the figures, gzip + base64 | {figure_bytes:,} |")
    rest = len(packed.encode()) - plotly_bytes - figure_bytes
    print(f"| - of which text, tables and the loader | {rest:,} |")
    print(f"\nrendering the packed page: {packed_seconds:.1f} s")
    if not Path("/usr/bin/chromium").exists():
        return
    with tempfile.TemporaryDirectory() as folder:
        print("\n| page | load event | first figure drawn |\n|---|---:|---:|")
        for name, page, is_packed in (("plain", plain, False), ("packed", packed, True)):
            path = Path(folder) / f"{name}.html"
            path.write_text(page)
            loaded, drawn = open_seconds(path, is_packed)
            print(f"| {name} | {loaded:.1f} s | {drawn:.1f} s |")


if __name__ == "__main__":
    main(sys.argv[1:])
