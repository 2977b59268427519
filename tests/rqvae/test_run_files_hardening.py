"""Issue 19, the file-system cases (items 2, 3 and 12): each test is the issue's reproduction
turned into a check. Nothing outside a run is written, special files never hang a command,
refused commands leave nothing behind, and the small ones (--seed -5, train --help, churn of
two catalogs, a probe that would replace a fuller probe.json)."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from rqvae.errors import InputError
from rqvae.importers.import_ids import import_ids
from rqvae.model.config import TrainConfig
from rqvae.probe import PROBE_FILE, run_probe
from rqvae.runs.lock import (
    LOCK_FILE,
    RunLocked,
    effective_state,
    is_locked,
    lock_holder,
    run_lock,
)
from tests.rqvae.tiny_runs import (
    copy_run,
    one_thread,  # noqa: F401  (autouse fixture)
    train_tiny,
    trained_tiny_run,
    write_embeddings,
)

PRECIOUS = "my thesis, chapter 3\n"


def run_cli(*args) -> object:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny trained run with semantic IDs and no lock file; tests copy it."""
    run, embeddings = trained_tiny_run(tmp_path_factory.mktemp("files-hardening"))
    assert run_cli("assign", "--run", run).exit_code == 0
    assert not (run / LOCK_FILE).exists()  # the lock a command made goes when it ends
    return run, embeddings


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> Path:
    return copy_run(tiny_run[0], tmp_path / "run")


@pytest.fixture
def precious(tmp_path) -> Path:
    path = tmp_path / "precious.txt"
    path.write_text(PRECIOUS)
    return path


# --- item 2: the writer lock -------------------------------------------------------------------


def test_a_linked_lock_file_is_refused_and_its_target_untouched(run_copy, precious):
    (run_copy / LOCK_FILE).symlink_to(precious)
    result = run_cli("assign", "--run", run_copy)
    assert_one_line_error(result, f"{run_copy / LOCK_FILE}: is a symbolic link")
    assert precious.read_text() == PRECIOUS
    assert (run_copy / LOCK_FILE).is_symlink()  # left for the user to look at


@pytest.mark.timeout(60)  # a FIFO .lock used to block open(): fail instead of hanging
@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_lock_that_is_a_folder_or_fifo_is_one_line(run_copy, kind):
    if kind == "folder":
        (run_copy / LOCK_FILE).mkdir()
    else:
        os.mkfifo(run_copy / LOCK_FILE)
    expected = "is a folder" if kind == "folder" else "is a FIFO"
    assert_one_line_error(run_cli("assign", "--run", run_copy), LOCK_FILE, expected)
    # readers neither block nor fail on it
    assert is_locked(run_copy) is False and lock_holder(run_copy) == {}
    assert effective_state(run_copy, "training") == "interrupted"


def test_a_folder_that_is_not_a_run_gets_no_lock(tmp_path, tiny_run):
    anydir = tmp_path / "anydir"
    anydir.mkdir()
    (anydir / "notes.txt").write_text("mine")
    result = run_cli("assign", "--run", anydir)
    assert_one_line_error(result, f"{anydir}: not a run folder (config.json is missing)")
    assert sorted(os.listdir(anydir)) == ["notes.txt"]
    _, embeddings = tiny_run
    ids = tmp_path / "ids.csv"
    ids.write_text("item_id,code_0\na,0\nb,1\n")
    for command in (
        ("import-checkpoint", "--checkpoint", ids, "--embeddings", embeddings, "--out", anydir),
        ("import-ids", "--ids", ids, "--out", anydir),
        ("train", "--embeddings", embeddings, "--out", anydir, "--epochs", "1"),
    ):
        result = run_cli(*command)
        assert_one_line_error(
            result, f"{anydir}: already exists and is not empty, and is not a run"
        )
        assert sorted(os.listdir(anydir)) == ["notes.txt"], command


def test_a_refused_command_leaves_no_lock_it_made(run_copy, tmp_path):
    result = run_cli("assign", "--run", run_copy, "--embeddings", tmp_path / "missing.npy")
    assert result.exit_code == 2, result.output
    assert not (run_copy / LOCK_FILE).exists()
    # a lock file that was there before (an older workbench's) is left as it was
    (run_copy / LOCK_FILE).write_text("{}")
    run_cli("assign", "--run", run_copy, "--embeddings", tmp_path / "missing.npy")
    assert (run_copy / LOCK_FILE).exists()


def test_the_lock_is_held_while_a_writer_runs(run_copy):
    with run_lock(run_copy, "assign", existing=True):
        assert is_locked(run_copy)
        assert lock_holder(run_copy)["command"] == "assign"
        second = run_lock(run_copy, "train")
        with pytest.raises(InputError, match="is being written by process"), second:
            pass
    assert not is_locked(run_copy) and not (run_copy / LOCK_FILE).exists()


# --- item 3: special files -----------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_diagnose_is_not_held_up_by_a_fifo_lock(run_copy):
    os.mkfifo(run_copy / LOCK_FILE)
    result = run_cli("diagnose", run_copy)
    assert result.exit_code == 0, result.output
    assert "(trained, 240 items, 2 levels x 8" in result.output


@pytest.mark.timeout(120)
def test_a_fifo_status_is_one_line_not_a_hang(run_copy):
    (run_copy / "status.json").unlink()
    os.mkfifo(run_copy / "status.json")
    result = run_cli("diagnose", run_copy)
    assert_one_line_error(result, f"{run_copy / 'status.json'}: is a FIFO, expected a regular")


@pytest.mark.timeout(120)
def test_config_json_linked_to_dev_zero_is_refused(run_copy):
    (run_copy / "config.json").unlink()
    (run_copy / "config.json").symlink_to("/dev/zero")
    result = run_cli("diagnose", run_copy)
    assert_one_line_error(result, f"{run_copy / 'config.json'}: is a symbolic link")
    # the same bytes as a real (sparse) file: the size cap refuses them before reading
    (run_copy / "config.json").unlink()
    with open(run_copy / "config.json", "wb") as handle:
        handle.truncate(1 << 30)
    result = run_cli("diagnose", run_copy)
    assert_one_line_error(result, "config.json: 1,073,741,824 bytes, more than the 16,777,216")


# --- item 12: the small ones ---------------------------------------------------------------------


def test_a_negative_seed_is_refused_before_a_run_folder_exists(tiny_run, tmp_path):
    _, embeddings = tiny_run
    out = tmp_path / "runs" / "seeded"
    result = run_cli("train", "--embeddings", embeddings, "--out", out, "--seed", "-5")
    assert_one_line_error(result, "train.seed = -5 must be in [0, 2^32)")
    assert not out.exists() and not out.parent.exists()


def test_train_help_shows_the_real_defaults():
    result = CliRunner().invoke(main, ["train", "--help"], terminal_width=200)
    assert result.exit_code == 0
    help_text = " ".join(result.output.split())
    assert TrainConfig().patience == 3
    assert "(0: never stop early). [default: 3]" in help_text
    assert "default 10" not in help_text
    assert "Epochs at most. [default: 80]" in help_text


def test_churn_between_runs_of_different_catalogs_warns(tiny_run, tmp_path):
    run_a, _ = tiny_run
    # the same item ids ("item-0" ...) over other items: another embeddings file
    other = write_embeddings(tmp_path / "other.npy", seed=7, ids=True)
    run_b = train_tiny(tmp_path / "run-b", other)
    assert run_cli("assign", "--run", run_b).exit_code == 0
    out = tmp_path / "churn.json"
    result = run_cli("churn", run_a, run_b, "--json", out)
    assert result.exit_code == 0, result.output
    assert "240 common items" in result.output
    assert "were made from different embeddings files" in result.output
    document = json.loads(out.read_text())
    assert document["same_data"] is False
    assert [f["code"] for f in document["findings"]][0] == "different_catalogs"
    same = run_cli("churn", run_a, copy_run(run_a, tmp_path / "copy"), "--json", out)
    assert same.exit_code == 0 and "different" not in same.output
    assert json.loads(out.read_text())["same_data"] is True


def test_a_probe_never_silently_replaces_a_fuller_probe(tmp_path):
    ids = tmp_path / "ids.csv"
    ids.write_text("item_id,code_0,code_1\n" + "".join(f"{i},{i // 4},{i % 4}\n" for i in range(8)))
    run = import_ids(ids, tmp_path / "run")
    full = {"sha256": "f" * 64, "users_used": 150, "path": "/data/sequences.jsonl.gz"}
    (run / PROBE_FILE).write_text(json.dumps({"schema": 1, "sequences": full, "models": {}}))
    one_user = tmp_path / "one.jsonl.gz"
    with gzip.open(one_user, "wt") as handle:
        handle.write(json.dumps({"user_id": "u", "item_ids": ["0", "1", "2", "3"]}) + "\n")
    before = (run / PROBE_FILE).read_bytes()
    with pytest.raises(InputError, match=r"probe\.json: made on 150 users of /data/seq.*1 users"):
        run_probe(run, one_user, progress=False, log=lambda _: None)
    assert (run / PROBE_FILE).read_bytes() == before


def test_lock_probes_are_time_boxed(run_copy, monkeypatch):
    import rqvae.runs.lock as lock_module

    def stuck(argument):  # a lock file on a file system that stopped answering
        time.sleep(30)
        return True

    monkeypatch.setattr(lock_module, "PROBE_TIMEOUT_S", 0.2)
    monkeypatch.setattr(lock_module, "_probe", stuck)
    monkeypatch.setattr(lock_module, "_read_holder", stuck)
    started = time.monotonic()
    assert is_locked(run_copy) is False and lock_holder(run_copy) == {}
    assert effective_state(run_copy, "training") == "interrupted"
    assert time.monotonic() - started < 5


def test_a_lock_record_is_quoted_without_control_characters(run_copy):
    holder = {"pid": "\x1b]0;owned\x07" + "9" * 500, "command": "train\x1b[2J", "started": None}
    message = str(RunLocked(run_copy, holder))
    assert "\x1b" not in message and "\x07" not in message and len(message) < 300
