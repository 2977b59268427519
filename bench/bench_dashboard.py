"""Benchmark: how fast the dashboard shows a 1,000,000-item run once its diagnostics are cached.

    .venv/bin/python bench/bench_dashboard.py                       # 1M items, 5 rounds
    .venv/bin/python bench/bench_dashboard.py --items 100000 --rounds 3

Builds the same synthetic catalog and run as ``bench/bench_diagnose.py`` (its ``write_catalog``,
``train_reference`` and ``derive_run``: embeddings written chunk by chunk, a three-level category
tree, a checkpoint trained for one epoch on ``--reference-items`` items and assigned to all of
them), in a temporary folder removed at the end unless ``--keep`` (reuse it with ``--workdir``),
or copies a finished run with ``--from-run``. Then it starts ``streamlit run dashboard/app.py``
on 127.0.0.1 and drives Debian's headless Chromium with Playwright, as the browser test does:

1. Warm-up: one session visits every page, so the server computes and caches every
   diagnostic of the run (the codeword map's UMAP included). Its time is reported, not judged.
2. First page: a new browser session opens the app; the clock runs from navigation start until
   the last script run of the Runs page has finished and the browser has applied it (title,
   runs table and verdict badge drawn). ``--rounds`` times; the median is judged against 10 s.
3. Page switches: in one session, click each page in the sidebar in turn; the clock runs from
   the click until the last script run of that page has finished and been applied.
   ``--rounds`` passes over all pages; the median over all switches (and per page) is judged
   against 2 s.

Times are read on the page's own clock: a MutationObserver records when the app's
``data-test-script-state`` turns ``notRunning``. The browser applies that attribute on its main
thread, so a page whose charts take long to draw finishes late.

Every page is also checked for Streamlit exception boxes. Medians are printed as a Markdown
table for ``bench/RESULTS.md``.

``--cold`` measures the other case instead: a fresh server on a run never diagnosed (its
``cache/`` folder, the on-disk diagnosis store included, is removed first). One session opens
the Runs page, then clicks every page once, in order, without waiting for anything slow. For
each page: seconds from the click to the first finished script run with the page's title
drawn (its headline numbers: what the page can show at once), and whether it showed a
progress bar for the rest. Then it waits, on the Codeword map page, until the background job
has filled in everything (UMAP maps included) and reports that time too.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_diagnose import derive_run, train_reference, write_catalog  # noqa: E402

from tests.dashboard.browser import (  # noqa: E402
    EXCEPTION_BOX,
    launch_chromium,
    open_page,
    serve,
    wait_for_page,
)

FIRST_PAGE_LIMIT_S = 10.0
SWITCH_LIMIT_S = 2.0
WARM_TIMEOUT_MS = 60 * 60 * 1000  # diagnosing a million items from scratch takes minutes
# Sidebar link -> the start of the page's title (the run is called "run").
PAGES = {
    "Codebooks": "Codebooks: run",
    "IDs and collisions": "IDs and collisions: run",
    "Residuals": "Residuals: run",
    "Codeword map": "Codeword map: run",
    "Taxonomy": "Taxonomy: run",
    "Euclidean vs Mahalanobis": "Euclidean vs Mahalanobis: run",
    "Training and comparison": "Training and comparison",
    "Report": "Report",
    "Runs": "Runs",
}


def build_run(workdir: Path, n_items: int, reference_items: int) -> Path:
    """A runs folder holding one run named ``run`` with IDs for ``n_items`` items.

    As in ``bench/bench_diagnose.py``: the checkpoint is trained for one epoch on a
    ``reference_items`` catalog of the same distribution, then assigned to every item.
    """
    start = time.perf_counter()
    reference, full = workdir / "reference", workdir / "full"
    reference.mkdir(parents=True, exist_ok=True)
    full.mkdir(parents=True, exist_ok=True)
    trained = train_reference(reference, *write_catalog(reference, reference_items))
    run = derive_run(trained, full, *write_catalog(full, n_items))
    print(f"built a {n_items:,}-item run in {time.perf_counter() - start:.0f} s", flush=True)
    return run.parent


# Installed in every page before it loads: the page-clock time (ms since navigation start) of
# every moment the app script finishes a run. A measurement ends at the last of these, not at
# the end of the quiet window the waits use to be sure no rerun follows.
RECORD_FINISHES_JS = """
window.__scriptFinished = [];
new MutationObserver((records) => {
    for (const record of records) {
        if (record.target.getAttribute('data-test-script-state') === 'notRunning') {
            window.__scriptFinished.push(performance.now());
        }
    }
}).observe(document, {subtree: true, attributes: true,
                      attributeFilter: ['data-test-script-state']});
"""


def first_finish_after(page, start_ms: float) -> float:
    """Seconds from ``start_ms`` (page clock) to the first finished script run after it."""
    finishes = [t for t in page.evaluate("window.__scriptFinished") if t >= start_ms]
    if not finishes:
        raise AssertionError("no script run finished after the measurement started")
    return (min(finishes) - start_ms) / 1000


def last_finish_after(page, start_ms: float) -> float:
    """Seconds from ``start_ms`` (page clock) to the last finished script run after it."""
    finishes = [t for t in page.evaluate("window.__scriptFinished") if t >= start_ms]
    if not finishes:
        raise AssertionError("no script run finished after the measurement started")
    return (max(finishes) - start_ms) / 1000


def new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(RECORD_FINISHES_JS)
    return context, context.new_page()


def check_page(page, where: str) -> None:
    boxes = page.locator(EXCEPTION_BOX)
    if boxes.count():
        raise AssertionError(f"{where}: Streamlit exception: {boxes.first.inner_text()}")


def runs_page_ready(page, timeout_ms: float) -> None:
    """The Runs page is shown: title, table and verdict badge drawn, script finished."""
    wait_for_page(page, "Runs", timeout_ms)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=timeout_ms)
    page.get_by_text("verdict:").first.wait_for(timeout=timeout_ms)


def warm_up(browser, url: str) -> float:
    start = time.perf_counter()
    context, page = new_page(browser)
    page.goto(url)
    runs_page_ready(page, WARM_TIMEOUT_MS)
    for link, title in PAGES.items():
        open_page(page, link)
        wait_for_page(page, title, WARM_TIMEOUT_MS)
        check_page(page, f"warm-up, {link}")
    context.close()
    return time.perf_counter() - start


def time_first_page(browser, url: str, rounds: int) -> list[float]:
    """Navigation start to the last script run of a ready Runs page, in a new session."""
    times = []
    for _ in range(rounds):
        context, page = new_page(browser)
        page.goto(url)
        runs_page_ready(page, 60_000)
        times.append(last_finish_after(page, 0.0))
        check_page(page, "first page")
        context.close()
    return times


def time_switches(browser, url: str, rounds: int) -> dict[str, list[float]]:
    """Click on a sidebar link to the last script run of the page it opens."""
    context, page = new_page(browser)
    page.goto(url)
    runs_page_ready(page, 60_000)
    times: dict[str, list[float]] = {link: [] for link in PAGES}
    for _ in range(rounds):
        for link, title in PAGES.items():
            start_ms = page.evaluate("performance.now()")
            open_page(page, link)
            wait_for_page(page, title, 60_000)
            times[link].append(last_finish_after(page, start_ms))
            check_page(page, link)
    context.close()
    return times


PROGRESS = '[data-testid="stProgress"]'


def cold_visit(browser, url: str) -> tuple[dict[str, tuple[float, bool]], float]:
    """First visit of every page of a never-diagnosed run on a fresh server (module docstring):
    per page (seconds to its headline, progress bar shown), and seconds until all is in."""
    context, page = new_page(browser)
    start = time.perf_counter()
    page.goto(url)
    runs_page_ready(page, 120_000)
    shown = {
        "Runs (first page)": (first_finish_after(page, 0.0), page.locator(PROGRESS).count() > 0)
    }
    check_page(page, "cold Runs")
    for link, title in PAGES.items():
        start_ms = page.evaluate("performance.now()")
        open_page(page, link)
        wait_for_page(page, title, 120_000)
        page.wait_for_function(
            "s => window.__scriptFinished.some(t => t >= s)", arg=start_ms, timeout=120_000
        )
        shown[link] = (first_finish_after(page, start_ms), page.locator(PROGRESS).count() > 0)
        check_page(page, f"cold {link}")
    open_page(page, "Codeword map")
    wait_for_page(page, PAGES["Codeword map"], WARM_TIMEOUT_MS)
    page.locator(PROGRESS).first.wait_for(state="detached", timeout=WARM_TIMEOUT_MS)
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=WARM_TIMEOUT_MS)
    complete = time.perf_counter() - start
    check_page(page, "cold Codeword map, complete")
    context.close()
    return shown, complete


def print_cold(n_items: int, shown: dict[str, tuple[float, bool]], complete: float) -> None:
    print(f"\n{n_items:,} items, never diagnosed, fresh server, first visit of each page:")
    print("| page | headline shown, s | limit s | ok | rest filling in (progress bar) |")
    print("|---|---:|---:|---|---|")
    for link, (seconds, progress) in shown.items():
        ok = "yes" if seconds <= FIRST_PAGE_LIMIT_S else "NO"
        filling = "yes" if progress else "no (complete)"
        print(f"| {link} | {seconds:.2f} | {FIRST_PAGE_LIMIT_S:.0f} | {ok} | {filling} |")
    print(f"everything filled in (UMAP maps included) {complete:.0f} s after opening the app")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--reference-items", type=int, default=50_000, help="training set")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument("--keep", action="store_true", help="keep the generated run")
    parser.add_argument(
        "--from-run",
        type=Path,
        default=None,
        help="copy this finished run folder (e.g. one kept by bench_diagnose.py) instead of "
        "building one; its embeddings file is read where it is",
    )
    parser.add_argument(
        "--cold", action="store_true", help="first visits of a never-diagnosed run instead"
    )
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rqvae-bench-dashboard-"))
    try:
        runs_dir = workdir / "full"
        if args.from_run is not None:
            shutil.copytree(args.from_run, runs_dir / "run", ignore=shutil.ignore_patterns("cache"))
        elif not (runs_dir / "run" / "semantic_ids.parquet").exists():  # --workdir of a --keep
            runs_dir = build_run(workdir, args.items, args.reference_items)
        n_items = pyarrow.parquet.read_metadata(runs_dir / "run" / "semantic_ids.parquet").num_rows
        if args.cold:
            shutil.rmtree(runs_dir / "run" / "cache", ignore_errors=True)  # never diagnosed
            with (
                serve(runs_dir, workdir / "streamlit.log") as url,
                sync_playwright() as playwright,
                launch_chromium(playwright) as browser,
            ):
                shown, complete = cold_visit(browser, url)
            print_cold(n_items, shown, complete)
            return
        with (
            serve(runs_dir, workdir / "streamlit.log") as url,
            sync_playwright() as playwright,
            launch_chromium(playwright) as browser,
        ):
            warm = warm_up(browser, url)
            print(f"warm-up (every diagnostic computed and cached): {warm:.0f} s", flush=True)
            first = time_first_page(browser, url, args.rounds)
            switches = time_switches(browser, url, args.rounds)
    finally:
        if args.workdir is None and not args.keep:  # never delete a folder we were given
            shutil.rmtree(workdir, ignore_errors=True)

    all_switches = [t for values in switches.values() for t in values]
    first_median, switch_median = statistics.median(first), statistics.median(all_switches)
    print(f"\n{n_items:,} items, {args.rounds} rounds, medians:")
    print("| measure | median s | max s | limit s | ok |")
    print("|---|---:|---:|---:|---|")
    print(
        f"| first page (Runs) | {first_median:.2f} | {max(first):.2f} | {FIRST_PAGE_LIMIT_S:.0f}"
        f" | {'yes' if first_median <= FIRST_PAGE_LIMIT_S else 'NO'} |"
    )
    print(
        f"| page switch, all pages | {switch_median:.2f} | {max(all_switches):.2f} | "
        f"{SWITCH_LIMIT_S:.0f} | {'yes' if switch_median <= SWITCH_LIMIT_S else 'NO'} |"
    )
    for link, values in switches.items():
        median = statistics.median(values)
        print(
            f"| switch to {link} | {median:.2f} | {max(values):.2f} | {SWITCH_LIMIT_S:.0f} | "
            f"{'yes' if median <= SWITCH_LIMIT_S else 'NO'} |"
        )


if __name__ == "__main__":
    main()
