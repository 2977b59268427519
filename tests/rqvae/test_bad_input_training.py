"""Bad input to ``train`` and ``assign``: one clear message naming the file, exit code 2, and
nothing written half-way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from rqvae.data.catalog import CatalogSpec
from rqvae.data.embeddings import load_embeddings
from rqvae.errors import InputError
from rqvae.model.config import load_config
from rqvae.training.train import train
from tests.rqvae.tiny_runs import (
    one_thread,  # noqa: F401  (autouse fixture)
    tiny_config,
    train_tiny,
    write_embeddings,
)


def run_cli(*args: str):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("bad")
    embeddings = write_embeddings(folder / "emb.npy")
    return train_tiny(folder / "run", embeddings), embeddings


# --- embeddings files -------------------------------------------------------------------------


def test_nan_and_inf_rows_are_listed_and_nothing_is_written(tmp_path):
    vectors = np.load(write_embeddings(tmp_path / "emb.npy"))
    vectors[3, 0] = np.nan
    vectors[17, 5] = np.inf
    np.save(tmp_path / "emb.npy", vectors)
    out = tmp_path / "run"
    result = run_cli("train", "--embeddings", tmp_path / "emb.npy", "--out", out)
    assert_one_line_error(result, "emb.npy", "2 rows contain NaN or inf", "rows 3, 17")
    assert not out.exists()


def test_nan_rows_are_named_by_item_id_when_the_sidecar_has_them(tmp_path):
    path = write_embeddings(tmp_path / "emb.npy", ids=True)
    vectors = np.load(path)
    vectors[5:12] = -np.inf
    np.save(path, vectors)
    with pytest.raises(InputError, match="7 rows .* 'item-5' \\(row 5\\).* and 2 more"):
        load_embeddings(path)


@pytest.mark.parametrize(
    "damage,message",
    [
        ("empty", "embeddings file is empty"),
        ("truncated", "not a readable .npy file, or truncated"),
        ("garbage", "not a readable .npy file"),
        ("one_dimensional", "expected (n_items, dim)"),
        ("integers", "expected float"),
        ("no_rows", "no items or no dimensions"),
        ("missing", "embeddings file not found"),
    ],
)
def test_unusable_embeddings_files(tmp_path, damage, message):
    path = tmp_path / "emb.npy"
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        data = write_embeddings(path).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"this is not numpy" * 20)
    elif damage == "one_dimensional":
        np.save(path, np.ones(10, dtype=np.float32))
    elif damage == "integers":
        np.save(path, np.ones((10, 4), dtype=np.int64))
    elif damage == "no_rows":
        np.save(path, np.ones((0, 4), dtype=np.float32))
    out = tmp_path / "run"
    assert_one_line_error(run_cli("train", "--embeddings", path, "--out", out), str(path), message)
    assert not out.exists()


def test_sidecar_with_the_wrong_number_of_ids(tmp_path):
    path = write_embeddings(tmp_path / "emb.npy")
    path.with_suffix(".json").write_text(json.dumps({"item_ids": ["a", "b"]}))
    with pytest.raises(InputError, match="emb.json: item_ids has 2 entries, but emb.npy has 240"):
        load_embeddings(path)


# --- catalogs, checkpoints, settings ----------------------------------------------------------


def test_catalog_and_embeddings_row_counts_must_match(
    tmp_path, scientific_dir, scientific_embeddings
):
    subset = tmp_path / "first100.npy"
    np.save(subset, np.load(scientific_embeddings)[:100])
    catalog = scientific_dir / "raw" / "Scientific.item.json"
    out = tmp_path / "run"
    with pytest.raises(InputError, match="catalog has 4344 items but .*first100.npy has 100 rows"):
        train(tiny_config(), out, subset, catalog=CatalogSpec(path=catalog))
    assert not out.exists()
    result = run_cli("train", "--embeddings", subset, "--catalog", catalog, "--out", out)
    assert_one_line_error(result, "Scientific.item.json", "4344 items", "100 rows")


def test_dimension_mismatch_with_a_checkpoint(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    wider = write_embeddings(tmp_path / "wider.npy", dim=20)
    result = run_cli("assign", "--run", run_dir, "--embeddings", wider)
    assert_one_line_error(result, "wider.npy", "dimension 20", "expects 16")
    with pytest.raises(InputError, match="wider.npy: embeddings have dimension 20, .* expects 16"):
        train(tiny_config(), run_dir, wider, resume=True)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_checkpoint_is_named(tiny_run, tmp_path, damage):
    run_dir, embeddings = tiny_run
    copy = tmp_path / "copy"
    for path in run_dir.rglob("*"):
        if path.is_file():
            target = copy / path.relative_to(run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    for name in ("best", "last"):
        checkpoint = copy / "checkpoints" / f"{name}.safetensors"
        data = checkpoint.read_bytes()
        checkpoint.write_bytes(data[: len(data) - 100] if damage == "truncated" else b"\0" * 64)
    result = run_cli("assign", "--run", copy)
    assert_one_line_error(result, "best.safetensors", "corrupt or truncated checkpoint")
    assert not (copy / "semantic_ids.parquet").exists()
    with pytest.raises(InputError, match="last.safetensors: corrupt or truncated checkpoint"):
        train(tiny_config(), copy, embeddings, resume=True)


def test_resume_with_a_changed_config_is_refused(tiny_run):
    run_dir, embeddings = tiny_run
    before = (run_dir / "metrics.jsonl").read_bytes()
    changed = tiny_config()
    changed.train.lr = 0.5
    with pytest.raises(InputError, match="--resume with a changed config: train.lr 0.0002 -> 0.5"):
        train(changed, run_dir, embeddings, resume=True)
    result = run_cli("train", "--embeddings", embeddings, "--out", run_dir, "--resume")
    assert_one_line_error(result, "config.json", "--resume with a changed config", "model.")
    assert (run_dir / "metrics.jsonl").read_bytes() == before


def test_existing_run_needs_resume_and_resume_needs_a_run(tiny_run, tmp_path):
    run_dir, embeddings = tiny_run
    result = run_cli("train", "--embeddings", embeddings, "--out", run_dir)
    assert_one_line_error(result, str(run_dir), "already holds a run", "--resume")
    missing = tmp_path / "never-trained"
    result = run_cli("train", "--embeddings", embeddings, "--out", missing, "--resume")
    assert_one_line_error(result, "nothing to resume")
    assert not missing.exists()


@pytest.mark.parametrize(
    "text,message",
    [
        ("[model]\nlevels = 3\n", "unknown setting model.'levels'"),
        ("learning_rate = 0.1\n", "unknown setting 'learning_rate'"),
        ("[train]\nepochs = 'ten'\n", "train.epochs: expected an integer"),
        ("[model]\ndistance = 'manhattan'\n", "model.distance = 'manhattan' must be one of"),
        ("epochs = [", "not valid TOML"),
    ],
)
def test_bad_config_files(tmp_path, text, message):
    settings = tmp_path / "settings.toml"
    settings.write_text(text)
    with pytest.raises(InputError, match=str(settings)) as error:
        load_config(settings, {})
    assert message in str(error.value)


def test_bad_flag_values_are_refused_before_anything_is_written(tmp_path: Path):
    embeddings = write_embeddings(tmp_path / "emb.npy")
    out = tmp_path / "run"
    result = run_cli("train", "--embeddings", embeddings, "--out", out, "--codebook-size", "1")
    assert_one_line_error(result, "model.codebook_size = 1 must be >= 2")
    assert not out.exists()
