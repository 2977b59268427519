"""End to end in a real browser: `streamlit run` + Debian's headless Chromium via Playwright.

Visits every page, picks runs in the sidebar, uses the lookup box, downloads the report and
saves a screenshot of each page under ``test-artifacts/dashboard/``. Any Streamlit exception
box fails the test. Skipped when /usr/bin/chromium is missing, unless CI=true (then it fails).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from tests.dashboard.browser import (
    CHROMIUM,
    EXCEPTION_BOX,
    REPO_ROOT,
    launch_chromium,
    open_page,
    screenshot,
    serve,
    wait_for_page,
    wait_idle,
)

ARTIFACTS = REPO_ROOT / "test-artifacts" / "dashboard"
VIEWPORT = {"width": 1400, "height": 1000}

# Sidebar title -> the h1 each page starts with.
PAGES = {
    "Codebooks": "Codebooks: trained",
    "IDs and collisions": "IDs and collisions: trained",
    "Residuals": "Residuals: trained",
    "Codeword map": "Codeword map: trained",
    "Taxonomy": "Taxonomy: trained",
    "Euclidean vs Mahalanobis": "Euclidean vs Mahalanobis: trained",
    "Embeddings and behaviour": "Embeddings and behaviour: trained",
    "Scorecard": "Scorecard",
    "Training and comparison": "Training and comparison",
    "Report": "Report",
}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def chromium_available() -> None:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI=true needs the browser test to run")
        pytest.skip(message)


def test_every_page_in_chromium(chromium_available, gallery_root: Path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    first_item = pd.read_parquet(gallery_root / "trained" / "semantic_ids.parquet").iloc[0]
    items = pd.read_parquet(gallery_root / "trained" / "items.parquet").set_index("item_id")
    title_words = str(items.loc[first_item["item_id"], "title"])[:24]

    with (
        serve(gallery_root, ARTIFACTS / "streamlit.log") as url,
        sync_playwright() as playwright,
        launch_chromium(playwright) as browser,
    ):
        context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, accept_downloads=True
        )
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(url)
        wait_for_page(page, "Runs")
        assert_no_exception(page, "Runs")

        # The broken runs name their file; the others still get a verdict badge.
        alerts = page.locator('[data-testid="stAlert"]')
        assert alerts.filter(has_text="broken-config").filter(has_text="config.json").count() == 1
        assert alerts.filter(has_text="broken-ids").filter(has_text="semantic_ids.parquet").count()

        # Pick `trained` and `letter` (replacing the default picks), show `trained`.
        pick_runs(page, ["trained", "letter"])
        choose_focus_run(page, "trained")
        wait_for_page(page, "Runs")
        assert page.get_by_text("verdict:").count() >= 2
        screenshot(page, ARTIFACTS / "01-runs.png")

        for number, (link, heading) in enumerate(PAGES.items(), start=2):
            open_page(page, link)
            wait_for_page(page, heading)
            assert_no_exception(page, link)
            if link == "IDs and collisions":
                use_lookup(page, title_words, first_item["sid"])
            if link == "Report":
                download_report(page)
            if link not in ("Report", "Scorecard"):  # the scorecard is a table, not a chart
                # Charts render after the heading; wait for one rather than racing the page.
                page.locator('[data-testid="stPlotlyChart"]').first.wait_for(state="visible")
                assert page.locator('[data-testid="stPlotlyChart"]').count() > 0, link
            slug = link.lower().replace(" ", "-")
            screenshot(page, ARTIFACTS / f"{number:02d}-{slug}.png")

        # An imported run has no checkpoint: its Residuals page says so instead of failing.
        choose_focus_run(page, "letter")
        open_page(page, "Residuals")
        wait_for_page(page, "Residuals: letter")
        assert page.get_by_text("no checkpoint").count() >= 1
        assert_no_exception(page, "Residuals of an imported run")
        screenshot(page, ARTIFACTS / "11-residuals-imported.png")
        context.close()


def assert_no_exception(page, where: str) -> None:
    boxes = page.locator(EXCEPTION_BOX)
    assert boxes.count() == 0, f"{where}: {boxes.first.inner_text()}"


def pick_runs(page, names: list[str]) -> None:
    """Empty the sidebar's run multiselect, then pick ``names``."""
    picker = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]')
    clear = picker.get_by_role("button", name="Clear all")
    if clear.count():
        clear.first.click()
        wait_for_page(page, "Runs")
    for name in names:
        picker.locator("input").fill(name)
        page.get_by_role("option", name=name, exact=True).click()
        wait_for_page(page, "Runs")
    page.keyboard.press("Escape")


def choose_focus_run(page, name: str) -> None:
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
    box.click()
    page.get_by_role("option", name=name, exact=True).click()
    wait_idle(page)


def use_lookup(page, title_words: str, sid: str) -> None:
    """A title fragment finds the item; its ID string finds it back."""
    box = page.get_by_label("ID or title", exact=True)
    for query in (title_words, sid):
        box.fill(query)
        box.press("Enter")
        wait_idle(page)
        caption = page.get_by_text("match(es), at most")
        assert caption.count() == 1, f"no lookup result for {query!r}"
        assert int(caption.inner_text().split()[0]) >= 1, query
        assert page.get_by_text(f"matches {query!r}").count() == 0


def download_report(page) -> None:
    page.get_by_role("button", name="Build the report").click()
    button = page.get_by_role("button", name="Download HTML report")
    button.wait_for(timeout=300_000)
    with page.expect_download() as download_info:
        button.click()
    target = ARTIFACTS / "rqvae-report.html"
    download_info.value.save_as(target)
    text = target.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "Semantic-ID quantizer report" in text
    assert "trained" in text and "letter" in text
