"""Diagnostic 10 (run comparison): tidy metrics, final numbers and config differences."""

import pandas as pd
import pytest

from analysis.reading.run_tables import (
    compare_runs,
    config_diff,
    final_metrics,
    runs_without_history,
    settings_table,
    training_marks,
)
from rqvae.files import append_jsonl, atomic_write_json
from rqvae.importers.import_ids import import_ids


def make_run(root, name, config, epochs):
    run = root / name
    atomic_write_json(run / "config.json", config)
    atomic_write_json(run / "status.json", {"state": "finished"})
    for epoch, values in enumerate(epochs, start=1):
        append_jsonl(run / "metrics.jsonl", {"epoch": epoch, **values})
    return run


@pytest.fixture
def two_runs(tmp_path):
    # config.json as the trainer wrote it before schema 2 (read and migrated as such)
    base = {
        "kind": "trained",
        "created": "2024-01-01",
        "model": {"num_levels": 3, "codebook_size": 256},
    }
    first = make_run(
        tmp_path,
        "small",
        {**base, "train": {"lr": 0.001, "epochs": 2}},
        [{"loss_total": 2.0, "unique_id_ratio": 0.5}, {"loss_total": 1.0, "unique_id_ratio": 0.7}],
    )
    second = make_run(
        tmp_path,
        "large",
        {**base, "created": "2024-02-02", "train": {"lr": 0.01, "epochs": 2, "note": None}},
        [{"loss_total": 3.0, "unique_id_ratio": 0.6, "phase": "warmup"}],
    )
    return first, second


def test_compare_runs_is_tidy(two_runs):
    tidy = compare_runs(two_runs)
    assert list(tidy.columns) == ["run", "epoch", "metric", "value"]
    assert len(tidy) == 4 + 2  # 2 epochs x 2 metrics, 1 epoch x 2 numeric metrics
    small = tidy[(tidy["run"] == "small") & (tidy["metric"] == "loss_total")]
    assert small["epoch"].tolist() == [1, 2]
    assert small["value"].tolist() == [2.0, 1.0]
    assert "phase" not in set(tidy["metric"])  # text fields are dropped
    assert tidy["run"].unique().tolist() == ["small", "large"]


def test_config_diff_shows_only_differences(two_runs):
    diff = config_diff(two_runs)
    assert list(diff.columns) == ["key", "small", "large"]
    # created differs but is noise; the model and train.epochs are equal.
    assert diff["key"].tolist() == ["train.lr", "train.note"]
    assert diff.set_index("key").loc["train.lr"].tolist() == [0.001, 0.01]
    # A key missing from one run differs from the other run's explicit null.
    assert diff.set_index("key").loc["train.note", "small"] is None


def test_final_metrics_include_imported_runs(two_runs, tmp_path):
    ids = tmp_path / "ids.csv"
    pd.DataFrame(
        {"item_id": ["a", "b", "c", "d"], "code_0": [0, 0, 0, 1], "code_1": [0, 1, 1, 0]}
    ).to_csv(ids, index=False)
    imported = import_ids(ids, tmp_path / "imported", codebook_size=2)
    table = final_metrics([*two_runs, imported]).set_index("run")
    assert table.loc["small", "epochs"] == 2
    assert table.loc["small", "loss_total"] == 1.0
    assert table.loc["imported", "kind"] == "imported-ids"
    assert table.loc["imported", "state"] == "imported"
    assert table.loc["imported", "ids_unique_ratio"] == 0.75
    assert table.loc["imported", "ids_used_fraction_l0"] == 1.0
    assert table.loc["imported", "ids_perplexity_l1"] == pytest.approx(2.0)


def test_same_folder_names_fall_back_to_paths(tmp_path):
    config = {"levels": 1, "codebook_sizes": [8]}
    a = make_run(tmp_path / "one", "run", config, [{"loss_total": 1.0}])
    b = make_run(tmp_path / "two", "run", config, [{"loss_total": 2.0}])
    assert set(compare_runs([a, b])["run"]) == {str(a), str(b)}


# --- settings side by side and the training marks ----------------------------------------------


@pytest.fixture
def three_kinds(tmp_path):
    """A trained run, an imported LC-Rec checkpoint and an rq-kmeans baseline, by hand."""
    from tests.run_configs import schema_2

    trained = make_run(
        tmp_path,
        "ours",
        schema_2(
            kind="trained",
            model={"input_dim": 384, "hidden_dims": [512, 256], "latent_dim": 32, "beta": 0.25},
            train={"lr": 0.0002, "epochs": 80, "seed": 0, "best_min_usage": 0.9},
            data={"n_items": 10, "embeddings": "/data/emb.npy"},
        ),
        [{"unique_id_ratio": 0.5}, {"unique_id_ratio": 0.7}, {"unique_id_ratio": 0.6}],
    )
    atomic_write_json(
        trained / "status.json",
        {"state": "finished", "best": {"epoch": 2}, "stopped": "early", "stop_reason": "patience"},
    )
    imported = make_run(
        tmp_path,
        "lcrec",
        schema_2(
            kind="imported-checkpoint",
            source={
                "checkpoint": "/x/best_collision_model.pth",
                "format": "lcrec",
                "settings": {"activation": "relu"},
                "settings_from": {"activation": "default"},
            },
            data={"n_items": 10, "embeddings": "/data/emb.npy"},
        ),
        [],
    )
    baseline = make_run(
        tmp_path,
        "rqk",
        schema_2(
            kind="baseline",
            baseline={"method": "rq-kmeans", "balanced": False, "seed": 0},
            data={"n_items": 10, "embeddings": "/data/emb.npy"},
        ),
        [{"unique_id_ratio": 0.4}],
    )
    return trained, imported, baseline


def test_settings_table_puts_source_settings_beside_trained_ones(three_kinds):
    table = settings_table(three_kinds).set_index("setting")
    assert list(table.columns) == ["ours", "lcrec", "rqk"]
    assert table.loc["made by"].tolist() == ["rqvae train", "lcrec checkpoint", "rq-kmeans"]
    assert table.loc["encoder activation"].tolist() == ["silu", "relu (default)", ""]
    assert table.loc["source file"].tolist() == ["", "best_collision_model.pth", ""]
    assert table.loc["encoder layers"].tolist() == ["384 → 512 → 256 → 32", "", ""]
    assert table.loc["learning rate"].tolist() == ["0.0002", "", ""]
    assert table.loc["balanced clusters"].tolist() == ["", "", "off"]
    assert table.loc["seed"].tolist() == ["0", "", "0"]
    # equal for every run (levels, items, embeddings) or empty for every run: not shown
    for same in ("levels", "items", "embeddings", "codebook normalisation", "distance"):
        assert same not in table.index
    # never None: every cell is text
    assert all(isinstance(value, str) for value in table.to_numpy().ravel())


def test_training_marks_and_runs_without_history(three_kinds):
    marks = training_marks(three_kinds).set_index("run")
    assert list(marks.index) == ["ours", "rqk"]  # the imported run has no history
    assert marks.loc["ours", "best_epoch"] == 2
    assert marks.loc["ours", "last_epoch"] == 3
    assert marks.loc["ours", "stopped"] == "early"
    assert marks.loc["ours", "best_min_usage"] == 0.9  # the run's own setting
    assert marks.loc["ours", "best_min_neighbor_lift"] == 10.0  # the default
    assert marks.loc["rqk", "stopped"] == ""
    assert pd.isna(marks.loc["rqk", "best_min_usage"])  # a baseline has no best rule
    assert runs_without_history(three_kinds) == {
        "lcrec": "no training history: imported checkpoint"
    }
