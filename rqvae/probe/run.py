"""Running the whole probe on a run folder: split, train, decode, score, write.

See :mod:`rqvae.probe` for what ``probe.json`` holds.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rqvae.data.sequences import read_sequences
from rqvae.errors import InputError
from rqvae.files import atomic_write_json, now_iso, read_json, sha256_of
from rqvae.id_metrics import collision_index
from rqvae.probe import PROBE_FILE, PROBE_SCHEMA, bootstrap
from rqvae.probe.data import SplitSequences, item_popularity, split_sequences
from rqvae.probe.generative import decode, id_ranks, train_semantic_model
from rqvae.probe.ranking import KS, per_user_metrics, ranks_from_shared_scores
from rqvae.probe.settings import K, ProbeSettings
from rqvae.probe.training import item_ranks, train_item_model
from rqvae.probe.users import USERS_FILE, UserRanks, write_user_ranks
from rqvae.probe.vocabulary import SemanticVocabulary
from rqvae.runs.folder import Run
from rqvae.runs.semantic_ids import read_code_table

SPLITS = ("valid", "test")


def run_probe(
    run_dir: str | Path,
    sequences_path: str | Path,
    settings: ProbeSettings | None = None,
    progress: bool = True,
    log=print,
    reuse: bool = False,
) -> dict:
    """Run the probe (every model of ``settings``, the popularity baseline); write and return
    ``RUN/probe.json`` and ``RUN/probe_users.npz``.

    reuse : return the run's existing probe.json instead when it was made by this probe
        version from the same sequence file (SHA-256) with the same settings
        (:func:`current_probe`).
    """
    settings = settings or ProbeSettings()
    run = Run(run_dir)
    sequences_sha = sha256_of(sequences_path)
    if reuse:
        existing = current_probe(run.path, sequences_sha, settings)
        if existing is not None:
            log(f"{run.path / PROBE_FILE}: same sequences and settings, reused")
            return existing
    started = time.perf_counter()
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
        raise InputError(f"{sequences_path}: no user has 3 or more items known to {run.path}")
    _refuse_other_sequences(run.path, sequences_path, sequences_sha, counts["users_used"])
    n_items = len(table.item_ids)
    ranks: dict[tuple[str, str], np.ndarray] = {}
    weights: dict[tuple[str, str], np.ndarray] = {}

    # 1. popularity: every user gets the same ranking, by training interactions
    popularity = item_popularity(split, n_items)
    for which in SPLITS:
        targets = split.target(which)
        ranks[("popularity", which)] = ranks_from_shared_scores(popularity, targets)
    models: dict[str, dict] = {"popularity": {}}

    # 2. item-ID SASRec
    # (it does not depend on the IDs: a study of many runs on one catalog may leave it out)
    if settings.item_model:
        item = train_item_model(split, n_items, settings, progress)
        for which in SPLITS:
            ranks[("item_sasrec", which)] = item_ranks(item.model, split, which, settings)
        models["item_sasrec"] = _trained_entry(item)
        log(f"item-ID SASRec: best epoch {item.best_epoch} of {item.epochs_trained}")

    # 3. semantic-ID models: the chosen architecture(s), under the chosen collision mode
    vocabulary = SemanticVocabulary.from_codes(table.codes, collision, settings.collisions)
    for architecture in settings.semantic_models:
        name = f"semantic_{architecture}"
        trained, generator = train_semantic_model(
            split, vocabulary, architecture, settings, progress
        )
        decode_started = time.perf_counter()
        # the final validation decode only reports valid metrics (training already picked
        # its best epoch on valid_users): a study over many runs skips it
        for which in SPLITS if settings.final_valid else ("test",):
            lists = decode(generator, split, which, progress=progress)
            ranks[(name, which)], weights[(name, which)] = id_ranks(
                lists, split.target(which), vocabulary
            )
        decode_seconds = time.perf_counter() - decode_started
        sample = np.random.default_rng(settings.seed).permutation(len(split.test_target))
        sample = np.sort(sample[: settings.invalid_sample])
        free = decode(generator, split, "test", sample, constrained=False)
        models[name] = {
            **_trained_entry(trained),
            "decode_seconds": round(decode_seconds, 2),
            "beam": settings.beam,
            "id_tokens": vocabulary.steps,
            "ids": vocabulary.summary(),
            # share of the returned IDs (top-`beam` of each sampled user) that name no ID
            "invalid_share_unconstrained": float((free < 0).mean()),
            "invalid_sample_users": len(sample),
        }
        log(f"{name}: best epoch {trained.best_epoch} of {trained.epochs_trained}")

    # 4. metrics with intervals; naive and corrected for the semantic models
    for name, entry in models.items():
        for which in SPLITS:
            if (name, which) not in ranks:  # final_valid off: no validation decode
                entry[which] = None
                continue
            weight = weights.get((name, which))
            entry[which] = metrics_with_intervals(ranks[(name, which)], weight, settings)
            if name.startswith("semantic_"):
                entry[f"{which}_naive"] = metrics_with_intervals(
                    ranks[(name, which)], None, settings
                )
        if name.startswith("semantic_"):
            entry["collision_inflation"] = _inflation(entry["test_naive"], entry["test"])

    result = {
        "schema": PROBE_SCHEMA,
        "created": now_iso(),
        "run": run.name,
        "k": K,
        "ks": list(KS),
        "sequences": {
            "path": str(Path(sequences_path).resolve()),
            "sha256": sequences_sha,
            **counts,
        },
        "settings": asdict(settings),
        "semantic_model": f"semantic_{settings.semantic_models[0]}",
        "bootstrap": {
            "resamples": settings.bootstrap,
            "seed": bootstrap.SEED,
            "level": bootstrap.LEVEL,
            "method": "percentile bootstrap over test users, resampled with replacement",
        },
        "users_file": USERS_FILE,
        "seconds": round(time.perf_counter() - started, 1),
        "models": models,
    }
    write_user_ranks(
        run.path / USERS_FILE,
        UserRanks(
            np.asarray(split.user_ids, dtype=str), sequences_sha, ranks, _ones(ranks, weights)
        ),
        root=run.path,
    )
    atomic_write_json(run.path / PROBE_FILE, result, root=run.path)
    return result


def current_probe(run_dir: str | Path, sequences_sha: str, settings: ProbeSettings) -> dict | None:
    """The run's probe.json if this probe version made it from the sequence file with SHA-256
    ``sequences_sha`` and exactly ``settings``, and its per-user ranks exist; else None."""
    path = Path(run_dir) / PROBE_FILE
    if not os.path.lexists(path) or not os.path.lexists(Path(run_dir) / USERS_FILE):
        return None
    document = read_json(path, root=run_dir)
    if not isinstance(document, dict) or document.get("schema") != PROBE_SCHEMA:
        return None
    same_sequences = document.get("sequences", {}).get("sha256") == sequences_sha
    same_settings = document.get("settings") == asdict(settings)
    return document if same_sequences and same_settings else None


def _refuse_other_sequences(
    run_dir: Path, sequences_path: str | Path, sequences_sha: str, users_used: int
) -> None:
    """A probe.json made on other sequences, or on more users, is never silently replaced."""
    path = run_dir / PROBE_FILE
    before = read_json(path, root=run_dir) if os.path.lexists(path) else {}
    before = before.get("sequences") if isinstance(before, dict) else None
    if isinstance(before, dict) and (
        before.get("sha256") != sequences_sha or str(before.get("users_used")) != str(users_used)
    ):
        raise InputError(
            f"{path}: made on {before.get('users_used')} users of {before.get('path')}; this "
            f"probe would use {users_used} users of {sequences_path}; move or delete "
            f"{PROBE_FILE} first to replace it"
        )


def metrics_with_intervals(
    ranks: np.ndarray, weights: np.ndarray | None, settings: ProbeSettings
) -> dict[str, float | list[float]]:
    """Every metric of :mod:`rqvae.probe.ranking` and its interval ``<metric>_ci95``."""
    values = per_user_metrics(ranks, KS, weights)
    ci = bootstrap.intervals(values, settings.bootstrap, bootstrap.SEED)
    result: dict[str, float | list[float]] = {}
    for name, column in values.items():
        result[name] = float(column.mean())
        result[f"{name}_ci95"] = ci[name]
    return result


def _trained_entry(trained) -> dict:
    return {
        "parameters": trained.model.parameter_count(),
        "train_seconds": round(trained.train_seconds, 2),
        "epochs_trained": trained.epochs_trained,
        "best_epoch": trained.best_epoch,
        "history": trained.history,
    }


def _inflation(naive: dict, corrected: dict) -> dict[str, float | None]:
    """naive / corrected - 1 per metric (None where the corrected value is 0)."""
    return {
        name: (naive[name] / corrected[name] - 1.0 if corrected[name] > 0 else None)
        for name in corrected
        if not name.endswith("_ci95")
    }


def _ones(ranks: dict, weights: dict) -> dict:
    return {key: weights.get(key, np.ones(len(values))) for key, values in ranks.items()}


def _popularity(split: SplitSequences, n_items: int) -> dict:
    """Popularity's metrics on both splits (no intervals): used by tests on real data."""
    from rqvae.probe.ranking import ranking_metrics

    popularity = item_popularity(split, n_items)
    result = {}
    for which in SPLITS:
        result[which] = ranking_metrics(ranks_from_shared_scores(popularity, split.target(which)))
    return result
