"""The on-disk diagnosis store: a second diagnosis of unchanged run files is read, not
recomputed; any change to a run file recomputes; nothing in a cache file is ever executed."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis.diagnosis.diagnose as diagnose_module
from analysis.diagnosis.diagnose import diagnose_run
from analysis.diagnosis.results import STORED_RESULT_TYPES
from analysis.diagnosis.store import STORE_DIR, STORE_FILE
from analysis.diagnosis.to_json import diagnosis_to_json
from rqvae.runs.folder import CACHE_DIR, SEMANTIC_IDS_FILE


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy, ignore=shutil.ignore_patterns(CACHE_DIR))
    return copy


def forbid_computing(monkeypatch):
    def computed(*args, **kwargs):
        raise AssertionError("diagnosis recomputed although the store had it")

    monkeypatch.setattr(diagnose_module, "_diagnose", computed)


def assert_same(stored, fresh, where: str) -> None:
    """Deep equality: same types, frames and arrays equal value for value."""
    assert type(stored) is type(fresh), where
    if isinstance(fresh, pd.DataFrame):
        pd.testing.assert_frame_equal(stored, fresh, obj=where)
    elif isinstance(fresh, np.ndarray) and fresh.dtype == object:
        assert stored.dtype == object and stored.shape == fresh.shape, where
        for index, (a, b) in enumerate(zip(stored.tolist(), fresh.tolist(), strict=True)):
            assert_same(a, b, f"{where}[{index}]")
    elif isinstance(fresh, np.ndarray):
        assert stored.dtype == fresh.dtype and np.array_equal(stored, fresh, equal_nan=True), where
    elif dataclasses.is_dataclass(fresh):
        for field in dataclasses.fields(fresh):
            name = field.name
            assert_same(getattr(stored, name), getattr(fresh, name), f"{where}.{name}")
    elif isinstance(fresh, list | tuple):
        assert len(stored) == len(fresh), where
        for index, (a, b) in enumerate(zip(stored, fresh, strict=True)):
            assert_same(a, b, f"{where}[{index}]")
    elif isinstance(fresh, dict):
        assert stored.keys() == fresh.keys(), where
        for key in fresh:
            assert_same(stored[key], fresh[key], f"{where}[{key!r}]")
    elif isinstance(fresh, float) and np.isnan(fresh):
        assert np.isnan(stored), where
    else:
        assert stored == fresh, where


def without_timings(document: dict) -> dict:
    return {key: value for key, value in document.items() if key != "timings_s"}


def test_stored_diagnosis_reads_back_equal(run_copy, scientific_dir, monkeypatch):
    sequences = scientific_dir / "sequences.jsonl.gz"
    fresh = diagnose_run(run_copy, umap=False, cache=True, sequences=sequences)
    assert "cache_read" not in fresh.timings
    assert fresh.available("behaviour") and fresh.available("latent_geometry")
    forbid_computing(monkeypatch)
    stored = diagnose_run(run_copy, umap=False, cache=True, sequences=sequences)
    assert "cache_read" in stored.timings
    assert without_timings(diagnosis_to_json(stored)) == without_timings(diagnosis_to_json(fresh))
    for field in dataclasses.fields(fresh):
        if field.name not in ("timings", "run_dir"):
            assert_same(getattr(stored, field.name), getattr(fresh, field.name), field.name)
    assert_same(stored.coherence, fresh.coherence, "coherence")
    assert_same(stored.mahalanobis, fresh.mahalanobis, "mahalanobis")
    assert_same(stored.findings, fresh.findings, "findings")
    assert stored.checkpoint == fresh.checkpoint and stored.run_dir == fresh.run_dir


def test_changed_ids_or_options_recompute(run_copy, monkeypatch):
    diagnose_run(run_copy, umap=False, cache=True)
    calls = []
    original = diagnose_module._diagnose

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(diagnose_module, "_diagnose", counting)
    diagnose_run(run_copy, umap=False, cache=True, seed=1)  # other options: other entry
    assert len(calls) == 1
    table = pd.read_parquet(run_copy / SEMANTIC_IDS_FILE)
    table["code_0"] = table["code_0"].iloc[::-1].to_numpy()
    table.to_parquet(run_copy / SEMANTIC_IDS_FILE, index=False)
    changed = diagnose_run(run_copy, umap=False, cache=True)
    assert len(calls) == 2
    assert changed.checkpoint_agreement < 0.5  # the new codes were read, not the old ones


def test_entry_with_maps_serves_a_request_without_them_not_the_reverse(run_copy, monkeypatch):
    diagnose_run(run_copy, umap=False, cache=True)
    calls = []
    original = diagnose_module._diagnose
    monkeypatch.setattr(
        diagnose_module, "_diagnose", lambda *a, **k: calls.append(k) or original(*a, **k)
    )
    with_maps = diagnose_run(run_copy, umap=True, cache=True)
    assert len(calls) == 1 and with_maps.geometry.items is not None
    without = diagnose_run(run_copy, umap=False, cache=True)
    assert len(calls) == 1 and without.geometry.items is not None


def test_a_hostile_entry_is_a_miss_and_never_runs(run_copy, tmp_path, monkeypatch):
    diagnose_run(run_copy, umap=False, cache=True)
    (entry,) = (run_copy / CACHE_DIR / STORE_DIR).glob("*/plain")
    marker = tmp_path / "ran"
    document = {"$dataclass": "os:system", "fields": {"command": f"touch {marker}"}}
    (entry / STORE_FILE).write_text(json.dumps(document))
    recomputed = diagnose_run(run_copy, umap=False, cache=True)
    assert not marker.exists()
    assert "cache_read" not in recomputed.timings
    escape = {"$frame": "../../../../config.json"}
    (entry / STORE_FILE).write_text(json.dumps(escape))
    assert "cache_read" not in diagnose_run(run_copy, umap=False, cache=True).timings


def test_no_module_is_imported_by_a_name_from_the_cache(run_copy):
    diagnose_run(run_copy, umap=False, cache=True)
    (entry,) = (run_copy / CACHE_DIR / STORE_DIR).glob("*/plain")
    for name in ("this:Zen", "this", "analysis.diagnosis.results:Diagnosis"):
        (entry / STORE_FILE).write_text(json.dumps({"$dataclass": name, "fields": {}}))
        assert "cache_read" not in diagnose_run(run_copy, umap=False, cache=True).timings
    assert "this" not in sys.modules  # importing `this` would print the Zen of Python


def test_every_stored_type_is_registered_by_its_own_name():
    for name, cls in STORED_RESULT_TYPES.items():
        assert cls.__name__ == name and dataclasses.is_dataclass(cls)


def test_unwritable_cache_still_diagnoses(run_copy):
    # a file where the cache folder belongs: no store can be written (chmod would not stop root)
    (run_copy / CACHE_DIR).write_text("not a folder")
    diagnosis = diagnose_run(run_copy, umap=False, cache=True)
    assert diagnosis.n_items == 4344
    assert "cache_read" not in diagnose_run(run_copy, umap=False, cache=True).timings
