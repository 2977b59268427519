"""Training on the real amazon-scientific catalog: run folder, metrics, checkpoints, resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from rqvae.assign import assign_run, encode_codes
from rqvae.catalog import CatalogSpec
from rqvae.checkpoint import load_model
from rqvae.cli import main
from rqvae.config import load_config
from rqvae.id_metrics import codebook_usage, unique_id_ratio
from rqvae.run_folder import Metrics, metric_keys
from rqvae.runs import Run, sid_string
from rqvae.train import TIMING_KEYS, train
from tests.rqvae.tiny_runs import one_thread  # noqa: F401  (autouse fixture)

EPOCHS = 4


def short_config():
    """The default model, trained for a few epochs with a checkpoint every second one."""
    config = load_config(None, {"epochs": EPOCHS})
    config.train.checkpoint_every = 2
    return config


def metric_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def without_timing(lines: list[dict]) -> list[dict]:
    return [{k: v for k, v in line.items() if k not in TIMING_KEYS} for line in lines]


@pytest.fixture(scope="module")
def catalog_spec(scientific_dir: Path) -> CatalogSpec:
    return CatalogSpec(path=scientific_dir / "raw" / "Scientific.item.json", format="lcrec")


@pytest.fixture(scope="module")
def scientific_run(tmp_path_factory, scientific_embeddings, catalog_spec) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("runs") / "scientific"
    return train(short_config(), out, scientific_embeddings, catalog=catalog_spec)


def test_run_folder_holds_config_status_items_and_checkpoints(
    scientific_run, scientific_embeddings
):
    run = Run(scientific_run)
    config = run.config
    assert config["kind"] == "trained"
    assert config["model"]["input_dim"] == 384 and config["model"]["num_levels"] == 3
    assert config["train"]["epochs"] == EPOCHS
    data = config["data"]
    assert data["embeddings"] == str(scientific_embeddings.resolve())
    assert len(data["embeddings_sha256"]) == 64
    assert (data["n_items"], data["dim"], data["item_ids"]) == (4344, 384, "catalog")
    assert data["catalog"]["format"] == "lcrec"
    assert run.status()["state"] == "finished" and run.status()["epoch"] == EPOCHS
    items = run.items()
    assert len(items) == 4344 and items["item_id"].iloc[5] == "5"
    for name in ("best", "last"):
        assert run.checkpoint_path(name).exists()
        assert run.checkpoint_path(name).with_suffix(".json").exists()
    assert list((scientific_run / "tb").glob("events.out.tfevents.*"))


def test_metrics_file_has_every_key_every_epoch(scientific_run):
    lines = metric_lines(scientific_run)
    assert [line["epoch"] for line in lines] == list(range(1, EPOCHS + 1))
    steps_per_epoch = math.ceil((4344 - round(4344 * 0.05)) / 512)
    for line in lines:
        assert set(metric_keys(3)) <= set(line)
        assert line["step"] == line["epoch"] * steps_per_epoch
        assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in line.values())
        assert 0 < line["unique_id_ratio"] <= 1
        for level in range(3):
            assert 0 < line[f"codebook_usage_l{level}"] <= 1
            assert 1 <= line[f"perplexity_l{level}"] <= 256
            assert line[f"residual_norm_l{level}"] >= 0
    # residual norms shrink level by level
    last = lines[-1]
    assert last["residual_norm_l0"] > last["residual_norm_l1"] > last["residual_norm_l2"]


def test_tensorboard_has_the_same_scalars(scientific_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(scientific_run / "tb"))
    board.Reload()
    lines = metric_lines(scientific_run)
    assert set(metric_keys(3)) - {"epoch"} <= set(board.Tags()["scalars"])
    logged = [event.value for event in board.Scalars("unique_id_ratio")]
    np.testing.assert_allclose(logged, [line["unique_id_ratio"] for line in lines], rtol=1e-6)


def test_best_checkpoint_is_the_epoch_the_rule_picks(scientific_run):
    run = Run(scientific_run)
    lines = metric_lines(scientific_run)
    rule = Metrics(scientific_run, load_config(None, {}).train)
    expected = max(lines, key=lambda line: (rule.rank(line), -line["epoch"]))["epoch"]
    best = json.loads(run.checkpoint_path("best").with_suffix(".json").read_text())
    assert best["epoch"] == expected == run.status()["best"]["epoch"]


def test_reloaded_checkpoint_reproduces_the_ids(scientific_run, scientific_embeddings):
    table = assign_run(scientific_run)
    lines = {line["epoch"]: line for line in metric_lines(scientific_run)}
    best_epoch = Run(scientific_run).status()["best"]["epoch"]
    codes = table[["code_0", "code_1", "code_2"]].to_numpy()
    # the IDs of the reloaded best checkpoint give exactly the metrics logged for that epoch
    assert unique_id_ratio(codes) == lines[best_epoch]["unique_id_ratio"]
    usage = codebook_usage(codes, 256)
    assert [lines[best_epoch][f"codebook_usage_l{i}"] for i in range(3)] == usage.tolist()
    # the same from a second, independent load; and the last checkpoint matches the last epoch
    array = np.load(scientific_embeddings)
    assert np.array_equal(encode_codes(load_model(scientific_run, "best"), array), codes)
    last_codes = encode_codes(load_model(scientific_run, "last"), array)
    assert unique_id_ratio(last_codes) == lines[EPOCHS]["unique_id_ratio"]

    stored = pd.read_parquet(scientific_run / "semantic_ids.parquet")
    pd.testing.assert_frame_equal(stored, table)
    assert stored["item_id"].tolist() == [str(row) for row in range(4344)]
    assert stored["sid"].is_unique
    first = stored.iloc[0]
    assert first["sid"] == sid_string([*codes[0], first["collision"]])


def test_interrupted_run_resumes_and_matches_an_uninterrupted_one(
    tmp_path, monkeypatch, scientific_run, scientific_embeddings, catalog_spec
):
    out = tmp_path / "killed"
    original_append = Metrics.append

    def append_then_interrupt(self, record):
        original_append(self, record)
        if record["epoch"] == 3:  # after the epoch-2 checkpoint, before the epoch-4 one
            raise KeyboardInterrupt

    monkeypatch.setattr(Metrics, "append", append_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(short_config(), out, scientific_embeddings, catalog=catalog_spec)
    assert Run(out).status()["state"] == "failed"
    assert len(metric_lines(out)) == 3
    monkeypatch.setattr(Metrics, "append", original_append)

    train(short_config(), out, scientific_embeddings, catalog=catalog_spec, resume=True)
    assert Run(out).status()["state"] == "finished"
    assert without_timing(metric_lines(out)) == without_timing(metric_lines(scientific_run))
    for name in ("best", "last"):
        resumed = load_file(out / "checkpoints" / f"{name}.safetensors")
        uninterrupted = load_file(scientific_run / "checkpoints" / f"{name}.safetensors")
        assert resumed.keys() == uninterrupted.keys()
        assert all(torch.equal(resumed[key], uninterrupted[key]) for key in resumed)


def test_cli_trains_with_flags_and_a_toml_file(tmp_path, scientific_embeddings):
    settings = tmp_path / "settings.toml"
    settings.write_text("[model]\ncodebook_size = 32\n[train]\ncheckpoint_every = 1\n")
    out = tmp_path / "cli-run"
    runner = CliRunner()
    flags = ["--epochs", "2", "--levels", "2", "--seed", "7", "--estimator", "ste"]
    args = ["train", "--embeddings", str(scientific_embeddings), "--out", str(out)]
    result = runner.invoke(main, [*args, "--config", str(settings), *flags])
    assert result.exit_code == 0, result.output
    config = Run(out).config
    assert config["model"]["codebook_size"] == 32 and config["model"]["num_levels"] == 2
    assert config["model"]["gradient_estimator"] == "ste"
    assert (config["train"]["seed"], config["train"]["epochs"]) == (7, 2)
    assert config["data"]["item_ids"] == "row_number"

    result = runner.invoke(main, ["assign", "--run", str(out)])
    assert result.exit_code == 0, result.output
    table = Run(out).semantic_ids()
    assert table.columns.tolist() == ["item_id", "code_0", "code_1", "collision", "sid"]
    assert table["code_0"].max() < 32


@pytest.mark.slow
def test_default_config_reaches_the_quality_target(tmp_path, scientific_embeddings):
    """Default settings: unique-ID ratio >= 0.95 with every code of every level in use."""
    out = train(load_config(None, {}), tmp_path / "default", scientific_embeddings)
    table = assign_run(out)
    codes = table[["code_0", "code_1", "code_2"]].to_numpy()
    assert unique_id_ratio(codes) >= 0.95
    assert codebook_usage(codes, 256).tolist() == [1.0, 1.0, 1.0]
