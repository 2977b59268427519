"""The embedding and behaviour diagnostics of one run, assembled from its files.

- input geometry: the run's embeddings file, streamed (:func:`input_geometry`);
- latent geometry: the latents of the model pass (encoder of the run's quantizer); a run
  without a quantizer gets the pass's reason as Unavailable (done in ``diagnose.py``);
- behavioural alignment and popularity allocation: the user sequences file
  (:func:`behaviour_diagnostics`), read once for both.

Findings for the verdict come from :mod:`analysis.metrics.behaviour_health`.
"""

from __future__ import annotations

from pathlib import Path

from analysis.diagnosis.results import Unavailable
from analysis.metrics.behaviour import BehaviourAlignment, behavioural_alignment
from analysis.metrics.behaviour_health import (
    behaviour_findings,
    embedding_findings,
    popularity_findings,
)
from analysis.metrics.embedding_geometry import EmbeddingGeometry, embedding_geometry
from analysis.metrics.health import Finding, HealthThresholds
from analysis.metrics.popularity import PopularityAllocation, item_popularity, popularity_allocation
from analysis.reading.behaviour_sequences import read_sequences
from analysis.reading.run_data import RunData


def input_geometry(data: RunData, n_pairs: int, seed: int) -> EmbeddingGeometry:
    """Geometry of the run's input embeddings (DiagnosticUnavailable without a file)."""
    return embedding_geometry(data.embeddings(), space="input", n_pairs=n_pairs, seed=seed)


def behaviour_diagnostics(
    data: RunData, sequences: str | Path, window: int, head_fraction: float
) -> tuple[BehaviourAlignment, PopularityAllocation]:
    """Alignment and popularity allocation of the run's IDs with the users' sequences."""
    users = read_sequences(sequences, data.item_ids)
    alignment = behavioural_alignment(data.codes, users.rows, users.offsets, window=window)
    popularity = item_popularity(users.rows, data.n_items)
    return alignment, popularity_allocation(data.codes, popularity, head_fraction)


def behaviour_verdict(
    input_result: EmbeddingGeometry | Unavailable,
    behaviour: BehaviourAlignment | Unavailable,
    popularity: PopularityAllocation | Unavailable,
    thresholds: HealthThresholds,
) -> list[Finding]:
    """The findings of the diagnostics that ran."""
    findings = []
    if not isinstance(input_result, Unavailable):
        findings += embedding_findings(input_result, thresholds)
    if not isinstance(behaviour, Unavailable):
        findings += behaviour_findings(behaviour, thresholds)
    if not isinstance(popularity, Unavailable):
        findings += popularity_findings(popularity, thresholds)
    return findings
