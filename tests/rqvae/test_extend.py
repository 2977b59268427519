"""``rqvae extend`` with known answers: a prefix filled on purpose (worked out on paper),
items identical to existing ones, two generations against a one-shot assignment, the whole
grown catalogue as input, ``assign --reassign-all``, and ``kill -9`` in the middle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cli.main import main
from rqvae.ids.extend import extend_run
from rqvae.quantizers.from_run import load_run_quantizer
from rqvae.runs.checkpoint import load_model, resolve_checkpoint
from rqvae.runs.extensions import read_history
from rqvae.runs.semantic_ids import read_code_table
from tests.rqvae.extend_runs import LEVEL_0, LEVEL_1, codebook_run, point, save_items
from tests.rqvae.tiny_runs import (
    one_thread,  # noqa: F401  (autouse fixture)
    reference_codes,
    tiny_config,
)

REPO = Path(__file__).resolve().parents[2]
BASE, POOL = 200, 300


def run_cli(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def old_columns(path: Path, rows: int | None = None):
    """The columns every table had before extensions, as Arrow (the bytes of their values)."""
    table = pq.read_table(path, columns=["item_id", "code_0", "code_1", "collision", "sid"])
    return table if rows is None else table.slice(0, rows)


# --- a prefix filled on purpose, worked out on paper -------------------------------------------


def test_a_prefix_filled_on_purpose(tmp_path):
    run = codebook_run(tmp_path)
    before = old_columns(run / "semantic_ids.parquet")
    # Four new items next to (0, 0), whose ID base-0-0 holds; prefix 0 has codes 2 and 3 free.
    # Costs of the last-level residual (-4, -4) + e to code 2 (-4, 4) and code 3 (4, 4):
    # n1 (e = 0, .9): 50.41 / 114.41; n2 (.9, .9): 51.22 / 100.82; n0 (.1, 0): 64.01 / 126.41;
    # n3 (-.5, -.5): 72.5 / 144.5. The cheapest pair of moves is n1 -> 2 and n2 -> 3 (151.23);
    # n0 and n3 keep code 0 with collision indices 1 and 2. n4 lands alone in empty prefix 3.
    noise = [(0.1, 0.0), (0.0, 0.9), (0.9, 0.9), (-0.5, -0.5)]
    x = np.stack([point(0, 0, e) for e in noise] + [point(3, 1)])
    ids = ["n0", "n1", "n2", "n3", "n4"]
    new = save_items(tmp_path / "new.npy", x, ids)

    result = run_cli("extend", "--run", run, "--embeddings", new)
    assert result.exit_code == 0, result.output
    assert "generation 1: 5 new items (0 already in the run, 0 updated), 12 items now" in (
        result.output
    )
    assert (
        "last level (balanced): 2 new items moved to a free code of their prefix; 2 kept a "
        "collision index (no free code left in their prefix)"
    ) in result.output
    assert "prefixes the new items filled up: 1 (<|sid_0_0|>)" in result.output
    assert "recommendation: retrain" in result.output

    table = pd.read_parquet(run / "semantic_ids.parquet")
    new_rows = table.iloc[7:]
    assert new_rows["item_id"].tolist() == ids
    assert new_rows[["code_0", "code_1", "collision"]].values.tolist() == [
        [0, 0, 1],
        [0, 2, 0],
        [0, 3, 0],
        [0, 0, 2],
        [3, 1, 0],
    ]
    assert new_rows["sid"].iloc[1] == "<|sid_start|><|sid_0_0|><|sid_1_2|><|sid_2_0|><|sid_end|>"
    assert table["generation"].tolist() == [0] * 7 + [1] * 5
    assert old_columns(run / "semantic_ids.parquet", 7).equals(before)  # byte for byte

    record = json.loads((run / "extensions.json").read_text())["generations"][0]
    assert record["rows"] == [7, 12] and record["added"] == 5
    assert record["last_level"] == {"rule": "balanced", "moved": 2, "colliding": 2}
    fit = record["fit"]
    # crowded before: prefix 0 (2 of 4 codes) and prefix 1 (4 of 4); n0..n3 landed in one
    assert fit["crowded"] == {"fill": 0.5, "prefixes": 2, "new_items": 4, "share": 0.8}
    assert fit["filled"] == {"prefixes": 1, "examples": ["<|sid_0_0|>"]}
    assert fit["colliding"] == {"items": 2, "share": 0.4}
    # level 0: p = (2, 4, 1, 0) / 7 against q = (4, 0, 0, 1) / 5: TV = 25 / 35
    assert fit["level0"]["total_variation"] == pytest.approx(5 / 7, rel=1e-12)
    assert fit["level0"]["empty"]["codes"] == 0 and fit["level0"]["overloaded"]["codes"] == 0
    checks = {check["check"]: check for check in fit["checks"]}
    assert not checks["quantization_error_drift"]["judged"]  # 5 < 20 new items
    assert checks["colliding"]["failed"] and fit["recommendation"] == "retrain"
    generation_file = run / "extensions" / "generation_1.npy"
    np.testing.assert_array_equal(np.load(generation_file), x)
    assert json.loads(generation_file.with_suffix(".json").read_text())["item_ids"] == ids


def test_nearest_rule_keeps_nearest_codes_and_numbers_the_collisions(tmp_path):
    run = codebook_run(tmp_path)
    new = save_items(tmp_path / "new.npy", np.stack([point(0, 0), point(0, 0)]), ["a", "b"])
    result = extend_run(run, new, last_level="nearest")
    assert (result.moved, result.colliding) == (0, 2)
    table = pd.read_parquet(run / "semantic_ids.parquet")
    assert table[["code_0", "code_1", "collision"]].iloc[7:].values.tolist() == [
        [0, 0, 1],
        [0, 0, 2],
    ]


# --- a trained run ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> dict:
    """300 random unit vectors named item-0..299, and a tiny RQ-VAE (3 levels x 16 codes)
    trained and assigned on the first 200."""
    from rqvae.ids.assign import assign_run
    from rqvae.training.train import train

    folder = tmp_path_factory.mktemp("pool")
    x = np.random.default_rng(0).normal(size=(POOL, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = [f"item-{row}" for row in range(POOL)]
    base = save_items(folder / "base.npy", x[:BASE], ids[:BASE])
    run = train(tiny_config(num_levels=3, codebook_size=16), folder / "run", base)
    assign_run(run)
    return {"folder": folder, "x": x, "ids": ids, "run": run}


def copy_of(pool: dict, target: Path) -> Path:
    import shutil

    shutil.copytree(pool["run"], target)
    return target


def test_items_identical_to_existing_ones(pool, tmp_path):
    run = copy_of(pool, tmp_path / "run")
    before = read_code_table(run / "semantic_ids.parquet")
    twins = save_items(tmp_path / "twins.npy", pool["x"][:BASE], [f"twin-{i}" for i in range(BASE)])
    result = extend_run(run, twins)
    assert (result.added, result.already_in_run, result.n_items) == (BASE, 0, 2 * BASE)
    after = read_code_table(run / "semantic_ids.parquet")
    np.testing.assert_array_equal(after.codes[:BASE], before.codes)
    # a twin has its original's prefix: the same embedding walks the same nearest codes
    np.testing.assert_array_equal(after.codes[BASE:, :-1], before.codes[:, :-1])
    # A twin's nearest ID is its original's, which an existing item holds (the original, or
    # the item that kept it when the original moved): every twin must move. A prefix holding
    # n originals (none colliding) has 16 - n free codes for its n twins: max(0, 2n - 16) of
    # them keep a collision index, the others move.
    assert (before.collision == 0).all()
    _, sizes = np.unique(before.codes[:, :-1], axis=0, return_counts=True)
    left = int(np.maximum(2 * sizes - 16, 0).sum())
    assert (result.colliding, result.moved) == (left, BASE - left)
    assert int((after.collision[BASE:] > 0).sum()) == left

    fit = result.fit
    assert fit["reference"] == {"items": BASE, "of": BASE}
    for level in fit["levels"]:  # the twins' nearest distances are the originals'
        for key in ("p50", "p90", "p95", "p99", "mean"):
            assert level["new"][key] == pytest.approx(level["reference"][key], rel=1e-6)
        # 200 values: 10 lie above their own 95th percentile (linear interpolation)
        assert level["share_above_reference_p95"] == pytest.approx(0.05, abs=1e-12)
    error = fit["quantization_error"]
    assert error["new"]["mean"] >= error["reference"]["mean"] * (1 - 1e-6)  # moves cost
    assert fit["level0"]["total_variation"] == pytest.approx(0.0, abs=1e-12)


def test_two_generations_equal_a_one_shot_assignment_where_nothing_collides(pool, tmp_path):
    run = copy_of(pool, tmp_path / "run")
    x, ids = pool["x"], pool["ids"]
    first = save_items(tmp_path / "g1.npy", x[200:250], ids[200:250])
    second = save_items(tmp_path / "g2.npy", x[250:], ids[250:])
    assert extend_run(run, first).generation == 1
    assert extend_run(run, second).generation == 2
    table = read_code_table(run / "semantic_ids.parquet")
    assert table.item_ids.tolist() == ids
    assert table.generation.tolist() == [0] * 200 + [1] * 50 + [2] * 50

    # the one-shot nearest IDs of all 300 items, by brute force outside the workbench's chain
    model = load_model(run, resolve_checkpoint(run, "best"))
    nearest = reference_codes(model, x)
    np.testing.assert_array_equal(table.codes[:, :-1], nearest[:, :-1])  # prefixes never move
    _, inverse, counts = np.unique(nearest, axis=0, return_inverse=True, return_counts=True)
    unique = counts[inverse.reshape(-1)] == 1
    same = (table.codes == nearest).all(axis=1)
    # An item whose nearest ID no other item shares keeps it, unless an item of an earlier
    # generation was moved onto it (that ID was free then): then it moved on, as it must.
    moved_earlier = {
        tuple(table.codes[row])
        for row in np.flatnonzero(~same)
        if table.generation[row] < table.generation.max()
    }
    for row in np.flatnonzero(unique & ~same):
        assert tuple(nearest[row]) in moved_earlier, row
        assert table.generation[row] > 0
    assert (unique & same).sum() >= 0.9 * unique.sum()
    assert (table.collision[unique & same] == 0).all()
    # the one-shot assignment of the union places those items on the same IDs
    quantizer = load_run_quantizer(run)
    from rqvae.ids.last_level import spread_with_quantizer

    one_shot = spread_with_quantizer(quantizer, x, nearest).codes
    np.testing.assert_array_equal(one_shot[unique & same], table.codes[unique & same])
    history = read_history(run, POOL)
    assert [g.rows for g in history.generations] == [(200, 250), (250, 300)]


def test_the_whole_grown_catalogue_adds_only_the_new_items(pool, tmp_path):
    run = copy_of(pool, tmp_path / "run")
    grown = save_items(tmp_path / "grown.npy", pool["x"][:230], pool["ids"][:230])
    result = extend_run(run, grown)
    assert (result.added, result.already_in_run, result.updated) == (30, 200, 0)
    again = extend_run(run, grown)  # nothing new: nothing written
    assert again.generation == 0 and again.already_in_run == 230
    assert len(json.loads((run / "extensions.json").read_text())["generations"]) == 1


def test_update_keeps_the_id_and_stores_the_new_embedding(pool, tmp_path):
    run = copy_of(pool, tmp_path / "run")
    before = pd.read_parquet(run / "semantic_ids.parquet")
    x = pool["x"][:3].copy()
    x[1] = -x[1]  # item-1 changed; item-0 and item-2 are what the run stored
    changed = save_items(tmp_path / "changed.npy", x, pool["ids"][:3])
    result = run_cli("extend", "--run", run, "--embeddings", changed, "--update")
    assert result.exit_code == 0, result.output
    assert "0 new items (2 already in the run, 1 updated)" in result.output
    after = pd.read_parquet(run / "semantic_ids.parquet")
    pd.testing.assert_frame_equal(after.drop(columns="generation"), before)
    record = json.loads((run / "extensions.json").read_text())["generations"][0]
    assert record["updated_rows"] == [1] and record["updated"] == 1 and record["fit"] is None
    from analysis.reading.run_data import RunData

    stored = RunData.load(run).embeddings()
    np.testing.assert_array_equal(stored[np.arange(3)], x)  # item-1 read from the extension


def test_assign_refuses_an_extended_run_and_reassign_all_reports_the_churn(pool, tmp_path):
    run = copy_of(pool, tmp_path / "run")
    extend_run(run, save_items(tmp_path / "g1.npy", pool["x"][200:], pool["ids"][200:]))
    before = (run / "semantic_ids.parquet").read_bytes()
    refused = run_cli("assign", "--run", run)
    assert refused.exit_code == 2
    assert "extended 1 time(s) (100 items added)" in refused.output
    assert "--reassign-all" in refused.output
    assert (run / "semantic_ids.parquet").read_bytes() == before

    old = read_code_table(run / "semantic_ids.parquet")
    result = run_cli("assign", "--run", run, "--reassign-all")
    assert result.exit_code == 0, result.output
    new = read_code_table(run / "semantic_ids.parquet")
    assert new.item_ids.tolist() == pool["ids"]
    assert new.generation.tolist() == old.generation.tolist()  # when each item joined
    old_ids = np.column_stack([old.codes, old.collision])
    new_ids = np.column_stack([new.codes, new.collision])
    changed = int((old_ids != new_ids).any(axis=1).sum())
    assert f"re-assigned every item: {changed} of {POOL} items" in result.output
    history = read_history(run)
    assert history.assigned_through == 1
    assert history.reassignments[0]["churn"]["changed"][-1] == changed
    # the reassigned IDs are a one-shot assignment of all items
    quantizer = load_run_quantizer(run)
    from rqvae.ids.last_level import spread_with_quantizer
    from rqvae.quantizers import assign_codes

    expected = spread_with_quantizer(quantizer, pool["x"], assign_codes(quantizer, pool["x"]))
    np.testing.assert_array_equal(new.codes, expected.codes)


# --- kill -9 ---------------------------------------------------------------------------------


def test_kill_9_during_an_extend_leaves_the_previous_table(tmp_path):
    # A run of 200,000 items: rewriting its table takes long enough to be caught mid-way.
    rng = np.random.default_rng(1)
    n = 200_000
    codes = rng.integers(0, 4, size=(2 * n, 2))
    noise = rng.uniform(-0.9, 0.9, size=(2 * n, 2)).astype(np.float32)
    x = LEVEL_0[codes[:, 0]] + LEVEL_1[codes[:, 1]] + noise
    ids = [f"i{row}" for row in range(2 * n)]
    run = codebook_run(tmp_path / "big", x[:n], ids[:n])
    new = save_items(tmp_path / "new.npy", x[n:], ids[n:])
    table_before = (run / "semantic_ids.parquet").read_bytes()
    marker = run / "extensions" / "generation_1.npy"  # written first; the table comes last

    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "extend", "--run", str(run), "--embeddings", str(new)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL, "extend finished before it could be killed"

    assert (run / "semantic_ids.parquet").read_bytes() == table_before
    assert not read_history(run, n).extended  # an uncommitted generation is ignored
    from analysis.reading.run_data import RunData

    assert RunData.load(run).n_items == n
    # the next extend writes over what the killed one left, as if it never ran
    result = extend_run(run, new)
    assert result.generation == 1 and result.n_items == 2 * n
    table = read_code_table(run / "semantic_ids.parquet")
    assert table.item_ids[n] == f"i{n}" and (table.generation[n:] == 1).all()
