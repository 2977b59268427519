"""The downstream probe: can a sequential recommender learn on a run's semantic IDs?

``rqvae probe --run RUN --sequences FILE`` trains, on the same leave-last-out split
(:mod:`rqvae.probe.data`), an item-ID SASRec and a semantic-ID SASRec with trie-constrained
beam search (:mod:`rqvae.probe.training`), ranks a popularity baseline, and writes
``RUN/probe.json``::

    {"schema": 1, "created": ISO time, "run": name, "k": 10,
     "sequences": {"path", "sha256", "users", "users_used", "users_skipped",
                   "interactions", "unknown_items"},
     "settings": {epochs, seed, max_items, dim, blocks, heads, dropout, lr, batch_size, beam,
                  invalid_sample, eval_batch},
     "models": {
        "popularity":      {"test": {"recall_at_10", "ndcg_at_10"}, "valid": {...}},
        "item_sasrec":     {"test": ..., "valid": ..., "parameters", "train_seconds"},
        "semantic_sasrec": {"test": ..., "valid": null, "parameters", "train_seconds",
                            "beam", "id_tokens", "invalid_share_unconstrained",
                            "invalid_sample_users"}}}

Metrics are defined in :mod:`rqvae.probe.ranking` (full catalog, no sampled negatives).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rqvae.data.sequences import read_sequences
from rqvae.files import atomic_write_json, now_iso, read_json, sha256_of
from rqvae.id_metrics import collision_index
from rqvae.probe.data import item_popularity, split_sequences
from rqvae.probe.ranking import K, ranking_metrics, ranks_from_scores
from rqvae.probe.training import (
    ProbeSettings,
    SemanticVocabulary,
    item_ranks,
    semantic_ranks,
    train_item_model,
    train_semantic_model,
)
from rqvae.probe.trie import IdTrie
from rqvae.runs.folder import Run
from rqvae.runs.semantic_ids import read_code_table

PROBE_FILE = "probe.json"
PROBE_SCHEMA = 1


def run_probe(
    run_dir: str | Path,
    sequences_path: str | Path,
    settings: ProbeSettings | None = None,
    progress: bool = True,
    log=print,
) -> dict:
    """Run both probes and the popularity baseline; write and return ``RUN/probe.json``."""
    settings = settings or ProbeSettings()
    run = Run(run_dir)
    table = read_code_table(run.path / "semantic_ids.parquet")
    if table.codes.shape[0] == 0:
        raise AssertionError("empty semantic ID table")
    collision = table.collision if table.collision is not None else collision_index(table.codes)
    sequences = read_sequences(sequences_path)
    split = split_sequences(sequences, table.item_ids)
    counts = split.counts
    log(
        f"{sequences_path}: {counts['users']} users, {counts['users_used']} used; "
        f"skipped {counts['users_skipped']} users with fewer than 3 known items and "
        f"{counts['unknown_items']} interactions with items unknown to {run.path}"
    )
    if counts["users_used"] == 0:
        from rqvae.errors import InputError

        raise InputError(f"{sequences_path}: no user has 3 or more items known to {run.path}")
    # A probe.json made on other sequences, or on more users, is never silently replaced.
    path, digest = run.path / PROBE_FILE, sha256_of(sequences_path)
    before = read_json(path, root=run.path) if os.path.lexists(path) else {}
    before = before.get("sequences") if isinstance(before, dict) else None
    if isinstance(before, dict) and (
        before.get("sha256") != digest or str(before.get("users_used")) != str(counts["users_used"])
    ):
        from rqvae.errors import InputError

        raise InputError(
            f"{path}: made on {before.get('users_used')} users of {before.get('path')}; this "
            f"probe would use {counts['users_used']} users of {sequences_path}; move or delete "
            f"{PROBE_FILE} first to replace it"
        )
    n_items = len(table.item_ids)

    models = {"popularity": _popularity(split, n_items)}

    item = train_item_model(split, n_items, settings, progress)
    models["item_sasrec"] = {
        "valid": ranking_metrics(item_ranks(item.model, split, "valid", settings)),
        "test": ranking_metrics(item_ranks(item.model, split, "test", settings)),
        "parameters": item.model.parameter_count(),
        "train_seconds": round(item.train_seconds, 2),
    }

    vocabulary = SemanticVocabulary.from_codes(table.codes, collision)
    trie = IdTrie(vocabulary.item_tokens)
    semantic = train_semantic_model(split, vocabulary, settings, progress)
    sample = np.random.default_rng(settings.seed).permutation(len(split.test_target))
    sample = np.sort(sample[: settings.invalid_sample])
    _, free = semantic_ranks(
        semantic.model, split, vocabulary, trie, "test", settings, False, sample
    )
    models["semantic_sasrec"] = {
        # no validation decode: beam search is the costly part, and nothing is tuned on it
        "valid": None,
        "test": ranking_metrics(
            semantic_ranks(semantic.model, split, vocabulary, trie, "test", settings)[0]
        ),
        "parameters": semantic.model.parameter_count(),
        "train_seconds": round(semantic.train_seconds, 2),
        "beam": settings.beam,
        "id_tokens": vocabulary.steps,
        # share of the returned IDs (top-`beam` of each sampled user) that name no item
        "invalid_share_unconstrained": float((free < 0).mean()),
        "invalid_sample_users": len(sample),
    }
    result = {
        "schema": PROBE_SCHEMA,
        "created": now_iso(),
        "run": run.name,
        "k": K,
        "sequences": {
            "path": str(Path(sequences_path).resolve()),
            "sha256": digest,
            **counts,
        },
        "settings": asdict(settings),
        "models": models,
    }
    atomic_write_json(path, result, root=run.path)
    return result


def _popularity(split, n_items: int) -> dict:
    """Every user gets the same ranking: items by training interactions (ties: lower index)."""
    popularity = item_popularity(split, n_items)
    result = {}
    for which, targets in (("valid", split.valid_target), ("test", split.test_target)):
        scores = np.broadcast_to(popularity, (len(targets), n_items))
        result[which] = ranking_metrics(ranks_from_scores(scores, targets))
    return result
