"""The "What predicts recall" page under AppTest, on a study.json made from hand-made runs
(tests/analysis/diagnosis/test_study.py): strongest first, one scatter per defined
diagnostic, every run in its colour; without a study, the command to make one."""

from __future__ import annotations

import json

from analysis.diagnosis.study import study
from analysis.presentation.run_colours import run_colours
from tests.analysis.diagnosis.test_study import _runs
from tests.dashboard.test_pages import charts, open_app


def test_study_page_lays_out_the_correlations(app_env, tmp_path):
    document = {**study(_runs(), n_resamples=100), "created": "2026-12-07T10:00:00+00:00"}
    (tmp_path / "scientific.study.json").write_text(json.dumps(document))
    app_env(tmp_path)
    app = open_app("study")
    assert app.title[0].value == "What predicts recall"
    specs = charts(app)
    strength = specs[0]
    assert strength["layout"]["title"]["text"].startswith("Which diagnostics ordered the runs")
    # bars bottom-up: the strongest (perplexity, rho = 1) is drawn last, at the top
    assert strength["data"][0]["y"][-1] == "Perplexity_l0"
    scatters = specs[1:]
    assert len(scatters) == 3  # the constant diagnostic has no correlation and no scatter
    assert scatters[0]["layout"]["title"]["text"] == "Perplexity_l0: Spearman 1.00 [1.00, 1.00]"
    colours = run_colours(f"run{number}" for number in range(6))
    for trace in scatters[0]["data"]:
        assert trace["marker"]["color"] == colours[trace["name"]]


def test_study_page_without_a_study_says_how_to_make_one(app_env, tmp_path):
    app_env(tmp_path)
    app = open_app("study")
    assert "rqvae study --runs" in app.info[0].value
