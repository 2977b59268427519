"""The collision-aware last level: hand-worked cases, optimality by brute force, invariants."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rqvae.ids.last_level import last_level_costs, spread_last_level

# last level: 4 codewords on a line at 0, 1, 2, 3 (D = 1)
LINE = np.array([[0.0], [1.0], [2.0], [3.0]])


def spread(codes, residuals, codebook=LINE, distance="euclidean"):
    residuals = np.asarray(residuals, dtype=np.float64)
    return spread_last_level(np.asarray(codes), lambda rows: residuals[rows], codebook, distance)


def test_hand_worked_line():
    # prefix 0: items at 0.1 and 0.4 share code 0, item at 2.9 owns code 3.
    # The one nearer code 0 (0.1) keeps it; 0.4 moves to the cheapest free code: 1
    # (cost 0.36 instead of 0.16: extra 0.2). Prefix 1: a lone item is never touched.
    codes = [[0, 0], [0, 0], [0, 3], [1, 0]]
    result = spread(codes, [[0.1], [0.4], [2.9], [0.3]])
    assert result.codes.tolist() == [[0, 0], [0, 1], [0, 3], [1, 0]]
    assert result.moved.tolist() == [1]
    assert result.extra_cost == pytest.approx([0.36 - 0.16])
    assert result.left_colliding == 0


def test_the_keeper_is_the_nearest_and_ties_go_to_the_first_row():
    result = spread([[0, 1], [0, 1], [0, 1]], [[1.4], [0.9], [1.1]])
    # 0.9 and 1.1 are equally near code 1: row 1 (the first) keeps it; rows 0 and 2 move to
    # codes 2 (1.4 -> 2: 0.36) and 0 (1.1 -> 0: 1.21), cheaper together than the other way
    # round (1.4 -> 0: 1.96, 1.1 -> 2: 0.81)
    assert result.codes[:, 1].tolist() == [2, 1, 0]
    assert sorted(result.moved.tolist()) == [0, 2]


def test_a_full_prefix_keeps_the_rest_colliding():
    # 6 items in one prefix, 4 codes: 4 distinct IDs at most
    residuals = [[0.0], [0.1], [0.2], [0.3], [0.2], [0.1]]
    result = spread([[0, 0]] * 6, residuals)
    assert len(np.unique(result.codes, axis=0)) == 4
    assert result.left_colliding == 2
    assert len(result.moved) == 3


def test_no_collision_changes_nothing():
    codes = np.array([[0, 0], [0, 1], [1, 0]])
    result = spread(codes, [[0.0], [1.0], [0.0]])
    assert np.array_equal(result.codes, codes)
    assert len(result.moved) == 0


def test_single_level_ids_share_one_prefix():
    result = spread([[2], [2], [0]], [[2.0], [2.2], [0.0]])
    assert result.codes[:, 0].tolist() == [2, 3, 0]


def test_matches_brute_force_minimum_on_random_cases():
    rng = np.random.default_rng(0)
    for _ in range(30):
        codebook = rng.normal(size=(5, 2))
        n = int(rng.integers(2, 6))
        residuals = rng.normal(size=(n, 2))
        costs = last_level_costs(residuals, codebook, "euclidean")
        nearest = costs.argmin(1)
        codes = np.stack([np.zeros(n, int), nearest], axis=1)
        result = spread(codes, residuals, codebook)
        after = result.codes[:, 1]
        # unique wherever it can be, only movers moved, and no cheaper re-placement of the movers
        assert len(set(after)) == n  # 5 codes, at most 5 items: always room
        fixed = [i for i in range(n) if i not in set(result.moved.tolist())]
        assert all(after[i] == nearest[i] for i in fixed)
        movers = result.moved.tolist()
        free = [k for k in range(5) if k not in set(nearest[fixed].tolist())]
        best = min(
            sum(costs[m, k] for m, k in zip(movers, perm, strict=True))
            for perm in itertools.permutations(free, len(movers))
        )
        assert sum(costs[m, after[m]] for m in movers) == pytest.approx(best)


def test_cosine_costs():
    codebook = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    costs = last_level_costs(np.array([[2.0, 0.0]]), codebook, "cosine")
    assert costs[0].tolist() == pytest.approx([0.0, 1.0, 2.0])
    result = spread([[0, 0], [0, 0]], [[1.0, 0.1], [1.0, 0.5]], codebook, "cosine")
    assert result.codes[:, 1].tolist() == [0, 1]


def test_assign_writes_the_balanced_ids_and_records_the_move(tmp_path):
    """A real (tiny) run: `assign` = nearest codes + the spread; `--last-level nearest` = nearest;
    the Parquet metadata counts the moved items; levels 0..L-2 are the nearest ones."""
    from rqvae.ids.assign import assign_run
    from rqvae.quantizers import assign_codes
    from rqvae.quantizers.from_run import load_run_quantizer
    from rqvae.runs.folder import Run
    from rqvae.runs.semantic_ids import read_ids_source
    from tests.rqvae.tiny_runs import trained_tiny_run

    run_dir, embeddings_path = trained_tiny_run(tmp_path)
    x = np.load(embeddings_path)
    nearest = assign_codes(load_run_quantizer(Run(run_dir)), x)
    columns = [f"code_{level}" for level in range(nearest.shape[1])]
    balanced = assign_run(run_dir)[columns].to_numpy()
    source = read_ids_source(run_dir / "semantic_ids.parquet")
    assert source["last_level"] == "balanced"
    changed = np.flatnonzero((balanced != nearest).any(axis=1))
    assert source["last_level_moved"] == len(changed) > 0  # the tiny run has collisions
    assert np.array_equal(balanced[:, :-1], nearest[:, :-1])
    assert len(np.unique(balanced, axis=0)) > len(np.unique(nearest, axis=0))
    plain = assign_run(run_dir, last_level="nearest")[columns].to_numpy()
    assert np.array_equal(plain, nearest)
    assert read_ids_source(run_dir / "semantic_ids.parquet")["last_level"] == "nearest"


def test_last_level_record_and_note():
    from analysis.presentation.labels import last_level_note
    from rqvae.ids.last_level import last_level_record

    assert last_level_record(None) is None
    assert last_level_record({"checkpoint": "best"}) is None  # assigned before the rule
    assert last_level_record({"last_level": "nearest"}) == {
        "rule": "nearest", "moved": None, "left_colliding": None, "extra_cost_mean": None
    }  # fmt: skip
    record = last_level_record(
        {"last_level": "balanced", "last_level_moved": 25, "last_level_left_colliding": 3,
         "last_level_extra_cost_mean": 0.00125}
    )  # fmt: skip
    assert last_level_note(record, 1000) == (
        "Collision-aware last level: 25 of 1,000 items (2.50%) moved from their nearest "
        "last-level code to a free one of their prefix (mean extra squared distance 0.00125); "
        "3 found no free code and keep colliding (rqvae assign --last-level nearest writes the "
        "nearest codes)."
    )
    assert last_level_note(last_level_record({"last_level": "nearest"}), 10) == ""
