"""Pages never wait on a slow diagnosis: they show the ID diagnostics at once with a progress
bar, and fill in the codebook diagnostics when the background job is done."""

from __future__ import annotations

import shutil
import threading

import pytest

import analysis.diagnosis.diagnose as diagnose_module
from analysis.diagnosis.store import STORE_DIR
from dashboard import background
from rqvae.runs.folder import CACHE_DIR
from tests.dashboard.test_pages import chart_titled, charts, open_app


@pytest.fixture
def held_diagnosis(gallery_root, tmp_path, monkeypatch, app_env):
    """A never-diagnosed copy of `trained`; full diagnoses block until the test releases them
    (so the test sees the page while the job runs, whatever the machine's speed)."""
    root = tmp_path / "runs"
    skip_cache = shutil.ignore_patterns(CACHE_DIR)
    shutil.copytree(gallery_root / "trained", root / "fresh", ignore=skip_cache)
    app_env(root)
    monkeypatch.setenv("RQVAE_DASHBOARD_WAIT_S", "0")
    release = threading.Event()
    original = diagnose_module._diagnose

    def held(*args, **kwargs):
        if kwargs["model"]:  # the quick ID-only diagnosis is not held
            assert release.wait(300)
        return original(*args, **kwargs)

    monkeypatch.setattr(diagnose_module, "_diagnose", held)
    yield root, release
    release.set()


def only_job() -> background.Job:
    _, jobs, _ = background._workers()
    (job,) = jobs.values()
    return job


def test_ids_page_shows_id_numbers_while_the_rest_is_computed(held_diagnosis):
    root, release = held_diagnosis
    app = open_app("ids_collisions", runs=["fresh"])
    (bar,) = app.get("progress")
    assert "Codebook diagnostics" in bar.proto.text
    assert chart_titled(app, "Unique-ID ratio by prefix length")  # drawn at once
    release.set()
    assert only_job().wait(300)
    app.run()
    assert not app.get("progress")
    assert (root / "fresh" / CACHE_DIR / STORE_DIR).is_dir()  # stored, for the CLI too


def test_residuals_page_waits_for_its_job_then_draws(held_diagnosis):
    _, release = held_diagnosis
    app = open_app("residuals", runs=["fresh"])
    assert app.get("progress") and not charts(app)
    release.set()
    assert only_job().wait(300)
    app.run()
    assert not app.get("progress")
    assert chart_titled(app, "Residual norm after each level")
