"""The Runs page's cards: every finding of every picked run, with what to do and a link to the
page that shows its evidence, opened on that run (issue 21 item 3)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import pytest

from analysis.metrics.advice import PAGES
from dashboard import diagnosis_jobs
from dashboard.markup import with_code_spans
from dashboard.page_files import PAGE_FILES, PAGES_DIR, page_link_target
from tests.dashboard.browser import CHROMIUM, launch_chromium, serve, wait_for_page
from tests.dashboard.conftest import APP_PATH
from tests.dashboard.test_browser import assert_no_exception, choose_focus_run, pick_runs
from tests.dashboard.test_pages import open_app, texts
from tests.run_configs import schema_2


def collapsed_run(folder: Path, n_items: int = 40) -> None:
    """Imported IDs, 4 levels of 8 codes, every item on code 0 at every level: four collapsed
    levels, a unique-ID ratio of 1/40 and one group of 40 items: six findings."""
    folder.mkdir()
    config = schema_2(levels=4, codebook_sizes=[8] * 4)
    config["data"]["n_items"] = n_items
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "status.json").write_text(json.dumps({"state": "imported"}))
    ids = pd.DataFrame({f"code_{level}": np.zeros(n_items, dtype=np.int64) for level in range(4)})
    ids.insert(0, "item_id", [f"item-{row}" for row in range(n_items)])
    ids["collision"] = np.arange(n_items)
    ids["sid"] = [
        "<|sid_start|>"
        + "".join(f"<|sid_{level}_0|>" for level in range(4))
        + f"<|sid_4_{row}|><|sid_end|>"
        for row in range(n_items)
    ]
    ids.to_parquet(folder / "semantic_ids.parquet")


def page_links(app) -> list:
    return [element.proto for element in app.get("page_link")]


def test_page_files_are_the_navigation_of_app_py():
    """Every title of the map is a page of app.py's navigation with the same file, and every
    page a finding can name that exists here has a file."""
    source = APP_PATH.read_text()
    navigation = dict(
        (title, file) for file, title in re.findall(r'page\(\s*"([^"]+)",\s*"([^"]+)"', source)
    )
    for title, file_name in PAGE_FILES.items():
        assert navigation.get(title) == file_name, title
        assert (PAGES_DIR / file_name).is_file()
    assert set(navigation) - set(PAGE_FILES) <= set(PAGES) - set(PAGE_FILES) | {"Scorecard"}
    assert page_link_target("Residuals") == "app_pages/residuals.py"
    assert page_link_target("No such page") is None


def test_cards_show_every_finding_with_advice_and_a_link(app_env, gallery_root, tmp_path):
    """collapsed: six findings (cards used to stop at five with "... and N more"); trained: a
    real training run. Each finding shows its message, its advice and a link to its page's
    file carrying the run's name."""
    collapsed_run(tmp_path / "collapsed")
    shutil.copytree(gallery_root / "trained", tmp_path / "trained")
    app_env(tmp_path)
    runs = ["collapsed", "trained"]
    app = open_app(runs=runs)
    shown = texts(app.markdown)
    captions = texts(app.caption)
    links = page_links(app)
    assert "more findings" not in captions
    expected_links = []
    for name in runs:
        diagnosis = diagnosis_jobs.diagnosis_now(tmp_path / name).diagnosis
        findings = [*diagnosis.run_findings, *diagnosis.findings]
        if name == "collapsed":
            assert len(findings) == 6
        for finding in findings:
            assert finding.advice and finding.page
            assert finding.message.split(":")[0] in shown, finding.message
            assert f"What to do: {with_code_spans(finding.advice)}" in captions, finding.code
            page_name = Path(PAGE_FILES[finding.page]).stem  # the URL path of the page
            expected_links.append((f"Evidence: {finding.page}", page_name, name))
    got = []
    for link in links:
        file_name = link.page.split("/")[-1]
        got.append((link.label, file_name, parse_qs(link.query_string)["run"][0]))
    assert got == expected_links
    # the imported IDs' advice is about the source tool, never about our trainer
    imported = diagnosis_jobs.diagnosis_now(tmp_path / "collapsed").diagnosis
    assert all("--lr" not in finding.advice for finding in imported.findings)


def test_a_link_opens_its_page_on_the_run_it_names(app_env, gallery_root):
    """``?run=NAME`` (what a finding's link carries) makes NAME the run the page shows, once."""
    app_env(gallery_root)
    app = open_app(runs=["trained", "mql4grec"], focus="trained")
    app.query_params["run"] = "mql4grec"
    app.switch_page("app_pages/codebooks.py").run()
    assert not app.exception
    assert app.title[0].value == "Codebooks: mql4grec"
    assert app.session_state["focus_run"] == "mql4grec"
    assert "run" not in app.query_params  # dropped: the sidebar choice wins again


@pytest.mark.browser
@pytest.mark.slow
def test_clicking_a_finding_opens_its_page_on_that_run(gallery_root, tmp_path):
    """In Chromium: the sidebar shows `live`; the `letter` card's first evidence link opens its
    page showing `letter`, with no exception box and no traceback in the server's log."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    log = tmp_path / "streamlit.log"
    with (
        serve(gallery_root, log) as url,
        sync_playwright() as playwright,
        launch_chromium(playwright) as browser,
    ):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(url)
        wait_for_page(page, "Runs")
        pick_runs(page, ["letter", "live"])
        choose_focus_run(page, "live")
        wait_for_page(page, "Runs")
        link = page.locator("a[href*='run=letter']").filter(has_text="Evidence: ").first
        link.wait_for()
        title = link.inner_text().split("Evidence: ", 1)[1].strip()
        assert title in PAGE_FILES
        link.click()
        across_runs = ("Training and comparison", "Downstream probe", "Report", "Runs")
        wait_for_page(page, title if title in across_runs else f"{title}: letter")
        assert_no_exception(page, title)
    assert "Traceback" not in log.read_text()
