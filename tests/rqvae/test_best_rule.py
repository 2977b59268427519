"""The semantic check, the best rule's early stop, and the default thread count."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.metrics.coherence import semantic_coherence
from rqvae.model.config import TrainConfig
from rqvae.runs.checkpoint import load_checkpoint
from rqvae.runs.folder import Run
from rqvae.training.best_rule import BestRule, NeighborProbe
from rqvae.training.threads import default_threads
from rqvae.training.train import train
from tests.rqvae.tiny_runs import one_thread, tiny_config, write_embeddings  # noqa: F401


def test_probe_on_a_case_worked_out_by_hand():
    """Four items on two tight pairs: {0, 1} near (1, 0), {2, 3} near (0, 1); k = 3 (all the
    others). Level-0 codes [0, 0, 0, 1]: query 0 has neighbours 1, 2/3 in that order, sharing
    its code with 1 and 2: 2 of 3; query 1 likewise 2 of 3; query 2 shares with 0, 1: 2 of 3;
    query 3 with none: 0 of 3. Share = 6 / 12 = 0.5. Chance: counts (3, 1), pairs sharing
    3 * 2 / (4 * 3) = 0.5, so the lift is 1."""
    array = np.array([[1.0, 0.0], [0.99, 0.1], [0.1, 0.99], [0.0, 1.0]], dtype=np.float32)
    probe = NeighborProbe(array, np.arange(4), seed=0)
    assert probe.queries.tolist() == [0, 1, 2, 3]
    assert probe.neighbors[:, 0].tolist() == [1, 0, 3, 2]  # the nearest of each
    codes = np.array([[0, 5], [0, 6], [0, 7], [1, 8]])
    measured = probe.measure(codes)
    assert measured["neighbor_share_l0"] == pytest.approx(0.5)
    assert measured["neighbor_lift_l0"] == pytest.approx(1.0)
    # every item its own level-0 code: no pair shares one by chance, the lift is undefined
    assert probe.measure(np.arange(4)[:, None])["neighbor_lift_l0"] is None


def test_probe_matches_the_coherence_diagnostic_on_real_data(scientific_embeddings):
    """On 900 real items (fewer than the probe's 1,000 queries, so both use every item as a
    query) the probe gives the coherence diagnostic's level-0 neighbour share and lift."""
    array = np.load(scientific_embeddings)[:900]
    codes = np.random.default_rng(0).integers(0, 16, size=(900, 2))
    codes[:, 0] = np.argmax(array[:, :16], axis=1)  # a code that follows the embeddings
    measured = NeighborProbe(array, np.arange(900), seed=3).measure(codes)
    table = semantic_coherence(array, codes, n_queries=900, k=10)
    level0 = table[table["level"] == 0].iloc[0]
    assert measured["neighbor_share_l0"] == pytest.approx(level0["neighbor_share"], abs=1e-12)
    assert measured["neighbor_lift_l0"] == pytest.approx(level0["lift"], rel=1e-12)
    assert measured["neighbor_lift_l0"] > 1.2  # the code follows the embeddings (1.53)


def test_stop_reason_counts_epochs_since_a_valid_best():
    rule = BestRule(TrainConfig(epochs=50, patience=3))
    valid, invalid = {"epoch": 3, "rank": [1, 0.9, -0.5]}, {"epoch": 3, "rank": [0, 0.9, -0.5]}
    assert rule.stop_reason(epoch=5, best=valid) is None
    assert "patience 3" in rule.stop_reason(epoch=6, best=valid)
    assert rule.stop_reason(epoch=30, best=invalid) is None  # no valid epoch yet: go on
    assert rule.stop_reason(epoch=50, best=valid) is None  # the last epoch: not "early"
    assert BestRule(TrainConfig(epochs=50, patience=0)).stop_reason(40, valid) is None


def test_run_stops_early_and_says_why(tmp_path):
    """A tiny run of up to 40 epochs with patience 3 stops 3 epochs after its (valid) best epoch;
    status.json and the last metrics line say so, and the last checkpoint is that epoch."""
    embeddings = write_embeddings(tmp_path / "emb.npy")
    config = tiny_config(epochs=40)
    config.train.patience = 3
    config.train.best_min_neighbor_lift = 0.0  # random vectors: no neighbourhoods to follow
    config.train.checkpoint_every = 10
    out = train(config, tmp_path / "run", embeddings)
    status = Run(out).status()
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert status["state"] == "finished" and status["stopped"] == "early"
    assert lines[-1]["epoch"] == status["epoch"] == status["best"]["epoch"] + 3 < 40
    assert "has not improved for 3 epochs" in status["stop_reason"]
    assert load_checkpoint(Run(out).checkpoint_path("last")).state["epoch"] == status["epoch"]
    # without patience the same run goes the distance
    config.train.patience = 0
    full = train(config, tmp_path / "full", embeddings)
    assert Run(full).status()["stopped"] == "epochs"
    assert Run(full).status()["epoch"] == 40


def test_default_threads_follow_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert default_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "zero")
    assert default_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_threads() == 1


def test_top_k_is_the_stable_sort_ties_included():
    """The probe's partial top-k equals a stable full sort, on rows full of ties and -inf."""
    from rqvae.training.best_rule import _top_k_stable

    rng = np.random.default_rng(0)
    for _ in range(200):
        scores = rng.integers(0, 5, size=(7, int(rng.integers(3, 40)))).astype(np.float32)
        scores[rng.random(scores.shape) < 0.1] = -np.inf
        k = int(rng.integers(1, scores.shape[1] + 1))
        expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        assert np.array_equal(_top_k_stable(scores, k), expected)
