"""Assignment split into shards (``--shard i/n`` + ``merge-ids``) and over torchrun ranks: both
must give the bytes of one unsharded ``rqvae assign``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
