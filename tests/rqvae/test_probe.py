"""The downstream probe end to end: metrics by hand, the split, a task with a known answer,
probe.json and the per-user file, reuse, paired comparison."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from rqvae.data.sequences import Sequences, read_sequences
from rqvae.importers.import_ids import import_ids
from rqvae.probe import PROBE_FILE
from rqvae.probe.data import item_popularity, split_sequences
from rqvae.probe.ranking import (
    ranking_metrics,
    ranks_from_lists,
    ranks_from_scores,
    ranks_from_shared_scores,
)
from rqvae.probe.run import run_probe
from rqvae.probe.settings import ProbeSettings
from rqvae.probe.training import item_ranks, train_item_model
from rqvae.probe.users import USERS_FILE, read_user_ranks

N_ITEMS = 30


def test_ranking_metrics_by_hand():
    metrics = ranking_metrics(np.array([0, 1, 9, 10, np.inf]))
    assert metrics["recall_at_10"] == pytest.approx(3 / 5)
    expected = (1 / np.log2(2) + 1 / np.log2(3) + 1 / np.log2(11)) / 5
    assert metrics["ndcg_at_10"] == pytest.approx(expected)


def test_ranks_by_hand():
    scores = np.array([[0.1, 0.9, 0.5], [0.5, 0.5, 0.2]])
    # user 0: target 2 has one item above it; user 1: target 1 ties with item 0 (lower index)
    assert ranks_from_scores(scores, np.array([2, 1])).tolist() == [1.0, 1.0]
    # one score vector shared by every user (popularity), ties included: the same ranks
    shared = np.array([3.0, 1.0, 3.0, 0.0, 1.0, 3.0])
    targets = np.array([0, 1, 2, 3, 4, 5, 2])
    expected = ranks_from_scores(np.broadcast_to(shared, (7, 6)), targets)
    assert ranks_from_shared_scores(shared, targets).tolist() == expected.tolist()
    assert expected.tolist() == [0.0, 3.0, 1.0, 5.0, 4.0, 2.0, 1.0]
    lists = np.array([[4, 7, -1], [2, 3, 5]])
    assert ranks_from_lists(lists, np.array([7, 9])).tolist() == [1.0, np.inf]


def test_leave_last_out_split(tmp_path):
    path = tmp_path / "seq.jsonl"
    rows = [
        {"user_id": "a", "item_ids": ["1", "2", "x", "3", "4"]},  # x is unknown
        {"user_id": "b", "item_ids": ["2", "3"]},  # too short
        {"user_id": "c", "item_ids": ["4", "1", "2"]},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    split = split_sequences(read_sequences(path), np.array(["1", "2", "3", "4"], dtype=object))
    assert split.counts == {
        "users": 3,
        "users_used": 2,
        "users_skipped": 1,
        "interactions": 10,
        "unknown_items": 1,
    }
    assert [t.tolist() for t in split.train] == [[0, 1], [3]]
    assert split.valid_target.tolist() == [2, 0] and split.test_target.tolist() == [3, 1]
    assert split.history("test", 0).tolist() == [0, 1, 2]
    assert item_popularity(split, 4).tolist() == [1, 1, 0, 1]


@pytest.fixture(scope="module")
def cyclic_run(tmp_path_factory) -> tuple[Path, Path]:
    """30 items with 2-level IDs, users walking the cycle 0 -> 1 -> ... -> 29 -> 0."""
    folder = tmp_path_factory.mktemp("probe")
    ids = folder / "ids.csv"
    ids.write_text(
        "item_id,code_0,code_1\n" + "".join(f"{i},{i // 6},{i % 6}\n" for i in range(N_ITEMS))
    )
    run = import_ids(ids, folder / "run")
    sequences = folder / "sequences.jsonl.gz"
    with gzip.open(sequences, "wt") as handle:
        for user in range(150):
            items = [str((user + step) % N_ITEMS) for step in range(6)]
            handle.write(json.dumps({"user_id": f"u{user}", "item_ids": items}) + "\n")
    return run, sequences


# max_items 3: every history the models are tested on (the last 3 items) has the length of
# histories seen in training, so no position goes untrained
TINY = ProbeSettings(
    model="all",
    epochs=40,
    patience=5,
    max_items=3,
    dim=32,
    blocks=1,
    dropout=0.0,
    lr=3e-3,
    batch_size=64,
    semantic_dim=32,
    semantic_blocks=1,
    semantic_heads=2,
    semantic_ffn=64,
    semantic_dropout=0.0,
    pooled_dropout=0.0,
    semantic_lr=3e-3,
    semantic_warmup=0,
    semantic_schedule="constant",
    semantic_batch_size=64,
    user_buckets=16,
    valid_users=0,
    bootstrap=200,
)
METRICS = ("recall_at_5", "ndcg_at_5", "recall_at_10", "ndcg_at_10")
MODELS = ("popularity", "item_sasrec", "semantic_pooled", "semantic_tiger", "semantic_sasrec")


def quiet(_):
    pass


@pytest.fixture(scope="module")
def cyclic_probe(cyclic_run) -> dict:
    run, sequences = cyclic_run
    return run_probe(run, sequences, TINY, progress=False, log=quiet)


def test_probe_learns_a_deterministic_next_item(cyclic_run, cyclic_probe):
    models = cyclic_probe["models"]
    assert models["item_sasrec"]["test"]["recall_at_10"] > 0.95
    for name in ("semantic_pooled", "semantic_tiger", "semantic_sasrec"):
        assert models[name]["test"]["recall_at_10"] > 0.9, name  # chance: 10 / 30
        assert models[name]["test"]["ndcg_at_10"] > 0.3, name  # random order of 10: ~0.15
    # every user has a different next item: popularity is near chance (10 of 30 items)
    assert models["popularity"]["test"]["recall_at_10"] < 0.5


def test_probe_json_keeps_its_keys_and_adds_intervals(cyclic_run, cyclic_probe):
    run, _ = cyclic_run
    stored = json.loads((run / PROBE_FILE).read_text())
    assert stored["schema"] == 2 and stored["k"] == 10 and stored["ks"] == [5, 10]
    assert set(stored["models"]) == set(MODELS)
    assert stored["semantic_model"] == "semantic_pooled"  # the first of model="all"
    assert set(stored["sequences"]) >= {"sha256", "users", "users_used", "users_skipped"}
    assert stored["settings"]["collisions"] == "token" and stored["settings"]["bootstrap"] == 200
    for name in MODELS:
        for which in ("valid", "test"):
            entry = stored["models"][name][which]
            for metric in METRICS:
                low, high = entry[f"{metric}_ci95"]
                assert low <= entry[metric] <= high, (name, which, metric)
    for name in ("semantic_pooled", "semantic_tiger", "semantic_sasrec"):
        semantic = stored["models"][name]
        assert 0.0 <= semantic["invalid_share_unconstrained"] <= 1.0
        assert semantic["id_tokens"] == 3 and semantic["parameters"] > 0
        # token mode: every ID is one item's, nothing is inflated
        assert semantic["test_naive"]["recall_at_10"] == semantic["test"]["recall_at_10"]
        assert semantic["collision_inflation"]["recall_at_10"] == 0.0
        assert 1 <= semantic["best_epoch"] <= semantic["epochs_trained"] <= TINY.epochs
        assert len(semantic["history"]) == semantic["epochs_trained"]


def test_per_user_ranks_give_back_the_stored_metrics(cyclic_run, cyclic_probe):
    run, _ = cyclic_run
    users = read_user_ranks(run / USERS_FILE)
    assert users.user_ids.tolist() == [f"u{user}" for user in range(150)]
    assert users.sequences_sha256 == cyclic_probe["sequences"]["sha256"]
    for name in MODELS:
        for which in ("valid", "test"):
            values = users.metrics(name, which)
            for metric in METRICS:
                stored = cyclic_probe["models"][name][which][metric]
                assert values[metric].mean() == pytest.approx(stored, rel=1e-6), (name, metric)


def test_probe_is_reused_or_reproduced(cyclic_run, cyclic_probe):
    run, sequences = cyclic_run
    reused = run_probe(run, sequences, TINY, progress=False, log=quiet, reuse=True)
    assert reused["created"] == cyclic_probe["created"]  # nothing trained again
    settings = ProbeSettings(**{**TINY.__dict__, "model": "sasrec"})
    again = run_probe(run, sequences, settings, progress=False, log=quiet, reuse=True)
    assert set(again["models"]) == {"popularity", "item_sasrec", "semantic_sasrec"}
    for name in again["models"]:  # a fixed seed reproduces
        assert again["models"][name]["test"] == cyclic_probe["models"][name]["test"], name


def test_paired_comparison_with_random_ids(cyclic_run, tmp_path):
    """The cyclic task on rule IDs against the same items with shuffled IDs: the comparison is
    stored in A's probe.json and its differences are A - B of the stored values."""
    from rqvae.probe.compare import compare_probes

    run, sequences = cyclic_run
    codes = np.random.default_rng(0).permutation(N_ITEMS)
    ids = tmp_path / "shuffled.csv"
    ids.write_text(
        "item_id,code_0,code_1\n" + "".join(f"{i},{c // 6},{c % 6}\n" for i, c in enumerate(codes))
    )
    other = import_ids(ids, tmp_path / "shuffled")
    settings = ProbeSettings(**{**TINY.__dict__, "model": "tiger"})
    a = run_probe(run, sequences, settings, progress=False, log=quiet, reuse=True)
    b = run_probe(other, sequences, settings, progress=False, log=quiet)
    comparison = compare_probes(run, other)
    stored = json.loads((run / PROBE_FILE).read_text())["compare"]["shuffled"]
    assert stored["users"] == 150 and stored["settings_differ"] == []
    assert set(stored["models"]) == {"popularity", "item_sasrec", "semantic_tiger"}
    for name in stored["models"]:
        entry = stored["models"][name]["recall_at_10"]
        expected = (
            a["models"][name]["test"]["recall_at_10"] - b["models"][name]["test"]["recall_at_10"]
        )
        assert entry["difference"] == pytest.approx(expected)
        low, high = entry["difference_ci95"]
        assert low <= entry["difference"] <= high
    # the same items and sequences: the item model and popularity do not change at all
    assert comparison["models"]["popularity"]["ndcg_at_10"]["difference_ci95"] == [0.0, 0.0]


def test_item_sasrec_beats_popularity_on_real_sequences(scientific_dir):
    """Amazon-scientific, the first 3,000 users: the item-ID model must beat popularity."""
    from rqvae.probe.run import _popularity

    sequences = read_sequences(scientific_dir / "sequences.jsonl.gz")
    sequences = Sequences(sequences.user_ids[:3000], sequences.item_ids[:3000])
    item_ids = np.array([str(i) for i in range(4344)], dtype=object)
    split = split_sequences(sequences, item_ids)
    settings = ProbeSettings(epochs=4, blocks=1, eval_batch=512)
    trained = train_item_model(split, len(item_ids), settings, progress=False)
    model = ranking_metrics(item_ranks(trained.model, split, "valid", settings))
    popular = _popularity(split, len(item_ids))["valid"]
    assert model["ndcg_at_10"] > popular["ndcg_at_10"]
