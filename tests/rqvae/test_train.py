"""Training on the real amazon-scientific catalog: run folder, metrics, checkpoints, resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from rqvae.data.catalog import CatalogSpec
from rqvae.ids.assign import assign_run
from rqvae.model.config import TrainConfig, load_config
from rqvae.quantizers import assign_codes
from rqvae.quantizers.rqvae_model import RQVAEQuantizer
from rqvae.runs.folder import Run
from rqvae.runs.semantic_ids import sid_string
from rqvae.training.metrics_log import Metrics, metric_keys
from rqvae.training.train import TIMING_KEYS, train
from tests.rqvae.tiny_runs import one_thread  # noqa: F401  (autouse fixture)

EPOCHS = 4


def short_config():
    """The default model, trained for a few epochs with a checkpoint every second one."""
    config = load_config(None, {"epochs": EPOCHS})
    config.train.checkpoint_every = 2
    return config


def metric_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def unique_ratio(codes: np.ndarray) -> float:
    """Distinct ID tuples / items, counted with numpy alone."""
    return len(np.unique(codes, axis=0)) / len(codes)


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


# The keys of metrics.jsonl as the README's "Metrics" table lists them, for 3 levels.
README_METRIC_KEYS = {
    "epoch", "step", "lr", "loss_total", "loss_recon", "val_loss_total", "val_loss_recon",
    "unique_id_ratio", "grad_norm", "samples_per_s", "wall_time_s",
    "neighbor_share_l0", "neighbor_lift_l0",
    *(f"{name}_l{level}" for level in range(3) for name in (
        "loss_codebook", "loss_commit", "residual_norm", "codebook_usage", "perplexity",
        "dead_codes_reset",
    )),
}  # fmt: skip


def test_metrics_file_has_every_key_every_epoch(scientific_run):
    lines = metric_lines(scientific_run)
    assert [line["epoch"] for line in lines] == list(range(1, EPOCHS + 1))
    assert set(metric_keys(3)) == README_METRIC_KEYS
    steps_per_epoch = math.ceil((4344 - round(4344 * 0.05)) / TrainConfig().batch_size)
    for line in lines:
        assert set(line) == README_METRIC_KEYS
        assert line["step"] == line["epoch"] * steps_per_epoch
        assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in line.values())
        assert 0 < line["unique_id_ratio"] <= 1
        assert 0 <= line["neighbor_share_l0"] <= 1 and line["neighbor_lift_l0"] > 1
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


def usage_record(
    epoch: int, unique: float, usage: list[float], val: float | None, lift: float = 50.0
) -> dict:
    record = {"epoch": epoch, "unique_id_ratio": unique, "val_loss_total": val}
    record.update({f"codebook_usage_l{level}": value for level, value in enumerate(usage)})
    record["neighbor_lift_l0"] = lift
    return record


def test_rank_follows_the_documented_best_rule(tmp_path):
    """Default rule: an epoch qualifies with every code of every level in use and a level-0
    neighbour lift of at least 10 (from the first epoch on); then the highest unique_id_ratio,
    then the lowest val_loss_total, and an epoch without validation loss after every other."""
    records = [
        usage_record(1, 1.00, [1.0, 1.0, 1.0], 0.1),  # the first epoch may win
        usage_record(2, 1.00, [1.0, 1.0, 1.0], 0.1, lift=9.9),  # fails the semantic check
        usage_record(3, 0.90, [1.0, 1.0, 1.0], 0.5),
        usage_record(4, 0.95, [1.0, 0.99, 1.0], 0.3),  # one dead code at level 1
        usage_record(5, 0.90, [1.0, 1.0, 1.0], 0.4),  # ties epoch 3, lower val loss
        usage_record(6, 0.90, [1.0, 1.0, 1.0], None),  # ties epoch 3, no val loss: after it
        usage_record(7, 0.85, [1.0, 1.0, 1.0], 0.0, lift=10.0),  # exactly at the bar
    ]
    metrics = Metrics(tmp_path, TrainConfig(epochs=10))
    ranked = sorted(records, key=metrics.rank, reverse=True)  # stable: ties keep epoch order
    # qualified (1, 5, 3, 6, 7), then the rest by unique_id_ratio (2; 4)
    assert [record["epoch"] for record in ranked] == [1, 5, 3, 6, 7, 2, 4]

    # Before any epoch qualifies, the highest unique_id_ratio wins.
    unqualified = [records[1], records[3]]
    assert max(unqualified, key=metrics.rank)["epoch"] == 2
    # A lower usage bar lets epoch 4 in; it is second to epoch 1.
    lenient = Metrics(tmp_path, TrainConfig(epochs=10, best_min_usage=0.99))
    assert [r["epoch"] for r in sorted(records, key=lenient.rank, reverse=True)][:2] == [1, 4]
    # The rule before the semantic check: skip the first 20 % (epochs 1-2 of 10).
    old = Metrics(
        tmp_path, TrainConfig(epochs=10, best_after_fraction=0.2, best_min_neighbor_lift=0)
    )
    assert [r["epoch"] for r in sorted(records, key=old.rank, reverse=True)][:2] == [5, 3]


def documented_best_epoch(lines: list[dict], levels: int) -> int:
    """The README's rule in plain Python, with the defaults (usage 1.0, lift >= 10)."""

    def qualifies(line: dict) -> bool:
        usage = min(line[f"codebook_usage_l{level}"] for level in range(levels))
        return usage >= 1.0 and line["neighbor_lift_l0"] >= 10

    pool = [line for line in lines if qualifies(line)] or lines
    top = max(line["unique_id_ratio"] for line in pool)
    tied = [line for line in pool if line["unique_id_ratio"] == top]
    return min(tied, key=lambda line: (line["val_loss_total"], line["epoch"]))["epoch"]


def test_best_checkpoint_is_the_epoch_the_rule_picks(scientific_run):
    run = Run(scientific_run)
    expected = documented_best_epoch(metric_lines(scientific_run), levels=3)
    best = json.loads(run.checkpoint_path("best").with_suffix(".json").read_text())
    assert best["epoch"] == expected == run.status()["best"]["epoch"]


def test_reloaded_checkpoint_reproduces_the_ids(scientific_run, scientific_embeddings):
    # the training metrics describe the nearest-codeword IDs (no collision-aware last level)
    table = assign_run(scientific_run, last_level="nearest")
    lines = {line["epoch"]: line for line in metric_lines(scientific_run)}
    best_epoch = Run(scientific_run).status()["best"]["epoch"]
    codes = table[["code_0", "code_1", "code_2"]].to_numpy()
    # the IDs of the reloaded best checkpoint give exactly the metrics logged for that epoch
    assert unique_ratio(codes) == lines[best_epoch]["unique_id_ratio"]
    usage = [len(np.unique(codes[:, level])) / 256 for level in range(3)]
    assert [lines[best_epoch][f"codebook_usage_l{i}"] for i in range(3)] == usage
    for level in range(3):  # exp of the entropy (nats) of the level's code shares
        shares = np.unique(codes[:, level], return_counts=True)[1] / len(codes)
        perplexity = math.exp(-(shares * np.log(shares)).sum())
        assert lines[best_epoch][f"perplexity_l{level}"] == pytest.approx(perplexity, rel=1e-6)
    # the same from a second, independent load; and the last checkpoint matches the last epoch
    array = np.load(scientific_embeddings)
    best = RQVAEQuantizer.from_run(scientific_run, "best")
    assert np.array_equal(assign_codes(best, array), codes)
    last_codes = assign_codes(RQVAEQuantizer.from_run(scientific_run, "last"), array)
    assert unique_ratio(last_codes) == lines[EPOCHS]["unique_id_ratio"]

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


# The quality targets of the default config (issue 11), on the IDs `assign` writes (with its
# collision-aware last level); the nearest-codeword IDs are checked against what they measured.
# Float32 training is chaotic across CPUs: another CPU's kernels change the last bits, which
# changes the best epoch and so the level-0 cells. Seed 0's level-0 NMI was 0.437 on the machine
# that set the target and 0.406 on an Intel Xeon (2026-12-07; seeds 1, 2: 0.433, 0.451), with
# uniqueness and usage unchanged. So the NMI guard is on the mean of three seeds (measured 0.441
# and 0.430) with a floor for each seed, not on one seed.
SCIENTIFIC_TARGETS = {
    "unique": 0.98,
    "unique_nearest": 0.955,
    "nmi_level0_depth2_mean": 0.42,
    "nmi_level0_depth2_each": 0.39,
}
SCIENTIFIC_SEEDS = (0, 1, 2)
DEBIAN_TARGETS = {"unique": 0.955, "unique_nearest": 0.95}


def default_run_codes(out: Path, embeddings: Path, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train with the default config and ``seed``, and assign: the codes (n_items, 3) `assign`
    writes, and the nearest-codeword codes of the same checkpoint."""
    run_dir = train(load_config(None, {"seed": seed}), out, embeddings)
    nearest = assign_codes(RQVAEQuantizer.from_run(run_dir, "best"), np.load(embeddings))
    table = assign_run(run_dir)
    return table[["code_0", "code_1", "code_2"]].to_numpy(), nearest


@pytest.mark.slow
def test_default_config_reaches_the_quality_target_on_scientific(tmp_path, scientific_dir):
    """amazon-scientific, default config, seeds 0-2: every code of every level in use, unique-ID
    ratio >= 0.98 and level-0 NMI with the depth-2 categories >= 0.42 on average, >= 0.39 for
    each seed (see SCIENTIFIC_TARGETS; bench/RESULTS.md)."""
    from analysis.metrics.taxonomy import taxonomy_scores
    from rqvae.data.catalog import load_catalog

    path = scientific_dir / "embeddings.minilm.npy"
    spec = CatalogSpec(
        path=scientific_dir / "items.jsonl.gz",
        format="generic",
        id_field="item_id",
        text_fields=("title",),
        category_field="categories",
    )
    categories = load_catalog(spec)["categories"].tolist()
    nmis = []
    for seed in SCIENTIFIC_SEEDS:
        codes, nearest = default_run_codes(tmp_path / f"seed-{seed}", path, seed)
        assert [len(np.unique(codes[:, level])) for level in range(3)] == [256, 256, 256]
        assert unique_ratio(codes) >= SCIENTIFIC_TARGETS["unique"]
        assert unique_ratio(nearest) >= SCIENTIFIC_TARGETS["unique_nearest"]
        assert np.array_equal(codes[:, :2], nearest[:, :2])  # only the last level may move
        scores = taxonomy_scores(codes, categories, max_depth=2)
        level0 = scores[(scores.level == 0) & (scores.depth == 2) & (scores.grouping == "prefix")]
        nmis.append(float(level0["nmi"].iloc[0]))
    assert min(nmis) >= SCIENTIFIC_TARGETS["nmi_level0_depth2_each"], nmis
    assert np.mean(nmis) >= SCIENTIFIC_TARGETS["nmi_level0_depth2_mean"], nmis


@pytest.mark.slow
def test_default_config_reaches_the_quality_target_on_debian(tmp_path, debian_dir):
    """debian-packages: unique-ID ratio >= 0.955 with every code of every level in use
    (measured: 1.0; the nearest-codeword IDs 0.957)."""
    path = debian_dir / "embeddings.minilm.npy"
    codes, nearest = default_run_codes(tmp_path / "default", path)
    assert [len(np.unique(codes[:, level])) for level in range(3)] == [256, 256, 256]
    assert unique_ratio(codes) >= DEBIAN_TARGETS["unique"]
    assert unique_ratio(nearest) >= DEBIAN_TARGETS["unique_nearest"]
