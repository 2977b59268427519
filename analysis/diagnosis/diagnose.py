"""Every diagnostic of one run, in one object: what ``rqvae diagnose`` prints and reports draw.

:func:`diagnose_run` reads the run's semantic IDs, computes diagnostics 1-3 and 6-7 from the
codes (and embeddings), streams the catalog once through the run's quantizer for 4, 5 and 8
when it has one, and ends with the verdict (9). Concentration, prefix structure, the
neighbourhood lists and the robustness to noise (issue 22) join them: the first two from the
codes, the third from coherence's neighbour search, the last from the quantizer on a sample.
The diagnostics never ask where the IDs came from: a run either has a
:class:`~rqvae.quantizers.base.Quantizer` or it does not. A diagnostic that cannot run for
this run (no quantizer, no categories, no embeddings, a checkpoint that does not load, too few
items) is kept as an :class:`Unavailable` with the reason; the others still run. Peak memory:
the latents (n x latent_dim float32), the codes and one chunk of embeddings; never
n x input_dim.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.diagnosis.lanes import (  # noqa: F401  (STAGES, DEFERRED: part of this API)
    DEFERRED,
    STAGES,
    Progress,
    StageBoard,
    embedding_lane,
    main_lane,
    optional,
    stage_timer,
)
from analysis.diagnosis.model_pass import MODEL_CHUNK
from analysis.diagnosis.results import (
    NO_SOURCE_IDS,
    Diagnosis,
    EntropyResult,
    TaxonomyResult,
    Unavailable,
    UsageResult,
)
from analysis.diagnosis.run_findings import run_findings
from analysis.diagnosis.store import diagnosis_key, load_diagnosis, save_diagnosis
from analysis.diagnosis.study_files import with_study_evidence
from analysis.diagnosis.verdict import verdict_findings
from analysis.metrics.behaviour import DEFAULT_WINDOW
from analysis.metrics.collisions import collision_report
from analysis.metrics.concentration import code_concentration
from analysis.metrics.embedding_geometry import DEFAULT_PAIRS
from analysis.metrics.entropy import (
    branching_factor,
    branching_summary,
    joint_entropy,
    usage_entropy,
)
from analysis.metrics.health import HealthThresholds, worst_severity
from analysis.metrics.popularity import DEFAULT_HEAD_FRACTION
from analysis.metrics.resolution import resolution_summary
from analysis.metrics.structure import prefix_structure
from analysis.metrics.taxonomy import informative_depth, node_purity, taxonomy_scores
from analysis.metrics.umap_maps import UmapSettings
from analysis.metrics.usage import codebook_usage, lorenz_curve
from analysis.reading.run_data import RunData
from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.files import file_fingerprint
from rqvae.id_metrics import SortedCodes, code_counts
from rqvae.importers.source_ids import SOURCE_IDS_FILE
from rqvae.runs.folder import Run
from rqvae.runs.lock import effective_state, is_locked
from rqvae.runs.semantic_ids import read_code_table
from rqvae.training.threads import limited_threads


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
    sequences: str | Path | None = None,
    window: int = DEFAULT_WINDOW,
    head_fraction: float = DEFAULT_HEAD_FRACTION,
    geometry_pairs: int = DEFAULT_PAIRS,
    cache: bool = False,
    model: bool = True,
    progress: Progress | None = None,
    stored_only: bool = False,
    study: str | Path | None = None,
) -> Diagnosis | None:
    """Run every diagnostic on the run folder ``run_dir``.

    thresholds : verdict thresholds (default :class:`HealthThresholds`).
    which : checkpoint for the codeword diagnostics ("best", falling back to "last").
    umap : compute the UMAP maps (cached in ``run_dir/cache``); False skips them.
    coherence_queries, coherence_k : sample size and neighbours of diagnostic 7.
    chunk_size : items per chunk of the model pass. sample_size : items kept for plots.
    sequences : user sequences file for behavioural alignment and popularity allocation
        (``window``: positions apart that count as co-occurring; ``head_fraction``: share of
        the interacted items that are "popular"). geometry_pairs : random pairs (drawn with
        ``seed``) for the anisotropy of the input and latent geometry.
    cache : reuse (and keep) the diagnosis stored in ``run_dir/cache/diagnosis`` for the same
        run files and options (:mod:`analysis.diagnosis.store`); ``timings["cache_read"]``
        then says how long reading it took.
    model : False defers everything that needs the quantizer (residual norms, codeword
        geometry, Mahalanobis, robustness) or a pass over the embeddings (coherence,
        neighbourhood, input geometry): they are :class:`Unavailable` with reason
        :data:`DEFERRED`. The ID diagnostics left (concentration and structure among them)
        take seconds even at millions of items (the dashboard shows them first).
    progress : called as ``progress(running, fraction_done)`` when a stage of :data:`STAGES`
        starts or ends: ``running`` names the stages under way in both lanes (see
        :class:`analysis.diagnosis.lanes.StageBoard`).
    stored_only : with ``cache``, return the stored diagnosis or None; never compute one.
    study : a ``study.json`` (``rqvae study``) whose correlations the findings cite as their
        evidence; default: the newest study of the run's catalog in the runs folder, if any
        (:func:`analysis.diagnosis.study_files.with_study_evidence`; never cached).

    Raises InputError only when the run itself is unusable (no or corrupt semantic IDs, a
    config.json that is not a run's) or ``sequences`` names no file.
    """
    if sequences is not None and not Path(sequences).is_file():
        # a mistyped path is the caller's error; a bad file's content is one Unavailable below
        raise InputError(f"{sequences}: sequences file not found")
    thresholds = thresholds or HealthThresholds()
    options = {
        "thresholds": asdict(thresholds),
        "which": which,
        "umap_settings": asdict(umap_settings) if umap_settings else None,
        "coherence": [coherence_queries, coherence_k],
        "chunk_size": chunk_size,
        "sample_size": sample_size,
        "seed": seed,
        "model": model,
        "sequences": None
        if sequences is None
        else [str(Path(sequences).resolve()), file_fingerprint(sequences)["sha256"]],
        "behaviour": [window, head_fraction, geometry_pairs],
        # not in any file: a killed trainer turns "training" into "interrupted"
        "locked": is_locked(run_dir),
    }
    compute = partial(
        _diagnose,
        run_dir,
        thresholds,
        which=which,
        umap=umap,
        umap_settings=umap_settings,
        coherence_queries=coherence_queries,
        coherence_k=coherence_k,
        chunk_size=chunk_size,
        sample_size=sample_size,
        seed=seed,
        model=model,
        progress=progress,
        sequences=sequences,
        window=window,
        head_fraction=head_fraction,
        geometry_pairs=geometry_pairs,
    )
    if not cache:
        with limited_threads():
            return with_study_evidence(compute(), study)
    started = time.perf_counter()
    key = diagnosis_key(Path(run_dir), options)
    stored = load_diagnosis(Path(run_dir), key, need_maps=umap)
    if stored is not None:
        stored.run_dir = Run(run_dir).path  # the folder may have moved since
        stored.timings = {**stored.timings, "cache_read": round(time.perf_counter() - started, 3)}
        return with_study_evidence(stored, study)
    if stored_only:
        return None
    with limited_threads():
        diagnosis = compute()
    save_diagnosis(Path(run_dir), key, diagnosis, has_maps=umap)
    return with_study_evidence(diagnosis, study)


def _diagnose(
    run_dir: str | Path,
    thresholds: HealthThresholds,
    *,
    which: str,
    umap: bool,
    umap_settings: UmapSettings | None,
    coherence_queries: int,
    coherence_k: int,
    chunk_size: int,
    sample_size: int,
    seed: int,
    model: bool,
    progress: Progress | None,
    sequences: str | Path | None,
    window: int,
    head_fraction: float,
    geometry_pairs: int,
) -> Diagnosis:
    timings: dict[str, float] = {}
    board = StageBoard(progress)  # both lanes report the stages they run
    stage = stage_timer(timings, board)
    data = RunData.load(run_dir)
    run = data.run
    sizes = data.codebook_sizes

    with stage("usage"):
        # checked and sorted once; every diagnostic below reuses the sort and prefix groups
        codes = SortedCodes(data.codes, sizes)
        for length in range(1, data.n_levels + 1):
            codes.groups(length)  # made here, before the second lane shares them
        counts = code_counts(codes, sizes)
        usage = UsageResult(codebook_usage(codes, sizes), counts, lorenz_curve(counts))
    with stage("entropy"):
        entropy = EntropyResult(
            table=usage_entropy(codes, sizes),
            joint_entropy_nats=joint_entropy(codes),
            branching=branching_summary(branching_factor(codes)),
        )
    with stage("collisions"):
        collisions = collision_report(codes, data.item_ids_of, data.collision)
        rows = collisions.largest_groups["rows"]
        titles = data.titles_of(np.concatenate([[], *rows]).astype(np.int64))
        if titles is not None:  # show what the colliding items are, not just their ids
            ends = np.cumsum([len(group) for group in rows]).tolist()
            collisions.largest_groups["titles"] = [
                titles[end - len(group) : end] for group, end in zip(rows, ends, strict=True)
            ]
    with stage("concentration"):
        concentration = optional(lambda: code_concentration(codes, sizes, counts=counts))
    with stage("structure"):
        structure = optional(lambda: prefix_structure(codes, sizes))
    with stage("taxonomy"):
        taxonomy = optional(lambda: _taxonomy(data, codes))
    # Coherence and the input geometry only read the embeddings (BLAS, no torch): a second
    # lane runs them beside the model pass, each lane on one thread (rqvae.training.threads).
    # which file row is which item, found once; the ID-only diagnosis reads no embeddings
    embeddings = optional(data.embeddings) if model else Unavailable(DEFERRED)
    lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="diagnose-embeddings")
    side = lane.submit(
        embedding_lane,
        embeddings,
        codes,
        stage,
        coherence_queries,
        coherence_k,
        seed,
        geometry_pairs,
    )
    try:
        behaviour, popularity, model_results = main_lane(
            data, stage, lane, sequences, window, head_fraction, model, which, chunk_size,
            sample_size, seed, umap, umap_settings, geometry_pairs,
        )  # fmt: skip
        coherence, neighbourhood, input_result = side.result()  # re-raises the lane's error
        residuals, geometry, mahalanobis, latent_result, checkpoint, agreement, robustness = (
            model_results
        )
        if isinstance(mahalanobis, Future):
            mahalanobis = mahalanobis.result()
    finally:
        lane.shutdown(wait=True)

    metrics = run.metrics()
    with stage("verdict"):
        findings = verdict_findings(
            run.kind, usage, entropy, collisions, residuals, geometry, metrics, input_result,
            latent_result, behaviour, popularity, thresholds,
        )  # fmt: skip
    return Diagnosis(
        run_dir=run.path,
        name=run.name,
        kind=run.kind,
        state=effective_state(run.path, str(run.status().get("state", "unknown"))),
        n_items=data.n_items,
        n_levels=data.n_levels,
        codebook_sizes=sizes,
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
        last_level=data.last_level,
        timings=timings,
        input_geometry=input_result,
        latent_geometry=latent_result,
        behaviour=behaviour,
        popularity=popularity,
        sequences=Path(sequences) if sequences is not None else None,
        run_findings=run_findings(run),
        source_ids=optional(lambda: _source_ids(data, taxonomy)),
        concentration=concentration,
        structure=structure,
        neighbourhood=neighbourhood,
        robustness=robustness,
    )


def _source_ids(data: RunData, taxonomy) -> pd.DataFrame:
    """Raw IDs against the codebase's own ID file, when the import kept one."""
    path = data.run.path / SOURCE_IDS_FILE
    if not path.exists():
        return NO_SOURCE_IDS
    source = read_code_table(path, root=data.run.path)
    if list(source.item_ids) != list(data.item_ids):
        raise InputError(f"{path}: its items are not the run's, in the run's order")
    depth = None if isinstance(taxonomy, Unavailable) else taxonomy.category_depth
    return resolution_summary(
        data.codes,
        source.codes,
        categories=data.category_table,
        depth=depth,
        last_codebook_size=data.codebook_sizes[-1],
    )


def _taxonomy(data: RunData, codes: SortedCodes) -> TaxonomyResult:
    categories = data.category_table
    if categories is None:
        raise DiagnosticUnavailable("no categories: the run has no catalog with categories")
    purity = node_purity(codes, categories)
    return TaxonomyResult(
        purity=purity,
        scores=taxonomy_scores(codes, categories),
        category_depth=min(informative_depth(categories), int(purity["depth"].max())),
    )
