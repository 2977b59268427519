"""The downstream probe: metrics by hand, the split, the trie, a task with a known answer."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rqvae.data.sequences import Sequences, read_sequences
from rqvae.importers.import_ids import import_ids
from rqvae.probe import PROBE_FILE, run_probe
from rqvae.probe.data import item_popularity, split_sequences
from rqvae.probe.ranking import ranking_metrics, ranks_from_lists, ranks_from_scores
from rqvae.probe.sasrec import SASRec, SASRecConfig
from rqvae.probe.training import (
    ProbeSettings,
    SemanticVocabulary,
    item_ranks,
    train_item_model,
)
from rqvae.probe.trie import IdTrie, beam_search

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


def test_constrained_beam_never_leaves_the_catalog():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 8, size=(40, 2))
    from rqvae.id_metrics import collision_index

    vocabulary = SemanticVocabulary.from_codes(codes, collision_index(codes))
    trie = IdTrie(vocabulary.item_tokens)
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(vocab_size=vocabulary.vocab_size, max_len=30, dim=16))
    histories = [vocabulary.flatten(rng.integers(0, 40, size=3)) for _ in range(20)]
    for beam in (10, 60):  # 60 > the 40 IDs that exist: the extra beams stay empty
        items = beam_search(model, histories, trie, vocabulary.level_ranges, beam)
        assert (items[:, :10] >= 0).all()
        assert ((items >= 0).sum(axis=1) == min(beam, 40)).all()
        for row in items:
            found = row[row >= 0]
            assert len(set(found.tolist())) == len(found)  # no item twice
            assert found.max() < 40


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


TINY = ProbeSettings(epochs=40, dim=32, heads=2, blocks=1, dropout=0.0, lr=3e-3, batch_size=64)


def test_probe_learns_a_deterministic_next_item(cyclic_run):
    run, sequences = cyclic_run
    result = run_probe(run, sequences, TINY, progress=False, log=lambda _: None)
    models = result["models"]
    assert models["item_sasrec"]["test"]["recall_at_10"] > 0.95
    assert models["semantic_sasrec"]["test"]["recall_at_10"] > 0.9  # chance: 10 / 30
    assert models["semantic_sasrec"]["test"]["ndcg_at_10"] > 0.3  # random order of 10: ~0.15
    # every user has a different next item: popularity is near chance (10 of 30 items)
    assert models["popularity"]["test"]["recall_at_10"] < 0.5
    stored = json.loads((run / PROBE_FILE).read_text())
    assert stored["schema"] == 1 and stored["k"] == 10
    assert set(stored["models"]) == {"popularity", "item_sasrec", "semantic_sasrec"}
    assert set(stored["sequences"]) >= {"users", "users_used", "users_skipped", "unknown_items"}
    semantic = stored["models"]["semantic_sasrec"]
    assert 0.0 <= semantic["invalid_share_unconstrained"] <= 1.0
    assert semantic["id_tokens"] == 3 and semantic["parameters"] > 0

    again = run_probe(run, sequences, TINY, progress=False, log=lambda _: None)
    for name in ("popularity", "item_sasrec", "semantic_sasrec"):
        assert again["models"][name]["test"] == models[name]["test"]  # a fixed seed reproduces


def test_item_sasrec_beats_popularity_on_real_sequences(scientific_dir):
    """Amazon-scientific, the first 3,000 users: the item-ID model must beat popularity."""
    from rqvae.probe import _popularity

    sequences = read_sequences(scientific_dir / "sequences.jsonl.gz")
    sequences = Sequences(sequences.user_ids[:3000], sequences.item_ids[:3000])
    item_ids = np.array([str(i) for i in range(4344)], dtype=object)
    split = split_sequences(sequences, item_ids)
    settings = ProbeSettings(epochs=4, blocks=1, eval_batch=512)
    trained = train_item_model(split, len(item_ids), settings, progress=False)
    model = ranking_metrics(item_ranks(trained.model, split, "valid", settings))
    popular = _popularity(split, len(item_ids))["valid"]
    assert model["ndcg_at_10"] > popular["ndcg_at_10"]
