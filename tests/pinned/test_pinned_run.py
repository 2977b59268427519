"""Same inputs, same IDs, metrics and diagnosis: the pinned run, bit for bit (see pinned_run.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.pinned.pinned_run import (
    PINNED_FILE,
    differences,
    model_settings,
    snapshot,
    train_settings,
    write_slice,
)


def build(scientific_dir: Path, folder: Path) -> dict:
    """Train, assign and diagnose the pinned run in ``folder``; returns its snapshot."""
    from analysis.diagnosis.diagnose import diagnose_run
    from analysis.diagnosis.to_json import diagnosis_to_json
    from rqvae.assign import assign_run
    from rqvae.catalog import CatalogSpec
    from rqvae.config import ModelConfig, RunConfig, TrainConfig
    from rqvae.train import train

    catalog, embeddings = write_slice(scientific_dir, folder)
    spec = CatalogSpec(
        path=catalog,
        format="generic",
        id_field="item_id",
        text_fields=("title",),
        category_field="categories",
    )
    config = RunConfig(model=ModelConfig(**model_settings()), train=TrainConfig(**train_settings()))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_dir = train(config, folder / "pinned", embeddings, catalog=spec)
        # recorded before the collision-aware last level existed: the nearest-codeword IDs
        assign_run(run_dir, last_level="nearest")
    finally:
        torch.set_num_threads(threads)
    diagnosis = diagnose_run(run_dir, umap=False)
    return snapshot(run_dir, json.loads(json.dumps(diagnosis_to_json(diagnosis))))


@pytest.fixture(scope="module")
def current(tmp_path_factory, scientific_dir) -> dict:
    return build(scientific_dir, tmp_path_factory.mktemp("pinned"))


def test_ids_are_the_recorded_ones(current):
    recorded = json.loads(PINNED_FILE.read_text())
    assert current["item_ids_sha"] == recorded["item_ids_sha"]
    assert current["codes"] == recorded["codes"]
    assert current["collision"] == recorded["collision"]
    assert current["sid_sha"] == recorded["sid_sha"]


def test_metrics_are_the_recorded_ones(current):
    """Every metric bit for bit, except ``perplexity_l*`` to 1e-12 relative: the trainer now
    takes it from :func:`rqvae.id_metrics.entropy_nats`, the diagnostics' definition, which sums
    ``-p ln p`` over the used codes where the trainer's own copy summed over all K codes (zeros
    included). Same number, added in another order; the last bit may differ."""
    recorded = json.loads(PINNED_FILE.read_text())
    found = differences(recorded["metrics"], current["metrics"], "metrics")
    for line in found:
        assert ".perplexity_l" in line, line
    for old, new in zip(recorded["metrics"], current["metrics"], strict=True):
        for key in (k for k in old if k.startswith("perplexity_l")):
            assert new[key] == pytest.approx(old[key], rel=1e-12, abs=0)


SCORE_FIELDS = ("nmi", "homogeneity", "completeness", "v_measure")


def test_diagnosis_is_the_recorded_one(current):
    """Every value bit for bit, except the taxonomy's information scores to 1e-12 relative:
    they are now counted without renumbering codes and categories by first appearance (issue
    12, ten million items), so the same mutual-information terms are added in another order
    and the last bit may differ."""
    recorded = json.loads(PINNED_FILE.read_text())
    found = differences(recorded["diagnosis"], current["diagnosis"], "diagnosis")
    for line in found:
        field = line.split(":")[0].rsplit(".", 1)[-1]
        assert ".taxonomy.scores[" in line and field in SCORE_FIELDS, line
    old_scores = recorded["diagnosis"]["diagnostics"]["taxonomy"]["scores"]
    new_scores = current["diagnosis"]["diagnostics"]["taxonomy"]["scores"]
    for old, new in zip(old_scores, new_scores, strict=True):
        for key in SCORE_FIELDS:
            assert new[key] == pytest.approx(old[key], rel=1e-12, abs=1e-15)
