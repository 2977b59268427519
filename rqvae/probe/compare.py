"""Paired comparison of two probed runs on the same users: ``rqvae probe --run A --compare B``.

Both runs must have been probed on the same sequence file (same SHA-256) and kept the same
users in the same order (``probe_users.npz``); every model the two probes share is compared
on every test metric by the paired bootstrap of :func:`rqvae.probe.bootstrap.paired_difference`
(A - B). The result goes into A's ``probe.json`` under ``compare[B's run name]``::

    {"run": B's folder, "created": ISO time, "sequences_sha256", "users": n,
     "resamples", "seed", "settings_differ": [setting names whose values differ],
     "models": {MODEL: {METRIC: {"a", "b", "difference", "difference_ci95",
                                 "a_better_share"}}}}

Semantic models are compared collision-corrected (the ``test`` numbers of probe.json).
A difference whose interval excludes 0 is one these users support; the interval does not
include training-seed variation.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rqvae.errors import InputError
from rqvae.files import atomic_write_json, now_iso, read_json
from rqvae.probe import PROBE_FILE, bootstrap
from rqvae.probe.users import USERS_FILE, read_user_ranks
from rqvae.runs.folder import Run


def compare_probes(run_a: str | Path, run_b: str | Path, resamples: int | None = None) -> dict:
    """Paired test-split differences A - B of every model both probes have; stored in A's
    probe.json under ``compare[B's name]`` and returned."""
    a, b = Run(run_a), Run(run_b)
    probe_a, probe_b = _probe(a.path), _probe(b.path)
    users_a = read_user_ranks(a.path / USERS_FILE, root=a.path)
    users_b = read_user_ranks(b.path / USERS_FILE, root=b.path)
    if users_a.sequences_sha256 != users_b.sequences_sha256:
        raise InputError(
            f"{a.path} and {b.path} were probed on different sequence files "
            f"(SHA-256 {users_a.sequences_sha256[:12]}... vs {users_b.sequences_sha256[:12]}...): "
            "probe both on the same --sequences"
        )
    if len(users_a.user_ids) != len(users_b.user_ids) or not np.array_equal(
        users_a.user_ids, users_b.user_ids
    ):
        raise InputError(
            f"{a.path} kept {len(users_a.user_ids)} users, {b.path} {len(users_b.user_ids)} "
            "(or others): a paired comparison needs the same users; do the two runs hold the "
            "same items?"
        )
    resamples = resamples or probe_a["bootstrap"]["resamples"]
    shared = [m for m in probe_a["models"] if m in probe_b["models"]]
    settings_a, settings_b = probe_a["settings"], probe_b["settings"]
    comparison = {
        "run": str(b.path.resolve()),
        "created": now_iso(),
        "sequences_sha256": users_a.sequences_sha256,
        "users": len(users_a.user_ids),
        "resamples": resamples,
        "seed": bootstrap.SEED,
        "settings_differ": sorted(
            key
            for key in settings_a.keys() | settings_b.keys()
            if settings_a.get(key) != settings_b.get(key)
        ),
        "models": {
            model: bootstrap.paired_difference(
                users_a.metrics(model, "test"), users_b.metrics(model, "test"), resamples
            )
            for model in shared
        },
    }
    probe_a.setdefault("compare", {})[b.name] = comparison
    atomic_write_json(a.path / PROBE_FILE, probe_a, root=a.path)
    return comparison


def _probe(run_dir: Path) -> dict:
    path = run_dir / PROBE_FILE
    if not os.path.lexists(path):
        raise InputError(
            f"{path}: not probed yet; run `rqvae probe --run {run_dir} --sequences FILE` first"
        )
    document = read_json(path, root=run_dir)
    if not isinstance(document, dict) or document.get("schema", 1) < 2:
        raise InputError(
            f"{path}: made by an older probe without per-user ranks; probe the run again"
        )
    return document
