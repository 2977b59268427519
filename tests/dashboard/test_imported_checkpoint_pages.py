"""Every single-run page works on a run imported from another codebase's checkpoint, and the
IDs page shows the raw IDs next to the codebase's own."""

from __future__ import annotations

import pytest

from tests.dashboard.test_pages import chart_titled, open_app, texts
from tests.rqvae.test_import_checkpoint import import_real_lcrec_style


@pytest.fixture(scope="module")
def imported_root(tmp_path_factory, scientific_dir):
    root = tmp_path_factory.mktemp("imported-runs")
    import_real_lcrec_style(root / "lcrec", scientific_dir)
    return root


def test_ids_page_shows_raw_against_the_codebase_ids(app_env, imported_root):
    app_env(imported_root)
    app = open_app("ids_collisions", runs=["lcrec"])
    assert "Raw IDs against the codebase's own IDs" in texts(app.subheader)
    labels = [metric.label for metric in app.metric]
    assert "unique-ID ratio, resolved" in labels
    resolved = next(m for m in app.metric if m.label == "unique-ID ratio, resolved")
    assert resolved.value == "0.9938"  # LETTER's published 4-level IDs


@pytest.mark.parametrize(
    "page, chart",
    [
        ("residuals", "Residual norm after each level"),
        ("codebooks", "Level 0: items per code"),
        ("mahalanobis", None),
    ],
)
def test_codeword_pages_draw_for_an_imported_checkpoint(app_env, imported_root, page, chart):
    app_env(imported_root)
    app = open_app(page, runs=["lcrec"])
    assert "unavailable" not in texts(app.info).lower()
    if chart:
        assert chart_titled(app, chart)
