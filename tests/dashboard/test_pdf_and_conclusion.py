"""The Report page offers the PDF next to the HTML; the Euclidean vs Mahalanobis page ends with
its conclusion (issue 21 items 4 and 8)."""

from __future__ import annotations

import pytest

from analysis.metrics.assignment_verdict import assignment_conclusion
from analysis.presentation.report import chromium_path
from dashboard import diagnosis_jobs
from dashboard.markup import with_code_spans
from tests.dashboard.test_pages import open_app


def test_mahalanobis_page_ends_with_its_conclusion(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("mahalanobis", runs=["trained"])
    comparison = diagnosis_jobs.diagnosis_now(gallery_root / "trained").diagnosis.mahalanobis
    conclusion = assignment_conclusion(comparison)
    assert [header.value for header in app.subheader][-1] == "Conclusion"
    shown = [box.value for box in (*app.success, *app.info)]
    assert with_code_spans(conclusion.text) in shown
    assert (with_code_spans(conclusion.text) in [box.value for box in app.success]) == (
        conclusion.advisable
    )


@pytest.mark.slow
def test_report_page_offers_the_pdf_next_to_the_html(app_env, gallery_root):
    if chromium_path() is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    app_env(gallery_root)
    app = open_app("report", runs=["letter"])
    app.button(key="report_build").click().run()
    assert [button.label for button in app.download_button] == [
        "Download HTML report",
        "Download JSON",
    ]
    assert [button.label for button in app.button if button.key == "report_build_pdf"] == [
        "Make the PDF"
    ]
    app.button(key="report_build_pdf").click().run()
    assert not app.exception and not app.warning
    labels = [button.label for button in app.download_button]
    assert labels == ["Download HTML report", "Download PDF report", "Download JSON"]
    from dashboard import data

    pdf = data.report_pdf([gallery_root / "letter"])
    assert pdf.error is None and pdf.pdf.startswith(b"%PDF") and pdf.figures > 5
