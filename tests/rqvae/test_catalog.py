"""Catalog loading: every format on real and small synthetic files, and every bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from cli.main import main
from rqvae.data.catalog import CatalogSpec, category_path, clean_text, load_catalog, resolve_format

COLUMNS = ["item_id", "title", "text", "categories", "raw"]


def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


# --- text cleaning ----------------------------------------------------------------------------


def test_clean_text_strips_html_unescapes_and_folds_whitespace():
    raw = "<p>Great&nbsp;<b>value</b>!</p>\n\n  Size &lt; 5 mm &amp; 3&quot;<br/>wide <!-- x -->"
    assert clean_text(raw) == 'Great value! Size < 5 mm & 3" wide'
    assert clean_text("&lt;br&gt;escaped markup&lt;/br&gt;") == "escaped markup"
    assert clean_text(["a  b", None, "<i>c</i>"]) == "a b c"
    assert clean_text(None) == "" and clean_text(float("nan")) == ""


def test_category_path_from_list_string_and_nested_list():
    assert category_path(["Root", " Leaf &amp; Co "]) == ["Root", "Leaf & Co"]
    assert category_path("Root > Mid > Leaf", " > ") == ["Root", "Mid", "Leaf"]
    assert category_path("Only one") == ["Only one"]
    assert category_path([["A", "B"], ["C"]]) == ["A", "B"]
    assert category_path(None) == [] and category_path("") == []


def test_auto_format_from_file_name():
    def detect(name: str) -> str:
        return resolve_format(CatalogSpec(Path(name)))

    assert detect("meta_All_Beauty.jsonl.gz") == "amazon"
    assert detect("Scientific.item.json") == "lcrec"
    assert detect("ml-100k.item") == "movielens"
    for name in ("items.jsonl.gz", "items.json-lines", "x.csv", "x.tsv", "x.parquet"):
        assert detect(name) == "generic"


# --- real catalogs ----------------------------------------------------------------------------


def test_lcrec_raw_file_matches_the_normalised_items(scientific_dir: Path):
    """The LC-Rec file splits "," joins but not ", " inside names, and cleans like the shared
    items.jsonl.gz (which left entities in one item's categories: compare after cleaning)."""
    items = load_catalog(CatalogSpec(scientific_dir / "raw" / "Scientific.item.json"))
    expected = read_jsonl_gz(scientific_dir / "items.jsonl.gz")
    assert list(items.columns) == COLUMNS and len(items) == 4344
    assert items.attrs["format"] == "lcrec"
    assert items["item_id"].tolist() == [str(r["item_id"]) for r in expected]
    assert items["title"].tolist() == [r["title"] for r in expected]
    assert [list(c) for c in items["categories"]] == [
        [clean_text(c) for c in r["categories"]] for r in expected
    ]
    assert sum(len(c) == 0 for c in items["categories"]) == 131
    commas = [list(c) for c in items["categories"] if any(", " in name for name in c)]
    assert ["Industrial & Scientific", "Tapes, Adhesives & Sealants", "Adhesive Tapes"] in commas
    first = expected[0]
    assert items["text"][0] == (
        f"{first['title']}. Brand: {first['brand']}. "
        f"Category: {' > '.join(first['categories'])}. {first['description']}"
    )


def test_generic_jsonl_gz_with_explicit_fields(scientific_items: Path):
    spec = CatalogSpec(
        scientific_items,
        format="generic",
        id_field="item_id",
        text_fields=("title", "brand", "description"),
        category_field="categories",
    )
    items = load_catalog(spec)
    expected = read_jsonl_gz(scientific_items)
    assert len(items) == 4344 and items["item_id"].is_unique
    assert items.attrs["template"] == "{title}. {brand}. {description}"
    row = expected[1]
    assert items["text"][1] == f"{row['title']} {row['brand']}. {row['description']}"
    assert list(items["categories"][1]) == row["categories"]
    assert json.loads(items["raw"][1]) == row


def test_debian_catalog_defaults(debian_dir: Path):
    items = load_catalog(CatalogSpec(debian_dir / "items.jsonl.gz"))
    assert len(items) == 63681 and items["item_id"].is_unique
    assert items.attrs["template"] == "{title}. {summary}. {description}"
    depth = items["categories"].map(len)
    assert (depth == 3).sum() == 19097 and set(depth) == {1, 3}
    game = items[items["title"] == "0ad"].iloc[0]
    assert list(game["categories"]) == ["games", "game", "game::strategy"]
    assert game["text"].startswith("0ad. Real-time strategy game of ancient warfare. 0 A.D.")


# --- synthetic files --------------------------------------------------------------------------


def test_amazon_2023_meta(tmp_path: Path):
    records = [
        {
            "parent_asin": "B01",
            "main_category": "All Beauty",
            "title": "Rose &amp; Oud Soap",
            "store": "Acme",
            "features": ["Handmade", "<b>Vegan</b>"],
            "description": ["Smells <i>great</i>."],
            "categories": [],
            "images": [],
        },
        {
            "parent_asin": "B02",
            "main_category": "Electronics",
            "title": "USB Cable",
            "store": None,
            "features": [],
            "description": [],
            "categories": ["Electronics", "Cables"],
        },
    ]
    path = write_jsonl(tmp_path / "meta_All_Beauty.jsonl", records)
    items = load_catalog(CatalogSpec(path))
    assert items.attrs["format"] == "amazon"
    assert items["item_id"].tolist() == ["B01", "B02"]
    assert items["title"][0] == "Rose & Oud Soap"
    assert items["text"][0] == (
        "Rose & Oud Soap. Brand: Acme. Category: All Beauty. Handmade Vegan. Smells great."
    )
    assert [list(c) for c in items["categories"]] == [["All Beauty"], ["Electronics", "Cables"]]
    assert items["text"][1] == "USB Cable. Category: Electronics > Cables"


def test_csv_with_category_string_and_separator(tmp_path: Path):
    path = tmp_path / "catalog.csv"
    path.write_text(
        "sku,name,blurb,path\n"
        '007,Kettle,"<p>Boils water,  fast</p>",Home > Kitchen > Kettles\n'
        "008,Mug,,Home > Kitchen\n"
    )
    spec = CatalogSpec(
        path,
        id_field="sku",
        text_fields=("name", "blurb"),
        category_field="path",
        category_sep=">",
    )
    items = load_catalog(spec)
    assert items["item_id"].tolist() == ["007", "008"]  # read as text: leading zeros kept
    assert items["text"].tolist() == ["Kettle. Boils water, fast", "Mug"]
    assert items["title"].tolist() == ["Kettle", "Mug"]  # "name" is a title field
    assert list(items["categories"][0]) == ["Home", "Kitchen", "Kettles"]


def test_parquet_with_list_categories_and_integer_ids(tmp_path: Path):
    path = tmp_path / "catalog.parquet"
    frame = pd.DataFrame(
        {
            "id": [10, 11],
            "title": ["Tent", "Stove"],
            "description": ["Two person.", None],
            "categories": [["Outdoor", "Camping"], []],
        }
    )
    frame.to_parquet(path)
    items = load_catalog(CatalogSpec(path))
    assert items["item_id"].tolist() == ["10", "11"]
    assert items["text"].tolist() == ["Tent. Two person.", "Stove"]
    assert [list(c) for c in items["categories"]] == [["Outdoor", "Camping"], []]


def test_movielens_atomic_file(tmp_path: Path):
    path = tmp_path / "ml-100k.item"
    path.write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "12\tUsual Suspects, The\t1995\tCrime Thriller\n"
        "267\tunkonwn\tunkonwn\tunknown\n"
    )
    items = load_catalog(CatalogSpec(path))
    assert items["title"].tolist() == ["The Usual Suspects (1995)", "unkonwn"]
    assert items["text"][0] == "The Usual Suspects (1995). Genres: Crime, Thriller."
    assert [list(c) for c in items["categories"]] == [["Crime"], []]


# --- bad input: one clear message naming the file, exit code 2, nothing written ---------------


def embed_cli(tmp_path: Path, catalog: Path, *flags: str) -> tuple[int, str]:
    out = tmp_path / "out" / "emb.npy"
    result = CliRunner().invoke(
        main, ["embed", "--catalog", str(catalog), "--out", str(out), *flags]
    )
    assert not out.exists() and not out.with_suffix(".json").exists()
    return result.exit_code, result.output


def assert_input_error(tmp_path: Path, catalog: Path, *flags: str, says: str) -> str:
    code, output = embed_cli(tmp_path, catalog, *flags)
    assert code == 2, output
    assert output.startswith("error: ") and str(catalog) in output and "Traceback" not in output
    assert says in output
    return output


def test_bad_unknown_format(tmp_path: Path):
    path = tmp_path / "items.txt"
    path.write_text('{"item_id": 1, "title": "x"}\n')
    assert_input_error(tmp_path, path, says="unknown catalog format")


def test_bad_missing_id_field_lists_available_fields(tmp_path: Path):
    path = write_jsonl(tmp_path / "items.jsonl", [{"sku": "a", "title": "A", "price": 3}])
    output = assert_input_error(tmp_path, path, says="no id field")
    assert "sku, title, price" in output
    output = assert_input_error(tmp_path, path, "--id-field", "code", says="no 'code' field")
    assert "sku, title, price" in output


def test_bad_missing_text_field_lists_available_fields(tmp_path: Path):
    path = write_jsonl(tmp_path / "items.jsonl", [{"item_id": 1, "title": "A", "brand": "B"}])
    output = assert_input_error(
        tmp_path, path, "--text-fields", "title,body", says="no record has the field(s) 'body'"
    )
    assert "available fields: brand, item_id, title" in output


def test_bad_empty_file(tmp_path: Path):
    path = tmp_path / "items.jsonl"
    path.write_text("")
    assert_input_error(tmp_path, path, says="empty")
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n")
    assert_input_error(tmp_path, blank, says="empty catalog (no items)")


def test_bad_truncated_gzip_names_the_line(tmp_path: Path, scientific_items: Path):
    data = scientific_items.read_bytes()
    path = tmp_path / "items.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    assert_input_error(tmp_path, path, says="truncated or corrupt gzip data after line")


def test_bad_corrupt_json_line_names_the_line(tmp_path: Path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"item_id": 1, "title": "A"}\n{"item_id": 2, "title": "B"\n')
    assert_input_error(tmp_path, path, says="line 2 is not valid JSON")


def test_bad_corrupt_lcrec_json_names_the_line(tmp_path: Path):
    path = tmp_path / "Shop.item.json"
    path.write_text('{\n  "0": {"title": "A"},\n  "1": {"title": \n')
    assert_input_error(tmp_path, path, says="not valid JSON at line 4")


def test_bad_duplicate_item_ids(tmp_path: Path):
    records = [{"item_id": n % 3, "title": f"item {n}"} for n in range(5)]
    path = write_jsonl(tmp_path / "items.jsonl", records)
    assert_input_error(tmp_path, path, says="duplicate item ids: '0' appears at lines 1, 4")


def test_bad_field_flags_for_a_fixed_format(tmp_path: Path):
    path = tmp_path / "ml-100k.item"
    path.write_text("item_id:token\tmovie_title:token_seq\n1\tToy Story\n")
    assert_input_error(tmp_path, path, "--id-field", "x", says="--id-field only apply to")
