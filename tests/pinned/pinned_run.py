"""The pinned run: a small real training run whose IDs, metrics and diagnosis must never drift.

``pinned_run.json`` was recorded with the code as it stood before the quantizer-interface
refactor (commit 1fbd24b), by :func:`record`. Any later change that is meant to keep the math
(a refactor, a move, a new layer) must reproduce it: the same codes, collision indices, item
ids, strings and integer counts bit for bit, and every computed float of ``metrics.jsonl`` and
the diagnosis JSON to :data:`FLOAT_RTOL` relative. Floats are not compared bit for bit because
another CPU's kernels change their last bits, and the model trains in float32, so six epochs
carry float32-sized differences into every weight: against the recording, an AMD EPYC moved the
Ledoit-Wolf shrinkage by 3e-14 relative, and an Intel Xeon (2026-12-07) moved losses by up to
2e-8 and codeword distances by up to 4.3e-7 relative, with the same IDs and counts.
New keys may be added to the JSON; the recorded ones must keep their values.

Catalog text never enters the repository: every string value of the diagnosis is stored as
the first 16 hex digits of its SHA-256 (see :func:`anonymized`), item ids by one digest.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from pathlib import Path

import numpy as np

PINNED_FILE = Path(__file__).with_name("pinned_run.json")
SLICE_ITEMS = 1_000
TIMING_KEYS = ("samples_per_s", "wall_time_s")
# Keys whose values name this machine's paths or the time of the run, not the math.
VOLATILE = ("timings_s", "path", "checkpoint", "created", "updated")
# Computed floats agree to this relative tolerance (and to FLOAT_ATOL near zero): 20x the largest
# difference seen between two CPUs (4.3e-7, a few float32 ulps), far below any real change.
FLOAT_RTOL = 1e-5
FLOAT_ATOL = 1e-9


def model_settings() -> dict:
    return dict(hidden_dims=(128,), latent_dim=16, num_levels=3, codebook_size=32)


def train_settings() -> dict:
    # The best rule as it was recorded (skip the first 20 %, no semantic check, no early
    # stop): the defaults changed with the semantic best rule, the pinned run did not.
    rule = dict(best_after_fraction=0.2, best_min_neighbor_lift=0.0, patience=0)
    return dict(epochs=6, batch_size=128, checkpoint_every=2, warmup_steps=10, seed=0, **rule)


def write_slice(scientific_dir: Path, folder: Path) -> tuple[Path, Path]:
    """The first 1,000 items of amazon-scientific: a JSONL catalog and its embeddings."""
    with gzip.open(scientific_dir / "items.jsonl.gz", "rt") as handle:
        lines = handle.read().splitlines()[:SLICE_ITEMS]
    catalog = folder / "items.jsonl"
    catalog.write_text("\n".join(lines) + "\n")
    embeddings = np.load(scientific_dir / "embeddings.minilm.npy", mmap_mode="r")
    embeddings_path = folder / "embeddings.npy"
    np.save(embeddings_path, np.ascontiguousarray(embeddings[:SLICE_ITEMS]))
    return catalog, embeddings_path


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def anonymized(value):
    """``value`` with every string replaced by its digest and volatile keys dropped."""
    if isinstance(value, dict):
        return {key: anonymized(item) for key, item in value.items() if key not in VOLATILE}
    if isinstance(value, list):
        return [anonymized(item) for item in value]
    if isinstance(value, str):
        return "sha:" + digest(value)
    return value


def snapshot(run_dir: Path, diagnosis_json: dict) -> dict:
    """What is pinned about a trained, assigned and diagnosed run folder."""
    import pandas as pd

    table = pd.read_parquet(run_dir / "semantic_ids.parquet")
    code_columns = sorted(
        (c for c in table.columns if c.startswith("code_")), key=lambda c: int(c[5:])
    )
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {
        "item_ids_sha": digest("\n".join(table["item_id"].astype(str))),
        "codes": table[code_columns].to_numpy().tolist(),
        "collision": table["collision"].tolist(),
        "sid_sha": digest("\n".join(table["sid"])),
        "metrics": [{k: v for k, v in line.items() if k not in TIMING_KEYS} for line in metrics],
        "diagnosis": anonymized(diagnosis_json),
    }


def differences(recorded, current, where: str = "") -> list[str]:
    """Places where ``current`` does not repeat ``recorded`` (extra keys are fine): floats to
    :data:`FLOAT_RTOL` relative, everything else (ints, strings, bools, None) exactly."""
    if isinstance(recorded, dict):
        if not isinstance(current, dict):
            return [f"{where}: was an object, now {type(current).__name__}"]
        found = []
        for key, value in recorded.items():
            if key not in current:
                found.append(f"{where}.{key}: missing")
            else:
                found += differences(value, current[key], f"{where}.{key}")
        return found
    if isinstance(recorded, list):
        if not isinstance(current, list) or len(current) != len(recorded):
            return [f"{where}: list changed length or type"]
        found = []
        for index, (old, new) in enumerate(zip(recorded, current, strict=True)):
            found += differences(old, new, f"{where}[{index}]")
        return found
    if isinstance(recorded, float) and type(current) is float:
        if math.isclose(recorded, current, rel_tol=FLOAT_RTOL, abs_tol=FLOAT_ATOL):
            return []
        return [f"{where}: {recorded!r} -> {current!r}"]
    if recorded != current or type(recorded) is not type(current):
        return [f"{where}: {recorded!r} -> {current!r}"]
    return []
