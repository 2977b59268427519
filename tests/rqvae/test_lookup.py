"""``rqvae.ids.lookup``: ID strings and prefixes to items, title substrings to IDs."""

from __future__ import annotations

import pandas as pd
import pytest

from rqvae.errors import InputError
from rqvae.ids.lookup import lookup_table
from rqvae.runs.semantic_ids import sid_string

# Six items, two levels. Items "b" and "c" share the tuple (1, 2) and differ by collision;
# "f" (1, 10) sorts after "d" (1, 3) by code although "<|sid_1_10|>" < "<|sid_1_3|>" as text.
CODES = {
    "a": (0, 5, 0),
    "f": (1, 10, 0),
    "b": (1, 2, 0),
    "c": (1, 2, 1),
    "d": (1, 3, 0),
    "e": (2, 5, 0),
}
TITLES = {
    "a": "Red Kettle",
    "f": "Spoon",
    "b": "Blue Mug",
    "c": "Blue Mug XL",
    "d": "Teapot",
    "e": "KETTLE lid",
}


@pytest.fixture()
def semantic_ids() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": list(CODES),
            "code_0": [c[0] for c in CODES.values()],
            "code_1": [c[1] for c in CODES.values()],
            "collision": [c[2] for c in CODES.values()],
            "sid": [sid_string(c) for c in CODES.values()],
        }
    )


@pytest.fixture()
def items() -> pd.DataFrame:
    return pd.DataFrame({"item_id": list(TITLES), "title": list(TITLES.values())})


def ids_of(table: pd.DataFrame) -> list[str]:
    return table["item_id"].tolist()


def test_full_id_finds_exactly_one_item(semantic_ids, items):
    table = lookup_table(
        semantic_ids, items, "<|sid_start|><|sid_0_1|><|sid_1_2|><|sid_2_1|><|sid_end|>", 20
    )
    assert list(table.columns) == ["item_id", "sid", "title"]
    assert ids_of(table) == ["c"] and table["title"][0] == "Blue Mug XL"


def test_tuple_without_collision_finds_the_whole_group(semantic_ids, items):
    table = lookup_table(semantic_ids, items, "<|sid_start|><|sid_0_1|><|sid_1_2|><|sid_end|>", 20)
    assert ids_of(table) == ["b", "c"]


def test_prefix_without_end_token_and_without_start_token(semantic_ids, items):
    assert ids_of(lookup_table(semantic_ids, items, "<|sid_start|><|sid_0_1|>", 20)) == [
        "b",
        "c",
        "d",
        "f",
    ]
    assert ids_of(lookup_table(semantic_ids, items, "<|sid_0_1|><|sid_1_3|>", 20)) == ["d"]
    assert ids_of(lookup_table(semantic_ids, items, "<|sid_start|><|sid_0_9|>", 20)) == []
    assert ids_of(lookup_table(semantic_ids, items, "<|sid_start|><|sid_0_1|>", 2)) == ["b", "c"]


def test_title_substring_is_case_insensitive_and_exact_ids_come_first(semantic_ids, items):
    table = lookup_table(semantic_ids, items, "kettle", 20)
    assert ids_of(table) == ["a", "e"]
    assert table["sid"].tolist() == [sid_string(CODES["a"]), sid_string(CODES["e"])]
    # the item whose id is "d" first, then the titles containing "d", in catalog order
    assert ids_of(lookup_table(semantic_ids, items, "d", 20)) == ["d", "a", "e"]
    assert ids_of(lookup_table(semantic_ids, items, "nothing like this", 20)) == []


def test_bad_queries(semantic_ids, items):
    with pytest.raises(InputError, match="levels must run 0, 1, 2"):
        lookup_table(semantic_ids, items, "<|sid_start|><|sid_1_2|><|sid_end|>", 20)
    with pytest.raises(InputError, match="not an ID string"):
        lookup_table(semantic_ids, items, "<|sid_start|><|sid_0_1", 20)
    with pytest.raises(InputError, match="no items.parquet"):
        lookup_table(semantic_ids, None, "kettle", 20)
