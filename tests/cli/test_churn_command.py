"""``rqvae churn`` and ``rqvae diagnose --sequences`` through the real click group."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli.main import main
from tests.run_copies import permuted_copy


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_churn_of_a_permuted_copy_is_zero_only_after_matching(trained_run, tmp_path):
    copy = permuted_copy(trained_run, tmp_path / "permuted")
    out = tmp_path / "churn.json"
    result = invoke("churn", trained_run, copy, "--json", out)
    assert result.exit_code == 0, result.output
    assert "4,344 common items" in result.output
    assert "full ID: raw 1.0000, matched 0.0000" in result.output
    document = json.loads(out.read_text())
    assert document["full_id_matched"] == 0 and document["full_id_raw"] > 0.9
    assert [row["prefix_length"] for row in document["levels"]] == [1, 2, 3]

    result = invoke("churn", trained_run, trained_run)
    assert "full ID: raw 0.0000, matched 0.0000" in result.output


def test_churn_with_sequences_counts_the_history_tokens_that_change(
    trained_run, scientific_dir, tmp_path
):
    import gzip

    import numpy as np
    import pandas as pd

    copy = permuted_copy(trained_run, tmp_path / "permuted")
    sequences = scientific_dir / "sequences.jsonl.gz"
    out = tmp_path / "churn.json"
    result = invoke("churn", trained_run, copy, "--sequences", sequences, "--json", out)
    assert result.exit_code == 0, result.output
    history = json.loads(out.read_text())["history"]

    # worked out here from the two tables and the file: each interaction holds its item's
    # 3 codes and collision index; a token changes where the copy's value differs
    a = pd.read_parquet(trained_run / "semantic_ids.parquet").set_index("item_id")
    b = pd.read_parquet(copy / "semantic_ids.parquet").set_index("item_id").loc[a.index]
    columns = ["code_0", "code_1", "code_2", "collision"]
    differs = a[columns].to_numpy() != b[columns].to_numpy()
    with gzip.open(sequences, "rt") as handle:
        items = [str(i) for line in handle for i in json.loads(line)["item_ids"]]
    known = [item for item in items if item in a.index]
    counts = pd.Series(known).value_counts().reindex(a.index, fill_value=0).to_numpy()
    assert history["interactions"] == len(known) == 58_492
    assert history["unknown"] == len(items) - len(known)
    assert history["tokens"] == 4 * len(known)
    assert [row["changed"] for row in history["positions"]] == (counts @ differs).tolist()
    assert history["tokens_changed"] == int((counts @ differs).sum())
    assert history["interactions_changed"] == int(counts[differs.any(axis=1)].sum())
    assert history["token_churn"] == pytest.approx(history["tokens_changed"] / history["tokens"])
    assert f"tokens would change ({history['token_churn']:.2%})" in result.output
    assert np.isclose(history["positions"][3]["share"], 0.0)  # collision indices stay

    same = invoke("churn", trained_run, trained_run, "--sequences", sequences)
    assert "0 of 233,968 tokens would change (0.00%)" in same.output


def test_churn_of_a_missing_run_is_one_line(tmp_path, trained_run):
    result = CliRunner().invoke(main, ["churn", str(trained_run), str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "Traceback" not in result.output


def test_diagnose_with_sequences_prints_the_behaviour(letter_run, scientific_dir, tmp_path):
    out = tmp_path / "d.json"
    sequences = scientific_dir / "sequences.jsonl.gz"
    result = invoke("diagnose", letter_run, "--no-umap", "--sequences", sequences, "--json", out)
    assert result.exit_code == 0, result.output
    assert "input geometry: anisotropy 0.18" in result.output
    assert "behaviour (125,574 co-occurring pairs, window 3)" in result.output
    document = json.loads(out.read_text())
    assert document["diagnostics"]["behaviour"]["window"] == 3
    missing = tmp_path / "none.jsonl"
    bad = CliRunner().invoke(main, ["diagnose", str(letter_run), "--sequences", str(missing)])
    assert bad.exit_code == 2
    assert bad.output.strip() == f"error: {missing}: sequences file not found"
    # a file whose content does not fit the run costs that diagnostic only, with the reason
    other = tmp_path / "other.jsonl"
    other.write_text('{"item_ids": ["no-such-item"]}\n')
    result = invoke("diagnose", letter_run, "--no-umap", "--sequences", other)
    assert result.exit_code == 0
    assert "unavailable: behaviour, popularity (" in result.output
    assert "none of its 1 interactions" in result.output
