"""The scorecard: stable keys, values worked out from the run files, reasons for what is missing,
and the best run of each row."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import normalized_mutual_info_score

from analysis.diagnosis.diagnose import diagnose_run
from analysis.diagnosis.results import NO_SEQUENCES
from analysis.diagnosis.scorecard import (
    CONTEXT,
    HIGHER,
    LOWER,
    NOT_EXTENDED,
    NOT_PROBED,
    Score,
    best_runs,
    scorecard,
)
from analysis.metrics.taxonomy import NO_CATEGORY, category_labels
from analysis.presentation.scorecard_view import scorecard_csv, scorecard_frame, scorecard_html
from analysis.reading.run_data import RunData
from rqvae.quantizers import assign_codes, residual_chain
from rqvae.quantizers.from_run import NO_CHECKPOINT_IMPORTED, load_run_quantizer

RELATIVE = 1e-9  # the scorecard copies the diagnosis' float64 numbers; only summation differs
PROBE = {
    "models": {
        "semantic_sasrec": {"test": {"recall_at_10": 0.0625, "ndcg_at_10": 0.03125}},
        "item_sasrec": {"test": {"recall_at_10": 0.05, "ndcg_at_10": 0.02}},
        "popularity": {"test": {"recall_at_10": 0.01, "ndcg_at_10": 0.005}},
    }
}


def score(key: str, direction: str, value) -> Score:
    return Score(key, "g", key, "", direction, value, str(value), None if value else "why")


# --- the best run of a row, worked by hand ----------------------------------------------------


def test_best_run_follows_the_direction_and_keeps_ties():
    cards = {
        "a": {"up": score("up", HIGHER, 0.9), "down": score("down", LOWER, 2.0)},
        "b": {"up": score("up", HIGHER, 0.95), "down": score("down", LOWER, 1.0)},
        "c": {"up": score("up", HIGHER, 0.95), "down": score("down", LOWER, None)},
    }
    assert best_runs(cards) == {"up": ["b", "c"], "down": ["b"]}


def test_no_best_for_context_rows_a_lone_value_or_everyone_equal():
    cards = {
        "a": {"n": score("n", CONTEXT, 10), "one": score("one", HIGHER, 1.0)},
        "b": {"n": score("n", CONTEXT, 20), "one": score("one", HIGHER, None)},
    }
    assert best_runs(cards) == {}
    same = {"a": {"x": score("x", HIGHER, 1.0)}, "b": {"x": score("x", HIGHER, 1.0)}}
    assert best_runs(same) == {}


def test_the_least_severe_verdict_is_best():
    cards = {
        run: {"verdict": score("verdict", LOWER, verdict)}
        for run, verdict in (("a", "error"), ("b", "info"), ("c", "warning"))
    }
    assert best_runs(cards) == {"verdict": ["b"]}


# --- on real runs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_card(trained_run):
    diagnosis = diagnose_run(trained_run, umap=False, cache=True)
    return diagnosis, scorecard(diagnosis, PROBE)


@pytest.fixture(scope="module")
def letter_card(letter_run):
    diagnosis = diagnose_run(letter_run, umap=False, cache=True)
    return diagnosis, scorecard(diagnosis)


def test_trained_run_scorecard_matches_the_run_files(trained_run, trained_card):
    diagnosis, card = trained_card
    data = RunData.load(trained_run)
    codes, n = data.codes, data.n_items
    sizes = data.codebook_sizes
    assert card["items"].value == n
    assigned = len(np.unique(codes, axis=0)) / n
    assert card["unique_id_ratio_assigned"].value == pytest.approx(assigned, rel=RELATIVE)
    # the quantizer's own nearest codeword at every level, re-assigned from the checkpoint
    quantizer = load_run_quantizer(data.run, "best")
    reader = data.embeddings()
    embeddings = reader[0 : len(reader)]
    nearest = assign_codes(quantizer, embeddings)
    expected = len(np.unique(nearest, axis=0)) / n
    assert card["unique_id_ratio_nearest"].value == pytest.approx(expected, rel=RELATIVE)
    for level in range(codes.shape[1]):
        counts = np.bincount(codes[:, level], minlength=sizes[level])
        p = counts[counts > 0] / n
        entropy = float(-(p * np.log(p)).sum())
        assert card[f"used_fraction_l{level}"].value == (counts > 0).sum() / sizes[level]
        assert card[f"perplexity_l{level}"].value == pytest.approx(math.exp(entropy), rel=1e-9)
        assert card[f"kl_uniform_l{level}"].value == pytest.approx(
            math.log(sizes[level]) - entropy, rel=1e-9, abs=1e-12
        )
    # residual kept by level 0: mean ||r_1|| / mean ||z||, from the checkpoint's own chain
    z = quantizer.encode(embeddings)
    chain = residual_chain(z, quantizer.codebooks, quantizer.nearest)
    kept = np.linalg.norm(chain.residuals[1], axis=1).mean() / np.linalg.norm(z, axis=1).mean()
    assert card["residual_kept_l0"].value == pytest.approx(kept, rel=1e-5)  # float32 norms
    # level-0 NMI with the categories at the diagnosis' depth (scikit-learn's definition)
    depth = diagnosis.taxonomy.category_depth
    labels = category_labels(data.category_table, depth)
    labelled = labels != NO_CATEGORY
    nmi = normalized_mutual_info_score(labels[labelled], codes[labelled, 0])
    assert card["nmi_l0"].value == pytest.approx(nmi, rel=1e-9)
    # effective rank of the latents: (sum of eigenvalues)^2 / sum of squares, over dimensions
    eigenvalues = np.linalg.eigvalsh(np.cov(z.astype(np.float64), rowvar=False))
    rank = eigenvalues.sum() ** 2 / (eigenvalues**2).sum()
    assert card["latent_rank_share"].value == pytest.approx(rank / z.shape[1], rel=1e-6)
    assert card["probe_recall_at_10"].value == 0.0625
    assert card["probe_ndcg_at_10"].value == 0.03125
    assert card["verdict"].value == diagnosis.verdict
    assert card["behaviour_lift_l0"].missing == NO_SEQUENCES.reason
    # never extended: one generation, nothing added, no fit (tests/analysis/diagnosis/
    # test_extended_run.py has a grown run's rows)
    assert card["generations"].value == 1 and card["new_items_share"].value == 0.0
    assert card["new_items_error_above_p95"].missing == NOT_EXTENDED
    assert card["extend_recommendation"].value is None


def test_imported_ids_say_why_the_checkpoint_rows_are_empty(letter_card, trained_card):
    _, card = letter_card
    for key in ("unique_id_ratio_nearest", "residual_kept_l0", "latent_rank_share"):
        assert card[key].value is None and card[key].text == ""
        assert card[key].missing == NO_CHECKPOINT_IMPORTED
    assert card["probe_recall_at_10"].missing == NOT_PROBED
    assert card["unique_id_ratio_assigned"].value is not None
    # the same keys whatever made the run; LETTER's fourth level adds its own per-level keys
    trained_keys = list(trained_card[1])
    assert [key for key in card if key in trained_keys] == trained_keys
    assert sorted(set(card) - set(trained_keys)) == [
        "kl_uniform_l3",
        "perplexity_l3",
        "residual_kept_l3",
        "used_fraction_l3",
    ]


def test_scorecard_table_html_and_csv(trained_card, letter_card):
    cards = {"trained": trained_card[1], "letter": letter_card[1]}
    colours = {"trained": "#4e79a7", "letter": "#f28e2b"}
    markup = scorecard_html(cards, colours, {"trained": "trained", "letter": "imported-ids"})
    assert "data-run='trained' data-colour='#4e79a7'" in markup
    assert "data-run='letter' data-colour='#f28e2b'" in markup
    assert "no checkpoint: imported IDs carry no codewords" in markup
    assert "higher is better" in markup and "lower is better" in markup
    keys = scorecard_frame(cards)["key"].tolist()
    # LETTER's fourth level sits with the other levels, not after the verdict
    assert keys.index("used_fraction_l3") == keys.index("used_fraction_l2") + 1
    assert keys[-1] == "verdict"
    frame = scorecard_frame(cards).set_index("key")
    best = best_runs(cards)
    for key, winners in best.items():
        assert frame.loc[key, "best"] == "; ".join(winners)
    rows = {row["key"]: row for row in csv.DictReader(io.StringIO(scorecard_csv(cards).decode()))}
    assert float(rows["unique_id_ratio_assigned"]["trained"]) == pytest.approx(
        trained_card[1]["unique_id_ratio_assigned"].value, rel=1e-12
    )
    assert rows["unique_id_ratio_nearest"]["letter"].startswith("missing: no checkpoint")
    assert list(pd.read_csv(io.BytesIO(scorecard_csv(cards))).columns)[:6] == [
        "key",
        "group",
        "headline",
        "unit",
        "direction",
        "best",
    ]
