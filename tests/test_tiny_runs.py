"""Catalogs of 1, 2, 10 and 11 items: trained, assigned, diagnosed, reported and shown on every
dashboard page without a traceback.

Ten neighbours is the coherence default, so 10 and 11 items sit on either side of the point
where a catalog has fewer other items than neighbours asked for; 1 item has no neighbour and
no validation split at all.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from analysis.diagnosis.diagnose import diagnose_run
from analysis.diagnosis.to_json import diagnosis_to_json
from analysis.presentation.report import write_report
from cli.main import main
from rqvae.data.catalog import CatalogSpec
from rqvae.ids.assign import assign_run
from rqvae.model.config import ModelConfig, RunConfig, TrainConfig
from rqvae.training.train import train

SIZES = (1, 2, 10, 11)
APP_PATH = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
SINGLE_RUN_PAGES = (
    "codebooks",
    "ids_collisions",
    "residuals",
    "codeword_map",
    "taxonomy",
    "mahalanobis",
)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory, scientific_dir: Path) -> Path:
    """``tiny-1`` .. ``tiny-11``: the first n items of amazon-scientific, a small model."""
    root = tmp_path_factory.mktemp("tiny-runs")
    data = tmp_path_factory.mktemp("tiny-data")
    embeddings = np.load(scientific_dir / "embeddings.minilm.npy", mmap_mode="r")
    with gzip.open(scientific_dir / "items.jsonl.gz", "rt") as handle:
        lines = [next(handle) for _ in range(max(SIZES))]
    config = RunConfig(
        model=ModelConfig(hidden_dims=(32,), latent_dim=8, num_levels=3, codebook_size=8),
        train=TrainConfig(epochs=3, batch_size=64, warmup_steps=2),
    )
    for n in SIZES:
        np.save(data / f"emb-{n}.npy", np.ascontiguousarray(embeddings[:n]))
        (data / f"items-{n}.jsonl").write_text("".join(lines[:n]))
        spec = CatalogSpec(
            data / f"items-{n}.jsonl",
            format="generic",
            id_field="item_id",
            text_fields=("title",),
            category_field="categories",
        )
        train(config, root / f"tiny-{n}", data / f"emb-{n}.npy", catalog=spec)
        assign_run(root / f"tiny-{n}")
    return root


@pytest.mark.parametrize("n", SIZES)
def test_tiny_run_diagnoses_fully(tiny_root, n):
    run = tiny_root / f"tiny-{n}"
    diagnosis = diagnose_run(run)
    table = pd.read_parquet(run / "semantic_ids.parquet")
    codes = table[["code_0", "code_1", "code_2"]].to_numpy()
    assert diagnosis.n_items == n
    assert diagnosis.collisions.unique_id_ratio == len({tuple(c) for c in codes.tolist()}) / n
    for name in ("residuals", "geometry", "taxonomy", "mahalanobis"):
        assert diagnosis.available(name), getattr(diagnosis, name)
    if n == 1:
        assert diagnosis.coherence.reason == "no neighbours: the run has 1 item"
    else:
        # every other item is a neighbour when there are fewer than the 10 asked for
        assert diagnosis.coherence["k"].tolist() == [min(10, n - 1)] * 3
    document = diagnosis_to_json(diagnosis)
    assert json.loads(json.dumps(document, allow_nan=False)) == document


@pytest.mark.parametrize("n", SIZES)
def test_tiny_run_reports_and_the_cli_says_no_traceback(tiny_root, tmp_path, n):
    run = tiny_root / f"tiny-{n}"
    result = write_report([run], tmp_path / "report.html", tmp_path / "report.json")
    assert f"Run tiny-{n}" in (tmp_path / "report.html").read_text()
    assert json.loads((tmp_path / "report.json").read_text())["runs"][0]["run"]["n_items"] == n
    assert result.figures > 5
    cli = CliRunner().invoke(main, ["diagnose", str(run), "--no-umap"])
    assert cli.exit_code == 0, cli.output
    assert cli.exception is None and "Traceback" not in cli.output
    assert f"tiny-{n}: " in cli.output


def test_every_page_renders_every_tiny_run(tiny_root, monkeypatch):
    from dashboard import data

    monkeypatch.setenv("RQVAE_RUNS_DIR", str(tiny_root))
    data.clear_caches()
    names = [f"tiny-{n}" for n in SIZES]

    def open_page(page: str | None, focus: str) -> AppTest:
        app = AppTest.from_file(APP_PATH, default_timeout=300)
        app.session_state["selected_runs"] = names
        app.session_state["focus_run"] = focus
        if page is not None:
            app.switch_page(f"app_pages/{page}.py")
        app.run()
        assert not app.exception, (page, focus, [e.message for e in app.exception])
        return app

    runs_page = open_page(None, names[0])
    assert set(runs_page.dataframe[0].value["run"]) == set(names)
    for name in names:
        for page in SINGLE_RUN_PAGES:
            app = open_page(page, name)
            assert name in app.title[0].value
            assert not app.error, (page, name, [e.value for e in app.error])
    open_page("training_comparison", names[0])
    report = open_page("report", names[0])
    report.button(key="report_build").click().run()
    assert not report.exception, [e.message for e in report.exception]
    data.clear_caches()
