"""What a diagnosis holds: one result type per diagnostic, and the whole :class:`Diagnosis`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.metrics.assignments import AssignmentComparison
from analysis.metrics.behaviour import BehaviourAlignment
from analysis.metrics.collisions import CollisionReport
from analysis.metrics.embedding_geometry import EmbeddingGeometry
from analysis.metrics.geometry import Geometry
from analysis.metrics.health import Finding
from analysis.metrics.neighbourhood import NeighbourhoodAgreement
from analysis.metrics.popularity import PopularityAllocation
from analysis.metrics.residuals import ResidualNorms
from analysis.metrics.robustness import CodeRobustness
from analysis.metrics.structure import PrefixStructure


@dataclass
class Unavailable:
    """A diagnostic that could not run for this run, and why (one line)."""

    reason: str


NOT_COMPUTED = Unavailable("not computed")
NO_SEQUENCES = Unavailable(
    "no user sequences: pass --sequences FILE, or put sequences.jsonl.gz in the run folder "
    "or next to its catalog"
)
NO_SOURCE_IDS = Unavailable(
    "no source IDs: only `rqvae import-checkpoint --ids FILE` keeps the codebase's own IDs"
)


@dataclass
class UsageResult:
    """Diagnostic 1. ``table``: :func:`analysis.metrics.usage.codebook_usage`; ``counts``: items
    per code, one int64 (K_l,) array per level; ``lorenz``:
    :func:`analysis.metrics.usage.lorenz_curve` of the counts."""

    table: pd.DataFrame
    counts: list[np.ndarray]
    lorenz: pd.DataFrame


@dataclass
class EntropyResult:
    """Diagnostic 2. ``table``: :func:`analysis.metrics.entropy.usage_entropy`;
    ``joint_entropy_nats``: entropy of the full tuple; ``branching``:
    :func:`analysis.metrics.entropy.branching_summary`."""

    table: pd.DataFrame
    joint_entropy_nats: float
    branching: pd.DataFrame

    @property
    def joint_perplexity(self) -> float:
        return math.exp(self.joint_entropy_nats)


@dataclass
class TaxonomyResult:
    """Diagnostic 6. ``purity``: :func:`analysis.metrics.taxonomy.node_purity` (prefix nodes x
    depth); ``scores``: :func:`analysis.metrics.taxonomy.taxonomy_scores` (NMI, homogeneity per
    level); ``category_depth``: the depth views open on,
    :func:`analysis.metrics.taxonomy.informative_depth` (at most the deepest depth in
    ``purity``)."""

    purity: pd.DataFrame
    scores: pd.DataFrame
    category_depth: int


@dataclass
class Diagnosis:
    """Diagnostics 1-9 of one run. Each optional field holds a result or an :class:`Unavailable`.

    findings / verdict : diagnostic 9, most severe first; verdict is the worst severity
        ("ok", "info", "warning", "error").
    codebook_sizes : ``K_l`` per level; ``codebook_size`` is the largest.
    checkpoint : the checkpoint file used for 4, 5 and 8, or None.
    checkpoint_agreement : share of items whose semantic_ids.parquet codes equal the codes the
        checkpoint assigns now (1.0 when the IDs were assigned from it); None without checkpoint.
        When ``assign`` moved colliding items to free last-level codes (``last_level``), the
        checkpoint's codes are compared after the same move.
    last_level : how ``rqvae assign`` chose the last level (:mod:`rqvae.ids.last_level`), from the
        table's metadata: ``{"rule": "balanced" | "nearest", "moved", "left_colliding",
        "extra_cost_mean"}`` (the counts for "balanced" only); None when the IDs do not say
        (imported tables, baselines, IDs assigned before the rule existed).
    timings : seconds spent per diagnostic.
    input_geometry, latent_geometry : norms, anisotropy and spectrum of the input embeddings and
        of the checkpoint's latents (:mod:`analysis.metrics.embedding_geometry`).
    behaviour, popularity : behavioural alignment and popularity allocation from the user
        sequences file ``sequences`` (:mod:`analysis.metrics.behaviour`,
        :mod:`analysis.metrics.popularity`); Unavailable without one.
    run_findings : findings about the folder rather than the IDs (an interrupted run, stale
        IDs, a ``best`` that missed its rule): :mod:`analysis.diagnosis.run_findings`.
    concentration, structure : top-code mass, singleton and largest cells per level
        (:func:`analysis.metrics.concentration.code_concentration`); active prefixes and
        fan-out (:mod:`analysis.metrics.structure`). From the codes alone: every run has them.
    neighbourhood : Jaccard@k and RBO@k of embedding against ID neighbour lists
        (:mod:`analysis.metrics.neighbourhood`), on coherence's query sample; needs embeddings.
    robustness : code changes under Gaussian noise and the effective codebook size
        (:mod:`analysis.metrics.robustness`); needs the quantizer.
    """

    run_dir: Path
    name: str
    kind: str
    state: str
    n_items: int
    n_levels: int
    codebook_sizes: list[int]
    findings: list[Finding]
    verdict: str
    usage: UsageResult
    entropy: EntropyResult
    collisions: CollisionReport
    residuals: ResidualNorms | Unavailable
    geometry: Geometry | Unavailable
    taxonomy: TaxonomyResult | Unavailable
    coherence: pd.DataFrame | Unavailable
    mahalanobis: AssignmentComparison | Unavailable
    metrics: pd.DataFrame
    checkpoint: Path | None = None
    checkpoint_agreement: float | None = None
    last_level: dict | None = None
    timings: dict[str, float] = field(default_factory=dict)
    input_geometry: EmbeddingGeometry | Unavailable = field(default_factory=lambda: NOT_COMPUTED)
    latent_geometry: EmbeddingGeometry | Unavailable = field(default_factory=lambda: NOT_COMPUTED)
    behaviour: BehaviourAlignment | Unavailable = field(default_factory=lambda: NO_SEQUENCES)
    popularity: PopularityAllocation | Unavailable = field(default_factory=lambda: NO_SEQUENCES)
    sequences: Path | None = None
    run_findings: list[Finding] = field(default_factory=list)  # see diagnosis.run_findings
    # raw IDs vs the ID file of an imported checkpoint's codebase (analysis.metrics.resolution)
    source_ids: pd.DataFrame | Unavailable = field(default_factory=lambda: NO_SOURCE_IDS)
    # issue 22: diagnostics from the recent semantic-ID literature
    concentration: pd.DataFrame | Unavailable = field(default_factory=lambda: NOT_COMPUTED)
    structure: PrefixStructure | Unavailable = field(default_factory=lambda: NOT_COMPUTED)
    neighbourhood: NeighbourhoodAgreement | Unavailable = field(
        default_factory=lambda: NOT_COMPUTED
    )
    robustness: CodeRobustness | Unavailable = field(default_factory=lambda: NOT_COMPUTED)

    @property
    def codebook_size(self) -> int:
        return max(self.codebook_sizes)

    def available(self, name: str) -> bool:
        return not isinstance(getattr(self, name), Unavailable)


# The result types the on-disk store (analysis.diagnosis.store) may rebuild, by name: an explicit
# list, so a cache file can only ever name one of these, and no module is imported by a name read
# from disk. A new result type that a Diagnosis holds is added here.
STORED_RESULT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        Diagnosis,
        Unavailable,
        UsageResult,
        EntropyResult,
        TaxonomyResult,
        Finding,
        CollisionReport,
        ResidualNorms,
        Geometry,
        AssignmentComparison,
        EmbeddingGeometry,
        BehaviourAlignment,
        PopularityAllocation,
        PrefixStructure,
        NeighbourhoodAgreement,
        CodeRobustness,
    )
}
