"""Which file in ``app_pages/`` draws each page, by its navigation title.

Findings name the page that shows their evidence by its title (``Finding.page``, one of
:data:`analysis.metrics.advice.PAGES`); the Runs page links to it through this map with
``st.page_link``. The titles and files are those of the navigation in ``app.py``
(``tests/dashboard/test_finding_cards.py`` checks that they agree).
"""

from __future__ import annotations

from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"

PAGE_FILES = {
    "Runs": "runs.py",
    "Codebooks": "codebooks.py",
    "IDs and collisions": "ids_collisions.py",
    "Residuals": "residuals.py",
    "Codeword map": "codeword_map.py",
    "Taxonomy": "taxonomy.py",
    "Euclidean vs Mahalanobis": "mahalanobis.py",
    "Embeddings and behaviour": "embeddings_behaviour.py",
    "Training and comparison": "training_comparison.py",
    "Downstream probe": "probe.py",
    "What predicts recall": "study.py",
    "Report": "report.py",
}


def page_link_target(title: str) -> str | None:
    """``app_pages/<file>`` for ``st.page_link`` (relative to ``app.py``), or None for a
    title with no page file here."""
    file_name = PAGE_FILES.get(title)
    if file_name is None or not (PAGES_DIR / file_name).is_file():
        return None
    return f"app_pages/{file_name}"
