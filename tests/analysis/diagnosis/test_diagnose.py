"""diagnose_run on real run folders: an imported run without checkpoint and a trained run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf

from analysis.diagnosis.diagnose import DEFERRED, STAGES, diagnose_run
from analysis.diagnosis.lanes import StageBoard
from analysis.diagnosis.results import Unavailable
from analysis.diagnosis.to_json import diagnosis_to_json
from analysis.metrics.taxonomy import purity_by_prefix_length
from analysis.presentation.labels import last_level_note
from analysis.reading.run_data import RunData
from rqvae.quantizers import assign_codes
from rqvae.quantizers.from_run import NO_CHECKPOINT_IMPORTED, load_run_quantizer
from rqvae.runs.semantic_ids import read_ids_source
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


LITERATURE_KEYS = ("concentration", "structure", "neighbourhood", "robustness")


def test_stage_board_tells_what_both_lanes_run():
    reports = []
    board = StageBoard(lambda *told: reports.append(told))
    board.start("usage")
    board.finish("usage")  # nothing runs: the next start says what does
    board.start("model_pass")
    board.start("coherence")  # the second lane
    board.finish("model_pass")
    board.finish("coherence")
    step = 1 / len(STAGES)
    assert reports == [
        ("usage", 0.0),
        ("model_pass", step),
        ("model_pass + coherence", step),
        ("coherence", 2 * step),
    ]
    StageBoard(None).start("usage")  # no callback: nothing to tell


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
    assert [int(level.sum()) for level in diagnosis.usage.counts] == [4344] * 4
    assert diagnosis.kind == "imported-ids" and diagnosis.checkpoint is None
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
    document = diagnosis_to_json(diagnose_run(letter_run, umap=False))
    text = json.dumps(document, allow_nan=False)  # no NaN or inf slipped through
    assert json.loads(text) == document
    assert set(document) == {"schema", "run", "verdict", "diagnostics", "timings_s"}
    new_keys = {"input_geometry", "latent_geometry", "behaviour", "popularity"}  # issue 13
    new_keys |= {"source_ids"}  # issue 9: raw vs a codebase's own IDs
    new_keys |= set(LITERATURE_KEYS)  # issue 22
    assert set(document["diagnostics"]) == DIAGNOSTIC_KEYS | new_keys
    assert not document["diagnostics"]["source_ids"]["available"]  # imported IDs have none
    residuals = document["diagnostics"]["residuals"]
    assert residuals == {"available": False, "reason": NO_CHECKPOINT_IMPORTED}
    assert document["verdict"]["severity"] == "warning"
    assert [f["code"] for f in document["verdict"]["findings"]] == ["dead_codes"]


def test_run_without_embeddings(mql_run, scientific_dir):
    diagnosis = diagnose_run(mql_run, umap=False)
    assert diagnosis.coherence.reason.startswith("no embeddings")
    assert diagnosis.available("taxonomy")  # the catalog still has categories
    # Levels using fewer than 5 % of the 256 codes, counted from the raw tokens, are exactly
    # the collapsed ones (MQL4GRec: 1, 8, 10 and 229 codes per level).
    tokens = load_tokens(scientific_dir, "mql4grec").values()
    used = [len({path[level] for path in tokens}) for level in range(4)]
    collapsed = [level for level, n in enumerate(used) if n < 0.05 * 256]
    assert collapsed == [0, 1, 2]
    assert diagnosis.verdict == "error"
    assert [(f.code, f.severity, f.level) for f in diagnosis.findings] == [
        ("collapsed_level", "error", level) for level in collapsed
    ]


def test_catalog_without_categories_marks_taxonomy_unavailable(tmp_path, scientific_dir):
    from rqvae.data.catalog import CatalogSpec
    from rqvae.importers.import_ids import import_ids

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
    reports = []
    diagnosis = diagnose_run(trained_run, umap=False, progress=lambda *told: reports.append(told))
    for name in DIAGNOSTIC_KEYS:
        assert diagnosis.available(name), f"{name}: {getattr(diagnosis, name)}"
    # the progress names the stages of both lanes, the embedding lane's included
    told = {stage for running, _ in reports for stage in running.split(" + ")}
    assert told == set(diagnosis.timings)
    assert {"coherence", "input_geometry", "mahalanobis", "model_pass"} <= told
    assert {"neighbourhood", "robustness", "concentration", "structure"} <= told
    fractions = [fraction for _, fraction in reports]
    assert fractions == sorted(fractions) and fractions[0] >= 0 and fractions[-1] < 1
    # IDs were assigned from this checkpoint, with the collision-aware last level: the
    # checkpoint's codes after the same move are exactly the stored ones
    assert diagnosis.checkpoint_agreement == 1.0
    source = read_ids_source(trained_run / "semantic_ids.parquet")
    assert diagnosis.last_level == {
        "rule": "balanced",
        "moved": source["last_level_moved"],
        "left_colliding": source["last_level_left_colliding"],
        "extra_cost_mean": source["last_level_extra_cost_mean"],
    }
    assert diagnosis.last_level["moved"] > 0  # 32 codes per level after 2 epochs: collisions
    note = last_level_note(diagnosis.last_level, diagnosis.n_items)
    assert f"{diagnosis.last_level['moved']:,} of {diagnosis.n_items:,} items" in note
    assert diagnosis_to_json(diagnosis)["run"]["last_level"] == diagnosis.last_level
    residuals = diagnosis.residuals
    assert residuals.n_items == diagnosis.n_items
    assert set(residuals.reconstruction["space"]) == {"latent", "input", "input_unquantized"}
    # Geometry carries the run's usage, and every item is counted once per level.
    codewords = diagnosis.geometry.codewords
    assert codewords.groupby("level")["count"].sum().tolist() == [diagnosis.n_items] * 3
    comparison = diagnosis.mahalanobis
    assert comparison.summary["assignment"].tolist() == ["euclidean", "mahalanobis"]
    euclidean = comparison.summary.set_index("assignment").loc["euclidean"]
    assert euclidean["input_mse"] == pytest.approx(
        residuals.reconstruction.set_index("space").loc["input", "mse"], rel=1e-5
    )
    # Purity of the model's own IDs equals the taxonomy diagnostic's (same IDs, same depth) at
    # the prefix lengths the node table holds (1 and 2 of 3 levels).
    summary = purity_by_prefix_length(diagnosis.taxonomy.purity).set_index(
        ["prefix_length", "depth"]
    )
    euclidean_levels = comparison.levels[comparison.levels["assignment"] == "euclidean"]
    purity = euclidean_levels.set_index("level")["purity"]
    for level in (0, 1):
        expected = summary.loc[(level + 1, comparison.category_depth), "purity"]
        assert purity[level] == pytest.approx(expected)
    json.dumps(diagnosis_to_json(diagnosis), allow_nan=False)
    # issue 21: the geometry rules stay silent on a healthy run, every finding says what to do
    assert diagnosis.latent_geometry.effective_rank > 1.5
    codes = {finding.code for finding in diagnosis.findings}
    assert not codes & {"residual_growing", "duplicate_codewords", "latent_rank_collapse"}
    for finding in [*diagnosis.findings, *diagnosis.run_findings]:
        assert finding.advice and finding.page, finding
    document = diagnosis_to_json(diagnosis)
    for entry in document["verdict"]["findings"]:
        assert entry["advice"] and entry["page"]
    conclusion = document["diagnostics"]["mahalanobis"]["conclusion"]
    assert conclusion["more_distinct"] in ("euclidean", "mahalanobis", "neither")
    assert conclusion["text"].endswith(".")
    check_robustness(trained_run, diagnosis.robustness)


def check_robustness(run_dir, robustness) -> None:
    """The robustness diagnostic repeats its documented recipe: all 4,344 items (fewer than the
    10,000 sample), sigma the RMS per-dimension std, eps from default_rng(seed + 1)."""
    data = RunData.load(run_dir)
    quantizer = load_run_quantizer(data.run)
    x = np.asarray(data.embeddings()[0 : data.n_items], dtype=np.float32)
    sigma = np.sqrt(x.astype(np.float64).var(axis=0).mean())
    assert robustness.sigma == pytest.approx(sigma, rel=1e-9)
    assert (robustness.items, robustness.n_items, robustness.seed) == (4344, 4344, 0)
    eps = np.random.default_rng(1).standard_normal(x.shape, dtype=np.float32)
    clean = assign_codes(quantizer, x)
    levels = robustness.levels
    shares = []
    for scale in (0.05, 0.1, 0.2):
        noisy = assign_codes(quantizer, x + np.float32(scale * sigma) * eps)
        rows = levels[levels["scale"] == scale].sort_values("level")
        assert rows["changed_share"].tolist() == (noisy != clean).mean(axis=0).tolist()
        shares.append(rows["prefix_changed_share"].to_numpy())
        # the prefix changes at least as often as any of its levels, and more often deeper
        assert (np.diff(shares[-1]) >= 0).all()
        assert (rows["prefix_changed_share"] >= rows["changed_share"]).all()
    assert (shares[0] < shares[2]).all()  # four times the noise moves more items
    assert (levels["effective_codebook_size"] <= levels["perplexity"] + 1e-9).all()


@pytest.mark.slow
def test_mahalanobis_changes_equal_an_independent_reassignment(trained_run):
    """n_changed and the changed items, against a plain recomputation: latents from the model,
    scikit-learn's Ledoit-Wolf covariance of each level's residuals and brute-force
    (r - c)^T S^-1 (r - c) distances, compared with the nearest codewords."""
    data = RunData.load(trained_run)
    quantizer = load_run_quantizer(data.run)
    z = quantizer.encode(np.asarray(data.embeddings()[0 : data.n_items])).astype(np.float64)
    residual, codes = z.copy(), []
    for codebook in quantizer.codebooks:
        precision = np.linalg.inv(LedoitWolf().fit(residual).covariance_)
        difference = residual[:, None, :] - codebook.astype(np.float64)[None]  # (n, K, D)
        distances = np.einsum("nkd,de,nke->nk", difference, precision, difference)
        chosen = distances.argmin(axis=1)
        codes.append(chosen)
        residual = residual - codebook[chosen]
    expected = np.stack(codes, axis=1)
    # against the quantizer's own nearest codewords: the stored IDs carry the collision-aware
    # last level, which neither assignment rule has
    nearest = assign_codes(quantizer, data.embeddings()[0 : data.n_items])
    changed = np.flatnonzero((expected != nearest).any(axis=1))
    comparison = diagnose_run(trained_run, umap=False).mahalanobis
    assert comparison.n_changed == len(changed) > 0
    assert comparison.changed["item_id"].tolist() == data.item_ids[changed[:200]].tolist()


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


def test_literature_diagnostics_of_imported_runs(letter_run, mql_run):
    """Issue 22 on IDs-only runs: concentration and structure always; the neighbourhood lists
    when the run has embeddings; robustness never (no quantizer)."""
    letter = diagnose_run(letter_run, umap=False)
    document = diagnosis_to_json(letter)["diagnostics"]
    assert document["robustness"] == {"available": False, "reason": NO_CHECKPOINT_IMPORTED}
    neighbourhood = document["neighbourhood"]
    assert set(neighbourhood["jaccard_at_k"]) == set(neighbourhood["rbo_at_k"]) == {"10", "20"}
    # the coherence diagnostic's query sample, stated
    assert neighbourhood["queries"] == int(letter.coherence["queries"].iloc[0]) == 1000
    assert (neighbourhood["n_items"], neighbourhood["sampled"]) == (4344, True)
    assert neighbourhood["rbo_persistence"] == 0.9
    assert all(0 < value < 1 for value in neighbourhood["jaccard_at_k"].values())
    concentration = document["concentration"]
    assert [row["level"] for row in concentration["levels"]] == [0, 1, 2, 3]
    assert concentration["largest_collision_group"] == letter.collisions.largest_group
    assert [row["active_prefixes"] for row in document["structure"]["levels"]] == (
        letter.collisions.prefixes["distinct"].tolist()
    )

    mql = diagnose_run(mql_run, umap=False)  # no embeddings
    assert mql.neighbourhood.reason.startswith("no embeddings")
    assert mql.available("concentration") and mql.available("structure")
    # MQL4GRec's level 0 uses one code: it holds every item.
    assert mql.concentration["top1_mass"][0] == 1.0
    assert mql.structure.levels["fanout_max"][0] == 1


def test_id_only_diagnosis_defers_what_needs_embeddings_or_a_quantizer(letter_run):
    diagnosis = diagnose_run(letter_run, umap=False, model=False)
    assert diagnosis.neighbourhood.reason == DEFERRED
    assert diagnosis.robustness.reason == DEFERRED
    assert diagnosis.available("concentration") and diagnosis.available("structure")
    assert {"concentration", "structure"} <= set(diagnosis.timings)
