"""Same inputs, same IDs, metrics and diagnosis: the pinned run (IDs and counts bit for bit,
floats to a stated relative tolerance; see pinned_run.py)."""

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
    from rqvae.data.catalog import CatalogSpec
    from rqvae.ids.assign import assign_run
    from rqvae.model.config import ModelConfig, RunConfig, TrainConfig
    from rqvae.training.train import train

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
    """Every metric as recorded: counts bit for bit, floats to ``FLOAT_RTOL`` relative (the
    trainer's ``perplexity_l*`` now sums ``-p ln p`` in another order, and float32 training on
    another CPU changes the last bits of the losses)."""
    recorded = json.loads(PINNED_FILE.read_text())
    assert differences(recorded["metrics"], current["metrics"], "metrics") == []


def test_diagnosis_is_the_recorded_one(current):
    """Every value of the diagnosis JSON as recorded: counts and strings bit for bit, floats to
    ``FLOAT_RTOL`` relative (the taxonomy's information scores add the same terms in another
    order since issue 12; the weights, trained in float32, depend on the CPU's kernels)."""
    recorded = json.loads(PINNED_FILE.read_text())
    assert differences(recorded["diagnosis"], current["diagnosis"], "diagnosis") == []


def test_differences_tolerates_only_last_bits_of_floats():
    shrinkage = 0.057646156254681856
    assert differences({"s": shrinkage}, {"s": 0.057646156254683584}) == []  # another BLAS
    assert differences({"d": 0.019742228269269715}, {"d": 0.0197422198471157}) == []  # float32
    assert differences({"s": shrinkage}, {"s": shrinkage * (1 + 1e-4)}) != []  # a real change
    assert differences({"n": 3}, {"n": 4}) != [] and differences({"n": 3}, {"n": 3.0}) != []
    assert differences({"x": 0.0}, {"x": 1e-12}) == [] and differences(["a"], ["b"]) != []
