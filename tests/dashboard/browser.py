"""Drive the real dashboard in Debian's headless Chromium (shared by the browser test and bench).

:func:`serve` starts ``streamlit run dashboard/app.py`` on 127.0.0.1 with a free port and waits
for ``/_stcore/health``; :func:`launch_chromium` starts ``/usr/bin/chromium`` through
Playwright (never ``playwright install``); :func:`wait_for_page` waits until the script has
finished and the page title is drawn.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_PATH = REPO_ROOT / "dashboard" / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EXCEPTION_BOX = '[data-testid="stException"]'
APP_ROOT = '[data-testid="stApp"]'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve(runs_dir: Path, log_path: Path, timeout: float = 90.0) -> Iterator[str]:
    """Run the dashboard over ``runs_dir``; yields its base URL and stops it afterwards."""
    port = free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--", "--runs-dir", str(runs_dir),
    ]  # fmt: skip
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, server, timeout, log_path)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_healthy(url: str, server: subprocess.Popen, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}: {log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200 and response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url}/_stcore/health did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def launch_chromium(playwright) -> Iterator[object]:
    """Debian's Chromium under Playwright, headless and with nothing phoning home."""
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield browser
    finally:
        browser.close()


# True once the script has been idle for QUIET_MS: a widget change starts its rerun a moment
# after the event, so "not running" alone can be seen before the rerun has even begun.
IDLE_JS = """(quietMs) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const now = performance.now();
    if (window.__stBusySince === undefined) window.__stBusySince = now;
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') {
        window.__stBusySince = now;
        return false;
    }
    return now - window.__stBusySince >= quietMs;
}"""
QUIET_MS = 400


def wait_idle(page, timeout_ms: float = 90_000) -> None:
    """Wait until the app script has finished and stayed idle for ``QUIET_MS``."""
    page.evaluate("() => { window.__stBusySince = performance.now(); }")
    page.wait_for_function(IDLE_JS, arg=QUIET_MS, timeout=timeout_ms, polling=50)


def wait_for_page(page, title: str, timeout_ms: float = 90_000) -> None:
    """Wait until an ``h1`` starting with ``title`` is shown and the script is idle."""
    heading = page.locator("h1").filter(has_text=re.compile("^" + re.escape(title)))
    heading.first.wait_for(timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def screenshot(page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to fit."""
    size = page.viewport_size
    height = page.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll("
        '\'[data-testid="stMain"], [data-testid="stSidebar"]\'), e => e.scrollHeight))'
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height))})
    page.wait_for_timeout(300)  # let plotly redraw at the new size
    page.screenshot(path=path, full_page=True)
    page.set_viewport_size(size)


def open_page(page, title: str) -> None:
    """Click a page in the sidebar navigation (link text: the icon's name, then the title)."""
    link = page.locator('[data-testid="stSidebarNav"] a')
    link.filter(has_text=re.compile(re.escape(title) + "$")).first.click()
