"""Issue 19, items 1 and 9: the diagnosis store never writes or deletes outside its run, prunes
only what it made, checks every entry's digests on read, and never shows the path of the run a
copied entry was made in. On a tiny run (240 items), so each diagnosis takes a second."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis.diagnosis.diagnose as diagnose_module
from analysis.diagnosis import geometry as geometry_assembly
from analysis.diagnosis.diagnose import diagnose_run
from analysis.diagnosis.geometry import cached_umap_maps
from analysis.diagnosis.store import (
    ENTRY_MARKER,
    KEEP_ENTRIES,
    STORE_DIR,
    STORE_FILE,
    save_diagnosis,
)
from analysis.diagnosis.to_json import diagnosis_to_json
from analysis.metrics.umap_maps import UmapSettings
from rqvae.ids.assign import assign_run
from rqvae.runs.folder import CACHE_DIR, SEMANTIC_IDS_FILE
from rqvae.runs.semantic_ids import read_code_table, write_semantic_ids
from tests.rqvae.tiny_runs import copy_run, trained_tiny_run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    run, _ = trained_tiny_run(tmp_path_factory.mktemp("store-hardening"))
    assign_run(run)
    return run


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> Path:
    return copy_run(tiny_run, tmp_path / "run", keep=lambda path: path.parts[0] != CACHE_DIR)


def victim_folder(tmp_path: Path) -> Path:
    """``mkdir -p victim/project{1..7}``, each with a file, as in the issue."""
    victim = tmp_path / "victim"
    for number in range(1, 8):
        (victim / f"project{number}").mkdir(parents=True)
        (victim / f"project{number}" / "thesis.tex").write_text(f"chapter {number}")
    return victim


def listing(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def count_computations(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = diagnose_module._diagnose
    monkeypatch.setattr(
        diagnose_module, "_diagnose", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    return calls


# --- item 1: deletion outside the run ----------------------------------------------------------


@pytest.mark.parametrize("linked", [f"{CACHE_DIR}/{STORE_DIR}", CACHE_DIR])
def test_a_linked_store_is_not_used_and_nothing_outside_is_touched(
    run_copy, tmp_path, monkeypatch, linked
):
    victim = victim_folder(tmp_path)
    before = listing(victim)
    (run_copy / linked).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(victim, run_copy / linked)
    calls = count_computations(monkeypatch)
    for _ in range(2):
        diagnosis = diagnose_run(run_copy, umap=False, cache=True)
        assert diagnosis.n_items == 240 and "cache_read" not in diagnosis.timings
    assert len(calls) == 2  # the store was not used: computed both times
    assert listing(victim) == before  # nothing written, nothing deleted


def test_pruning_deletes_only_entries_the_store_made(run_copy, tmp_path):
    diagnosis = diagnose_run(run_copy, umap=False, cache=True)
    store = run_copy / CACHE_DIR / STORE_DIR
    # things the store did not make: key-shaped folders without the marker, a linked entry
    # (with a marker in its target), a user's folder
    foreign = [store / f"{number:032x}" for number in range(3)] + [store / "notes"]
    for folder in foreign:
        folder.mkdir()
        (folder / "keep.txt").write_text("mine")
    victim = victim_folder(tmp_path)
    (victim / ENTRY_MARKER).write_text("")
    os.symlink(victim, store / ("f" * 32))
    before = listing(victim)
    keys = [f"{number:032x}" for number in range(100, 100 + KEEP_ENTRIES + 3)]
    for key in keys:
        assert save_diagnosis(run_copy, key, diagnosis, has_maps=False)
    ours = sorted(
        p.name for p in store.iterdir() if (p / ENTRY_MARKER).is_file() and not p.is_symlink()
    )
    assert len(ours) == KEEP_ENTRIES  # the store's own entries were pruned to the newest
    for folder in foreign:
        assert (folder / "keep.txt").read_text() == "mine"
    assert listing(victim) == before


# --- item 9: cache entries are checked, and name their own run ---------------------------------


def stored_entry(run: Path) -> Path:
    (entry,) = (run / CACHE_DIR / STORE_DIR).glob(f"*/plain/{STORE_FILE}")
    return entry


def test_an_edited_entry_is_a_miss_and_recomputed(run_copy, monkeypatch):
    fresh = diagnose_run(run_copy, umap=False, cache=True)
    entry = stored_entry(run_copy)
    manifest = json.loads(entry.read_text())
    text = json.dumps(manifest["document"])
    assert '"n_items": 240' in text
    manifest["document"] = json.loads(text.replace('"n_items": 240', '"n_items": 999999'))
    entry.write_text(json.dumps(manifest))  # planted numbers, digest left as it was
    calls = count_computations(monkeypatch)
    again = diagnose_run(run_copy, umap=False, cache=True)
    assert again.n_items == 240 and len(calls) == 1 and "cache_read" not in again.timings
    # a data file edited behind the document's back is a miss too
    reread = diagnose_run(run_copy, umap=False, cache=True)
    assert "cache_read" in reread.timings and len(calls) == 1
    array = sorted(stored_entry(run_copy).parent.glob("*.npy"))[0]
    values = np.load(array)
    np.save(array, values + 1 if values.dtype.kind in "iuf" else values[::-1])
    planted = diagnose_run(run_copy, umap=False, cache=True)
    assert "cache_read" not in planted.timings and len(calls) == 2
    assert planted.n_items == fresh.n_items


def test_a_copied_run_names_its_own_folder(run_copy, tmp_path, monkeypatch):
    # IDs whose recorded checkpoint is not the current best: the ids_stale finding names the
    # run folder in the command that refreshes them
    table = read_code_table(run_copy / SEMANTIC_IDS_FILE)
    source = {"checkpoint": "best", "file": "best.safetensors", "epoch": 1, "sha256": "0" * 64}
    write_semantic_ids(run_copy / SEMANTIC_IDS_FILE, table.item_ids, table.codes, source=source)
    original = diagnose_run(run_copy, umap=False, cache=True)
    stale = [f.message for f in original.findings if f.code == "ids_stale"] + [
        f.message for f in original.run_findings if f.code == "ids_stale"
    ]
    assert stale and str(run_copy) in stale[0]
    assert str(run_copy) not in stored_entry(run_copy).read_text()  # stored relative to the run

    moved = tmp_path / "elsewhere" / "copied"
    shutil.copytree(run_copy, moved)
    calls = count_computations(monkeypatch)
    copied = diagnose_run(moved, umap=False, cache=True)
    assert "cache_read" in copied.timings and calls == []  # served from the copied entry
    document = json.dumps(diagnosis_to_json(copied))
    assert str(run_copy) not in document
    assert f"rqvae assign --run {moved}" in document
    assert copied.checkpoint == moved / "checkpoints" / "best.safetensors"
    assert copied.run_dir == moved


# --- the UMAP cache: the same rules for anything under RUN/cache --------------------------------


def test_umap_entries_are_checked_and_never_reached_through_a_link(tmp_path, monkeypatch):
    calls: list[int] = []

    # the real one takes a minute to compile
    def fake_umap(codebooks, latents, settings, density_latents=None):
        calls.append(1)
        return pd.DataFrame({"kind": ["level"], "x": [1.0], "y": [2.0]})

    monkeypatch.setattr(geometry_assembly, "umap_maps", fake_umap)
    cache = tmp_path / "run" / CACHE_DIR
    cache.mkdir(parents=True)

    def maps_for(folder: Path, checkpoint: str) -> pd.DataFrame:
        return cached_umap_maps(folder, {"checkpoint": checkpoint}, [], None, UmapSettings())

    maps = maps_for(cache, "a")
    (entry,) = cache.glob("umap_*.parquet")
    pd.testing.assert_frame_equal(maps_for(cache, "a"), maps)
    assert len(calls) == 1
    pd.DataFrame({"kind": ["level"], "x": [9.0], "y": [9.0]}).to_parquet(entry)  # planted
    pd.testing.assert_frame_equal(maps_for(cache, "a"), maps)
    assert len(calls) == 2  # the planted entry failed its digest: recomputed, and replaced
    assert list(cache.glob("umap_*.parquet")) == [entry]
    assert pd.read_parquet(entry)["x"].tolist() == [1.0]

    victim = victim_folder(tmp_path)
    (victim / entry.name).write_bytes(b"not mine to delete")
    before = listing(victim)
    linked = tmp_path / "linked-run" / CACHE_DIR
    linked.parent.mkdir()
    os.symlink(victim, linked)
    maps_for(linked, "b")
    assert len(calls) == 3 and listing(victim) == before
