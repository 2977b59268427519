"""Verdict rules for the quantizer's geometry: degenerate codewords and a collapsed latent space.

- ``duplicate_codewords`` (per level): the share of the level's K codewords that are
  *degenerate*, i.e. sit at zero or coincide with another codeword (both within
  :data:`analysis.metrics.geometry.COINCIDE_TOLERANCE` x the level's mean codeword norm;
  column ``degenerate_codewords`` of :class:`analysis.metrics.geometry.Geometry.levels`).
  A codeword that coincides with another is never chosen (the nearest-codeword rule breaks
  ties to the lower code), so it is capacity the level does not have; zeros are the footprint
  of codewords that nothing pulled on while weight decay shrank them. Above
  ``duplicate_codeword_warning`` (10 %) of K: warning ("many": a tenth of the level's capacity
  gone, the same order as the dead-code rule's 25 % of capacity, but caught from the
  codebook itself, before any item is assigned); above ``duplicate_codeword_error`` (50 %):
  error, the level has less than half the codes it claims. An LC-Rec checkpoint with 221 and
  234 of 256 such codewords at levels 1 and 2 is an error at both.

- ``latent_rank_collapse`` (whole run): the latents' effective rank (participation ratio
  ``(sum lambda)^2 / sum lambda^2`` of their covariance, :mod:`analysis.metrics.embedding_geometry`)
  is below ``latent_rank_warning`` = 1.5 directions. Five RQ-VAEs trained on
  amazon-scientific (default, another seed, K = 64, lr 3e-3, beta 5) have 2.6-5.7 of 32 with
  healthy IDs (unique-ID ratio 1.0, level-0 NMI 0.40-0.47, level-0 neighbour lift 16-48): a
  low rank *relative to the dimension* is how these encoders compress (the input MiniLM
  embeddings themselves have an effective rank of 77 of 384, dominated by a few directions),
  and by itself says nothing bad. What does is a latent space that has folded onto about one
  line: shrinking every direction but the first of a healthy run's latents and re-quantizing
  them, the level-0 lift falls from 40 (rank 2.8) to 37 (1.7), 33 (1.24), 25 (1.03) and 6
  (1.00, a line), as every level quantizes positions along one axis and level-0 cells become
  slices of it instead of regions of meaning. 1.5 sits where the loss starts to show (one
  direction holds ~80 % of the variance), well below every healthy run (bench/RESULTS.md,
  "latent effective rank"). The rule therefore counts directions, not a fraction of 32.
"""

from __future__ import annotations

import pandas as pd

from analysis.metrics.embedding_geometry import EmbeddingGeometry
from analysis.metrics.health import Finding, HealthThresholds


def codeword_findings(levels: pd.DataFrame, t: HealthThresholds) -> list[Finding]:
    """``duplicate_codewords`` for each level of ``levels`` (:class:`Geometry` ``.levels``:
    ``level``, ``codebook_size``, ``degenerate_codewords``, ``duplicate_codewords``,
    ``zero_codewords``) whose degenerate share is above the warning threshold."""
    if "degenerate_codewords" not in levels:
        return []  # a geometry stored before the column existed
    findings = []
    for row in levels.itertuples():
        share = row.degenerate_codewords / row.codebook_size
        if share <= t.duplicate_codeword_warning:
            continue
        error = share > t.duplicate_codeword_error
        findings.append(
            Finding(
                "duplicate_codewords",
                "error" if error else "warning",
                int(row.level),
                f"level {row.level}: {row.degenerate_codewords} of {row.codebook_size} "
                f"codewords are degenerate ({share:.1%}): {row.duplicate_codewords} coincide "
                f"with another codeword and {row.zero_codewords} sit at zero",
                float(share),
                t.duplicate_codeword_error if error else t.duplicate_codeword_warning,
            )
        )
    return findings


def latent_findings(
    latent: EmbeddingGeometry, t: HealthThresholds, input_rank: float | None = None
) -> list[Finding]:
    """``latent_rank_collapse`` when the latents' effective rank is below
    ``latent_rank_warning`` directions; ``input_rank`` (the input embeddings' effective rank,
    when known) is quoted so the reader sees what the encoder had to work with."""
    if latent.effective_rank >= t.latent_rank_warning:
        return []
    source = f"; the input embeddings have {input_rank:.1f}" if input_rank is not None else ""
    return [
        Finding(
            "latent_rank_collapse",
            "warning",
            None,
            f"the latent space has collapsed onto about one direction: effective rank "
            f"{latent.effective_rank:.2f} of {latent.dim}{source}",
            float(latent.effective_rank),
            t.latent_rank_warning,
        )
    ]
