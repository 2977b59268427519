"""External-ID import (rqvae import-ids) and RunData, on small files and the reference IDs."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.metrics.collisions import collision_report
from analysis.metrics.entropy import usage_entropy
from analysis.metrics.health import health_verdict, worst_severity
from analysis.metrics.taxonomy import prefix_taxonomy
from analysis.metrics.usage import codebook_usage
from analysis.reading.run_data import RunData
from rqvae.data.catalog import CatalogSpec
from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.importers.import_ids import import_ids, read_id_file
from rqvae.runs.folder import Run
from rqvae.runs.semantic_ids import parse_sid_string, read_code_table
from tests.reference_ids import index_path, load_tokens, tokens_to_codes


def write_catalog(path, categories=True):
    rows = [
        {"item_id": "a", "title": "Alpha", "categories": ["Tools", "Saws"]},
        {"item_id": "b", "title": "Beta", "categories": ["Tools"]},
        {"item_id": "c", "title": "Gamma", "categories": []},
        {"item_id": "d", "title": "Delta", "categories": ["Lab", "Glass"]},
    ]
    for row in rows:
        if not categories:
            del row["categories"]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return CatalogSpec(path=path)


def write_index(path, index):
    path.write_text(json.dumps(index))
    return path


def assert_nothing_written(out):
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def test_lcrec_index_with_catalog_follows_catalog_order(tmp_path):
    catalog = write_catalog(tmp_path / "items.jsonl")
    index = {"d": ["<a_3>", "<b_1>"], "b": ["<a_0>", "<b_1>"], "a": ["<a_0>", "<b_1>"]}
    ids = write_index(tmp_path / "x.index.json", index)
    with pytest.raises(InputError, match="no IDs for 1 of the 4 items.*'c'.*--allow-missing"):
        import_ids(ids, tmp_path / "run", catalog)
    assert not (tmp_path / "run").exists()
    out = import_ids(ids, tmp_path / "run", catalog, allow_missing=True)
    assert Run(out).status()["missing_items"] == 1
    table = pd.read_parquet(out / "semantic_ids.parquet")
    assert list(table.columns) == ["item_id", "code_0", "code_1", "collision", "sid"]
    assert table["item_id"].tolist() == ["a", "b", "d"]  # catalog order; c has no ID
    assert table[["code_0", "code_1"]].values.tolist() == [[0, 1], [0, 1], [3, 1]]
    assert table["collision"].tolist() == [0, 1, 0]
    assert parse_sid_string(table["sid"][1]) == [0, 1, 1]
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "imported-ids" and config["levels"] == 2
    # largest code 3 -> smallest power of two above: 4, for every level
    assert config["codebook_sizes"] == [4, 4]
    assert config["source"]["format"] == "lcrec_index"
    assert Run(out).status()["state"] == "imported"
    data = RunData.load(out)
    assert data.categories == [["Tools", "Saws"], ["Tools"], ["Lab", "Glass"]]
    assert data.titles == ["Alpha", "Beta", "Delta"]
    with pytest.raises(DiagnosticUnavailable, match="no embeddings"):
        data.embeddings()


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        ("ids.csv", {"item_id": ["a", "b"], "code_0": [5, 1], "code_1": [0, 2]}),
        ("ids.parquet", {"level_1": [0, 2], "level_0": [5, 1], "id": ["a", "b"]}),
        ("ids.tsv", {"L0": [5, 1], "L1": [0, 2], "asin": ["a", "b"]}),
        ("named.csv", {"product": ["a", "b"], "code0": [5, 1], "code1": [0, 2]}),
    ],
)
def test_tables(tmp_path, name, columns):
    path = tmp_path / name
    frame = pd.DataFrame(columns)
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False, sep="\t" if name.endswith(".tsv") else ",")
    item_ids, codes, _ = read_id_file(path)
    assert item_ids.tolist() == ["a", "b"]
    assert codes.tolist() == [[5, 0], [1, 2]]
    out = import_ids(path, tmp_path / "run", codebook_size=16)
    assert RunData.load(out).codebook_size == 16
    assert json.loads((out / "config.json").read_text())["codebook_size_rule"] == "given"


BAD_INDEXES = [
    ({"a": ["<a_1>", "<b_2>"], "b": ["<a_1>"], "c": ["<a_1>", "<b_x>"]}, "not <letter_number>"),
    ({"a": ["<a_1>", "<b_2>"], "b": ["<a_1>"], "c": ["<a_2>", "<b_3>"]}, "ragged levels: 1 items"),
    ({"a": ["<b_1>", "<a_2>"]}, "expected level letter 'a'"),
    ({"a": "<a_1><b_2>"}, "is not a list of tokens"),
    ({}, "no items"),
    (["<a_1>"], "expected a JSON object"),
]


@pytest.mark.parametrize(("index", "message"), BAD_INDEXES)
def test_bad_lcrec_files(tmp_path, index, message):
    out = tmp_path / "run"
    with pytest.raises(InputError, match=message):
        import_ids(write_index(tmp_path / "x.index.json", index), out)
    assert_nothing_written(out)


def test_ragged_items_are_named(tmp_path):
    index = {str(i): ["<a_1>", "<b_2>", "<c_3>"] for i in range(10)}
    index["7"] = ["<a_1>", "<b_2>"]
    with pytest.raises(InputError, match=r"'7' \(2 codes\)"):
        import_ids(write_index(tmp_path / "x.json", index), tmp_path / "run")
    path = tmp_path / "ragged.csv"
    path.write_text("item_id,code_0,code_1\na,1,2\nb,3,\nc,4,5\n")
    with pytest.raises(InputError, match="ragged levels: 1 items lack a code .* 'b'"):
        import_ids(path, tmp_path / "run")
    assert_nothing_written(tmp_path / "run")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file is empty"),
        ("item_id,code_0\n", "no rows"),
        ("item_id,code_0\na,1\nb,x\n", "'code_0' holds 'x' for item 'b'"),
        ("item_id,code_0\na,1\nb,-1\n", "expected a non-negative integer"),
        ("item_id,code_0\na,1\na,2\n", "appear more than once: 'a'"),
        ("name,title,code_0\na,t,1\n", "cannot tell the item id column"),
        ("item_id,code_0,code_2\na,1,2\n", "no gap"),
        ("item_id,code_0,level_1\na,1,2\n", "several kinds"),
        ("item_id,x\na,1\n", "no level columns"),
    ],
)
def test_bad_tables(tmp_path, text, message):
    path = tmp_path / "ids.csv"
    path.write_text(text)
    out = tmp_path / "run"
    with pytest.raises(InputError, match=message):
        import_ids(path, out)
    assert_nothing_written(out)


def test_item_id_column_wins_over_other_text_columns(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("item_id,title,code_0\na,t,1\n")
    item_ids, codes, _ = read_id_file(path)
    assert item_ids.tolist() == ["a"] and codes.tolist() == [[1]]
    data = RunData.load(import_ids(path, tmp_path / "run"))
    assert data.item_ids.tolist() == ["a"] and data.codes.tolist() == [[1]]


def test_other_bad_inputs(tmp_path):
    ids = write_index(tmp_path / "x.json", {"a": ["<a_1>"], "zz": ["<a_2>"], "yy": ["<a_3>"]})
    catalog = write_catalog(tmp_path / "items.jsonl")
    out = tmp_path / "run"
    with pytest.raises(InputError, match=r"2 IDs are for items not in the catalog .*'zz', 'yy'"):
        import_ids(ids, out, catalog)
    with pytest.raises(InputError, match="holds code 3, but codebook size is 2"):
        import_ids(ids, out, codebook_size=2)
    with pytest.raises(InputError, match="unknown ID file type .txt"):
        import_ids(write_index(tmp_path / "x.txt", {}), out)
    with pytest.raises(InputError, match="embeddings file not found"):
        import_ids(ids, out, embeddings_path=tmp_path / "missing.npy")
    np.save(tmp_path / "emb.npy", np.zeros((5, 4), dtype=np.float32))
    with pytest.raises(InputError, match="5 embedding rows, but the run has 3 items"):
        import_ids(ids, out, embeddings_path=tmp_path / "emb.npy")
    assert_nothing_written(out)
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="already exists and is not empty"):
        import_ids(ids, out)
    assert (out / "keep.txt").read_text() == "mine"
    with pytest.raises(InputError, match="is a file"):
        import_ids(ids, out / "keep.txt")


def test_embeddings_follow_the_catalog_rows(tmp_path):
    catalog = write_catalog(tmp_path / "items.jsonl")
    embeddings = np.arange(16, dtype=np.float32).reshape(4, 4)  # row i = catalog item i
    np.save(tmp_path / "emb.npy", embeddings)
    ids = write_index(tmp_path / "x.json", {"d": ["<a_1>"], "a": ["<a_0>"]})
    out = import_ids(
        ids, tmp_path / "run", catalog, embeddings_path=tmp_path / "emb.npy", allow_missing=True
    )
    data = RunData.load(out)
    assert data.item_ids.tolist() == ["a", "d"]
    np.testing.assert_array_equal(data.embeddings()[0:2], embeddings[[0, 3]])


def test_catalog_without_categories_makes_taxonomy_unavailable(tmp_path):
    ids = write_index(tmp_path / "x.json", {"a": ["<a_0>"], "b": ["<a_1>"]})
    catalog = write_catalog(tmp_path / "c.jsonl", False)
    plain = import_ids(ids, tmp_path / "plain", catalog, allow_missing=True)
    data = RunData.load(plain)
    assert data.categories == [[], []]
    with pytest.raises(DiagnosticUnavailable, match="no item in the catalog has a category"):
        prefix_taxonomy(data.codes, data.categories)
    bare = RunData.load(import_ids(ids, tmp_path / "bare"))
    assert bare.categories is None and bare.titles is None
    with pytest.raises(DiagnosticUnavailable, match="the catalog has no categories"):
        prefix_taxonomy(bare.codes, bare.categories)


def test_reference_import_round_trip(
    tmp_path, scientific_dir, scientific_items, scientific_embeddings
):
    index = load_tokens(scientific_dir, "mql4grec")
    out = import_ids(
        index_path(scientific_dir, "mql4grec"),
        tmp_path / "mql4grec",
        CatalogSpec(path=scientific_items),
        embeddings_path=scientific_embeddings,
    )
    data = RunData.load(out)
    assert data.item_ids.tolist() == list(index)  # the catalog and the index share one order
    np.testing.assert_array_equal(data.codes, tokens_to_codes(index))
    assert data.codebook_size == 256
    assert data.categories[0] == [
        "Industrial & Scientific",
        "Industrial Electrical",
        "Passive Components",
        "Capacitors",
    ]
    assert data.embeddings().rows is None  # rows already aligned: read straight through
    report = collision_report(data.codes, data.item_ids, data.collision)
    assert report.unique_id_ratio_with_collision == 1.0
    findings = health_verdict(
        codebook_usage(data.codes, 256), usage_entropy(data.codes, 256), report
    )
    assert worst_severity(findings) == "error"


# --- issue 8, finding 6: the gaps a careless ID file went through -------------------------------


def test_duplicate_keys_in_an_lcrec_index_are_refused(tmp_path):
    # json.dumps cannot write a duplicated key, so the file is written by hand
    ids = tmp_path / "dup.index.json"
    ids.write_text('{"a": ["<a_0>"], "b": ["<a_1>"], "a": ["<a_2>"]}')
    with pytest.raises(InputError, match=r"item ids appear more than once: 'a'"):
        import_ids(ids, tmp_path / "run")
    assert_nothing_written(tmp_path / "run")


@pytest.mark.parametrize("file_name", ["big.index.json", "big.csv"])
def test_a_23_digit_code_is_refused_with_its_value(tmp_path, file_name):
    huge = "1" * 23
    ids = tmp_path / file_name
    if file_name.endswith(".json"):
        ids.write_text(json.dumps({"a": ["<a_0>"], "b": [f"<a_{huge}>"]}))
    else:
        ids.write_text(f"item_id,code_0\na,0\nb,{huge}\n")
    with pytest.raises(InputError, match=f"{huge}.*out of range"):
        import_ids(ids, tmp_path / "run")
    assert_nothing_written(tmp_path / "run")


def test_nan_embeddings_are_refused_at_import(tmp_path):
    catalog = write_catalog(tmp_path / "items.jsonl")
    embeddings = np.ones((4, 3), dtype=np.float32)
    embeddings[2, 1] = np.nan
    np.save(tmp_path / "emb.npy", embeddings)
    index = {name: [f"<a_{code}>"] for code, name in enumerate("abcd")}
    ids = write_index(tmp_path / "x.index.json", index)
    with pytest.raises(InputError, match=r"emb\.npy: rows 2 contain NaN or inf"):
        import_ids(ids, tmp_path / "run", catalog, embeddings_path=tmp_path / "emb.npy")
    assert_nothing_written(tmp_path / "run")


def test_named_level_and_id_columns(tmp_path):
    """A table with c0, c1, c2 and sku is refused as it is, and read with the columns named."""
    from click.testing import CliRunner

    from cli.main import main

    path = tmp_path / "ids.csv"
    path.write_text("sku,c0,c1,c2,title\nA,1,2,3,x\nB,4,5,6,y\n")
    with pytest.raises(InputError, match="no level columns"):
        import_ids(path, tmp_path / "refused")
    run = import_ids(path, tmp_path / "run", level_columns=["c0", "c1", "c2"], id_column="sku")
    table = read_code_table(run / "semantic_ids.parquet")
    assert table.item_ids.tolist() == ["A", "B"]
    assert table.codes.tolist() == [[1, 2, 3], [4, 5, 6]]
    with pytest.raises(InputError, match="no column 'c3'"):
        import_ids(path, tmp_path / "bad", level_columns=["c0", "c3"], id_column="sku")
    result = CliRunner().invoke(
        main,
        [
            "import-ids",
            "--ids",
            str(path),
            "--out",
            str(tmp_path / "cli"),
            "--level-columns",
            "c0,c1,c2",
            "--id-column",
            "sku",
        ],
    )
    assert result.exit_code == 0, result.output
    assert read_code_table(tmp_path / "cli" / "semantic_ids.parquet").codes.tolist()[1] == [4, 5, 6]


def test_code_table_converts_ids_only_when_asked(tmp_path):
    """Ids stay in Arrow until asked for; the ones asked for read as a full conversion would,
    and damaged code columns are named."""
    import pandas as pd

    path = tmp_path / "semantic_ids.parquet"
    pd.DataFrame({"item_id": [10, 20, 30], "code_0": [1, 2, 1], "code_1": [0, 0, 0]}).to_parquet(
        path
    )
    table = read_code_table(path)
    assert table.item_ids_of([2, 0]) == ["30", "10"]
    assert table.item_ids.tolist() == ["10", "20", "30"]
    assert table.collision is None and table.codes.dtype == np.int64
    pd.DataFrame({"item_id": ["a", "b"], "code_0": [1.0, None]}).to_parquet(path)
    with pytest.raises(InputError, match="some items have missing codes"):
        read_code_table(path)
    pd.DataFrame({"item_id": ["a", "b"], "code_0": [1, 2], "collision": [0, None]}).to_parquet(path)
    with pytest.raises(InputError, match="some items have no collision index"):
        read_code_table(path)
    pd.DataFrame({"item_id": ["a", "b"], "code_0": ["x", "y"]}).to_parquet(path)
    with pytest.raises(InputError, match="expected integer codes"):
        read_code_table(path)


def test_sid_strings_of_a_table_equal_one_row_at_a_time():
    from rqvae.runs.semantic_ids import sid_string, sid_strings

    rng = np.random.default_rng(3)
    codes = rng.integers(0, 300, size=(2_000, 4))
    codes[0] = 0
    expected = [sid_string(row) for row in codes.tolist()]
    assert sid_strings(codes).tolist() == expected
    assert sid_strings(codes.astype(np.uint16)).tolist() == expected
    assert sid_strings(codes.astype(np.float64)).tolist() == expected  # whole numbers
    assert expected[0] == "<|sid_start|><|sid_0_0|><|sid_1_0|><|sid_2_0|><|sid_3_0|><|sid_end|>"
    assert sid_strings(np.zeros((0, 3), dtype=np.int64)).tolist() == []


def test_sid_strings_across_chunks(monkeypatch):
    from rqvae.runs import semantic_ids

    codes = np.arange(35).reshape(7, 5) % 4
    whole = semantic_ids.sid_strings(codes).tolist()
    monkeypatch.setattr(semantic_ids, "SID_CHUNK", 3)  # 3 + 3 + 1 rows
    assert semantic_ids.sid_strings(codes).tolist() == whole
    assert whole == [semantic_ids.sid_string(row) for row in codes.tolist()]
