"""Verdict rules for the embedding and behaviour diagnostics (thresholds in HealthThresholds).

Rules, each one :class:`~analysis.metrics.health.Finding` with the measured number:

- ``anisotropic_input`` (warning): the input embeddings' anisotropy (mean cosine of random
  pairs) is above ``anisotropy_warning``;
- ``prefixes_ignore_behaviour`` (warning): at level 0, co-occurring pairs share the first code
  less than ``behaviour_lift_warning`` times as often as popularity-matched random pairs;
- ``popular_items_in_collisions`` (warning): the share of head items whose full ID is shared
  with another item is above ``popular_collision_warning``;
- ``high_churn_between_seeds`` (warning) / ``high_churn`` (info, when the runs differ in more
  than their seed): matched full-ID churn between two runs above ``churn_warning``.
"""

from __future__ import annotations

import math

from analysis.metrics.advice import with_advice
from analysis.metrics.behaviour import BehaviourAlignment
from analysis.metrics.churn import Churn
from analysis.metrics.embedding_geometry import EmbeddingGeometry
from analysis.metrics.health import Finding, HealthThresholds
from analysis.metrics.popularity import PopularityAllocation


def embedding_findings(geometry: EmbeddingGeometry, t: HealthThresholds) -> list[Finding]:
    """``anisotropic_input`` when the input vectors crowd into a narrow cone."""
    if geometry.anisotropy <= t.anisotropy_warning:
        return []
    return [
        Finding(
            "anisotropic_input",
            "warning",
            None,
            f"the {geometry.space} embeddings are strongly anisotropic: mean cosine of "
            f"{geometry.n_pairs:,} random pairs is {geometry.anisotropy:.3f} (effective rank "
            f"{geometry.effective_rank:.1f} of {geometry.dim}); centring or whitening the "
            "embeddings spreads the codes",
            geometry.anisotropy,
            t.anisotropy_warning,
        )
    ]


def behaviour_findings(alignment: BehaviourAlignment, t: HealthThresholds) -> list[Finding]:
    """``prefixes_ignore_behaviour`` when level-0 prefixes are no better than popularity."""
    first = alignment.levels.iloc[0]
    lift = float(first["lift_popularity"])
    if math.isnan(lift) or lift >= t.behaviour_lift_warning:
        return []
    return [
        Finding(
            "prefixes_ignore_behaviour",
            "warning",
            0,
            f"level-0 prefixes ignore behaviour: {first['cooccurring_share']:.2%} of the "
            f"{alignment.n_pairs:,} co-occurring pairs share the first code against "
            f"{first['popularity_share']:.2%} of popularity-matched random pairs "
            f"(lift {lift:.2f})",
            lift,
            t.behaviour_lift_warning,
        )
    ]


def popularity_findings(allocation: PopularityAllocation, t: HealthThresholds) -> list[Finding]:
    """``popular_items_in_collisions`` when many head items share their full ID."""
    head = allocation.collision_share("head")
    if math.isnan(head) or head <= t.popular_collision_warning:
        return []
    tail = allocation.collision_share("tail")
    return [
        Finding(
            "popular_items_in_collisions",
            "warning",
            None,
            f"{head:.1%} of the popular (top {allocation.head_fraction:.0%}) items share their "
            f"full ID with another item (tail items: {tail:.1%}); together "
            f"{allocation.interaction_collision_share:.1%} of all interactions go to colliding "
            "items",
            head,
            t.popular_collision_warning,
        )
    ]


def churn_findings(
    churn: Churn, t: HealthThresholds, seeds_only: bool, names: tuple[str, str] = ("A", "B")
) -> list[Finding]:
    """``high_churn_between_seeds`` (warning) or ``high_churn`` (info) for two runs.

    seeds_only : the runs' settings differ only in their seed, so the churn is pure chance.
    """
    value = churn.full_id_matched
    if value is None or value <= t.churn_warning:
        return []
    between = f"{names[0]} and {names[1]}"
    if seeds_only:
        code, severity = "high_churn_between_seeds", "warning"
        message = (
            f"{value:.1%} of the items change their full ID between {between}, which differ "
            "only in their seed (after matching codes); the IDs are not stable to retraining"
        )
    else:
        code, severity = "high_churn", "info"
        message = f"{value:.1%} of the items change their full ID between {between} (matched)"
    # advice for a pair of runs, whatever their kinds (the "*" entries)
    return with_advice([Finding(code, severity, None, message, value, t.churn_warning)], "*")
