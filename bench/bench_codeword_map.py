"""Benchmark: the Codeword map page of a small run on a fresh dashboard server (UMAP cold start).

    .venv/bin/python bench/bench_codeword_map.py                    # 1,700-item synthetic run
    .venv/bin/python bench/bench_codeword_map.py --from-run runs/demo-run
    # the item map of a 1,000,000-item run, diagnosed beforehand (issue 21: <= 10 s)
    .venv/bin/python bench/bench_codeword_map.py --items 1000000 --reference-items 50000 \
        --scenarios "diagnosed at setup" --limit 10

Each scenario starts a new ``streamlit run dashboard/app.py`` (a fresh process: nothing
compiled, nothing in memory), opens the Runs page in headless Chromium, then clicks
"Codeword map" and times the click until the page has finished its script with the map drawn
(the first plotly chart shown, script idle: the item map, which the page draws first), on the
page's own clock as in ``bench/bench_dashboard.py``. Scenarios, from the coldest:

1. ``cold``: an empty numba cache (``NUMBA_CACHE_DIR`` a new folder) and a run never
   diagnosed (its ``cache/`` removed): umap-learn is compiled while the user waits.
2. ``numba cache warm``: the numba cache warmed beforehand, as ``scripts/setup.sh`` does
   (``python -m analysis.metrics.umap_maps``, timed), run never diagnosed.
3. ``diagnosed at setup``: as 2, and ``rqvae diagnose RUN`` run beforehand (timed), as
   ``scripts/demo.sh`` does for the demo runs: the page reads the stored maps.

The run is built as ``bench/bench_dashboard.py`` builds it (synthetic catalog, checkpoint
trained for one epoch on ``--reference-items`` items of the same distribution, default all)
unless ``--from-run`` names a finished run (copied without its cache). The page's item map
shows every item up to 50,000, above that a seeded sample of 50,000 over a density layer; the
point count drawn is printed with each time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_dashboard import (  # noqa: E402
    build_run,
    check_page,
    last_finish_after,
    new_page,
    runs_page_ready,
)

from tests.dashboard.browser import (  # noqa: E402
    launch_chromium,
    open_page,
    serve,
    wait_for_page,
)

LIMIT_S = 5.0  # the small run's target (issue 12); --limit sets another
SCENARIOS = ("cold", "numba cache warm", "diagnosed at setup")
PAGE_TIMEOUT_MS = 10 * 60 * 1000


def timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def open_codeword_map(runs_dir: Path, log: Path) -> tuple[float, float, int]:
    """(Runs page, click -> Codeword map drawn) seconds on a fresh server and browser session,
    and the points of the item map the browser drew."""
    from playwright.sync_api import sync_playwright

    with (
        serve(runs_dir, log) as url,
        sync_playwright() as playwright,
        launch_chromium(playwright) as browser,
    ):
        context, page = new_page(browser)
        page.goto(url)
        runs_page_ready(page, PAGE_TIMEOUT_MS)
        first = last_finish_after(page, 0.0)
        start_ms = page.evaluate("performance.now()")
        open_page(page, "Codeword map")
        page.locator(".js-plotly-plot").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        wait_for_page(page, "Codeword map: run", PAGE_TIMEOUT_MS)
        shown = last_finish_after(page, start_ms)
        check_page(page, "Codeword map")
        points = page.evaluate(POINTS_JS)
        context.close()
    return first, shown, points


# Points the first plotly chart (the item map) holds, counted in the browser's own figure data.
POINTS_JS = """() => {
    const chart = document.querySelector('.js-plotly-plot');
    return chart.data.filter(t => t.type === 'scattergl' && t.name !== 'level-0 codeword')
        .reduce((n, t) => n + (t.x ? t.x.length : 0), 0);
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_700)
    parser.add_argument(
        "--reference-items", type=int, default=None, help="training set (default: --items)"
    )
    parser.add_argument("--limit", type=float, default=LIMIT_S, help="seconds judged against")
    parser.add_argument("--from-run", type=Path, default=None, help="copy this finished run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=list(SCENARIOS),
        choices=SCENARIOS,
        help="which scenarios to run (code from before the numba cache has only 'cold')",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="rqvae-bench-codeword-map-"))
    try:
        if args.from_run is not None:
            runs_dir = workdir / "full"
            shutil.copytree(args.from_run, runs_dir / "run", ignore=shutil.ignore_patterns("cache"))
        else:
            runs_dir = build_run(workdir, args.items, args.reference_items or args.items)
        run = runs_dir / "run"
        rows = []
        numba_dir = workdir / "numba"
        os.environ["NUMBA_CACHE_DIR"] = str(numba_dir)  # inherited by every process below
        env = dict(os.environ, PYTHONPATH=str(REPO))
        python = sys.executable
        for scenario in args.scenarios:
            shutil.rmtree(run / "cache", ignore_errors=True)
            setup = ""
            if scenario == "cold":
                shutil.rmtree(numba_dir, ignore_errors=True)
            elif scenario == "numba cache warm":
                warm = [python, "-m", "analysis.metrics.umap_maps"]
                setup = f"warm-up {timed(warm, env):.1f} s"
            else:
                diagnose = [python, "-m", "cli.main", "diagnose", str(run)]
                setup = f"rqvae diagnose {timed(diagnose, env):.1f} s"
            first, shown, points = open_codeword_map(runs_dir, workdir / f"{scenario}.log")
            rows.append((scenario, setup, first, shown, points))
            print(
                f"{scenario}: runs page {first:.1f} s, codeword map {shown:.1f} s "
                f"({points:,} item points)",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    limit = f"<= {args.limit:.0f} s"
    print(f"\n{args.items:,} items")
    print(
        f"| scenario (fresh server) | setup step | Runs page s | Codeword map s | item points "
        f"| {limit} |"
    )
    print("|---|---|---:|---:|---:|---|")
    for scenario, setup, first, shown, points in rows:
        ok = "yes" if shown <= args.limit else "NO"
        print(f"| {scenario} | {setup or '-'} | {first:.1f} | {shown:.1f} | {points:,} | {ok} |")


if __name__ == "__main__":
    main()
