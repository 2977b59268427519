"""RunData: codes, catalog fields and embeddings aligned to the rows of semantic_ids.parquet."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.reading.run_data import RunData
from rqvae.data.catalog import CatalogSpec
from rqvae.data.embeddings import sidecar_path
from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.importers.import_ids import import_ids
from rqvae.runs.semantic_ids import write_semantic_ids

CATALOG = [
    {"item_id": "a", "title": "Alpha", "categories": ["Tools", "Saws"]},
    {"item_id": "b", "title": "Beta", "categories": ["Tools"]},
    {"item_id": "c", "title": "Gamma", "categories": []},
    {"item_id": "d", "title": "Delta", "categories": ["Lab", "Glass"]},
]
# Row i = catalog item i (a, b, c, d).
EMBEDDINGS = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]], dtype=np.float32)
# IDs for a, b and d only, in an order that is not the catalog's.
INDEX = {"d": ["<a_3>", "<b_1>"], "b": ["<a_0>", "<b_1>"], "a": ["<a_0>", "<b_0>"]}


@pytest.fixture
def files(tmp_path):
    catalog = tmp_path / "items.jsonl"
    catalog.write_text("".join(json.dumps(row) + "\n" for row in CATALOG))
    np.save(tmp_path / "emb.npy", EMBEDDINGS)
    ids = tmp_path / "x.index.json"
    ids.write_text(json.dumps(INDEX))
    return CatalogSpec(path=catalog), ids, tmp_path / "emb.npy"


@pytest.fixture
def run(files, tmp_path):
    catalog, ids, embeddings = files
    # the index lacks catalog item "c" on purpose: rows are aligned to the catalog
    return import_ids(
        ids, tmp_path / "run", catalog, embeddings_path=embeddings, allow_missing=True
    )


def test_imported_run_is_read_in_catalog_order(run):
    data = RunData.load(run)
    assert data.item_ids.tolist() == ["a", "b", "d"]
    np.testing.assert_array_equal(data.codes, [[0, 0], [0, 1], [3, 1]])
    assert data.collision.tolist() == [0, 0, 0]
    assert (data.n_items, data.n_levels) == (3, 2)
    assert data.codebook_sizes == [4, 4]  # largest code 3 -> 4
    assert data.titles == ["Alpha", "Beta", "Delta"]
    assert data.categories == [["Tools", "Saws"], ["Tools"], ["Lab", "Glass"]]
    np.testing.assert_array_equal(data.embeddings()[0:3], EMBEDDINGS[[0, 1, 3]])


def test_rows_in_any_order_carry_their_own_items(run):
    # Rewrite the IDs as d, a, b: titles, categories and embeddings must follow the rows.
    write_semantic_ids(
        run / "semantic_ids.parquet", ["d", "a", "b"], np.array([[3, 1], [0, 0], [0, 1]])
    )
    data = RunData.load(run)
    assert data.item_ids.tolist() == ["d", "a", "b"]
    assert data.titles == ["Delta", "Alpha", "Beta"]
    assert data.categories == [["Lab", "Glass"], ["Tools", "Saws"], ["Tools"]]
    embeddings = data.embeddings()
    assert embeddings.shape == (3, 2)
    np.testing.assert_array_equal(embeddings[0:3], EMBEDDINGS[[3, 0, 1]])
    np.testing.assert_array_equal(embeddings[np.array([2, 0])], EMBEDDINGS[[1, 3]])


def test_a_sidecar_says_which_row_is_which_item(files, tmp_path):
    catalog, ids, _ = files
    reversed_rows = tmp_path / "reversed.npy"
    np.save(reversed_rows, EMBEDDINGS[::-1])  # rows d, c, b, a
    sidecar_path(reversed_rows).write_text(json.dumps({"item_ids": ["d", "c", "b", "a"]}))
    run = import_ids(
        ids, tmp_path / "run", catalog, embeddings_path=reversed_rows, allow_missing=True
    )
    data = RunData.load(run)
    # a, b, d live in file rows 3, 2, 0 and come back as catalog rows 0, 1, 3.
    np.testing.assert_array_equal(data.embeddings()[0:3], EMBEDDINGS[[0, 1, 3]])


def test_without_catalog_rows_follow_the_id_file(files, tmp_path):
    _, ids, _ = files
    np.save(tmp_path / "three.npy", EMBEDDINGS[:3])  # one row per ID, in the file's order
    data = RunData.load(import_ids(ids, tmp_path / "run", embeddings_path=tmp_path / "three.npy"))
    assert data.item_ids.tolist() == ["d", "b", "a"]
    assert data.titles is None and data.categories is None and data.items is None
    assert data.embeddings().rows is None
    np.testing.assert_array_equal(data.embeddings()[0:3], EMBEDDINGS[:3])


def test_missing_embeddings(files, run, tmp_path):
    catalog, ids, embeddings = files
    without = RunData.load(import_ids(ids, tmp_path / "without", catalog, allow_missing=True))
    with pytest.raises(DiagnosticUnavailable, match="no embeddings: the run names no embeddings"):
        without.embeddings()
    embeddings.unlink()
    with pytest.raises(InputError, match="emb.npy: embeddings file of run run not found"):
        RunData.load(run).embeddings()


def test_codebook_sizes_are_per_level(run):
    config = json.loads((run / "config.json").read_text())
    config["codebook_sizes"] = [4, 8]
    (run / "config.json").write_text(json.dumps(config))
    write_semantic_ids(run / "semantic_ids.parquet", ["a", "b"], np.array([[3, 7], [0, 5]]))
    data = RunData.load(run)
    assert data.codebook_sizes == [4, 8]
    assert data.codebook_size == 8  # the largest level
    # Code 5 fits level 1 (K = 8) but not level 0 (K = 4).
    write_semantic_ids(run / "semantic_ids.parquet", ["a", "b"], np.array([[3, 7], [5, 0]]))
    with pytest.raises(InputError, match="code 5 at level 0 .* below codebook_size 4"):
        RunData.load(run)


def test_ids_that_do_not_fit_the_run_are_named(run):
    table = run / "semantic_ids.parquet"
    write_semantic_ids(table, ["a", "b"], np.array([[0, 0, 0], [1, 1, 1]]))
    with pytest.raises(InputError, match="3 levels of codes, but config.json says 2"):
        RunData.load(run)
    write_semantic_ids(table, ["a", "zz"], np.array([[0, 0], [1, 1]]))
    data = RunData.load(run)
    with pytest.raises(
        InputError, match=r"1 items of the semantic IDs are not in the catalog \(e.g. zz\)"
    ):
        _ = data.titles
    table.unlink()
    with pytest.raises(InputError, match="no semantic IDs yet"):
        RunData.load(run)
