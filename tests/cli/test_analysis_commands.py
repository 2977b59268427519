"""``rqvae import-ids``, ``rqvae diagnose`` and ``rqvae report`` through the real click group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main

CATALOG_FLAGS = [
    "--format", "generic", "--id-field", "item_id", "--text-fields", "title",
    "--category-field", "categories",
]  # fmt: skip


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def index_file(scientific_dir: Path, method: str) -> Path:
    return scientific_dir / "reference_ids" / method / "Scientific.index.json"


def test_import_then_diagnose(tmp_path, scientific_dir):
    out = tmp_path / "letter"
    result = invoke(
        "import-ids", "--ids", index_file(scientific_dir, "letter_native"), "--out", out,
        "--catalog", scientific_dir / "items.jsonl.gz", *CATALOG_FLAGS,
        "--embeddings", scientific_dir / "embeddings.minilm.npy",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "semantic_ids.parquet").exists()

    result = invoke("diagnose", out, "--json", tmp_path / "d.json", "--no-umap")
    assert result.exit_code == 0, result.output
    assert "letter: WARNING" in result.output
    assert (
        "unavailable: residuals, geometry, mahalanobis, latent_geometry (no checkpoint"
        in result.output
    )
    document = json.loads((tmp_path / "d.json").read_text())
    assert document["run"]["kind"] == "imported-ids"
    assert document["diagnostics"]["taxonomy"]["available"] is True


@pytest.mark.parametrize(
    ("fail_on", "expected"),
    [(None, 0), ("error", 0), ("warning", 1)],
)
def test_fail_on_for_a_run_with_warnings(tmp_path, letter_run, fail_on, expected):
    extra = ["--fail-on", fail_on] if fail_on else []
    result = invoke("report", letter_run, "--out", tmp_path / "r.html", "--no-umap", *extra)
    assert result.exit_code == expected, result.output
    assert (tmp_path / "r.html").exists()  # the report is written whatever the verdict


def test_fail_on_error_for_a_collapsed_run(tmp_path, letter_run, mql_run):
    result = invoke(
        "report", letter_run, mql_run, "--out", tmp_path / "r.html", "--json", tmp_path / "r.json",
        "--fail-on", "error", "--no-umap",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "mql4grec: ERROR" in result.output
    assert "level 0 is collapsed" in result.output
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "error"


def test_threshold_override_changes_the_verdict(tmp_path, letter_run):
    # 127 of 256 first-level codes are dead; tolerate up to 60 % and the warning goes away.
    result = invoke(
        "diagnose", letter_run, "--no-umap", "--fail-on", "warning",
        "--threshold", "dead_code_warning=0.6",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "letter: OK" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["diagnose", "{tmp}/missing"], "not a run folder"),
        (["report", "{tmp}/missing", "--out", "{tmp}/r.html"], "not a run folder"),
        (["diagnose", "{letter}", "--threshold", "nonsense=1"], "expected NAME=VALUE"),
        (["diagnose", "{letter}", "--threshold", "collapse_error=high"], "is not a float"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, letter_run, args, message):
    args = [a.format(tmp=tmp_path, letter=letter_run) for a in args]
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_import_of_unknown_items_is_refused(tmp_path, scientific_dir):
    ids = tmp_path / "ids.csv"
    ids.write_text("item_id,code_0,code_1\n0,1,2\nno-such-item,3,4\n")
    out = tmp_path / "bad"
    result = invoke(
        "import-ids", "--ids", ids, "--out", out,
        "--catalog", scientific_dir / "items.jsonl.gz", *CATALOG_FLAGS,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "not in the catalog" in result.output and "no-such-item" in result.output
    assert not out.exists()


def test_import_of_ragged_levels_is_refused(tmp_path):
    ids = tmp_path / "ragged.index.json"
    ids.write_text(json.dumps({"a": ["<a_1>", "<b_2>"], "b": ["<a_1>"], "c": ["<a_3>", "<b_1>"]}))
    result = invoke("import-ids", "--ids", ids, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "ragged levels" in result.output


def test_diagnose_and_report_find_the_sequences_the_dashboard_finds(tmp_path, letter_run, mql_run):
    """Both runs' catalog is amazon-scientific's items.jsonl.gz, with sequences.jsonl.gz next
    to it: without --sequences, diagnose and report use it, as the dashboard does
    (find_sequences), so their behaviour sections are filled in and the stored diagnosis is
    the one the dashboard looks for."""
    from analysis.diagnosis.diagnose import diagnose_run
    from analysis.reading.behaviour_sequences import find_sequences
    from rqvae.runs.folder import Run

    expected = find_sequences(Run(letter_run))
    assert expected is not None and expected.name == "sequences.jsonl.gz"
    result = invoke("diagnose", letter_run, "--no-umap", "--json", tmp_path / "d.json")
    assert result.exit_code == 0, result.output
    assert f"user sequences: {expected}" in result.output
    assert "put sequences.jsonl.gz" not in result.output
    document = json.loads((tmp_path / "d.json").read_text())
    assert document["run"]["sequences"] == str(expected)
    assert document["diagnostics"]["behaviour"]["available"]
    assert document["diagnostics"]["popularity"]["available"]
    # each finding prints what to do and where the evidence is
    assert "what to do: " in result.output and 'evidence: dashboard page "' in result.output
    stored = diagnose_run(letter_run, umap=False, cache=True, stored_only=True, sequences=expected)
    assert stored is not None  # the dashboard's lookup hits what the CLI stored

    result = invoke(
        "report", letter_run, mql_run, "--out", tmp_path / "r.html", "--json", tmp_path / "r.json",
        "--no-umap",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    runs = json.loads((tmp_path / "r.json").read_text())["runs"]
    assert [run["run"]["sequences"] for run in runs] == [str(expected)] * 2
    assert "no user sequences" not in (tmp_path / "r.html").read_text()
