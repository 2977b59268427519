"""Run folders: the schema-2 ``config.json`` every kind of run shares, the configs users'
existing run folders hold (schema 1, migrated when read), malformed configs, status.json.

The schema-1 documents below are written by hand, in the layout the previous code wrote
(``rqvae train`` and ``rqvae import-ids`` before schema 2).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import torch

from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.ids.assign import assign_run
from rqvae.quantizers.from_run import NO_CHECKPOINT_IMPORTED, load_run_quantizer
from rqvae.runs.folder import Run, list_runs, run_info, set_status
from tests.rqvae.tiny_runs import (
    one_thread,  # noqa: F401  (autouse fixture)
    train_tiny,
    write_embeddings,
)
from tests.run_configs import schema_2

SHA = "0123456789abcdef" * 4

# What `rqvae train` wrote before schema 2: the sizes only inside "model".
SCHEMA_1_TRAINED = {
    "kind": "trained",
    "created": "2025-11-03T10:00:00+00:00",
    "model": {
        "input_dim": 384,
        "hidden_dims": [512, 256, 128],
        "latent_dim": 32,
        "num_levels": 4,
        "codebook_size": 64,
        "distance": "cosine",
        "gradient_estimator": "rotation",
        "ema": False,
        "ema_decay": 0.99,
        "beta": 0.25,
        "kmeans_init": True,
        "kmeans_iters": 25,
        "kmeans_init_size": 8192,
        "dead_code_window": 10,
        "dead_code_threshold": 1,
    },
    "train": {"epochs": 80, "batch_size": 512, "lr": 0.0002, "seed": 0},
    "data": {
        "embeddings": "/data/old/embeddings.minilm.npy",
        "embeddings_sha256": SHA,
        "n_items": 4344,
        "dim": 384,
        "catalog": {
            "path": "/data/old/Scientific.item.json",
            "format": "lcrec",
            "id_field": None,
            "text_fields": None,
            "category_field": None,
            "category_sep": None,
        },
        "item_ids": "catalog",
    },
}

# What `rqvae import-ids` wrote before schema 2: kind "imported", sizes and item count at the
# top level, the catalog as a path string with its format beside it.
SCHEMA_1_IMPORTED = {
    "kind": "imported",
    "created": "2025-11-04T09:30:00+00:00",
    "source": {
        "ids_file": "/data/old/letter/Scientific.index.json",
        "format": "lcrec_index",
        "sha256": SHA,
    },
    "levels": 3,
    "codebook_size": 256,
    "codebook_size_rule": "smallest power of two above the largest code (255)",
    "n_items": 4344,
    "data": {
        "embeddings": "/data/old/embeddings.minilm.npy",
        "catalog": "/data/old/Scientific.item.json",
        "catalog_format": "lcrec",
    },
}


def write_run(folder: Path, config) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


# --- schema 2, as training writes it ------------------------------------------------------------


def test_a_trained_run_writes_the_schema_2_config(trained_run: Path, scientific_dir: Path):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["schema"] == 2 and config["kind"] == "trained"
    assert config["levels"] == 3
    assert config["codebook_sizes"] == [32, 32, 32]
    assert config["distance"] == "euclidean"
    data = config["data"]
    assert data["catalog"] == {
        "path": str((scientific_dir / "items.jsonl.gz").resolve()),
        "format": "generic",
        "id_field": "item_id",
        "text_fields": ["title"],
        "category_field": "categories",
        "category_sep": None,
        # the catalog's digest: `rqvae churn` warns when two runs' catalogs differ
        "sha256": hashlib.sha256((scientific_dir / "items.jsonl.gz").read_bytes()).hexdigest(),
    }
    assert data["embeddings"] == str((scientific_dir / "embeddings.minilm.npy").resolve())
    assert (data["n_items"], data["dim"], data["item_ids"]) == (4344, 384, "catalog")
    assert re.fullmatch("[0-9a-f]{64}", data["embeddings_sha256"])
    # the training settings stay beside the shared keys, so the run can be rebuilt
    assert (config["model"]["num_levels"], config["model"]["codebook_size"]) == (3, 32)
    assert config["train"]["epochs"] == 2

    info = Run(trained_run).info
    assert (info.kind, info.levels, info.codebook_sizes) == ("trained", 3, (32, 32, 32))
    assert (info.distance, info.n_items, info.codebook_size) == ("euclidean", 4344, 32)
    assert info.catalog == data["catalog"]
    assert info.embeddings == scientific_dir.resolve() / "embeddings.minilm.npy"


# --- schema 1, migrated when read ---------------------------------------------------------------


def test_schema_1_trained_config_is_read_as_schema_2(tmp_path):
    folder = write_run(tmp_path / "old-trained", SCHEMA_1_TRAINED)
    before = (folder / "config.json").read_bytes()
    run = Run(folder)
    info = run.info
    assert info.kind == run.kind == "trained"
    assert info.levels == 4
    assert info.codebook_sizes == (64, 64, 64, 64)
    assert info.distance == "cosine"
    assert info.n_items == 4344
    assert info.embeddings == Path("/data/old/embeddings.minilm.npy")
    assert info.catalog["path"] == "/data/old/Scientific.item.json"
    assert info.catalog["format"] == "lcrec"
    assert run.config["model"] == SCHEMA_1_TRAINED["model"]  # the settings are kept as they were
    assert (folder / "config.json").read_bytes() == before  # migrated when read, never rewritten

    # even older: no "kind" at all means trained
    without_kind = {key: value for key, value in SCHEMA_1_TRAINED.items() if key != "kind"}
    info = Run(write_run(tmp_path / "older", without_kind)).info
    assert (info.kind, info.levels, info.codebook_sizes) == ("trained", 4, (64,) * 4)


def test_schema_1_imported_config_is_read_as_imported_ids(tmp_path):
    folder = write_run(tmp_path / "old-letter", SCHEMA_1_IMPORTED)
    run = Run(folder)
    info = run.info
    assert info.kind == run.kind == "imported-ids"
    assert info.levels == 3
    assert info.codebook_sizes == (256, 256, 256)
    assert info.distance == "euclidean"
    assert info.n_items == 4344
    assert info.embeddings == Path("/data/old/embeddings.minilm.npy")
    assert info.catalog == {"path": "/data/old/Scientific.item.json", "format": "lcrec"}
    assert run.config["data"]["n_items"] == 4344
    assert run.config["source"] == SCHEMA_1_IMPORTED["source"]
    # downstream code sees the new kind: an imported ID table has no quantizer
    with pytest.raises(DiagnosticUnavailable, match=re.escape(NO_CHECKPOINT_IMPORTED)):
        load_run_quantizer(run)

    # imported without catalog or embeddings
    bare = json.loads(json.dumps(SCHEMA_1_IMPORTED))
    bare["data"] = {"embeddings": None, "catalog": None, "catalog_format": None}
    info = Run(write_run(tmp_path / "old-bare", bare)).info
    assert (info.catalog, info.embeddings, info.n_items) == (None, None, 4344)


def test_a_schema_1_trained_run_still_assigns_the_same_ids(tmp_path):
    """A real run folder whose config.json is rewritten in the previous layout."""
    torch.set_num_threads(1)
    embeddings = write_embeddings(tmp_path / "emb.npy", ids=True)
    run_dir = train_tiny(tmp_path / "run", embeddings)
    expected = assign_run(run_dir)

    new = json.loads((run_dir / "config.json").read_text())
    old = {"kind": "trained", "created": new["created"], "model": new["model"]}
    old.update(train=new["train"], data=new["data"])
    (run_dir / "config.json").write_text(json.dumps(old))
    info = Run(run_dir).info
    assert (info.kind, info.levels, info.codebook_sizes, info.distance) == (
        "trained",
        2,
        (8, 8),
        "euclidean",
    )
    assert assign_run(run_dir).equals(expected)


# --- malformed configs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1, 2, 3], "expected a JSON object, found list"),
        ("trained", "expected a JSON object, found str"),
        ({"kind": "trained", "model": "oops"}, '"model" must be an object'),
        ({**SCHEMA_1_TRAINED, "model": "oops"}, '"model" must be an object'),
        ({"kind": "weird", "levels": 2}, "kind 'weird' is not one of trained, imported-ids"),
        (schema_2(codebook_sizes=[256, 256]), "codebook_sizes = [256, 256], expected 3 integers"),
        (schema_2(codebook_sizes=[256, 1, 256]), "expected 3 integers >= 2"),
        (schema_2(codebook_sizes=256), "codebook_sizes = 256, expected 3 integers"),
        (schema_2(levels=0), "levels = 0, expected a positive integer"),
        (schema_2(levels=True), "levels = True, expected a positive integer"),
        (schema_2(distance="manhattan"), "distance 'manhattan' is not one of euclidean, cosine"),
        (schema_2(data="x"), '"data" must be an object'),
        (schema_2(data={"catalog": 3}), 'data.catalog must be null or an object with a "path"'),
        (schema_2(data={"embeddings": 3}), "data.embeddings must be null or a path"),
        ({**SCHEMA_1_IMPORTED, "codebook_size": None}, "codebook_sizes = [None, None, None]"),
    ],
)
def test_malformed_configs_name_config_json(tmp_path, document, message):
    folder = write_run(tmp_path / "bad", document)
    run = Run(folder)  # opening is cheap; reading the config says what is wrong
    with pytest.raises(InputError) as error:
        _ = run.info
    assert str(error.value).startswith(f"{folder / 'config.json'}: ")
    assert message in str(error.value)
    with pytest.raises(InputError, match=re.escape(message)):
        run_info(document, folder / "config.json")


def test_a_config_that_is_not_json_names_the_file(tmp_path):
    folder = tmp_path / "cut"
    folder.mkdir()
    (folder / "config.json").write_text('{"kind": "imported", "codebook_si')
    with pytest.raises(InputError, match=re.escape(str(folder / "config.json"))):
        _ = Run(folder).info


def test_a_folder_without_config_is_not_a_run(tmp_path):
    with pytest.raises(InputError, match="not a run folder \\(folder does not exist\\)"):
        Run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a run folder \\(config.json is missing\\)"):
        Run(tmp_path / "empty")


# --- status.json and the runs root ----------------------------------------------------------------


def test_set_status_updates_fields_and_drops_the_error_once_healthy(tmp_path):
    run = write_run(tmp_path / "run", schema_2())
    assert Run(run).status() == {"state": "unknown"}
    set_status(run, "training", epoch=1, epochs=3)
    status = Run(run).status()
    assert (status["state"], status["epoch"], status["epochs"]) == ("training", 1, 3)
    assert isinstance(status["updated"], str)

    set_status(run, "failed", error="KeyboardInterrupt")
    status = Run(run).status()
    assert (status["state"], status["epoch"], status["error"]) == ("failed", 1, "KeyboardInterrupt")

    set_status(run, "training", epoch=2, epochs=None)  # None drops a field
    status = Run(run).status()
    assert status["epoch"] == 2 and "epochs" not in status and "error" not in status


def test_list_runs_finds_folders_with_a_config_in_name_order(tmp_path):
    write_run(tmp_path / "b-run", schema_2())
    write_run(tmp_path / "a-run", schema_2())
    write_run(tmp_path / ".a-run.tmp123", schema_2())  # an import being staged
    (tmp_path / "no-config").mkdir()
    (tmp_path / "config.json").write_text("{}")  # a file, not a run folder
    assert list_runs(tmp_path) == [tmp_path / "a-run", tmp_path / "b-run"]
    assert list_runs(tmp_path / "missing") == []
