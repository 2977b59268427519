"""``rqvae extend`` on bad input: one line ``error: <file>: <problem>``, exit 2, and not one
byte of the run folder changed (issue 23, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli.main import main
from rqvae.data.catalog import CatalogSpec
from rqvae.runs.lock import run_lock
from tests.rqvae.extend_runs import codebook_run, point, save_items, snapshot


def run_cli(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def assert_refused(result, run: Path, before: dict, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert snapshot(run) == before  # nothing written


@pytest.fixture
def run(tmp_path) -> Path:
    return codebook_run(tmp_path)


def new_items(folder: Path, name: str = "new", ids=("n0", "n1")) -> Path:
    x = np.stack([point(3, 0), point(3, 1)])[: len(ids)]
    return save_items(folder / f"{name}.npy", x, list(ids))


def test_a_dimension_mismatch(run, tmp_path):
    wide = save_items(tmp_path / "wide.npy", np.ones((2, 3), np.float32), ["a", "b"])
    before = snapshot(run)
    result = run_cli("extend", "--run", run, "--embeddings", wide)
    assert_refused(result, run, before, f"{wide}:", "dimension 3", f"quantizer of {run}", "2")


def test_nan_rows(run, tmp_path):
    x = np.stack([point(3, 0), point(3, 1)])
    x[1, 0] = np.nan
    bad = save_items(tmp_path / "nan.npy", x, ["a", "b"])
    before = snapshot(run)
    result = run_cli("extend", "--run", run, "--embeddings", bad)
    assert_refused(result, run, before, f"{bad}:", "1 rows contain NaN or inf", "'b' (row 1)")


def test_new_ids_listed_twice(run, tmp_path):
    twice = new_items(tmp_path, "twice", ids=("n0", "n0"))
    before = snapshot(run)
    result = run_cli("extend", "--run", run, "--embeddings", twice)
    assert_refused(
        result, run, before, f"{twice.with_suffix('.json')}:", "listed more than once", "'n0'"
    )


def test_a_known_id_with_another_embedding_needs_update(run, tmp_path):
    moved = save_items(tmp_path / "moved.npy", np.stack([point(0, 1, (0.5, 0))]), ["base-0-1"])
    before = snapshot(run)
    result = run_cli("extend", "--run", run, "--embeddings", moved)
    assert_refused(
        result,
        run,
        before,
        f"{moved}:",
        "1 item(s) already in the run have another embedding",
        "'base-0-1' (row 0",
        "--update",
    )
    # within the tolerance it is the same item: nothing to add, nothing written
    same = save_items(tmp_path / "same.npy", np.stack([point(0, 1, (1e-5, 0))]), ["base-0-1"])
    result = run_cli("extend", "--run", run, "--embeddings", same)
    assert result.exit_code == 0 and "nothing to add" in result.output
    assert snapshot(run) == before


def test_a_run_without_ids(run, tmp_path):
    (run / "semantic_ids.parquet").unlink()
    before = snapshot(run)
    result = run_cli("extend", "--run", run, "--embeddings", new_items(tmp_path))
    assert_refused(
        result, run, before, f"{run / 'semantic_ids.parquet'}:", "no semantic IDs to extend"
    )


def test_another_writer_holds_the_run(run, tmp_path):
    before = snapshot(run)
    with run_lock(run, "train"):
        result = run_cli("extend", "--run", run, "--embeddings", new_items(tmp_path))
    assert_refused(result, run, before, f"{run} is being written by process", "(train, started")


def test_a_run_of_imported_ids_has_no_quantizer(tmp_path):
    from rqvae.importers.import_ids import import_ids

    table = tmp_path / "ids.parquet"
    pd.DataFrame({"item_id": ["a", "b"], "code_0": [0, 1], "code_1": [1, 0]}).to_parquet(table)
    run = import_ids(table, tmp_path / "imported")
    before = snapshot(run)
    result = run_cli("extend", "--run", run, "--embeddings", new_items(tmp_path))
    assert_refused(result, run, before, f"{run}:", "new items cannot be coded", "no codewords")


def test_ids_from_another_checkpoint_than_the_current_one(run, tmp_path):
    from rqvae.quantizers.stored import StoredQuantizer

    quantizer = StoredQuantizer.load(run / "checkpoints")
    quantizer.codebooks[1][0] += 0.5  # the stored codebooks changed since the IDs
    quantizer.save(run / "checkpoints")
    before = snapshot(run)
    result = run_cli("extend", "--run", run, "--embeddings", new_items(tmp_path))
    assert_refused(
        result, run, before, "semantic_ids.parquet:", "another checkpoint", "re-assign every item"
    )


def write_catalog(path: Path, ids: list[str]) -> CatalogSpec:
    pd.DataFrame({"item_id": ids, "title": [f"title of {i}" for i in ids]}).to_csv(
        path, index=False
    )
    return CatalogSpec(path, format="generic", id_field="item_id", text_fields=("title",))


def test_a_run_with_a_catalog_needs_the_new_items_catalog(tmp_path):
    from rqvae.importers.import_checkpoint import import_checkpoint

    source = codebook_run(tmp_path / "plain")
    base_ids = json.loads((source.parent / "base.json").read_text())["item_ids"]
    catalog = write_catalog(tmp_path / "base.csv", base_ids)
    run = tmp_path / "with-catalog"
    import_checkpoint(source.parent / "stack.npy", source.parent / "base.npy", run, catalog=catalog)
    new = new_items(tmp_path)
    before = snapshot(run)
    result = run_cli("extend", "--run", run, "--embeddings", new)
    assert_refused(result, run, before, f"{run / 'items.parquet'}:", "pass --catalog")

    # a catalog that lists an item twice is named too
    twice = tmp_path / "twice.csv"
    twice.write_text("item_id,title\nn0,a\nn0,b\n")
    result = run_cli("extend", "--run", run, "--embeddings", new, "--catalog", twice)
    assert_refused(result, run, before, f"{twice}", "n0")

    # with the new items' catalog the titles join items.parquet, in table order
    write_catalog(tmp_path / "new.csv", ["n0", "n1"])
    result = run_cli("extend", "--run", run, "--embeddings", new, "--catalog", tmp_path / "new.csv")
    assert result.exit_code == 0, result.output
    items = pd.read_parquet(run / "items.parquet")
    assert items["item_id"].tolist() == [*base_ids, "n0", "n1"]
    assert items["title"].tolist()[-2:] == ["title of n0", "title of n1"]
    from analysis.reading.generations import newest_items

    newest = newest_items(run, limit=3)
    assert newest["item_id"].tolist() == ["n1", "n0", base_ids[-1]]
    assert newest["title"].tolist()[:2] == ["title of n1", "title of n0"]
    assert newest["generation"].tolist() == [1, 1, 0]
