"""Data-parallel training and assignment with torchrun: two gloo processes on CPU.

Two ranks must train like one process does (same quality), agree on every codebook (only rank 0
writes, so a disagreement would show as IDs that differ from rank 0's model), resume after a
kill, and assign byte for byte what one process assigns with the same checkpoint.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rqvae.ids.assign import assign_run
from rqvae.runs.folder import SEMANTIC_IDS_FILE, Run
from tests.rqvae.test_train import metric_lines, without_timing

REPO = Path(__file__).resolve().parents[2]
FLAGS = ["--epochs", "6", "--levels", "3", "--codebook-size", "64", "--seed", "3"]
FLAGS += ["--batch-size", "256"]


def torchrun(*args: str, script: list[str] | None = None) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node 2`` of ``-m rqvae -- args`` (or of a script)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += script if script else ["-m", "rqvae", "--"]
    command += list(args)
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def train_args(out: Path, embeddings: Path, *extra: str) -> list[str]:
    return ["train", "--embeddings", str(embeddings), "--out", str(out), *FLAGS, *extra]


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory, scientific_embeddings) -> Path:
    out = tmp_path_factory.mktemp("ddp") / "two-ranks"
    result = torchrun(*train_args(out, scientific_embeddings))
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.count("trained, best checkpoint") == 1  # only rank 0 reports
    return out


def test_two_ranks_train_as_well_as_one(two_rank_run, tmp_path, scientific_embeddings):
    from click.testing import CliRunner

    from cli.main import main

    one = tmp_path / "one-rank"
    result = CliRunner().invoke(
        main, train_args(one, scientific_embeddings), catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    two_lines, one_lines = metric_lines(two_rank_run), metric_lines(one)
    assert len(two_lines) == len(one_lines) == 6
    assert Run(two_rank_run).status()["state"] == "finished"
    # both ranks see every batch's half: same number of optimizer steps as one process
    assert two_lines[-1]["step"] == one_lines[-1]["step"]
    for key in ("unique_id_ratio", "codebook_usage_l0", "codebook_usage_l2"):
        assert abs(two_lines[-1][key] - one_lines[-1][key]) <= 0.05, key
    assert two_lines[-1]["unique_id_ratio"] > 0.5
    assert abs(two_lines[-1]["val_loss_total"] - one_lines[-1]["val_loss_total"]) <= (
        0.1 * one_lines[-1]["val_loss_total"]
    )


def test_two_ranks_resume_and_match_an_uninterrupted_run(
    two_rank_run, tmp_path, scientific_embeddings
):
    out = tmp_path / "killed"
    config = tmp_path / "every-2.toml"
    config.write_text("[train]\ncheckpoint_every = 2\n")  # a checkpoint before the kill
    args = train_args(out, scientific_embeddings, "--config", str(config))
    killed = torchrun(*args, script=[str(REPO / "tests" / "rqvae" / "ddp_interrupt.py")])
    assert killed.returncode != 0
    assert Run(out).status()["state"] == "failed"
    assert len(metric_lines(out)) == 3
    resumed = torchrun(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    # checkpoint_every changes what is saved, not what is trained
    assert without_timing(metric_lines(out)) == without_timing(metric_lines(two_rank_run))
    last = load_file(out / "checkpoints" / "last.safetensors")
    expected = load_file(two_rank_run / "checkpoints" / "last.safetensors")
    assert all(torch.equal(last[key], expected[key]) for key in expected)


def test_two_ranks_assign_what_one_process_assigns(two_rank_run):
    result = torchrun("assign", "--run", str(two_rank_run))
    assert result.returncode == 0, result.stderr[-4000:]
    distributed = (two_rank_run / SEMANTIC_IDS_FILE).read_bytes()
    table = assign_run(two_rank_run)
    assert (two_rank_run / SEMANTIC_IDS_FILE).read_bytes() == distributed
    assert len(table) == 4344 and table["sid"].is_unique
