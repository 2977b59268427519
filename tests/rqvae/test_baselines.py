"""Baselines on a real slice of amazon-scientific: valid IDs, complete run folders, diagnostics."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from analysis.diagnosis.diagnose import diagnose_run
from analysis.diagnosis.results import Unavailable
from analysis.metrics.taxonomy import category_labels
from rqvae.baselines import BaselineSettings, train_baseline
from rqvae.baselines.faiss_rq import unpack_codes
from rqvae.data.catalog import CatalogSpec
from rqvae.errors import InputError
from rqvae.id_metrics import code_counts, perplexities
from rqvae.quantizers import assign_codes
from rqvae.quantizers.from_run import load_run_quantizer
from rqvae.runs.folder import Run
from rqvae.training.metrics_log import metric_keys

N_ITEMS, LEVELS, K = 800, 3, 16


@pytest.fixture(scope="module")
def real_slice(tmp_path_factory, scientific_dir: Path):
    """The first 800 items of amazon-scientific: catalog and embeddings."""
    folder = tmp_path_factory.mktemp("slice")
    embeddings = np.load(scientific_dir / "embeddings.minilm.npy")[:N_ITEMS]
    np.save(folder / "emb.npy", embeddings)
    with gzip.open(scientific_dir / "items.jsonl.gz", "rt") as handle:
        lines = [next(handle) for _ in range(N_ITEMS)]
    (folder / "items.jsonl").write_text("".join(lines))
    catalog = CatalogSpec(
        path=folder / "items.jsonl",
        format="generic",
        id_field="item_id",
        text_fields=("title",),
        category_field="categories",
    )
    return folder / "emb.npy", catalog


@pytest.fixture(scope="module")
def baseline_runs(tmp_path_factory, real_slice) -> dict[str, Path]:
    embeddings, catalog = real_slice
    root = tmp_path_factory.mktemp("baselines")
    variants = {
        "rq-kmeans": {},
        "rq-kmeans-balanced": {"balanced": True},
        "faiss-rq": {"beam": 3},
        "hkmeans": {},
        "category-prefix": {},
    }
    runs = {}
    for name, extra in variants.items():
        method = name.replace("-balanced", "")
        settings = BaselineSettings(method=method, levels=LEVELS, codebook_size=K, **extra)
        runs[name] = train_baseline(settings, root / name, embeddings, catalog)
    return runs


@pytest.mark.parametrize(
    "name", ["rq-kmeans", "rq-kmeans-balanced", "faiss-rq", "hkmeans", "category-prefix"]
)
def test_baseline_run_is_complete_and_diagnosable(baseline_runs, name):
    run = Run(baseline_runs[name])
    assert run.kind == "baseline"
    assert run.config["baseline"]["method"] == name.replace("-balanced", "")
    assert run.status()["state"] == "finished"
    ids = run.semantic_ids()
    codes = ids[[f"code_{level}" for level in range(LEVELS)]].to_numpy()
    assert codes.shape == (N_ITEMS, LEVELS)
    assert codes.min() >= 0 and codes.max() < K
    assert ids["sid"].is_unique  # the collision level makes every ID unique
    metrics = run.metrics()
    assert list(metrics.columns) == metric_keys(LEVELS) and len(metrics) == 1
    counts = code_counts(codes, [K] * LEVELS)
    assert metrics["perplexity_l0"].iloc[0] == pytest.approx(perplexities(counts)[0])

    diagnosis = diagnose_run(run.path, umap=False, coherence_queries=100)
    assert diagnosis.kind == "baseline"
    has_codebooks = name in ("rq-kmeans", "rq-kmeans-balanced", "faiss-rq")
    assert isinstance(diagnosis.residuals, Unavailable) != has_codebooks
    if not has_codebooks:
        assert "no codebooks" in diagnosis.residuals.reason
    assert not isinstance(diagnosis.taxonomy, Unavailable)


@pytest.mark.parametrize("name", ["rq-kmeans", "rq-kmeans-balanced"])
def test_stored_codebooks_reproduce_the_ids(baseline_runs, real_slice, name):
    """The stored quantizer's own nearest rule (with the Sinkhorn biases) gives the same IDs."""
    quantizer = load_run_quantizer(baseline_runs[name])
    codes = assign_codes(quantizer, np.load(real_slice[0]))
    stored = Run(baseline_runs[name]).semantic_ids()
    assert (codes == stored[[f"code_{i}" for i in range(LEVELS)]].to_numpy()).all()


def test_balanced_spreads_codes_more_evenly(baseline_runs):
    def spread(name):
        return Run(baseline_runs[name]).metrics()[[f"perplexity_l{i}" for i in range(LEVELS)]]

    plain, balanced = spread("rq-kmeans").iloc[0], spread("rq-kmeans-balanced").iloc[0]
    assert (balanced.to_numpy() > plain.to_numpy()).all()
    assert balanced.min() > 0.9 * K  # close to K equally used codes


def test_category_prefix_level_0_is_the_category(baseline_runs):
    run = Run(baseline_runs["category-prefix"])
    depth = run.config["baseline"]["first_category_depth"]
    items = run.items()
    labels = category_labels(list(items["categories"]), depth)
    code_0 = run.semantic_ids()["code_0"].to_numpy()
    names, counts = np.unique(labels[labels != "(none)"], return_counts=True)
    ranked = sorted(zip(names, counts, strict=True), key=lambda pair: (-pair[1], pair[0]))
    assert len(ranked) > K  # this slice has more categories than codes: overflow is tested
    # the K - 1 most frequent categories get codes 0..K-2 in that order; the rest are split
    # by content into the codes left
    for code, (label, _) in enumerate(ranked[: K - 1]):
        assert (code_0[labels == label] == code).all()
    named = np.isin(labels, [label for label, _ in ranked[: K - 1]])
    assert (code_0[~named] == K - 1).all()  # one code left for the overflow at this K


def test_faiss_codes_unpack_to_faiss_reconstruction(real_slice):
    import faiss

    x = np.load(real_slice[0])[:500]  # faiss trains a PCA first: needs n >= dim
    quantizer = faiss.ResidualQuantizer(x.shape[1], 2, 4)
    quantizer.cp.min_points_per_centroid = 1
    quantizer.train(x)
    packed = quantizer.compute_codes(x)
    codes = unpack_codes(packed, 2, 4)
    codebooks = faiss.vector_to_array(quantizer.codebooks).reshape(2, 16, -1)
    ours = codebooks[0][codes[:, 0]] + codebooks[1][codes[:, 1]]
    np.testing.assert_allclose(ours, quantizer.decode(packed), atol=1e-5)


def test_settings_refuse_flags_of_other_methods():
    with pytest.raises(InputError, match="--balanced applies to rq-kmeans"):
        BaselineSettings(method="hkmeans", balanced=True)
    with pytest.raises(InputError, match="--beam applies to faiss-rq"):
        BaselineSettings(method="rq-kmeans", beam=3)


def test_cli_train_method(tmp_path, real_slice):
    from cli.main import main

    embeddings, catalog = real_slice
    flags = [
        "--embeddings", str(embeddings), "--catalog", str(catalog.path), "--id-field", "item_id",
        "--text-fields", "title", "--category-field", "categories", "--levels", "2",
        "--codebook-size", "8",
    ]  # fmt: skip
    runner = CliRunner()
    out = tmp_path / "hk"
    result = runner.invoke(main, ["train", "--method", "hkmeans", *flags, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["baseline"]["method"] == "hkmeans"
    bad = runner.invoke(main, ["train", "--beam", "3", *flags, "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--beam" in bad.output


def test_nearest_codewords_bias_by_hand():
    from rqvae.quantizers import nearest_codewords

    residual = np.array([[0.0], [2.0]])
    codebook = np.array([[-1.0], [1.2]])
    # squared distances: item 0 -> 1.0, 1.44; item 1 -> 9.0, 0.64
    assert nearest_codewords(residual, codebook).tolist() == [0, 1]
    # a cost of 0.5 on code 0 makes item 0 prefer code 1 (1.5 > 1.44); item 1 unchanged
    assert nearest_codewords(residual, codebook, bias=np.array([0.5, 0.0])).tolist() == [1, 1]
