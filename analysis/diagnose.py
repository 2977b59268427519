"""Every diagnostic of one run, in one object: what ``rqvae diagnose`` prints and reports draw.

:func:`diagnose_run` reads the run's semantic IDs, computes diagnostics 1-3 and 6-7 from the
codes (and embeddings), streams the catalog once through the model for 4, 5 and 8 when there is
a checkpoint, and ends with the verdict (9). A diagnostic that cannot run for this run (no
checkpoint, no categories, no embeddings, a checkpoint that does not load) is kept as an
:class:`Unavailable` with the reason; the others still run. Peak memory: the latents
(n x latent_dim float32), the codes and one chunk of embeddings; never n x input_dim.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.checks import DiagnosticUnavailable
from analysis.codeword_maps import UmapSettings, file_fingerprint
from analysis.coherence import semantic_coherence
from analysis.collisions import CollisionReport, collision_report
from analysis.entropy import branching_factor, branching_summary, joint_entropy, usage_entropy
from analysis.geometry import Geometry, build_geometry
from analysis.health import Finding, HealthThresholds, health_verdict, worst_severity
from analysis.mahalanobis_compare import AssignmentComparison, mahalanobis_comparison
from analysis.residuals import ResidualNorms
from analysis.run_model import (
    MODEL_CHUNK,
    ModelPass,
    decoder_of,
    load_run_model,
    model_pass,
    run_embeddings,
)
from analysis.source import RunData
from analysis.taxonomy import node_purity, taxonomy_scores
from analysis.usage import code_counts, codebook_usage, lorenz_curve
from rqvae.errors import InputError


@dataclass
class Unavailable:
    """A diagnostic that could not run for this run, and why (one line)."""

    reason: str


@dataclass
class UsageResult:
    """Diagnostic 1. ``table``: :func:`analysis.usage.codebook_usage`; ``counts``: int64 (L, K)
    items per code; ``lorenz``: :func:`analysis.usage.lorenz_curve` of the counts."""

    table: pd.DataFrame
    counts: np.ndarray
    lorenz: pd.DataFrame


@dataclass
class EntropyResult:
    """Diagnostic 2. ``table``: :func:`analysis.entropy.usage_entropy`; ``joint_entropy_nats``:
    entropy of the full tuple; ``branching``: :func:`analysis.entropy.branching_summary`."""

    table: pd.DataFrame
    joint_entropy_nats: float
    branching: pd.DataFrame

    @property
    def joint_perplexity(self) -> float:
        return math.exp(self.joint_entropy_nats)


@dataclass
class TaxonomyResult:
    """Diagnostic 6. ``purity``: :func:`analysis.taxonomy.node_purity` (prefix nodes x depth);
    ``scores``: :func:`analysis.taxonomy.taxonomy_scores` (NMI, homogeneity per level)."""

    purity: pd.DataFrame
    scores: pd.DataFrame


@dataclass
class Diagnosis:
    """Diagnostics 1-9 of one run. Each optional field holds a result or an :class:`Unavailable`.

    findings / verdict : diagnostic 9, most severe first; verdict is the worst severity
        ("ok", "info", "warning", "error").
    checkpoint : the checkpoint file used for 4, 5 and 8, or None.
    checkpoint_agreement : share of items whose semantic_ids.parquet codes equal the codes the
        checkpoint assigns now (1.0 when the IDs were assigned from it); None without checkpoint.
    timings : seconds spent per diagnostic.
    """

    run_dir: Path
    name: str
    kind: str
    state: str
    n_items: int
    n_levels: int
    codebook_size: int
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
    timings: dict[str, float] = field(default_factory=dict)

    def available(self, name: str) -> bool:
        return not isinstance(getattr(self, name), Unavailable)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe summary with stable keys (NaN and inf become null). Large tables are cut:
        the taxonomy keeps first-level nodes, the UMAP item sample and residual sample are left
        out (the HTML report and the dashboard show them)."""
        from analysis.diagnosis_json import diagnosis_to_json

        return diagnosis_to_json(self)


def diagnose_run(
    run_dir: str | Path,
    thresholds: HealthThresholds | None = None,
    *,
    which: str = "best",
    umap: bool = True,
    umap_settings: UmapSettings | None = None,
    coherence_queries: int = 1000,
    coherence_k: int = 10,
    chunk_size: int = MODEL_CHUNK,
    sample_size: int = 2000,
    seed: int = 0,
) -> Diagnosis:
    """Run every diagnostic on the run folder ``run_dir``.

    thresholds : verdict thresholds (default :class:`HealthThresholds`).
    which : checkpoint for the codeword diagnostics ("best", falling back to "last").
    umap : compute the UMAP maps (cached in ``run_dir/cache``); False skips them.
    coherence_queries, coherence_k : sample size and neighbours of diagnostic 7.
    chunk_size : items per chunk of the model pass. sample_size : items kept for plots.

    Raises InputError only when the run itself is unusable (no or corrupt semantic IDs).
    """
    timings: dict[str, float] = {}
    data = RunData.load(run_dir)
    run = data.run
    codes, size = data.codes, data.codebook_size

    with _timed(timings, "usage"):
        counts = code_counts(codes, size)
        usage = UsageResult(codebook_usage(codes, size), counts, lorenz_curve(counts))
    with _timed(timings, "entropy"):
        entropy = EntropyResult(
            table=usage_entropy(codes, size),
            joint_entropy_nats=joint_entropy(codes),
            branching=branching_summary(branching_factor(codes)),
        )
    with _timed(timings, "collisions"):
        collisions = collision_report(codes, data.item_ids, data.collision)
        if data.titles is not None:  # show what the colliding items are, not just their ids
            titles = np.asarray(data.titles, dtype=object)
            collisions.largest_groups["titles"] = [
                titles[rows].tolist() for rows in collisions.largest_groups["rows"]
            ]
    with _timed(timings, "taxonomy"):
        taxonomy = _optional(lambda: _taxonomy(data))
    with _timed(timings, "coherence"):
        coherence = _optional(
            lambda: semantic_coherence(
                run_embeddings(data), codes, n_queries=coherence_queries, k=coherence_k, seed=seed
            )
        )

    with _timed(timings, "model_pass"):
        passed = _optional(lambda: _model_pass(data, which, chunk_size, sample_size, seed))
    residuals = passed if isinstance(passed, Unavailable) else passed[0].residuals
    geometry = mahalanobis = passed if isinstance(passed, Unavailable) else None
    checkpoint = agreement = None
    if not isinstance(passed, Unavailable):
        result, model = passed
        checkpoint = result.checkpoint
        agreement = float((result.codes == codes).all(axis=1).mean())
        with _timed(timings, "geometry"):
            geometry = _optional(lambda: _geometry(data, result, umap, umap_settings, seed))
        with _timed(timings, "mahalanobis"):
            mahalanobis = _optional(
                lambda: mahalanobis_comparison(
                    result.latents,
                    result.codebooks,
                    result.codes,
                    size,
                    decoder=decoder_of(model),
                    embeddings=run_embeddings(data),
                    item_ids=data.item_ids,
                    titles=data.titles,
                    categories=data.categories,
                )
            )
        del model

    metrics = run.metrics()
    with _timed(timings, "verdict"):
        findings = health_verdict(
            usage.table,
            entropy.table,
            collisions,
            residual_norms=None if isinstance(residuals, Unavailable) else residuals.levels,
            metrics=metrics if len(metrics) else None,
            thresholds=thresholds,
        )
    return Diagnosis(
        run_dir=run.path,
        name=run.name,
        kind=run.kind,
        state=run.status().get("state", "unknown"),
        n_items=data.n_items,
        n_levels=data.n_levels,
        codebook_size=size,
        findings=findings,
        verdict=worst_severity(findings),
        usage=usage,
        entropy=entropy,
        collisions=collisions,
        residuals=residuals,
        geometry=geometry,
        taxonomy=taxonomy,
        coherence=coherence,
        mahalanobis=mahalanobis,
        metrics=metrics,
        checkpoint=checkpoint,
        checkpoint_agreement=agreement,
        timings=timings,
    )


@contextmanager
def _timed(timings: dict[str, float], name: str):
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 3)


def _optional(compute):
    """``compute()``, or :class:`Unavailable` when it says it cannot run or its input is bad.

    Bad input here (a checkpoint that does not match the embeddings, NaN rows) concerns one
    diagnostic; the message is kept as the reason and the rest of the diagnosis goes on.
    """
    try:
        return compute()
    except DiagnosticUnavailable as error:
        return Unavailable(error.reason)
    except InputError as error:
        return Unavailable(str(error))


def _taxonomy(data: RunData) -> TaxonomyResult:
    if data.categories is None:
        raise DiagnosticUnavailable("no categories: the run has no catalog with categories")
    return TaxonomyResult(
        purity=node_purity(data.codes, data.categories),
        scores=taxonomy_scores(data.codes, data.categories),
    )


def _model_pass(data: RunData, which: str, chunk_size: int, sample_size: int, seed: int):
    model, checkpoint = load_run_model(data.run, which)
    embeddings = run_embeddings(data)
    result = model_pass(model, embeddings, checkpoint, chunk_size, sample_size, seed)
    if result.codes.shape[1] != data.n_levels:
        raise DiagnosticUnavailable(
            f"the checkpoint has {result.codes.shape[1]} levels, the semantic IDs {data.n_levels}"
        )
    return result, model


def _geometry(data: RunData, result: ModelPass, umap: bool, settings, seed: int) -> Geometry:
    settings = settings or UmapSettings(seed=seed)
    cache_key = {
        "checkpoint": file_fingerprint(result.checkpoint),
        "embeddings": file_fingerprint(data.run.embeddings_path, content=False),
        "n_items": data.n_items,
    }
    return build_geometry(
        result.codebooks,
        data.codes,
        latents=result.latents,
        titles=data.titles,
        categories=data.categories,
        umap=umap,
        settings=settings,
        cache_dir=data.run.cache_dir() if umap else None,
        cache_key=cache_key,
    )
