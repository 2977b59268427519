"""The Scorecard page under AppTest: runs as columns in their colours, the rows' numbers those
of the analysis scorecard, reasons for missing values, and the CSV export."""

from __future__ import annotations

import numpy as np

from analysis.presentation.run_colours import run_colours
from tests.dashboard.test_pages import codes_of, open_app


def scorecard_markup(app) -> str:
    bodies = [element.proto.body for element in app.get("html")]
    tables = [body for body in bodies if "class='scorecard'" in body]
    assert len(tables) == 1, bodies
    return tables[0]


def test_scorecard_lays_out_the_picked_runs(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("scorecard", runs=["trained", "letter", "rq-kmeans"])
    assert app.title[0].value == "Scorecard"
    markup = scorecard_markup(app)
    colours = run_colours(["trained", "letter", "rq-kmeans"])
    for run in ("trained", "letter", "rq-kmeans"):
        assert f"data-run='{run}' data-colour='{colours[run]}'" in markup
    # the assigned IDs' unique ratio of the trained run, from its semantic_ids.parquet
    codes = codes_of(gallery_root / "trained")
    ratio = len(np.unique(codes, axis=0)) / len(codes)
    row = markup[markup.index("data-key='unique_id_ratio_assigned'") :].split("</tr>")[0]
    assert f"{ratio:.4f}" in row
    # imported IDs: no checkpoint, and the page says so instead of a number
    nearest = markup[markup.index("data-key='unique_id_ratio_nearest'") :].split("</tr>")[0]
    assert "no checkpoint: imported IDs carry no codewords" in nearest
    assert "not probed" in markup and "★" in markup
    assert [button.label for button in app.download_button] == ["Download the scorecard (CSV)"]


def test_scorecard_without_runs_says_what_to_do(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("scorecard", runs=["gone"])  # a name that is no run: nothing picked
    assert "Pick the runs to compare" in app.info[0].value
