"""The Euclidean-vs-Mahalanobis conclusion on hand-made comparisons, and on a real one."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.metrics.assignment_verdict import assignment_conclusion
from analysis.metrics.assignments import AssignmentComparison


def comparison(unique, purity, mse=(1.0, 2.0)) -> AssignmentComparison:
    """Only the numbers the conclusion reads: per assignment (Euclidean, Mahalanobis) the
    full-ID unique-ID ratio, the level-0 purity and the latent MSE."""
    names = ("euclidean", "mahalanobis")
    summary = pd.DataFrame({"assignment": names, "unique_id_ratio": unique, "latent_mse": mse})
    levels = pd.DataFrame(
        {
            "assignment": [*names, *names],
            "level": [0, 0, 1, 1],
            "purity": [*purity, 0.99, 0.2],  # level 1 never decides
        }
    )
    empty = pd.DataFrame()
    return AssignmentComparison(levels, empty, summary, empty, empty, 0, 10, 2, {})


def test_mahalanobis_more_distinct_and_as_coherent_is_advisable():
    # +0.01 unique-ID ratio (>= 0.005), purity -0.005 (within 0.01): better on one, worse on none
    result = assignment_conclusion(comparison([0.95, 0.96], [0.600, 0.595]))
    assert (result.more_distinct, result.more_coherent, result.advisable) == (
        "mahalanobis",
        "neither",
        True,
    )
    assert result.distinct_gain == pytest.approx(0.01, rel=1e-9)
    assert result.coherence_gain == pytest.approx(-0.005, rel=1e-9)
    assert result.mse_ratio == pytest.approx(2.0)
    assert result.text.startswith("Mahalanobis gives more distinct IDs (unique-ID ratio 0.9600")
    assert "Switching to Mahalanobis assignment is advisable" in result.text


def test_a_win_and_a_loss_or_no_win_is_not_advisable():
    mixed = assignment_conclusion(comparison([0.95, 0.97], [0.60, 0.58]))
    assert (mixed.more_distinct, mixed.more_coherent, mixed.advisable) == (
        "mahalanobis",
        "euclidean",
        False,
    )
    assert "wins on one count but loses on the other" in mixed.text
    # differences inside both margins (0.004 < 0.005, 0.009 < 0.01): keep the model's IDs
    tie = assignment_conclusion(comparison([0.950, 0.954], [0.600, 0.609]))
    assert (tie.more_distinct, tie.more_coherent, tie.advisable) == ("neither", "neither", False)
    assert tie.text.startswith("Both give about as many distinct IDs")
    assert "keep the model's Euclidean IDs" in tie.text


def test_without_categories_coherence_is_unknown():
    result = assignment_conclusion(comparison([0.90, 0.95], [np.nan, np.nan], mse=(0.0, 1.0)))
    assert result.more_coherent == "unknown" and result.coherence_gain is None
    assert result.advisable  # better on distinctness, unknown coherence is no loss
    assert math.isnan(result.mse_ratio) and "Latent reconstruction" not in result.text
    assert "coherence cannot be compared without categories" in result.text
    assert result.to_dict()["advisable"] is True
