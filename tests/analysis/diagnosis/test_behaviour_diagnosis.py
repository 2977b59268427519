"""The embedding and behaviour diagnostics inside a full diagnosis, its JSON and run churn."""

from __future__ import annotations

import json

import pytest

from analysis.diagnosis.churn import run_churn
from analysis.diagnosis.diagnose import diagnose_run
from analysis.diagnosis.to_json import diagnosis_to_json
from analysis.metrics.health import HealthThresholds
from tests.run_copies import permuted_copy


@pytest.fixture(scope="module")
def sequences(scientific_dir):
    return scientific_dir / "sequences.jsonl.gz"


@pytest.fixture(scope="module")
def trained_diagnosis(trained_run, sequences):
    return diagnose_run(
        trained_run,
        HealthThresholds(anisotropy_warning=0.1),
        umap=False,
        sequences=sequences,
        coherence_queries=200,
    )


def test_trained_run_has_all_four_diagnostics(trained_diagnosis, trained_run):
    d = trained_diagnosis
    for name in ("input_geometry", "latent_geometry", "behaviour", "popularity"):
        assert d.available(name), getattr(d, name)
    assert d.input_geometry.dim == 384 and d.input_geometry.n_items == 4344
    assert d.latent_geometry.dim == 32  # the default latent_dim
    assert 1 <= d.latent_geometry.effective_rank <= 32
    assert d.behaviour.n_users == 8317 and d.behaviour.n_interactions == 58492
    assert len(d.behaviour.levels) == 3
    assert d.popularity.popularity.sum() == 58492
    # the lowered threshold turns the real anisotropy (about 0.19) into a finding
    codes = [f.code for f in d.findings]
    assert "anisotropic_input" in codes
    finding = d.findings[codes.index("anisotropic_input")]
    assert finding.value == pytest.approx(d.input_geometry.anisotropy)
    severities = [f.severity for f in d.findings]
    order = {"error": 0, "warning": 1, "info": 2}
    assert severities == sorted(severities, key=order.__getitem__)


def test_json_adds_the_new_sections_and_keeps_the_old(trained_diagnosis):
    document = json.loads(json.dumps(diagnosis_to_json(trained_diagnosis)))
    diagnostics = document["diagnostics"]
    for key in ("usage", "entropy", "collisions", "residuals", "geometry", "taxonomy"):
        assert key in diagnostics
    assert diagnostics["input_geometry"]["n_pairs"] == 10_000
    assert diagnostics["latent_geometry"]["available"] is True
    assert len(diagnostics["behaviour"]["levels"]) == 3
    assert diagnostics["behaviour"]["n_pairs"] == trained_diagnosis.behaviour.n_pairs
    assert {row["group"] for row in diagnostics["popularity"]["groups"]} == {
        "head", "tail", "cold"
    }  # fmt: skip
    assert document["run"]["sequences"].endswith("sequences.jsonl.gz")


def test_without_sequences_or_checkpoint_the_reason_is_given(letter_run):
    d = diagnose_run(letter_run, umap=False, coherence_queries=50)
    assert "--sequences" in d.behaviour.reason and "--sequences" in d.popularity.reason
    assert "no checkpoint" in d.latent_geometry.reason
    assert d.available("input_geometry")
    document = diagnosis_to_json(d)
    expected = {"available": False, "reason": d.behaviour.reason}
    assert document["diagnostics"]["behaviour"] == expected


def test_run_churn_against_itself_and_a_permuted_copy(trained_run, tmp_path):
    same = run_churn(trained_run, trained_run)
    assert same.items_common == 4344 and same.items_only_a == 0
    assert same.churn.full_id_raw == 0 and same.churn.full_id_matched == 0
    assert not same.seeds_only and same.findings == []
    copy = run_churn(trained_run, permuted_copy(trained_run, tmp_path / "permuted"))
    assert copy.churn.full_id_raw > 0.9
    assert copy.churn.levels["matched_churn"].max() == 0
    document = copy.to_json()
    assert document["schema"] == "rqvae-churn/1" and document["full_id_matched"] == 0
