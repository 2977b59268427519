"""The ``rqvae`` command line for the quantizer commands: flags reach the settings, results
are printed, and failures end with one ``error:`` line and exit code 2 (1: nothing found)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli.main import main
from rqvae.files import atomic_write_json, atomic_write_parquet
from rqvae.runs.checkpoint import load_model
from rqvae.runs.folder import Run
from rqvae.runs.semantic_ids import sid_string
from tests.rqvae.tiny_runs import (
    one_thread,  # noqa: F401  (autouse fixture)
    reference_codes,
    trained_tiny_run,
)


def invoke(*args) -> object:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == "", result.stdout  # the message goes to stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return trained_tiny_run(tmp_path_factory.mktemp("cli-assign"))


def test_every_command_is_in_the_group():
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line}
    expected = {"embed", "demo", "train", "assign", "lookup", "import-ids"}
    assert expected <= listed and {"diagnose", "report"} <= listed


def test_train_with_flags_and_a_toml_file(tmp_path, scientific_embeddings):
    settings = tmp_path / "settings.toml"
    settings.write_text("[model]\ncodebook_size = 32\n[train]\ncheckpoint_every = 1\n")
    out = tmp_path / "cli-run"
    flags = ["--epochs", "2", "--levels", "2", "--seed", "7", "--estimator", "ste"]
    args = ["train", "--embeddings", scientific_embeddings, "--out", out]
    result = invoke(*args, "--config", settings, *flags)
    assert result.exit_code == 0, result.output
    assert f"next: rqvae assign --run {out}" in result.output
    config = Run(out).config
    assert config["model"]["codebook_size"] == 32 and config["model"]["num_levels"] == 2
    assert (config["levels"], config["codebook_sizes"]) == (2, [32, 32])
    assert config["model"]["gradient_estimator"] == "ste"
    assert (config["train"]["seed"], config["train"]["epochs"]) == (7, 2)
    assert config["data"]["item_ids"] == "row_number"

    result = invoke("assign", "--run", out)
    assert result.exit_code == 0, result.output
    assert f"{out / 'semantic_ids.parquet'}: 4344 items" in result.output
    table = Run(out).semantic_ids()
    assert table.columns.tolist() == ["item_id", "code_0", "code_1", "collision", "sid"]
    assert table["item_id"].tolist() == [str(row) for row in range(4344)]
    assert table["code_0"].max() < 32 and table["code_1"].max() < 32


def test_assign_with_explicit_checkpoint_and_embeddings(tiny_run):
    run_dir, embeddings = tiny_run
    args = ["assign", "--run", run_dir, "--embeddings", embeddings]
    result = invoke(*args, "--checkpoint", "last", "--last-level", "nearest")
    assert result.exit_code == 0, result.output
    expected = reference_codes(load_model(run_dir, "last"), np.load(embeddings))
    assert np.array_equal(Run(run_dir).semantic_ids()[["code_0", "code_1"]].to_numpy(), expected)
    # the default moves colliding items to free last-level codes, and says how many
    result = invoke(*args, "--checkpoint", "last")
    assert result.exit_code == 0, result.output
    assert "last level balanced:" in result.output
    balanced = Run(run_dir).semantic_ids()[["code_0", "code_1"]].to_numpy()
    assert np.array_equal(balanced[:, 0], expected[:, 0])
    assert len(np.unique(balanced, axis=0)) > len(np.unique(expected, axis=0))

    # a checkpoint that does not exist is "unavailable", still exit 2 with one line
    checkpoint = run_dir / "checkpoints" / "epoch_0099.safetensors"
    assert_one_line_error(
        invoke(*args, "--checkpoint", "epoch_0099"),
        f"error: no checkpoint 'epoch_0099': {checkpoint} does not exist yet",
    )


def test_embed_with_a_missing_model_names_it(tmp_path: Path):
    catalog = tmp_path / "items.jsonl"
    catalog.write_text('{"item_id": 1, "title": "A"}\n')
    missing = tmp_path / "no-such-model"
    out = tmp_path / "emb.npy"
    result = invoke("embed", "--catalog", catalog, "--out", out, "--model", missing)
    assert_one_line_error(result, str(missing))
    assert not out.exists()


# Two levels and a collision level; "b" and "c" share the tuple (1, 2).
LOOKUP_CODES = {"a": (0, 5, 0), "b": (1, 2, 0), "c": (1, 2, 1), "d": (1, 3, 0)}
LOOKUP_TITLES = {"a": "Red Kettle", "b": "Blue Mug", "c": "Blue Mug XL", "d": "Teapot"}


def test_lookup_on_a_run_folder(tmp_path: Path):
    run = tmp_path / "run"
    config = {
        "schema": 2,
        "kind": "imported-ids",
        "levels": 2,
        "codebook_sizes": [8, 8],
        "distance": "euclidean",
        "data": {"embeddings": None, "n_items": 4, "catalog": None, "item_ids": "id_file"},
    }
    atomic_write_json(run / "config.json", config)
    codes = np.array(list(LOOKUP_CODES.values()))
    semantic_ids = pd.DataFrame(
        {
            "item_id": list(LOOKUP_CODES),
            "code_0": codes[:, 0],
            "code_1": codes[:, 1],
            "collision": codes[:, 2],
            "sid": [sid_string(c) for c in LOOKUP_CODES.values()],
        }
    )
    atomic_write_parquet(run / "semantic_ids.parquet", semantic_ids)
    titles = {"item_id": list(LOOKUP_TITLES), "title": list(LOOKUP_TITLES.values())}
    atomic_write_parquet(run / "items.parquet", pd.DataFrame(titles))

    result = invoke("lookup", "--run", run, "<|sid_start|><|sid_0_1|><|sid_1_2|>")
    assert result.exit_code == 0, result.output
    assert "Blue Mug XL" in result.output and "Teapot" not in result.output

    result = invoke("lookup", "--run", run, "TEAPOT")
    assert result.exit_code == 0 and sid_string(LOOKUP_CODES["d"]) in result.output

    result = invoke("lookup", "--run", run, "--limit", "1", "blue")
    assert result.exit_code == 0 and "Blue Mug" in result.output and "XL" not in result.output

    result = invoke("lookup", "--run", run, "no such title")
    assert result.exit_code == 1 and "no item matches 'no such title'" in result.output

    assert_one_line_error(invoke("lookup", "--run", run, "<|sid_0_1"), "not an ID string")
    missing = tmp_path / "missing"
    assert_one_line_error(invoke("lookup", "--run", missing, "x"), f"{missing}: not a run folder")
