"""diagnose_run on real run folders: an imported run without checkpoint and a trained run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.diagnose import Unavailable, diagnose_run
from analysis.diagnosis_json import purity_summary
from analysis.run_model import NO_CHECKPOINT_IMPORTED
from analysis.source import RunData
from tests.reference_ids import load_tokens, tokens_to_codes

CHECKPOINT_DIAGNOSTICS = ("residuals", "geometry", "mahalanobis")
DIAGNOSTIC_KEYS = {
    "usage",
    "entropy",
    "collisions",
    "residuals",
    "geometry",
    "taxonomy",
    "coherence",
    "mahalanobis",
}


def test_imported_run_marks_checkpoint_diagnostics_unavailable(letter_run, scientific_dir):
    diagnosis = diagnose_run(letter_run, umap=False)
    for name in CHECKPOINT_DIAGNOSTICS:
        value = getattr(diagnosis, name)
        assert isinstance(value, Unavailable)
        assert value.reason == NO_CHECKPOINT_IMPORTED
    # Everything that needs only codes, categories and embeddings still runs.
    assert diagnosis.available("taxonomy") and diagnosis.available("coherence")
    codes = tokens_to_codes(load_tokens(scientific_dir, "letter_native"))
    distinct = len({tuple(row) for row in codes.tolist()})
    assert diagnosis.collisions.unique_id_ratio == pytest.approx(distinct / 4344)
    assert diagnosis.usage.counts.sum(axis=1).tolist() == [4344] * 4
    assert diagnosis.kind == "imported" and diagnosis.checkpoint is None
    # The colliding items are named by title.
    assert all(
        len(t) == s
        for t, s in zip(
            diagnosis.collisions.largest_groups["titles"],
            diagnosis.collisions.largest_groups["size"],
            strict=True,
        )
    )


def test_json_is_strict_and_stable(letter_run):
    document = diagnose_run(letter_run, umap=False).to_json()
    text = json.dumps(document, allow_nan=False)  # no NaN or inf slipped through
    assert json.loads(text) == document
    assert set(document) == {"schema", "run", "verdict", "diagnostics", "timings_s"}
    assert set(document["diagnostics"]) == DIAGNOSTIC_KEYS
    residuals = document["diagnostics"]["residuals"]
    assert residuals == {"available": False, "reason": NO_CHECKPOINT_IMPORTED}
    assert document["verdict"]["severity"] == "warning"
    assert [f["code"] for f in document["verdict"]["findings"]] == ["dead_codes"]


def test_run_without_embeddings_or_categories(mql_run, tmp_path):
    diagnosis = diagnose_run(mql_run, umap=False)
    assert diagnosis.coherence.reason.startswith("no embeddings")
    assert diagnosis.verdict == "error"  # one first-level code for every item
    assert diagnosis.findings[0].code == "collapsed_level"
    assert diagnosis.available("taxonomy")


def test_catalog_without_categories_marks_taxonomy_unavailable(tmp_path, scientific_dir):
    from analysis.external import import_ids
    from rqvae.catalog import CatalogSpec

    catalog = tmp_path / "items.csv"
    catalog.write_text("item_id,title\n" + "".join(f"{i},item {i}\n" for i in range(4344)))
    run = import_ids(
        scientific_dir / "reference_ids" / "letter_native" / "Scientific.index.json",
        tmp_path / "letter-no-categories",
        catalog=CatalogSpec(path=catalog, format="generic"),
    )
    diagnosis = diagnose_run(run, umap=False)
    assert isinstance(diagnosis.taxonomy, Unavailable)
    assert "categor" in diagnosis.taxonomy.reason
    assert diagnosis.available("usage") and diagnosis.available("collisions")


@pytest.mark.slow
def test_trained_run_diagnoses_fully(trained_run):
    diagnosis = diagnose_run(trained_run, umap=False)
    for name in DIAGNOSTIC_KEYS:
        assert diagnosis.available(name), f"{name}: {getattr(diagnosis, name)}"
    assert diagnosis.checkpoint_agreement == 1.0  # IDs were assigned from this checkpoint
    residuals = diagnosis.residuals
    assert residuals.n_items == diagnosis.n_items
    assert set(residuals.reconstruction["space"]) == {"latent", "input", "input_unquantized"}
    # Geometry carries the run's usage, and every item is counted once per level.
    codewords = diagnosis.geometry.codewords
    assert codewords.groupby("level")["count"].sum().tolist() == [diagnosis.n_items] * 3
    comparison = diagnosis.mahalanobis
    assert comparison.summary["assignment"].tolist() == ["euclidean", "mahalanobis"]
    assert 0 <= comparison.n_changed <= diagnosis.n_items
    euclidean = comparison.summary.set_index("assignment").loc["euclidean"]
    assert euclidean["input_mse"] == pytest.approx(
        residuals.reconstruction.set_index("space").loc["input", "mse"], rel=1e-5
    )
    # Purity of the model's own IDs equals the taxonomy diagnostic's (same IDs, same depth).
    summary = purity_summary(diagnosis.taxonomy.purity).set_index(["prefix_length", "depth"])
    euclidean_levels = comparison.levels[comparison.levels["assignment"] == "euclidean"]
    for level, purity in zip(euclidean_levels["level"], euclidean_levels["purity"], strict=True):
        if level + 1 in summary.index.get_level_values(0):
            expected = summary.loc[(level + 1, comparison.category_depth), "purity"]
            assert purity == pytest.approx(expected)
    json.dumps(diagnosis.to_json(), allow_nan=False)


@pytest.mark.slow
def test_residuals_match_the_model_directly(trained_run):
    """The streamed statistics equal a direct computation with the model on all items."""
    import torch

    from analysis.run_model import load_run_model, run_embeddings

    data = RunData.load(trained_run)
    model, _ = load_run_model(data.run)
    embeddings = run_embeddings(data)
    x = torch.from_numpy(embeddings[0 : len(embeddings)].astype(np.float32))
    with torch.no_grad():
        z = model.encode(x)
        quantized = model.quantizer.quantize(z)
        x_hat = model.decode(quantized.quantized)
    diagnosis = diagnose_run(trained_run, umap=False, chunk_size=1000)
    np.testing.assert_array_equal(quantized.codes.numpy(), data.codes)
    residual_after = (
        quantized.residuals[:, -1] - model.quantizer.codebooks[-1][quantized.codes[:, -1]]
    )
    levels = diagnosis.residuals.levels
    assert levels["mean_norm"].iloc[-1] == pytest.approx(
        residual_after.norm(dim=1).mean().item(), rel=1e-4
    )
    spaces = diagnosis.residuals.reconstruction.set_index("space")
    assert spaces.loc["input", "mse"] == pytest.approx(((x - x_hat) ** 2).mean().item(), rel=1e-4)


@pytest.mark.slow
def test_corrupt_checkpoint_is_reported_not_raised(trained_run, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    for checkpoint in (broken / "checkpoints").glob("*.safetensors"):
        checkpoint.write_bytes(checkpoint.read_bytes()[:100])  # truncated
    diagnosis = diagnose_run(broken, umap=False)
    for name in CHECKPOINT_DIAGNOSTICS:
        assert isinstance(getattr(diagnosis, name), Unavailable)
        assert "safetensors" in getattr(diagnosis, name).reason
    assert diagnosis.available("usage") and diagnosis.available("coherence")
