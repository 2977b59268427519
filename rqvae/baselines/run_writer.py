"""A fitted baseline, and the run folder (kind ``"baseline"``) it becomes.

Every baseline ends as a :class:`BaselineFit`: the codes it gives each item and, when the
method has codebooks shared by every item (RQ-KMeans, faiss RQ), a
:class:`~rqvae.quantizers.stored.StoredQuantizer` rebuilt from the run folder by
:func:`rqvae.quantizers.from_run.load_run_quantizer`. Methods without shared codebooks
(hierarchical k-means, category prefixes) record why in ``config.json``
(``baseline.no_codebooks``), which the codeword diagnostics show as "unavailable".

The run folder has the files of a trained run, less ``tb/``::

    config.json            schema 2, kind "baseline", plus "baseline": {"method", settings...}
    status.json            {"state": "finished", "fit_seconds": s, ...}
    metrics.jsonl          one line with every key an RQ-VAE epoch logs (below)
    items.parquet          the normalised catalog, when one is given
    semantic_ids.parquet   item_id, code_0.., collision, sid
    checkpoints/quantizer.{safetensors,json}   only for methods with codebooks

The metrics line uses the RQ-VAE keys (``rqvae.training.metrics_log.metric_keys``) so the comparison
table reads one schema. The loss keys, ``lr``, ``grad_norm`` and the validation losses are null:
nothing is trained by gradient, and there is no held-out split. The quantization error is in
``residual_norm_l{i}`` = mean ``||r_{i+1}||``: for methods with codebooks the residual chain
along the method's codes; for methods without, the level-i codeword is taken as the step from
the centroid of an item's length-i prefix to that of its length-(i+1) prefix, so ``r_{i+1}`` =
x - centroid of the item's prefix c_0..c_i. ``epoch`` is 1, ``step`` 0 and ``wall_time_s``
the fit time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rqvae.data.embeddings import EmbeddingsFile
from rqvae.errors import InputError
from rqvae.files import (
    append_jsonl,
    atomic_write_json,
    atomic_write_parquet,
    now_iso,
)
from rqvae.id_metrics import (
    code_counts,
    perplexities,
    prefix_groups,
    unique_id_ratio,
    used_fractions,
)
from rqvae.quantizers.base import iter_residual_chain
from rqvae.quantizers.stored import StoredQuantizer
from rqvae.runs.folder import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    ITEMS_FILE,
    METRICS_FILE,
    SEMANTIC_IDS_FILE,
    STATUS_FILE,
    config_document,
    embeddings_section,
    write_run_files,
)
from rqvae.runs.lock import LOCK_FILE
from rqvae.runs.semantic_ids import write_semantic_ids
from rqvae.training.metrics_log import metric_keys


@dataclass
class BaselineFit:
    """What a baseline method returns.

    codes : int64 (n_items, L), in ``[0, K)`` at every level.
    quantizer : the shared codebooks (and per-code biases) when the method has them.
    no_codebooks : why there is no quantizer (shown by the codeword diagnostics).
    settings : the method's own settings and facts, kept in ``config.json["baseline"]``.
    """

    codes: np.ndarray
    quantizer: StoredQuantizer | None = None
    no_codebooks: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def check_out_dir(out_dir: Path) -> None:
    """A baseline writes a new run folder: refuse a file or a non-empty folder."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: is a file; --out must name a new run folder")
    if out_dir.is_dir() and any(entry.name != LOCK_FILE for entry in out_dir.iterdir()):
        raise InputError(f"{out_dir}: already exists and is not empty; choose another --out")


def write_baseline_run(
    out_dir: Path,
    fit: BaselineFit,
    *,
    method: str,
    codebook_size: int,
    embeddings: EmbeddingsFile,
    catalog_spec,
    items: pd.DataFrame | None,
    fit_seconds: float,
) -> Path:
    """Write the run folder above into ``out_dir`` (staged, then renamed into place)."""
    codes = fit.codes
    levels = codes.shape[1]
    if codes.min() < 0 or codes.max() >= codebook_size:
        raise AssertionError(f"{method} produced codes outside [0, {codebook_size})")
    if items is not None:
        item_ids = items["item_id"].astype(str).to_numpy(dtype=object)
        ids_source = "catalog"
    elif embeddings.item_ids is not None:
        item_ids, ids_source = np.asarray(embeddings.item_ids, dtype=object), "sidecar"
    else:
        item_ids = np.array([str(row) for row in range(embeddings.n_items)], dtype=object)
        ids_source = "row_number"
    config = config_document(
        "baseline",
        levels=levels,
        codebook_sizes=[codebook_size] * levels,
        distance="euclidean",
        data=embeddings_section(embeddings, catalog_spec, ids_source),
        baseline={"method": method, **fit.settings, "no_codebooks": fit.no_codebooks},
    )
    record = summary_metrics(fit, embeddings.array, codebook_size, fit_seconds)
    status = {"state": "finished", "created": config["created"], "updated": now_iso()}
    status.update(epoch=1, epochs=1, fit_seconds=round(fit_seconds, 3))

    def write(staging: Path) -> None:
        write_semantic_ids(staging / SEMANTIC_IDS_FILE, item_ids, codes)
        if items is not None:
            atomic_write_parquet(staging / ITEMS_FILE, items)
        if fit.quantizer is not None:
            (staging / CHECKPOINT_DIR).mkdir()
            fit.quantizer.save(staging / CHECKPOINT_DIR, source={"method": method})
        append_jsonl(staging / METRICS_FILE, record)
        atomic_write_json(staging / STATUS_FILE, status)
        atomic_write_json(staging / CONFIG_FILE, config)

    write_run_files(out_dir, write)
    return out_dir


def summary_metrics(
    fit: BaselineFit, x: np.ndarray, codebook_size: int, fit_seconds: float
) -> dict[str, Any]:
    """The one metrics line of the module docstring, for ``x`` (n, d) and ``fit.codes``."""
    codes = fit.codes
    n_items, levels = codes.shape
    norms = _residual_norm_sums(fit, x)  # (L,) sums of ||r_{l+1}||
    counts = code_counts(codes, [codebook_size] * levels)
    usage, spread = used_fractions(counts), perplexities(counts)
    values: dict[str, Any] = {
        "epoch": 1,
        "step": 0,
        "lr": None,
        "grad_norm": None,
        "val_loss_total": None,
        "val_loss_recon": None,
        "unique_id_ratio": unique_id_ratio(codes),
        "samples_per_s": n_items / max(fit_seconds, 1e-9),
        "wall_time_s": fit_seconds,
    }
    for level in range(levels):
        values[f"dead_codes_reset_l{level}"] = 0
        values[f"residual_norm_l{level}"] = float(norms[level] / n_items)
        values[f"codebook_usage_l{level}"] = float(usage[level])
        values[f"perplexity_l{level}"] = float(spread[level])
    # training losses: none, nothing here is trained by gradient
    return {key: values.get(key) for key in metric_keys(levels)}


def _residual_norm_sums(fit: BaselineFit, x: np.ndarray) -> np.ndarray:
    """Per level, the sum over items of ``||r_{l+1}||`` (float64, (L,))."""
    levels = fit.codes.shape[1]
    norms = np.zeros(levels)
    if fit.quantizer is not None:
        # walk the stored codebooks along the codes the method chose (beam search may differ
        # from the greedy nearest rule)
        for chunk in iter_residual_chain(fit.quantizer, x, codes=fit.codes):
            after = chunk.chain.residuals[1:].astype(np.float64)  # (L, m, D)
            norms += np.linalg.norm(after, axis=2).sum(axis=1)
        return norms
    x = np.asarray(x, dtype=np.float64)
    for level in range(levels):
        group = prefix_groups(fit.codes, level + 1).group  # (n,) node of each item
        sums = np.zeros((int(group.max()) + 1, x.shape[1]))
        np.add.at(sums, group, x)
        centroids = sums / np.bincount(group)[:, None]
        norms[level] = np.linalg.norm(x - centroids[group], axis=1).sum()
    return norms


class Timer:
    """Wall-clock seconds of a ``with`` block: ``with Timer() as t: ...; t.seconds``."""

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start
