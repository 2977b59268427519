"""Verdict rules of the embedding and behaviour diagnostics, at and around their thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.metrics.behaviour import behavioural_alignment
from analysis.metrics.behaviour_health import (
    behaviour_findings,
    churn_findings,
    embedding_findings,
    popularity_findings,
)
from analysis.metrics.churn import id_churn
from analysis.metrics.embedding_geometry import embedding_geometry
from analysis.metrics.health import HealthThresholds
from analysis.metrics.popularity import popularity_allocation
from rqvae.errors import InputError


def test_anisotropic_input_is_flagged_with_its_number():
    narrow = embedding_geometry(np.array([[1.0, 0.1], [1.0, 0.0], [1.0, -0.1]]), n_pairs=100)
    (finding,) = embedding_findings(narrow, HealthThresholds())
    assert finding.code == "anisotropic_input" and finding.severity == "warning"
    assert finding.value == pytest.approx(narrow.anisotropy) and finding.threshold == 0.4
    assert f"{narrow.anisotropy:.3f}" in finding.message and "100 random pairs" in finding.message
    spread = embedding_geometry(np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]), n_pairs=100)
    assert embedding_findings(spread, HealthThresholds()) == []


def test_prefixes_that_ignore_behaviour():
    codes = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    rows, offsets = np.array([0, 1, 2]), np.array([0, 3])
    alignment = behavioural_alignment(codes, rows, offsets, window=1)  # level-0 lift 1.25
    (finding,) = behaviour_findings(alignment, HealthThresholds())
    assert finding.code == "prefixes_ignore_behaviour" and finding.level == 0
    assert finding.value == pytest.approx(1.25)
    assert behaviour_findings(alignment, HealthThresholds(behaviour_lift_warning=1.2)) == []


def test_popular_items_in_collisions():
    codes = np.array([[0, 0], [0, 0], [0, 1], [1, 0]])
    allocation = popularity_allocation(codes, np.array([5, 3, 1, 0]), head_fraction=0.5)
    (finding,) = popularity_findings(allocation, HealthThresholds())
    assert finding.code == "popular_items_in_collisions" and finding.value == 1.0
    assert "88.9% of all interactions" in finding.message
    assert popularity_findings(allocation, HealthThresholds(popular_collision_warning=1.0)) == []


def test_churn_between_seeds_warns_and_other_pairs_inform():
    churn = id_churn(np.array([[0], [0], [1], [1]]), np.array([[0], [1], [0], [1]]))
    assert churn.full_id_matched == 0.5
    assert churn_findings(churn, HealthThresholds(), seeds_only=True) == []
    strict = HealthThresholds(churn_warning=0.25)
    (seeds,) = churn_findings(churn, strict, seeds_only=True, names=("s0", "s1"))
    assert seeds.code == "high_churn_between_seeds" and seeds.severity == "warning"
    assert "s0 and s1" in seeds.message
    (other,) = churn_findings(churn, strict, seeds_only=False)
    assert other.code == "high_churn" and other.severity == "info"


def test_new_thresholds_are_checked():
    with pytest.raises(InputError, match="anisotropy_warning"):
        HealthThresholds(anisotropy_warning=1.5)
    with pytest.raises(InputError, match="behaviour_lift_warning"):
        HealthThresholds(behaviour_lift_warning=-1)
