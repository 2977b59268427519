"""Issue 19, the safe file primitives: reads never block on or follow special files out of a
run, JSON beside the data is capped, and writes and deletions never go through a link.

Each test reproduces one way a planted file or link reached outside a run (issue 19, items 1-4)
at the level of the primitive that now refuses it: rqvae/files.py and rqvae/runs/safe_paths.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rqvae.errors import InputError
from rqvae.files import (
    JSON_MAX_BYTES,
    append_jsonl,
    atomic_write_json,
    check_regular_file,
    open_regular,
    read_bytes,
    read_json,
    real_folder,
)
from rqvae.runs.safe_paths import move_into, remove_file, remove_tree


@pytest.fixture
def run(tmp_path) -> Path:
    """A run folder with a real file, a real sub-folder, and an outside folder with a secret."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text('{"kind": "trained"}')
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text('{"planted": true}')
    return run


# --- reading ----------------------------------------------------------------------------------


@pytest.mark.timeout(30)  # a regression would block in open(): fail, never hang the suite
def test_a_fifo_is_refused_without_blocking(run):
    os.mkfifo(run / "status.json")
    with pytest.raises(InputError, match=r"status\.json: is a FIFO, expected a regular file"):
        read_json(run / "status.json", root=run)
    with pytest.raises(InputError, match="is a FIFO"):
        read_json(run / "status.json")  # without a root too: an input can be a FIFO


def test_devices_and_folders_are_refused(run):
    with pytest.raises(InputError, match="/dev/zero: is a character device"):
        read_json("/dev/zero")
    with pytest.raises(InputError, match="checkpoints: is a folder, expected a regular file"):
        read_bytes(run / "checkpoints")


def test_a_link_inside_a_run_is_never_read_through(run, tmp_path):
    (run / "linked.json").symlink_to(tmp_path / "outside" / "secret.json")
    with pytest.raises(InputError, match=r"linked\.json: is a symbolic link"):
        read_json(run / "linked.json", root=run)
    (run / "zero.json").symlink_to("/dev/zero")
    with pytest.raises(InputError, match="is a symbolic link"):
        read_json(run / "zero.json", root=run)
    # a linked folder between the run and the file is refused as well
    (run / "cache").symlink_to(tmp_path / "outside")
    with pytest.raises(InputError, match=r"cache: is a symbolic link; the folders of a run"):
        read_json(run / "cache" / "secret.json", root=run)
    # outside a run the user's own links are followed (an input may be a link)
    assert read_json(run / "linked.json") == {"planted": True}


def test_json_beside_the_data_is_capped(run):
    big = run / "metrics.jsonl"
    with open(big, "wb") as handle:
        handle.truncate(JSON_MAX_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(InputError, match=f"{JSON_MAX_BYTES + 1:,} bytes, more than the"):
        read_bytes(big, root=run)
    assert JSON_MAX_BYTES == 16 * 1024 * 1024  # the cap the README's Hardening section names


def test_open_regular_reads_a_regular_file(run):
    with open_regular(run / "config.json", root=run, max_bytes=100) as handle:
        assert handle.read() == b'{"kind": "trained"}'
    assert check_regular_file(run / "config.json", run).st_size == 19


# --- writing and deleting -----------------------------------------------------------------------


def test_atomic_writes_never_go_through_a_linked_folder_or_file(run, tmp_path):
    outside = tmp_path / "outside"
    (run / "cache").symlink_to(outside)
    with pytest.raises(InputError, match="cache: is a symbolic link"):
        atomic_write_json(run / "cache" / "entry.json", {"x": 1}, root=run)
    with pytest.raises(InputError, match="cache: is a symbolic link"):
        atomic_write_json(run / "cache" / "new" / "entry.json", {"x": 1}, root=run)
    assert sorted(os.listdir(outside)) == ["secret.json"]  # nothing written there
    (run / "status.json").symlink_to(outside / "secret.json")
    with pytest.raises(InputError, match="status.json: is a symbolic link, expected a regular"):
        atomic_write_json(run / "status.json", {"state": "finished"}, root=run)
    with pytest.raises(InputError, match="status.json: is a symbolic link"):
        append_jsonl(run / "status.json", {"epoch": 1}, root=run)
    assert (outside / "secret.json").read_text() == '{"planted": true}'


def test_atomic_writes_make_missing_folders_as_real_folders(run):
    atomic_write_json(run / "cache" / "diagnosis" / "x.json", {"x": 1}, root=run)
    assert read_json(run / "cache" / "diagnosis" / "x.json", root=run) == {"x": 1}
    assert real_folder(run, run / "cache" / "diagnosis") == run / "cache" / "diagnosis"
    with pytest.raises(InputError, match="not inside the run folder"):
        real_folder(run, run.parent / "outside")


def test_deletions_never_reach_through_a_link(run, tmp_path):
    outside = tmp_path / "outside"
    (run / "cache").symlink_to(outside)
    with pytest.raises(InputError, match="cache: is a symbolic link"):
        remove_file(run / "cache" / "secret.json", run)
    with pytest.raises(InputError, match="cache: is a symbolic link, expected a folder"):
        remove_tree(run / "cache", run)
    (run / "config-link.json").symlink_to(outside / "secret.json")
    with pytest.raises(InputError, match="is a symbolic link, expected a regular file"):
        remove_file(run / "config-link.json", run)
    assert (outside / "secret.json").exists()
    # real files and folders of the run are deleted; absent ones are nothing to do
    remove_file(run / "config.json", run)
    remove_tree(run / "checkpoints", run)
    remove_tree(run / "checkpoints", run)
    assert sorted(os.listdir(run)) == ["cache", "config-link.json"]


def test_move_into_refuses_a_link_in_the_way(run, tmp_path):
    staged = tmp_path / "staged.json"
    staged.write_text("{}")
    (run / "items.parquet").symlink_to(tmp_path / "outside" / "secret.json")
    with pytest.raises(InputError, match="items.parquet: is a symbolic link, expected nothing"):
        move_into(staged, run, "items.parquet")
    assert move_into(staged, run, "status.json") == run / "status.json"
