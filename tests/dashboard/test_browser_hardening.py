"""Issue 8 in a real browser: markdown in run names, titles, categories and the lookup query
never makes the browser fetch anything, and the page asks no host but the dashboard's own
(no CDN page icon). The dashboard is started with ``rqvae dashboard`` from another folder.

A local HTTP listener stands in for the attacker's server: the test asserts it gets no request
from any page. Skipped without /usr/bin/chromium, unless CI=true (then it fails).
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from rqvae.data.catalog import CatalogSpec
from rqvae.importers.import_ids import import_ids
from tests.cli.test_dashboard_command import wait_healthy
from tests.dashboard.browser import (
    CHROMIUM,
    REPO_ROOT,
    free_port,
    launch_chromium,
    open_page,
    wait_for_page,
    wait_idle,
)
from tests.dashboard.test_browser import assert_no_exception

pytestmark = [pytest.mark.browser, pytest.mark.slow]
N_ITEMS = 64
DIRECTIVE = ":red[alert]"
URL_QUERY = "https://example.invalid/a_b_ ~x"  # escapes inside an autolink would show


class Listener(http.server.ThreadingHTTPServer):
    """Counts every request; answers 404."""

    def __init__(self):
        self.requests: list[str] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server name)
                listener.requests.append(self.path)
                self.send_error(404)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def hostile_runs(root: Path, url: str) -> str:
    """An imported run whose name, titles and categories carry markdown images and links."""
    folder = root.parent / "inputs"
    folder.mkdir()
    rows = []
    for item in range(N_ITEMS):
        rows.append(
            {
                "item_id": f"i{item}",
                "title": f"t{item} ![t]({url}/title.png) [a]({url}/a)",
                "categories": [f"![c]({url}/cat.png)", f"<img src='{url}/html.png'> {item % 3}"],
            }
        )
    catalog = folder / "items.jsonl"
    catalog.write_text("".join(json.dumps(row) + "\n" for row in rows))
    vectors = np.random.default_rng(0).normal(size=(N_ITEMS, 8)).astype(np.float32)
    np.save(folder / "emb.npy", vectors)
    codes = folder / "ids.csv"
    codes.write_text(
        "item_id,code_0,code_1\n"
        + "".join(f"i{item},{item % 4},{item % 5}\n" for item in range(N_ITEMS))
    )
    # a folder name cannot hold "//"; ":red[...]" is Streamlit's colour directive (issue 19)
    name = f"x ![n](http:{url[7:]}) `tick {DIRECTIVE}"
    spec = CatalogSpec(
        catalog,
        format="generic",
        id_field="item_id",
        text_fields=("title",),
        category_field="categories",
    )
    import_ids(codes, root / name, catalog=spec, embeddings_path=folder / "emb.npy")
    return name


def test_no_page_fetches_what_user_strings_point_at(tmp_path):
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI=true needs the browser test to run")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    listener = Listener()
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    root = tmp_path / "runs"
    hostile_runs(root, listener.url)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "dashboard",
            "--runs-dir",
            str(root),
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    app_url = f"http://127.0.0.1:{port}"
    requested: list[str] = []
    try:
        wait_healthy(app_url, server)
        with sync_playwright() as playwright, launch_chromium(playwright) as browser:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(120_000)
            page.on("request", lambda request: requested.append(request.url))
            page.goto(app_url)
            wait_for_page(page, "Runs")  # the hostile run is the only run: picked by default
            assert_no_exception(page, "Runs")
            assert DIRECTIVE in page.locator("h3").first.inner_text()  # shown as typed
            for link, heading in (
                ("Codebooks", "Codebooks"),
                ("IDs and collisions", "IDs and collisions"),
                ("Taxonomy", "Taxonomy"),
                ("Report", "Report"),
            ):
                open_page(page, link)
                wait_for_page(page, heading)
                assert_no_exception(page, link)
                if link == "IDs and collisions":
                    box = page.get_by_label("ID or title", exact=True)
                    for query in (f"![q]({listener.url}/query.png)", "t1 ![t]", URL_QUERY):
                        box.fill(query)
                        box.press("Enter")
                        wait_idle(page)
                    shown = page.locator('[data-testid="stAlert"]').last.inner_text()
                    assert f"matches '{URL_QUERY}'" in shown and "\\" not in shown, shown
                if link == "Report":
                    page.get_by_role("button", name="Build the report").click()
                    page.get_by_role("button", name="Download HTML report").wait_for()
            page.wait_for_timeout(1000)  # let any late image request arrive
    finally:
        server.terminate()
        server.wait(timeout=30)
        listener.shutdown()
    assert listener.requests == []
    hosts = {urlparse(url).netloc for url in requested if urlparse(url).scheme in ("http", "https")}
    assert hosts == {f"127.0.0.1:{port}"}, hosts  # nothing from a CDN, nothing from the names
    # "http:127.0.0.1:PORT" in the run name would resolve against the app's own origin
    listener_port = str(listener.server_address[1])
    assert not [url for url in requested if listener_port in urlparse(url).path]
