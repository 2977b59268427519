"""``rqvae study`` end to end on a synthetic task whose best tokenizer is known.

32 items in 4 categories of 8; every user walks category g -> g + 1 -> ..., so the next item
is one of the 8 items of the next category. Three tokenizers: ``(category, member)`` IDs
(all the signal), the same with a quarter of the items' level-0 codes shuffled (less), and
random unique IDs (none). The probe must order them signal > shuffled > random, and the
study must find that level-0 NMI with the categories orders the runs exactly as Recall@10
does (Spearman 1), then cite it as evidence.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from click.testing import CliRunner

from analysis.diagnosis.study import FINDING_DIAGNOSTIC, evidence_for
from cli.main import main
from rqvae.data.catalog import CatalogSpec
from rqvae.importers.import_ids import import_ids
from rqvae.probe.control import random_unique_codes

CATEGORIES, MEMBERS, USERS = 4, 8, 200
# small models, a few epochs: seconds per probe on 2 cores
PROBE_OPTIONS = [
    "--model", "sasrec", "--epochs", "6", "--patience", "6", "--max-items", "3",
    "--semantic-dim", "32", "--semantic-blocks", "1", "--semantic-heads", "2",
    "--semantic-ffn", "64", "--semantic-dropout", "0.0", "--semantic-lr", "0.003",
    "--semantic-batch-size", "64", "--valid-users", "0", "--bootstrap", "100",
    "--item-model", "false",
]  # fmt: skip


def _ids_file(path, codes: np.ndarray) -> None:
    rows = "".join(f"{item},{a},{b}\n" for item, (a, b) in enumerate(codes))
    path.write_text("item_id,code_0,code_1\n" + rows)


@pytest.fixture(scope="module")
def study_task(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    rng = np.random.default_rng(0)
    sequences = folder / "sequences.jsonl.gz"
    with gzip.open(sequences, "wt") as handle:
        for user in range(USERS):
            start = rng.integers(CATEGORIES)
            items = [
                ((start + step) % CATEGORIES) * MEMBERS + rng.integers(MEMBERS) for step in range(6)
            ]
            handle.write(json.dumps({"user_id": f"u{user}", "item_ids": [str(i) for i in items]}))
            handle.write("\n")
    catalog = folder / "items.jsonl"
    catalog.write_text(
        "".join(
            json.dumps({"item_id": str(i), "title": f"item {i}", "category": f"c{i // MEMBERS}"})
            + "\n"
            for i in range(CATEGORIES * MEMBERS)
        )
    )
    spec = CatalogSpec(
        catalog, format="generic", id_field="item_id", text_fields=("title",),
        category_field="category",
    )  # fmt: skip
    items = np.arange(CATEGORIES * MEMBERS)
    signal = np.stack([items // MEMBERS, items % MEMBERS], axis=1)
    shuffled = signal.copy()
    moved = rng.choice(len(items), size=len(items) // 4, replace=False)
    shuffled[moved, 0] = shuffled[rng.permutation(moved), 0]  # same counts, wrong category
    shuffled[:, 1] = np.arange(len(items))  # keeps every ID unique
    runs = folder / "runs"
    for name, codes, size in (
        ("signal", signal, 32),
        ("shuffled", shuffled, 32),
        ("random", random_unique_codes(len(items), 2, 32, seed=1), 32),
    ):
        _ids_file(folder / f"{name}.csv", codes)
        import_ids(folder / f"{name}.csv", runs / name, catalog=spec, codebook_size=size)
    return folder, runs, sequences


def test_study_finds_the_diagnostic_that_orders_the_runs(study_task):
    folder, runs, sequences = study_task
    out = runs / "synthetic.study.json"
    arguments = ["study", "--runs", str(runs / "signal"), str(runs / "shuffled")]
    arguments += [str(runs / "random"), "--sequences", str(sequences), "--out", str(out)]
    result = CliRunner().invoke(main, arguments + PROBE_OPTIONS + ["--resamples", "200"])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    recall = {run["name"]: run["targets"]["recall_at_10"] for run in document["runs"]}
    assert recall["signal"] > recall["shuffled"] > recall["random"], recall
    assert recall["signal"] > 0.9
    nmi = next(
        c
        for c in document["correlations"]
        if c["diagnostic"] == "nmi_l0" and c["target"] == "recall_at_10"
    )
    assert nmi["spearman"] == pytest.approx(1.0, rel=1e-12) and nmi["n_runs"] == 3
    assert {run["catalog_key"] for run in document["runs"]} == {document["catalog_key"]}
    assert "nmi_l0" in result.output and f"wrote {out}" in result.output
    # a second study reuses every probe.json (same sequences, same settings)
    again = CliRunner().invoke(main, arguments + PROBE_OPTIONS)
    assert again.output.count("same sequences and settings, reused") == 3

    # the verdict cites its evidence: the study sits in the runs folder, so diagnose finds it
    report = folder / "signal.json"
    shown = CliRunner().invoke(main, ["diagnose", str(runs / "signal"), "--json", str(report)])
    assert shown.exit_code == 0, shown.output
    findings = json.loads(report.read_text())["verdict"]["findings"]
    cited = [f for f in findings if f["code"] in FINDING_DIAGNOSTIC]
    assert cited, findings  # 4 of 32 level-0 codes in use: a codebook finding fires
    for finding in cited:
        expected = evidence_for(document, finding["code"], finding["level"])
        assert expected and finding["evidence"] == expected
        assert f"study: {expected}" in shown.output
    assert all(f["evidence"] == "" for f in findings if f["code"] not in FINDING_DIAGNOSTIC)


def test_study_refuses_too_few_runs_in_one_line(study_task):
    folder, runs, sequences = study_task
    arguments = ["study", "--runs", str(runs / "signal"), str(runs / "random")]
    arguments += ["--sequences", str(sequences), "--out", str(folder / "x.json")]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2
    assert result.output.strip() == "error: a study needs at least 3 runs, got 2"
