"""A real run grown by ``rqvae extend``: the diagnosis, the report and the verdict see every
item, read each new item's embedding from the extension, and flag new items that do not fit.

An rq-kmeans run on the first 4,000 items of amazon-scientific is extended (with the catalog)
by the other 344: the same distribution, so "extend". A copy is extended by 300 Debian
packages instead: another domain, which the fit report and ``new_items_drift`` must flag.
"""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from analysis.diagnosis.churn import run_churn
from analysis.diagnosis.diagnose import diagnose_run
from analysis.diagnosis.run_findings import run_findings
from analysis.diagnosis.scorecard import best_runs, scorecard
from analysis.presentation.report_sections import generation_blocks
from analysis.reading.generations import run_generations
from analysis.reading.run_data import RunData
from rqvae.data.catalog import CatalogSpec
from rqvae.ids.extend import extend_run
from rqvae.ids.fit import DRIFT_SHARE
from rqvae.runs.folder import Run

BASE = 4_000
DEBIAN = 300


def write_slice(folder: Path, name: str, embeddings: np.ndarray, lines: list[str]) -> tuple:
    np.save(folder / f"{name}.npy", np.ascontiguousarray(embeddings))
    with gzip.open(folder / f"{name}.jsonl.gz", "wt") as handle:
        handle.writelines(lines)
    return folder / f"{name}.npy", folder / f"{name}.jsonl.gz"


def spec(path: Path) -> CatalogSpec:
    return CatalogSpec(
        path, format="generic", id_field="item_id", text_fields=("title",),
        category_field="categories",
    )  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory, scientific_dir, debian_dir) -> dict:
    from rqvae.baselines import BaselineSettings, train_baseline

    folder = tmp_path_factory.mktemp("grown")
    embeddings = np.load(scientific_dir / "embeddings.minilm.npy")
    with gzip.open(scientific_dir / "items.jsonl.gz", "rt") as handle:
        lines = handle.readlines()
    base = write_slice(folder, "base", embeddings[:BASE], lines[:BASE])
    rest = write_slice(folder, "rest", embeddings[BASE:], lines[BASE:])
    debian_embeddings = np.load(debian_dir / "embeddings.minilm.npy", mmap_mode="r")[:DEBIAN]
    with gzip.open(debian_dir / "items.jsonl.gz", "rt") as handle:
        records = [json.loads(line) for line in itertools.islice(handle, DEBIAN)]
    # Debian's item ids are numbers like the products' (package "2048" is not product 2048)
    debian_lines = [json.dumps({**r, "item_id": f"debian:{r['title']}"}) + "\n" for r in records]
    debian = write_slice(folder, "debian", debian_embeddings, debian_lines)

    settings = BaselineSettings(method="rq-kmeans", levels=3, codebook_size=32, seed=0)
    original = train_baseline(settings, folder / "original", base[0], spec(base[1]))
    grown = shutil.copytree(original, folder / "grown")
    extend_run(grown, rest[0], catalog=spec(rest[1]))
    drifted = shutil.copytree(original, folder / "drifted")
    extend_run(drifted, debian[0], catalog=spec(debian[1]))
    return {"grown": grown, "drifted": drifted, "embeddings": embeddings}


def test_a_grown_run_is_diagnosed_over_every_item(runs):
    diagnosis = diagnose_run(runs["grown"], umap=False, cache=False)
    assert diagnosis.n_items == 4_344
    assert diagnosis.residuals.n_items == 4_344  # the model pass read every embedding
    assert diagnosis.available("coherence") and diagnosis.available("mahalanobis")
    # the IDs are what the assignment and then the extension write from this quantizer
    assert diagnosis.checkpoint_agreement == 1.0
    assert "new_items_drift" not in [finding.code for finding in diagnosis.run_findings]

    data = RunData.load(runs["grown"])
    rows = np.array([0, 3_999, 4_000, 4_343])
    np.testing.assert_array_equal(data.embeddings()[rows], runs["embeddings"][rows])
    assert data.generation.tolist() == [0] * BASE + [1] * 344
    assert data.titles[4_343] == data.items["title"].iloc[4_343]  # the catalog grew too


def test_generations_and_the_report_section(runs):
    generations = run_generations(runs["grown"])
    assert generations.table["generation"].tolist() == [0, 1]
    assert generations.table["items"].tolist() == [BASE, 344]
    fit = generations.latest["fit"]
    assert fit["reference"] == {"items": BASE, "of": BASE}
    # same catalog, same distribution: about 5 % above the originals' 95th percentile
    assert fit["quantization_error"]["share_above_reference_p95"] < DRIFT_SHARE
    assert fit["recommendation"] == "extend", fit["checks"]
    levels = generations.fit_levels
    assert levels["measure"].tolist() == [
        "level 0 distance",
        "level 1 distance",
        "level 2 distance",
        "quantization error",
    ]
    html = "".join(block.html or "" for block in generation_blocks(_diagnosis_of(runs["grown"])))
    assert "Catalogue growth" in html and "<b>extend</b>" in html
    assert run_generations(Run(runs["grown"]).path.parent / "original") is None


def test_items_from_another_domain_are_flagged(runs):
    fit = run_generations(runs["drifted"]).latest["fit"]
    share = fit["quantization_error"]["share_above_reference_p95"]
    assert share >= DRIFT_SHARE and fit["recommendation"] == "retrain"
    findings = [f for f in run_findings(Run(runs["drifted"])) if f.code == "new_items_drift"]
    assert len(findings) == 1
    finding = findings[0]
    assert finding.severity == "warning" and finding.threshold == DRIFT_SHARE
    assert finding.value == pytest.approx(
        max(share, *[level["share_above_reference_p95"] for level in fit["levels"]]), rel=1e-12
    )
    assert "300 items extension 1 added" in finding.message
    # issue 21: it says what to do and where the evidence is
    assert finding.advice.startswith("Retrain on the grown catalogue")
    assert finding.page == "IDs and collisions"


def test_scorecard_rows_of_the_generations(runs):
    diagnosis = diagnose_run(runs["grown"], umap=False, cache=True)
    card = scorecard(diagnosis)
    fit = run_generations(runs["grown"]).latest["fit"]
    assert card["generations"].value == 2
    assert card["generations"].text == "2: 4,000 + 344 items"
    assert card["new_items_share"].value == pytest.approx(344 / 4_344, rel=1e-12)
    share = fit["quantization_error"]["share_above_reference_p95"]
    assert card["new_items_error_above_p95"].value == pytest.approx(share, rel=1e-12)
    level_shares = [level["share_above_reference_p95"] for level in fit["levels"]]
    worst = max(level_shares)
    assert card["new_items_distance_above_p95"].value == pytest.approx(worst, rel=1e-12)
    assert card["new_items_distance_above_p95"].text.endswith(
        f"(level {level_shares.index(worst)})"
    )
    assert card["extend_recommendation"].value == "extend"
    assert list(card)[-1] == "verdict"  # the growth rows sit before the verdict

    drifted = scorecard(diagnose_run(runs["drifted"], umap=False, cache=True))
    assert drifted["extend_recommendation"].value == "retrain"
    assert drifted["new_items_error_above_p95"].value >= DRIFT_SHARE
    # lower is better: the grown run's new items fit, the drifted one's do not
    assert best_runs({"grown": card, "drifted": drifted})["new_items_error_above_p95"] == ["grown"]


def test_churn_from_the_original_to_the_grown_run(runs):
    original = Run(runs["grown"]).path.parent / "original"
    result = run_churn(original, runs["grown"])
    assert (result.items_common, result.items_only_b) == (BASE, 344)
    assert result.churn.levels["raw_changed"].tolist() == [0, 0, 0]  # no existing ID moved
    # config.json describes the original catalog only: no "different catalogs" warning
    assert result.same_data is None
    assert "different_catalogs" not in [finding.code for finding in result.findings]


def _diagnosis_of(run_dir: Path):
    class Stub:  # the section reads the run folder only
        pass

    stub = Stub()
    stub.run_dir = Path(run_dir)
    return stub


def test_json_of_the_history_is_strict(runs):
    document = json.loads((runs["grown"] / "extensions.json").read_text())
    assert document["schema"] == "rqvae-extensions/1"
    assert document["base"] == {"items": BASE, "catalog_items": BASE}
