"""The "Downstream probe" page and the report's probe section, on a really probed run."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from analysis.presentation.run_colours import run_colours
from tests.dashboard.test_pages import charts, open_app


@pytest.fixture(scope="module")
def probed_root(tmp_path_factory) -> Path:
    """A runs folder with one probed run (30 items, cyclic sequences) and one not probed."""
    from rqvae.importers.import_ids import import_ids
    from rqvae.probe import run_probe
    from rqvae.probe.settings import ProbeSettings

    root = tmp_path_factory.mktemp("probe-runs")
    ids = root.parent / "ids.csv"
    ids.write_text(
        "item_id,code_0,code_1\n" + "".join(f"{i},{i // 6},{i % 6}\n" for i in range(30))
    )
    for name in ("probed", "plain"):
        import_ids(ids, root / name)
    sequences = root.parent / "sequences.jsonl.gz"
    with gzip.open(sequences, "wt") as handle:
        for user in range(60):
            items = [str((user + step) % 30) for step in range(5)]
            handle.write(json.dumps({"user_id": user, "item_ids": items}) + "\n")
    settings = ProbeSettings(epochs=2, dim=16, blocks=1)
    run_probe(root / "probed", sequences, settings, progress=False, log=lambda _: None)
    return root


def test_probe_page_shows_the_probed_run(app_env, probed_root):
    app_env(probed_root)
    app = open_app("probe", runs=["probed", "plain"])
    assert app.title[0].value == "Downstream probe"
    table = app.dataframe[0].value
    assert set(table["Model"]) == {"semantic-ID pooled SASRec", "item-ID SASRec", "popularity"}
    assert set(table["Run"]) == {"probed"}
    # every metric with its 95% interval: "0.1234 [0.1000, 0.1500]"
    assert all("[" in cell for cell in table["Test Recall@10 [95% CI]"])
    bars = charts(app)[0]["data"]
    assert [trace["name"] for trace in bars] == ["probed"]  # one colour per run
    assert list(bars[0]["x"]) == ["semantic-ID pooled SASRec", "item-ID SASRec", "popularity"]
    assert bars[0]["error_y"]["type"] == "data" and "array" in bars[0]["error_y"]  # intervals
    assert bars[0]["marker"]["color"] == run_colours(["probed", "plain"])["probed"]
    assert any("Not probed: plain" in caption.value for caption in app.caption)


def test_probe_page_without_probes_says_how(app_env, probed_root):
    app_env(probed_root)
    app = open_app("probe", runs=["plain"])
    assert "rqvae probe" in app.info[0].value


def test_report_has_the_probe_section(tmp_path, probed_root):
    from analysis.presentation.report import write_report

    runs = [probed_root / "probed", probed_root / "plain"]
    write_report(runs, tmp_path / "r.html", tmp_path / "r.json", umap=False)
    assert "Downstream probe" in (tmp_path / "r.html").read_text()
    probes = json.loads((tmp_path / "r.json").read_text())["probes"]
    assert list(probes) == ["probed"]
    assert probes["probed"]["models"]["popularity"]["test"]["recall_at_10"] >= 0


@pytest.fixture(scope="module")
def baseline_root(tmp_path_factory, scientific_slice) -> Path:
    """rq-kmeans (codebooks) and hkmeans (none) on the 1,000-item slice, 2 x 16 codes."""
    from rqvae.baselines import BaselineSettings, train_baseline
    from rqvae.data.catalog import CatalogSpec

    root = tmp_path_factory.mktemp("baseline-runs")
    catalog = CatalogSpec(scientific_slice["catalog"], format="lcrec")
    for method in ("rq-kmeans", "hkmeans"):
        settings = BaselineSettings(method=method, levels=2, codebook_size=16)
        train_baseline(settings, root / method, scientific_slice["embeddings"], catalog)
    return root


@pytest.mark.parametrize("page", ["codebooks", "residuals", "taxonomy", "training_comparison"])
def test_pages_work_on_baseline_runs(app_env, baseline_root, page):
    app_env(baseline_root)
    for focus in ("rq-kmeans", "hkmeans"):
        app = open_app(page, runs=["rq-kmeans", "hkmeans"], focus=focus)
        if page == "residuals" and focus == "hkmeans":
            assert "no codebooks" in app.info[0].value  # unavailable, with the reason
        elif page != "training_comparison":
            assert charts(app), (page, focus)
