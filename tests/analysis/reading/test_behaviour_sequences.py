"""Reading user sequences: both layouts, unknown items, bad files, and finding the file."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from analysis.reading.behaviour_sequences import find_sequences, read_sequences
from rqvae.errors import InputError
from rqvae.runs.folder import Run

ITEMS = np.array(["a", "b", "c"], dtype=object)


def test_jsonl_and_lcrec_layouts_give_the_same_rows(tmp_path):
    lines = [{"user_id": 0, "item_ids": ["a", "b", "x"]}, {"user_id": 1, "item_ids": ["c"]}]
    jsonl = tmp_path / "sequences.jsonl.gz"
    with gzip.open(jsonl, "wt") as handle:
        handle.write("\n".join(json.dumps(line) for line in lines) + "\n")
    lcrec = tmp_path / "Shop.inter.json"
    lcrec.write_text(json.dumps({"0": ["a", "b", "x"], "1": ["c"]}))
    for path in (jsonl, lcrec):
        users = read_sequences(path, ITEMS)
        np.testing.assert_array_equal(users.rows, [0, 1, -1, 2])
        np.testing.assert_array_equal(users.offsets, [0, 3, 4])
        assert users.n_users == 2 and users.n_interactions == 4 and users.n_unknown == 1


def test_integer_ids_match_string_item_ids(scientific_dir):
    ids = np.array([str(i) for i in range(4344)], dtype=object)
    users = read_sequences(scientific_dir / "sequences.jsonl.gz", ids)
    assert users.n_users == 8317 and users.n_interactions == 58492 and users.n_unknown == 0
    np.testing.assert_array_equal(users.rows[:9], np.arange(9))  # user 0 bought items 0..8


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_sequences(tmp_path / "none.jsonl", ITEMS)
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"user_id": 0, "items": ["a"]}\n')
    with pytest.raises(InputError, match="wrong.jsonl: line 1: no item_ids"):
        read_sequences(wrong, ITEMS)
    other = tmp_path / "other.jsonl"
    other.write_text('{"item_ids": ["y", "z"]}\n')
    with pytest.raises(InputError, match="none of its 2 interactions"):
        read_sequences(other, ITEMS)
    scalar = tmp_path / "scalar.jsonl"
    scalar.write_text('{"item_ids": "a"}\n')
    with pytest.raises(InputError, match="expected a list"):
        read_sequences(scalar, ITEMS)


def test_find_sequences_next_to_the_catalog(letter_run, scientific_dir):
    found = find_sequences(Run(letter_run))
    assert found.resolve() == (scientific_dir / "sequences.jsonl.gz").resolve()


def test_find_sequences_prefers_the_run_folder(tmp_path, letter_run):
    import shutil

    copy = tmp_path / "letter"
    shutil.copytree(letter_run, copy)
    (copy / "sequences.jsonl").write_text('{"item_ids": ["0", "1"]}\n')
    assert find_sequences(Run(copy)) == copy / "sequences.jsonl"
