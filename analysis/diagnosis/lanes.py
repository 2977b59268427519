"""The two lanes of a diagnosis: what runs beside what, each lane on one thread.

A diagnosis of a million items is mostly three kinds of work: reading the embeddings for
coherence and the input geometry (BLAS), the model pass (the encoder and decoder in torch) and
the codeword geometry with its UMAP maps. :func:`analysis.diagnosis.diagnose.diagnose_run`
runs the ID diagnostics first, then the main lane (:func:`main_lane`: behaviour, model pass,
geometry) in the calling thread and the embedding lane (:func:`embedding_lane`, then the
Mahalanobis comparison once the model pass has made the latents) in a second one. Each lane
uses one torch and one BLAS thread (:func:`rqvae.training.threads.limited_threads`): on two
busy cores that beats one lane with two threads each (bench/RESULTS.md, issue 12). The numbers
do not depend on the lanes: every diagnostic reads only its own inputs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from analysis.diagnosis.behaviour import behaviour_diagnostics
from analysis.diagnosis.geometry import build_geometry
from analysis.diagnosis.model_pass import ModelPass, model_pass
from analysis.diagnosis.results import NO_SEQUENCES, Unavailable
from analysis.metrics.assignments import AssignmentComparison, mahalanobis_comparison
from analysis.metrics.coherence import neighbour_search, semantic_coherence
from analysis.metrics.embedding_geometry import embedding_geometry
from analysis.metrics.geometry import Geometry
from analysis.metrics.neighbourhood import DEPTHS as NEIGHBOURHOOD_DEPTHS
from analysis.metrics.neighbourhood import neighbourhood_agreement
from analysis.metrics.robustness import code_robustness
from analysis.metrics.umap_maps import UmapSettings
from analysis.reading.run_data import RunData
from rqvae.errors import DiagnosticUnavailable, WorkbenchError
from rqvae.files import file_fingerprint
from rqvae.ids.extend import replay_ids
from rqvae.ids.last_level import spread_with_quantizer
from rqvae.quantizers import Quantizer
from rqvae.quantizers.from_run import NonFiniteWeights, load_run_quantizer

Result = TypeVar("Result")
Progress = Callable[[str, float], None]

# The stages of a diagnosis in the order they start (what ``progress`` reports).
STAGES = (
    "usage",
    "entropy",
    "collisions",
    "concentration",
    "structure",
    "taxonomy",
    "coherence",
    "neighbourhood",
    "input_geometry",
    "behaviour",
    "model_pass",
    "geometry",
    "latent_geometry",
    "robustness",
    "mahalanobis",
    "verdict",
)
DEFERRED = "not computed yet: the diagnostics that need the quantizer were deferred"


def embedding_lane(embeddings, codes, stage, queries: int, k: int, seed: int, pairs: int) -> tuple:
    """Coherence (7), the neighbourhood lists and the input geometry: the diagnostics that only
    read the embeddings. Returns ``(coherence, neighbourhood, input_geometry)``."""
    coherence = neighbourhood = input_result = embeddings
    if not isinstance(embeddings, Unavailable):
        with stage("coherence"):
            # One exact search, as deep as the deeper of the two, serves coherence and the
            # neighbourhood lists: the search over every item is the costly part of both.
            depth = max(k, *NEIGHBOURHOOD_DEPTHS)
            search = optional(
                lambda: neighbour_search(embeddings, len(codes), queries, depth, seed)
            )
            coherence = search
            if not isinstance(search, Unavailable):
                coherence = optional(
                    lambda: semantic_coherence(embeddings, codes, k=k, search=search)
                )
        with stage("neighbourhood"):
            neighbourhood = search
            if not isinstance(search, Unavailable):
                neighbourhood = optional(lambda: neighbourhood_agreement(codes, search))
        with stage("input_geometry"):
            input_result = optional(
                lambda: embedding_geometry(embeddings, space="input", n_pairs=pairs, seed=seed)
            )
    return coherence, neighbourhood, input_result


def main_lane(
    data: RunData,
    stage,
    lane: Executor,
    sequences: str | Path | None,
    window: int,
    head_fraction: float,
    model: bool,
    which: str,
    chunk_size: int,
    sample_size: int,
    seed: int,
    umap: bool,
    umap_settings: UmapSettings | None,
    geometry_pairs: int,
) -> tuple:
    """Behaviour, then everything that needs the quantizer (4, 5, 8, the latent geometry and
    the robustness to noise).

    The Mahalanobis comparison (8) is queued on ``lane`` (after coherence and the input
    geometry) as soon as the model pass is done, so it runs beside the codeword geometry and its
    UMAP maps; it is returned as a Future."""
    behaviour = popularity = NO_SEQUENCES
    if sequences is not None:
        with stage("behaviour"):
            both = optional(lambda: behaviour_diagnostics(data, sequences, window, head_fraction))
        behaviour, popularity = (both, both) if isinstance(both, Unavailable) else both

    with stage("model_pass"):
        if model:
            passed = optional(lambda: _model_pass(data, which, chunk_size, sample_size, seed))
        else:
            passed = Unavailable(DEFERRED)
    residuals = geometry = mahalanobis = latent_result = robustness = passed
    checkpoint = agreement = None
    if not isinstance(passed, Unavailable):
        result, quantizer = passed
        residuals = result.residuals
        checkpoint = Path(quantizer.source) if quantizer.source else None
        agreement = _agreement(data, quantizer, result)
        titles, categories = data.titles, data.category_table  # read here, not in two threads

        def compare() -> AssignmentComparison | Unavailable:
            with stage("mahalanobis"):  # thread-safe: see StageBoard
                return optional(
                    lambda: mahalanobis_comparison(
                        quantizer,
                        result.latents,
                        result.codes,
                        embeddings=data.embeddings(),
                        item_ids=data.item_ids,
                        titles=titles,
                        categories=categories,
                        seed=seed,
                    )
                )

        mahalanobis = lane.submit(compare)
        with stage("geometry"):
            geometry = optional(
                lambda: _geometry(data, quantizer, result, umap, umap_settings, seed)
            )
        with stage("latent_geometry"):
            latent_result = optional(
                lambda: embedding_geometry(
                    result.latents, space="latent", n_pairs=geometry_pairs, seed=seed
                )
            )
        with stage("robustness"):  # a seeded sample of items, encoded again with noise
            robustness = optional(lambda: code_robustness(quantizer, data.embeddings(), seed=seed))

    return behaviour, popularity, (
        residuals, geometry, mahalanobis, latent_result, checkpoint, agreement, robustness
    )  # fmt: skip


def _agreement(data: RunData, quantizer: Quantizer, result: ModelPass) -> float:
    """Share of items whose stored codes are the checkpoint's, after the same collision-aware
    last level when ``assign`` applied one (from the latents: no second encoder pass)."""
    expected = result.codes
    rule = (data.last_level or {}).get("rule")
    if data.history.extended:  # the assignment, then each extension with earlier items fixed
        expected = replay_ids(quantizer, result.codes, result.latents, data.history, rule)
    elif rule == "balanced":
        expected = spread_with_quantizer(quantizer, None, result.codes, latents=result.latents)
        expected = expected.codes
    return float((expected == data.codes).all(axis=1).mean())


def _model_pass(
    data: RunData, which: str, chunk_size: int, sample_size: int, seed: int
) -> tuple[ModelPass, Quantizer]:
    quantizer = load_run_quantizer(data.run, which)
    if quantizer.levels != data.n_levels:
        raise DiagnosticUnavailable(
            f"the checkpoint has {quantizer.levels} levels, the semantic IDs {data.n_levels}"
        )
    result = model_pass(quantizer, data.embeddings(), chunk_size, sample_size, seed)
    return result, quantizer


def _geometry(
    data: RunData, quantizer: Quantizer, result: ModelPass, umap: bool, settings, seed: int
) -> Geometry:
    settings = settings or UmapSettings(seed=seed)
    cache_key = {
        "checkpoint": file_fingerprint(quantizer.source),
        "embeddings": file_fingerprint(data.run.embeddings_path, content=False),
        "n_items": data.n_items,
    }
    return build_geometry(
        quantizer.codebooks,
        data.codes,
        latents=result.latents,
        titles=data.titles,
        categories=data.category_table,
        umap=umap,
        settings=settings,
        cache_dir=data.run.cache_dir() if umap else None,
        cache_key=cache_key,
        prepare=quantizer.prepare,
        collision=data.collision,
    )


class StageBoard:
    """What both lanes are doing, told to ``progress`` as one line.

    Each start or end of a stage calls ``progress(running, fraction)``: ``running`` names the
    stages under way in either lane, joined by " + " (e.g. ``"model_pass + coherence"``), and
    ``fraction`` is the share of :data:`STAGES` finished. Stages start and end in two threads,
    hence the lock.
    """

    def __init__(self, progress: Progress | None):
        self._progress = progress
        self._running: list[str] = []
        self._finished = 0
        self._lock = threading.Lock()

    def start(self, name: str) -> None:
        with self._lock:
            self._running.append(name)
            self._tell()

    def finish(self, name: str) -> None:
        with self._lock:
            self._running.remove(name)
            self._finished += 1
            if self._running:  # the next start reports the idle lane's next stage
                self._tell()

    def _tell(self) -> None:
        if self._progress is not None:
            self._progress(" + ".join(self._running), min(self._finished / len(STAGES), 1.0))


def stage_timer(timings: dict[str, float], board: StageBoard | None):
    """``with stage(name):`` records the seconds a stage took and tells ``board`` it runs."""

    @contextmanager
    def stage(name: str):
        if board is not None:
            board.start(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            timings[name] = round(time.perf_counter() - start, 3)
            if board is not None:
                board.finish(name)

    return stage


def optional(compute: Callable[[], Result]) -> Result | Unavailable:
    """``compute()``, or :class:`Unavailable` when it cannot run or its input is bad.

    Bad input here (a checkpoint that does not match the embeddings, NaN rows) concerns one
    diagnostic; the message is kept as the reason and the rest of the diagnosis goes on.
    """
    try:
        return compute()
    except DiagnosticUnavailable as error:
        return Unavailable(error.reason)
    except NonFiniteWeights:
        raise  # a diverged checkpoint is not one missing diagnostic: the run is refused
    except WorkbenchError as error:
        return Unavailable(str(error))
