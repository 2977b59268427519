"""The random-ID control (``rqvae random-ids``), the semantic models' learning-rate schedule,
and a synthetic task whose best tokenizer is known: the probe must rank IDs that carry the
signal above random IDs."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import main
from rqvae.errors import InputError
from rqvae.importers.import_ids import import_ids
from rqvae.probe.control import random_unique_codes
from rqvae.probe.settings import ProbeSettings
from rqvae.probe.training import lr_factor
from rqvae.runs.semantic_ids import read_code_table


def test_random_codes_are_unique_in_range_and_seeded():
    # 60 items in 64 possible tuples: most first draws collide, so the redraws are exercised
    codes = random_unique_codes(60, 2, 8, seed=3)
    assert codes.shape == (60, 2) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() <= 7
    assert len(np.unique(codes, axis=0)) == 60
    np.testing.assert_array_equal(codes, random_unique_codes(60, 2, 8, seed=3))
    assert not np.array_equal(codes, random_unique_codes(60, 2, 8, seed=4))
    with pytest.raises(InputError, match="cannot have distinct IDs"):
        random_unique_codes(5, 2, 2, seed=0)  # 4 tuples for 5 items


def test_lr_factor_by_hand():
    # warm-up of 4 steps: 1/4, 2/4, 3/4, 4/4
    assert [lr_factor(s, 4, "constant", 100) for s in range(6)] == [0.25, 0.5, 0.75, 1, 1, 1]
    # cosine over the 10 steps after the warm-up: 1 at step 4, 1/2 at step 9, 0 at step 14
    assert lr_factor(4, 4, "cosine", 14) == pytest.approx(1.0, rel=1e-12)
    assert lr_factor(9, 4, "cosine", 14) == pytest.approx(0.5, rel=1e-12)
    assert lr_factor(14, 4, "cosine", 14) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(20, 4, "cosine", 14) == pytest.approx(0.0, abs=1e-12)  # stays at 0
    assert lr_factor(0, 0, "cosine", 10) == pytest.approx(1.0, rel=1e-12)  # no warm-up


def test_settings_refuse_unknown_schedules():
    with pytest.raises(InputError, match="semantic_schedule"):
        ProbeSettings(semantic_schedule="linear")
    with pytest.raises(InputError, match="label_smoothing"):
        ProbeSettings(label_smoothing=1.0)


GROUPS, MEMBERS, USERS = 4, 8, 200
GROUPED_SETTINGS = ProbeSettings(
    model="tiger",
    epochs=6,
    patience=6,
    max_items=3,
    dim=32,
    blocks=1,
    dropout=0.0,
    lr=3e-3,
    batch_size=64,
    semantic_dim=32,
    semantic_blocks=1,
    semantic_heads=2,
    semantic_ffn=64,
    semantic_dropout=0.0,
    semantic_lr=3e-3,
    semantic_warmup=0,
    semantic_schedule="constant",
    semantic_batch_size=64,
    user_buckets=0,
    valid_users=0,
    bootstrap=200,
)


@pytest.fixture(scope="module")
def grouped_task(tmp_path_factory):
    """32 items in 4 groups of 8; every user walks group g -> g + 1 -> ..., taking a random
    member each time, so the next item is one of the 8 members of the next group. IDs
    ``(group, member)`` carry the signal: a model that learns "level 0 = next group" gets
    Recall@10 = 1 (all 8 members fit in 10). Random IDs carry none: chance is 10 / 32."""
    folder = tmp_path_factory.mktemp("grouped")
    rng = np.random.default_rng(0)
    sequences = folder / "sequences.jsonl.gz"
    with gzip.open(sequences, "wt") as handle:
        for user in range(USERS):
            group = rng.integers(GROUPS)
            items = [
                ((group + step) % GROUPS) * MEMBERS + rng.integers(MEMBERS) for step in range(6)
            ]
            record = {"user_id": f"u{user}", "item_ids": [str(i) for i in items]}
            handle.write(json.dumps(record) + "\n")
    ids = folder / "semantic.csv"
    ids.write_text(
        "item_id,code_0,code_1\n"
        + "".join(f"{i},{i // MEMBERS},{i % MEMBERS}\n" for i in range(GROUPS * MEMBERS))
    )
    return folder, import_ids(ids, folder / "semantic"), sequences


def test_random_ids_command_writes_an_importable_control(grouped_task):
    folder, semantic, _ = grouped_task
    out = folder / "random.csv"
    result = CliRunner().invoke(main, ["random-ids", "--like", str(semantic), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "32 items, 2 levels" in result.output
    control = import_ids(out, folder / "random", codebook_size=8)
    table, original = (
        read_code_table(control / "semantic_ids.parquet"),
        read_code_table(semantic / "semantic_ids.parquet"),
    )
    assert table.item_ids.tolist() == original.item_ids.tolist()
    assert len(np.unique(table.codes, axis=0)) == 32 and table.codes.max() <= 7
    # an existing file is never overwritten: one error line, exit 2
    again = CliRunner().invoke(main, ["random-ids", "--like", str(semantic), "--out", str(out)])
    assert again.exit_code == 2 and again.output.startswith(f"error: {out}: already exists")


def test_probe_ranks_signal_carrying_ids_above_random_ids(grouped_task):
    """The known answer: (group, member) IDs near Recall@10 = 1, random IDs near chance, and
    the paired difference's interval far from 0."""
    from rqvae.probe.compare import compare_probes
    from rqvae.probe.control import write_random_ids
    from rqvae.probe.run import run_probe

    folder, semantic, sequences = grouped_task
    write_random_ids(semantic, folder / "control.csv", seed=1)
    control = import_ids(folder / "control.csv", folder / "control", codebook_size=8)
    settings = GROUPED_SETTINGS
    results = {
        name: run_probe(run, sequences, settings, progress=False, log=lambda _: None)
        for name, run in (("semantic", semantic), ("control", control))
    }
    recall = {
        name: r["models"]["semantic_tiger"]["test"]["recall_at_10"] for name, r in results.items()
    }
    assert recall["semantic"] > 0.9
    assert recall["control"] < 0.6  # chance 10 / 32 = 0.31
    difference = compare_probes(semantic, control)["models"]["semantic_tiger"]["recall_at_10"]
    assert difference["difference_ci95"][0] > 0.2


def test_probe_command_prints_intervals_and_the_paired_difference(grouped_task):
    """``rqvae probe --run A --compare B``: A's probe.json (same settings: reused, not trained
    again) and one line per model and metric with the difference and its interval."""
    folder, semantic, sequences = grouped_task
    flags = []
    for name, value in GROUPED_SETTINGS.__dict__.items():
        flags += ["--" + name.replace("_", "-"), str(value)]
    args = ["probe", "--run", semantic, "--sequences", sequences, "--compare", folder / "control"]
    result = CliRunner().invoke(main, [str(a) for a in args] + flags)
    assert result.exit_code == 0, result.output
    assert "same sequences and settings, reused" in result.output
    line = next(
        x for x in result.output.splitlines() if "semantic_tiger" in x and "recall_at_10" in x
    )
    stored = json.loads((semantic / "probe.json").read_text())["compare"]["control"]
    entry = stored["models"]["semantic_tiger"]["recall_at_10"]
    low, high = entry["difference_ci95"]
    assert f"= {entry['difference']:+.4f} [{low:+.4f}, {high:+.4f}]" in line
