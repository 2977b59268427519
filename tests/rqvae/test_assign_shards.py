"""Assignment split into shards (``--shard i/n`` + ``merge-ids``) and over torchrun ranks: both
must give the bytes of one unsharded ``rqvae assign``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cli.main import main
from rqvae.errors import InputError
from rqvae.ids.assign import assign_run, assign_shard, merge_ids
from rqvae.ids.shards import PARTS_DIR, Shard
from rqvae.runs.folder import SEMANTIC_IDS_FILE
from tests.rqvae.tiny_runs import TINY_ITEMS, copy_run, trained_tiny_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir, _ = trained_tiny_run(tmp_path_factory.mktemp("shards"))
    assign_run(run_dir)
    return run_dir


@pytest.fixture
def fresh_copy(tiny_run, tmp_path):
    """The run without its IDs, and the bytes an unsharded assign wrote."""
    expected = (tiny_run / SEMANTIC_IDS_FILE).read_bytes()
    run_dir = copy_run(tiny_run, tmp_path / "run", keep=lambda path: path.name != SEMANTIC_IDS_FILE)
    return run_dir, expected


def test_shards_tile_the_rows_contiguously():
    assert [Shard(i, 3).rows(10) for i in range(3)] == [(0, 3), (3, 6), (6, 10)]
    assert [Shard(i, 4).rows(2) for i in range(4)] == [(0, 0), (0, 1), (1, 1), (1, 2)]
    assert Shard.parse(" 2 / 5 ") == Shard(2, 5)
    for bad in ("3/3", "1", "a/b", "0/0", "-1/2"):
        with pytest.raises(InputError):
            Shard.parse(bad)


def test_sharded_assign_then_merge_is_byte_identical(fresh_copy):
    run_dir, expected = fresh_copy
    for index in (2, 0, 1):  # any order: each shard knows its rows
        assign_shard(run_dir, Shard(index, 3))
    assert not (run_dir / SEMANTIC_IDS_FILE).exists()
    table = merge_ids(run_dir)
    assert len(table) == TINY_ITEMS
    assert (run_dir / SEMANTIC_IDS_FILE).read_bytes() == expected
    assert not (run_dir / PARTS_DIR).exists()


def test_merge_refuses_missing_and_mixed_parts(fresh_copy):
    run_dir, _ = fresh_copy
    with pytest.raises(InputError, match="no parts"):
        merge_ids(run_dir)
    assign_shard(run_dir, Shard(0, 2))
    with pytest.raises(InputError, match=r"1 of 2 parts missing: part-00001-of-00002\.parquet"):
        merge_ids(run_dir)
    assign_shard(run_dir, Shard(1, 2))
    sidecar = Shard(1, 2).part_path(run_dir).with_suffix(".json")
    record = json.loads(sidecar.read_text())
    record["checkpoint"]["sha256"] = "0" * 64  # as if the run had trained on between shards
    sidecar.write_text(json.dumps(record))
    with pytest.raises(InputError, match="part-00001-of-00002.parquet: made from checkpoint 0000"):
        merge_ids(run_dir)
    assign_shard(run_dir, Shard(0, 3))
    with pytest.raises(InputError, match="different shardings"):
        merge_ids(run_dir)


def test_cli_shard_and_merge(fresh_copy):
    run_dir, expected = fresh_copy
    runner = CliRunner()
    for shard in ("0/2", "1/2"):
        result = runner.invoke(main, ["assign", "--run", str(run_dir), "--shard", shard])
        assert result.exit_code == 0, result.output
        assert "merge-ids" in result.output
    result = runner.invoke(main, ["merge-ids", "--run", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert f"{TINY_ITEMS} items" in result.output
    assert (run_dir / SEMANTIC_IDS_FILE).read_bytes() == expected
    result = runner.invoke(main, ["assign", "--run", str(run_dir), "--shard", "2/2"])
    assert result.exit_code == 2 and "need 0 <= i < n" in result.output


def test_torchrun_two_ranks_match_one_process(fresh_copy):
    run_dir, expected = fresh_copy
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    # "--": torchrun's parser would take --run for an abbreviation of its --run-path
    command += ["-m", "rqvae", "--", "assign", "--run", str(run_dir)]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("unique-ID ratio") == 1  # only rank 0 reports
    assert (run_dir / SEMANTIC_IDS_FILE).read_bytes() == expected


# --- issue 19, item 10: merge-ids refuses damaged parts in one line, writing nothing ----------


def _edit_part(run_dir: Path, change) -> None:
    path = Shard(1, 2).part_path(run_dir)
    table = pd.read_parquet(path)
    change(table).to_parquet(path, index=False)


def _sidecar_of(run_dir: Path) -> Path:
    return Shard(1, 2).part_path(run_dir).with_suffix(".json")


def _relink_parts(run_dir: Path) -> None:
    elsewhere = run_dir.parent / "elsewhere"
    (run_dir / PARTS_DIR).rename(elsewhere)
    os.symlink(elsewhere, run_dir / PARTS_DIR)


DAMAGE = {
    "stray file": (
        lambda run: (run / PARTS_DIR / "part-extra.parquet").write_bytes(b"x"),
        "part-extra.parquet: not a part file",
    ),
    "part of no shard": (
        lambda run: (run / PARTS_DIR / "part-00005-of-00002.parquet").write_bytes(b"x"),
        "part-00005-of-00002.parquet is not a part of a 2-shard assignment",
    ),
    "sidecar []": (
        lambda run: _sidecar_of(run).write_text("[]"),
        "expected an object with an integer n_items",
    ),
    "sidecar {}": (
        lambda run: _sidecar_of(run).write_text("{}"),
        "expected an object with an integer n_items",
    ),
    "string checkpoint": (
        lambda run: _sidecar_of(run).write_text(
            json.dumps({**json.loads(_sidecar_of(run).read_text()), "checkpoint": "best"})
        ),
        "checkpoint must be an object",
    ),
    "missing code column": (
        lambda run: _edit_part(run, lambda t: t.drop(columns=["code_1"])),
        "columns row, item_id, code_0; expected row, item_id, code_0, code_1",
    ),
    "extra code column": (
        lambda run: _edit_part(run, lambda t: t.assign(code_2=0)),
        "expected row, item_id, code_0, code_1 (the run has 2 levels)",
    ),
    "code out of range": (
        lambda run: _edit_part(run, lambda t: t.assign(code_0=[99999] + [0] * (len(t) - 1))),
        "code_0 = 99999 at row 120 is outside the level's codebook of 8 codes",
    ),
    "fractional code": (
        lambda run: _edit_part(run, lambda t: t.assign(code_1=t["code_1"] + 0.5)),
        "code_1 holds float64 values, not integers",
    ),
    "linked parts folder": (_relink_parts, f"{PARTS_DIR}: is a symbolic link"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_merge_refuses_damaged_parts_in_one_line(fresh_copy, damage):
    run_dir, _ = fresh_copy
    for index in (0, 1):
        assign_shard(run_dir, Shard(index, 2))
    spoil, message = DAMAGE[damage]
    spoil(run_dir)
    parts_before = sorted(os.listdir(run_dir / PARTS_DIR))
    result = CliRunner().invoke(main, ["merge-ids", "--run", str(run_dir)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0]
    assert not (run_dir / SEMANTIC_IDS_FILE).exists()  # nothing written
    assert sorted(os.listdir(run_dir / PARTS_DIR)) == parts_before  # nothing removed
    assert not (run_dir / ".lock").exists()
