"""The study's arithmetic on hand-made scorecards and probes (known correlations)."""

from __future__ import annotations

import json
import os

import pytest

from analysis.diagnosis.scorecard import HIGHER, LOWER, Score
from analysis.diagnosis.study import (
    StudyRun,
    catalog_key,
    correlation_for,
    evidence_for,
    probe_targets,
    study,
)
from analysis.diagnosis.study_files import read_study, study_for_catalog
from rqvae.errors import InputError

RECALLS = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]  # 6 runs: enough to call (MIN_RUNS_TO_CALL)


def _card(values: dict[str, float | None]) -> dict[str, Score]:
    card = {"items": Score("items", "IDs", "Items", "", "", 3, "3")}
    for key, value in values.items():
        direction = LOWER if key.startswith("residual") else HIGHER
        card[key] = Score(key, "g", key.capitalize(), "", direction, value, "")
    return card


def _probe(recall: float, model: str = "semantic_tiger") -> dict:
    test = {
        "recall_at_10": recall,
        "ndcg_at_10": recall / 2,
        "recall_at_10_ci95": [recall - 0.005, recall + 0.005],
    }
    return {"semantic_model": model, "models": {model: {"test": test}}}


def _runs() -> list[StudyRun]:
    runs = []
    for number, recall in enumerate(RECALLS):
        values = {
            "perplexity_l0": 10.0 * recall,  # orders the runs exactly as recall does
            "residual_kept_l0": -recall,  # exactly reversed
            "constant": 1.0,
            "partial": [None, 2.0, None, 1.0, 3.0, None][number],  # 3 runs: ranks 2, 1, 3
        }
        runs.append(
            StudyRun(
                name=f"run{number}",
                path=f"/runs/run{number}",
                kind="trained",
                item_ids=["b", "a", "c"],
                card=_card(values),
                probe=_probe(recall),
            )
        )
    return runs


def test_correlations_are_the_known_ones_and_sorted_by_strength():
    document = study(_runs(), n_resamples=200)
    recall = [c for c in document["correlations"] if c["target"] == "recall_at_10"]
    by_key = {c["diagnostic"]: c for c in recall}
    assert by_key["perplexity_l0"]["spearman"] == pytest.approx(1.0, rel=1e-12)
    assert by_key["perplexity_l0"]["kendall"] == pytest.approx(1.0, rel=1e-12)
    assert by_key["residual_kept_l0"]["spearman"] == pytest.approx(-1.0, rel=1e-12)
    # partial: values (2, 1, 3) against recalls (0.02, 0.04, 0.05) -> ranks (2,1,3) vs (1,2,3)
    # rho = 1 - 6 * (1 + 1 + 0) / (3 * 8) = 0.5; tau-b = (2 - 1) / 3
    assert by_key["partial"]["n_runs"] == 3
    assert by_key["partial"]["spearman"] == pytest.approx(0.5, rel=1e-12)
    assert by_key["partial"]["kendall"] == pytest.approx(1 / 3, rel=1e-12)
    assert by_key["constant"]["spearman"] is None and by_key["constant"]["n_runs"] == 6
    # strongest first, undefined last; items and the probe's own keys are no diagnostics
    assert [c["diagnostic"] for c in recall] == [
        "perplexity_l0", "residual_kept_l0", "partial", "constant",
    ]  # fmt: skip
    assert "items" not in document["diagnostics"]
    assert document["targets"] == ["recall_at_10", "ndcg_at_10"]
    assert len(document["correlations"]) == 2 * 4
    assert document["catalog_key"] == catalog_key(["a", "b", "c"])
    run = document["runs"][2]  # recall 0.03
    assert run["targets"] == {"recall_at_10": 0.03, "ndcg_at_10": 0.015}
    assert run["probe_model"] == "semantic_tiger" and run["items"] == 3
    json.dumps(document, allow_nan=False)  # NaN never reaches the file


def test_catalog_key_ignores_order_and_duplicates_but_not_items():
    assert catalog_key(["b", "a"]) == catalog_key(["a", "b", "a"])
    assert catalog_key(["a", "b"]) != catalog_key(["a", "c"])
    assert len(catalog_key(["a"])) == 16


def test_probe_targets_read_the_chosen_semantic_model_and_older_probes():
    model, values, intervals = probe_targets(_probe(0.04))
    assert model == "semantic_tiger" and values["recall_at_10"] == 0.04
    assert intervals == {"recall_at_10": [0.035, 0.045]}
    old = {"models": {"semantic_sasrec": {"test": {"recall_at_10": 0.1, "ndcg_at_10": 0.05}}}}
    assert probe_targets(old)[:2] == ("semantic_sasrec", {"recall_at_10": 0.1, "ndcg_at_10": 0.05})


def test_evidence_names_the_correlation_and_its_direction():
    document = study(_runs(), n_resamples=200)
    text = evidence_for(document, "collapsed_level", level=0)
    assert text.startswith("on this catalog, perplexity_l0 tracked Recall@10: Spearman 1.00 [")
    assert text.endswith("over 6 runs")
    # residual kept is lower-is-better: a correlation of -1 means it tracked recall
    assert " tracked Recall@10: Spearman -1.00" in evidence_for(document, "residual_growing", 0)
    assert evidence_for(document, "not_converged") is None  # no diagnostic behind it
    assert evidence_for(document, "dead_codes", level=0) is None  # not in this study
    entry = correlation_for(document, "partial")
    assert "could not be judged (too few runs) against Recall@10" in evidence_for(
        {"correlations": [{**entry, "diagnostic": "latent_rank_share"}]}, "latent_rank_collapse"
    )  # partial has 3 runs
    entry.update(spearman=0.5, spearman_ci95=[-0.2, 0.9], label="Partial", n_runs=8)
    document["correlations"].append({**entry, "diagnostic": "latent_rank_share"})
    assert "did not clearly track Recall@10: Spearman 0.50 [-0.20, 0.90]" in evidence_for(
        document, "latent_rank_collapse"
    )


def test_studies_are_found_by_catalog_newest_first_and_links_ignored(tmp_path):
    base = study(_runs(), n_resamples=10)
    older = {**base, "created": "2026-01-01T00:00:00+00:00"}
    newer = {**base, "created": "2026-02-01T00:00:00+00:00"}
    other = {**base, "created": "2026-03-01T00:00:00+00:00", "catalog_key": "0" * 16}
    (tmp_path / "a.study.json").write_text(json.dumps(older))
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "b.json").write_text(json.dumps(newer))
    (tmp_path / "c.study.json").write_text(json.dumps(other))
    (tmp_path / "broken.study.json").write_text("{")
    path, document = study_for_catalog(tmp_path, base["catalog_key"])
    assert path.name == "b.json" and document["created"].startswith("2026-02")
    (tmp_path / "studies" / "b.json").unlink()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.json"
    outside.write_text(json.dumps({**base, "created": "2027-01-01T00:00:00+00:00"}))
    os.symlink(outside, tmp_path / "link.study.json")
    path, document = study_for_catalog(tmp_path, base["catalog_key"])
    assert path.name == "a.study.json"
    assert study_for_catalog(tmp_path, "f" * 16) is None


def test_read_study_refuses_what_is_not_a_study(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"schema": 1, "runs": []}))
    with pytest.raises(InputError, match="without correlations, targets"):
        read_study(path)
    path.write_text(json.dumps([1]))
    with pytest.raises(InputError, match="not a study.json"):
        read_study(path)
