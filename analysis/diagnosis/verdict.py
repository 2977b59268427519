"""Diagnostic 9 of one run: every verdict rule over the diagnostics that ran, with advice.

The rules live in :mod:`analysis.metrics.health` (codebooks, collisions, residuals, training),
:mod:`analysis.metrics.health_geometry` (degenerate codewords, latent rank) and
:mod:`analysis.metrics.behaviour_health` (embeddings, behaviour, popularity); this module runs
the ones whose diagnostic is available, gives every finding the advice and page for the run's
kind (:mod:`analysis.metrics.advice`) and sorts them, most severe first.
"""

from __future__ import annotations

import pandas as pd

from analysis.diagnosis.behaviour import behaviour_verdict
from analysis.diagnosis.results import EntropyResult, Unavailable, UsageResult
from analysis.metrics.advice import with_advice
from analysis.metrics.collisions import CollisionReport
from analysis.metrics.embedding_geometry import EmbeddingGeometry
from analysis.metrics.geometry import Geometry
from analysis.metrics.health import SEVERITY_ORDER, Finding, HealthThresholds, health_verdict
from analysis.metrics.health_geometry import codeword_findings, latent_findings
from analysis.metrics.residuals import ResidualNorms


def verdict_findings(
    kind: str,
    usage: UsageResult,
    entropy: EntropyResult,
    collisions: CollisionReport,
    residuals: ResidualNorms | Unavailable,
    geometry: Geometry | Unavailable,
    metrics: pd.DataFrame,
    input_geometry: EmbeddingGeometry | Unavailable,
    latent_geometry: EmbeddingGeometry | Unavailable,
    behaviour,
    popularity,
    thresholds: HealthThresholds,
) -> list[Finding]:
    """The run's findings, most severe first (stable: levels keep their order), each with the
    advice and page for a run of ``kind`` (config.json ``kind``)."""
    findings = health_verdict(
        usage.table,
        entropy.table,
        collisions,
        residual_norms=None if isinstance(residuals, Unavailable) else residuals.levels,
        metrics=metrics if len(metrics) else None,
        thresholds=thresholds,
    )
    if not isinstance(geometry, Unavailable):
        findings += codeword_findings(geometry.levels, thresholds)
    if not isinstance(latent_geometry, Unavailable):
        input_rank = (
            None if isinstance(input_geometry, Unavailable) else input_geometry.effective_rank
        )
        findings += latent_findings(latent_geometry, thresholds, input_rank)
    findings += behaviour_verdict(input_geometry, behaviour, popularity, thresholds)
    findings = with_advice(findings, kind)
    findings.sort(key=lambda f: -SEVERITY_ORDER[f.severity])
    return findings
