"""Issue 8: one writer per run folder, divergence fails loudly, malformed config.json and stale
state are named. Each test reproduces one reported failure (see the issue's numbered list)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.torch import save_file

from analysis.diagnosis.diagnose import diagnose_run
from cli.main import main
from rqvae.files import read_json
from rqvae.runs.folder import Run
from rqvae.runs.lock import RunLocked, effective_state, is_locked, run_lock
from rqvae.runs.semantic_ids import read_ids_source
from rqvae.training.train import train
from tests.rqvae.tiny_runs import (
    copy_run,
    one_thread,  # noqa: F401  (autouse fixture)
    tiny_config,
    trained_tiny_run,
    write_embeddings,
)

REPO = Path(__file__).resolve().parents[2]
TINY_TOML = """\
[model]
hidden_dims = [32]
latent_dim = 8
num_levels = 2
codebook_size = 8
dead_code_window = 2
[train]
epochs = {epochs}
batch_size = 64
warmup_steps = 2
checkpoint_every = 1
"""


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
    """A tiny trained run with semantic IDs; tests copy it before changing anything."""
    run, embeddings = trained_tiny_run(tmp_path_factory.mktemp("hardening"))
    assert run_cli("assign", "--run", run).exit_code == 0
    return run, embeddings


def rqvae_process(*args, cwd: Path) -> subprocess.Popen:
    """``rqvae ARGS`` as a separate OS process (its own lock, its own pid)."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *map(str, args)],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def epoch_in_status(run: Path) -> int:
    try:
        return int(json.loads((run / "status.json").read_text()).get("epoch", 0))
    except (OSError, ValueError):
        return 0


# --- finding 1 and 8: two writers, and kill -9


def test_second_writer_is_refused_and_kill_9_leaves_an_interrupted_run_that_resumes(tmp_path):
    # 3,000 items make an epoch long enough to stop the writer after its first checkpoint.
    embeddings = write_embeddings(tmp_path / "emb.npy", n_items=3000)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML.format(epochs=12))
    run = tmp_path / "runs" / "R"
    train_args = ("train", "--embeddings", embeddings, "--config", config, "--out", run)
    first = rqvae_process(*train_args, cwd=tmp_path)
    try:
        wait_for(lambda: epoch_in_status(run) >= 1 or first.poll() is not None, what="epoch 1")
        os.kill(first.pid, signal.SIGSTOP)  # frozen mid-training, still holding the lock
        assert first.poll() is None, first.communicate()
        assert is_locked(run)

        # A second `train` and a `--resume` while the first one runs: both refused, nothing mixed.
        metrics_before = (run / "metrics.jsonl").read_bytes()
        for extra in ((), ("--resume",)):
            second = rqvae_process(*train_args, *extra, cwd=tmp_path)
            _, stderr = second.communicate(timeout=300)
            assert second.returncode == 2, stderr
            assert f"is being written by process {first.pid} (train, started" in stderr
            assert "Traceback" not in stderr
        assert (run / "metrics.jsonl").read_bytes() == metrics_before
        assert len(list((run / "tb").iterdir())) == 1  # one TensorBoard file, the first's
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.communicate()

    # kill -9: status.json still says "training", but nobody holds the lock any more.
    assert Run(run).status()["state"] == "training"
    assert not is_locked(run)
    assert effective_state(run, "training") == "interrupted"

    resumed = rqvae_process(*train_args, "--resume", cwd=tmp_path)
    _, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    epochs = [
        json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == list(range(1, 13))
    assert Run(run).status()["state"] == "finished"
    assert effective_state(run, Run(run).status()["state"]) == "finished"


def test_a_lock_held_in_this_process_refuses_train_and_assign(tiny_run, tmp_path):
    run = copy_run(tiny_run[0], tmp_path / "run")
    with run_lock(run, "test"):
        with pytest.raises(RunLocked, match=rf"{run} is being written by process {os.getpid()}"):
            train(tiny_config(), run, tiny_run[1], resume=True)
        assert_one_line_error(run_cli("assign", "--run", run), "is being written by process")
    assert not is_locked(run)
    assert run_cli("assign", "--run", run).exit_code == 0


def test_resume_without_checkpoints_is_an_error(tiny_run, tmp_path):
    run = copy_run(tiny_run[0], tmp_path / "run", keep=lambda p: p.parts[0] != "checkpoints")
    with pytest.raises(Exception, match="no checkpoint to resume from"):
        train(tiny_config(), run, tiny_run[1], resume=True)
    assert not (run / "checkpoints").exists()


# --- finding 4: divergence


def test_beta_inf_is_refused_before_anything_is_written(tmp_path):
    embeddings = write_embeddings(tmp_path / "emb.npy")
    out = tmp_path / "run"
    result = run_cli("train", "--embeddings", embeddings, "--out", out, "--beta", "inf")
    assert_one_line_error(result, "model.beta = inf must be a finite number")
    assert not out.exists()


def test_lr_1e30_stops_training_as_failed_with_the_step(tmp_path):
    embeddings = write_embeddings(tmp_path / "emb.npy")
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML.format(epochs=3))
    out = tmp_path / "run"
    result = run_cli(
        "train", "--embeddings", embeddings, "--config", config, "--out", out, "--lr", "1e30"
    )
    assert result.exit_code == 2, result.output
    # the progress bar shares stderr; the error is the one line after it
    message = result.output[result.output.index("error: ") :].strip()
    assert "\n" not in message and "training diverged" in message and "at step" in message
    status = read_json(out / "status.json")
    assert status["state"] == "failed" and "diverged" in status["error"]
    assert read_json(out / "config.json")["train"]["lr"] == 1e30  # strict JSON reads it back
    for line in (
        (out / "metrics.jsonl").read_text().splitlines() if (out / "metrics.jsonl").exists() else []
    ):
        assert all(np.isfinite(v) for v in json.loads(line).values() if isinstance(v, float))


def test_infinity_in_config_json_is_refused_on_read(tiny_run, tmp_path):
    run = copy_run(tiny_run[0], tmp_path / "run")
    text = (run / "config.json").read_text().replace('"beta": 0.25', '"beta": Infinity')
    (run / "config.json").write_text(text)
    assert_one_line_error(run_cli("assign", "--run", run), "config.json", "Infinity")


def test_a_checkpoint_with_a_nan_codebook_is_refused_by_assign_and_diagnose(tiny_run, tmp_path):
    run = copy_run(tiny_run[0], tmp_path / "run")
    for name in ("best", "last"):
        path = run / "checkpoints" / f"{name}.safetensors"
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata()
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        tensors["model.quantizer.weight"][0, 3] = float("nan")
        save_file(tensors, str(path), metadata=metadata)
    assert_one_line_error(run_cli("assign", "--run", run), "best.safetensors", "non-finite")
    result = run_cli("diagnose", run, "--no-umap")
    assert_one_line_error(result, "non-finite weights")


# --- finding 5: malformed config.json


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda config: [config], "expected a JSON object, found list"),
        (lambda config: {**config, "model": "oops"}, '"model" must be an object'),
        (lambda config: {**config, "kind": "weird"}, "kind 'weird' is not one of"),
        (lambda config: {**config, "train": {"epochs": "many"}}, "train.epochs"),
    ],
    ids=["list", "model-oops", "kind-weird", "bad-setting"],
)
def test_malformed_config_json_is_one_line_error(tiny_run, tmp_path, change, expected):
    run = copy_run(tiny_run[0], tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(change(config)))
    assert_one_line_error(run_cli("assign", "--run", run), "config.json", expected)
    assert_one_line_error(run_cli("diagnose", run, "--no-umap"), "config.json", expected)


def test_malformed_status_json_is_named(tiny_run, tmp_path):
    run = copy_run(tiny_run[0], tmp_path / "run")
    (run / "status.json").write_text(json.dumps({"state": "done?", "epoch": 2}))
    assert_one_line_error(run_cli("diagnose", run, "--no-umap"), "status.json", "'done?'")


# --- finding 8: IDs follow their checkpoint; best that missed its rule


def test_ids_older_than_best_are_a_finding(tiny_run, tmp_path):
    run = copy_run(tiny_run[0], tmp_path / "run")
    source = read_ids_source(run / "semantic_ids.parquet")
    assert source["checkpoint"] == "best" and len(source["sha256"]) == 64
    assert diagnose_run(run, umap=False).run_findings == []
    # what --resume does: a newer best replaces the one the IDs were assigned from
    checkpoints = run / "checkpoints"
    for suffix in (".safetensors", ".json"):
        (checkpoints / f"best{suffix}").write_bytes((checkpoints / f"last{suffix}").read_bytes())
    result = run_cli("diagnose", run, "--no-umap", "--json", tmp_path / "d.json")
    assert result.exit_code == 0, result.output
    verdict = read_json(tmp_path / "d.json")["verdict"]
    assert {"severity", "findings", "run_findings"} <= set(verdict)
    codes = [finding["code"] for finding in verdict["run_findings"]]
    assert codes == ["ids_stale"]
    assert f"rqvae assign --run {run}" in verdict["run_findings"][0]["message"]


def test_best_without_a_qualifying_epoch_is_a_warning(tmp_path):
    embeddings = write_embeddings(tmp_path / "emb.npy")
    # 240 items cannot use all 256 codes of a level, so no epoch meets best_min_usage = 1
    run = train(tiny_config(codebook_size=256), tmp_path / "run", embeddings)
    result = run_cli("assign", "--run", run)
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "did not qualify" in result.output
    findings = diagnose_run(run, umap=False).run_findings
    assert [finding.code for finding in findings] == ["best_not_qualified"]
