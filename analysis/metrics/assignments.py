"""Diagnostic 8, side by side: the quantizer's own IDs against the Mahalanobis re-assignment.

The "euclidean" column is the assignment the quantizer itself makes (its nearest codeword;
under a cosine-distance model that is the nearest direction). The "mahalanobis" column
re-assigns the same latents to the same codebooks with
:class:`analysis.metrics.mahalanobis.MahalanobisAssigner`. Everything that describes a set of
IDs is computed for both with the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.metrics.collisions import collision_report
from analysis.metrics.entropy import usage_entropy
from analysis.metrics.mahalanobis import MahalanobisAssigner
from analysis.metrics.residuals import (
    INPUT_SAMPLE,
    ResidualAccumulator,
    ResidualNorms,
    input_error_rows,
    rows_in_chunk,
)
from analysis.metrics.taxonomy import informative_depth, prefix_purity
from analysis.metrics.usage import codebook_usage
from rqvae.errors import InputError
from rqvae.id_metrics import check_codebook_sizes, check_codes, code_counts, sorted_codes
from rqvae.quantizers import Quantizer, residual_chain

ASSIGNMENTS = ("euclidean", "mahalanobis")
MAX_CHANGED = 200


@dataclass
class AssignmentComparison:
    """Euclidean (the model's) against Mahalanobis IDs over the same latents and codebooks.

    levels : one row per (``assignment``, ``level``): ``used_codes, used_fraction, dead_codes,
        largest_share, gini`` (see :func:`analysis.metrics.usage.codebook_usage`), ``perplexity,
        entropy_nats, kl_uniform_nats, kl_uniform_bits`` (see
        :func:`analysis.metrics.entropy.usage_entropy`), ``unique_id_ratio`` of the prefix up to
        this level, ``purity`` (:func:`analysis.metrics.taxonomy.prefix_purity` of the
        prefix-(l+1) nodes at category depth ``category_depth``; NaN without categories) and
        ``mean_residual_norm`` (mean ||r_{l+1}||).
    agreement : one row per level: ``agreement`` (share of items with the same code at this
        level) and ``prefix_agreement`` (same codes at every level up to this one).
    summary : one row per assignment: ``unique_id_ratio`` (full tuple), ``collision_share``,
        ``largest_group``, ``latent_mse``, ``latent_cosine`` and, with a decoder, ``input_mse``,
        ``input_cosine`` (definitions as in :class:`analysis.metrics.residuals.ResidualNorms`)
        and ``input_items`` (the items those two are over: all, or a seeded sample).
    covariance : one row per level: ``shrinkage`` (Ledoit-Wolf), ``trace`` and
        ``condition_number`` of the covariance, ``jitter`` (ridge added, usually 0).
    changed : items whose full ID differs, at most ``MAX_CHANGED`` rows in item order:
        ``item_id, title, euclidean, mahalanobis`` (IDs as "12-7-3"), ``first_changed_level``.
    n_changed : number of items whose full ID differs (all of them, not just the listed ones).
    counts : per assignment, items per code: one int64 (K_l,) array per level.
    """

    levels: pd.DataFrame
    agreement: pd.DataFrame
    summary: pd.DataFrame
    covariance: pd.DataFrame
    changed: pd.DataFrame
    n_changed: int
    n_items: int
    category_depth: int | None
    counts: dict[str, list[np.ndarray]]


def compare_assignments(
    euclidean: np.ndarray,
    mahalanobis: np.ndarray,
    codebook_sizes: int | list[int],
    *,
    residuals: dict[str, ResidualNorms],
    assigner: MahalanobisAssigner,
    item_ids=None,
    titles=None,
    categories=None,
    max_changed: int = MAX_CHANGED,
) -> AssignmentComparison:
    """Assemble the side-by-side tables from two code arrays of shape (n_items, L).

    residuals : :class:`ResidualNorms` of each assignment ("euclidean", "mahalanobis").
    assigner : the fitted assigner (its covariances are reported).
    """
    codes = {"euclidean": check_codes(euclidean), "mahalanobis": check_codes(mahalanobis)}
    if codes["euclidean"].shape != codes["mahalanobis"].shape:
        raise InputError(
            f"codes have shapes {codes['euclidean'].shape} and {codes['mahalanobis'].shape}, "
            "expected the same"
        )
    n_items, n_levels = codes["euclidean"].shape
    sizes = check_codebook_sizes(codebook_sizes, codes["euclidean"])
    check_codebook_sizes(sizes, codes["mahalanobis"])
    item_ids = np.arange(n_items).astype(str) if item_ids is None else np.asarray(item_ids)
    depth = informative_depth(categories) if categories is not None else None

    level_frames, summary_rows = [], []
    for name in ASSIGNMENTS:
        level_frame = codebook_usage(codes[name], sizes).merge(
            usage_entropy(codes[name], sizes).drop(columns="codebook_size"), on="level"
        )
        level_frame["unique_id_ratio"] = _prefix_unique_ratios(codes[name])
        level_frame["purity"] = prefix_purity(codes[name], categories, depth)
        level_frame["mean_residual_norm"] = residuals[name].levels["mean_norm"].to_numpy()
        level_frames.append(level_frame.assign(assignment=name))
        report = collision_report(codes[name], top=0)
        summary_rows.append(
            {
                "assignment": name,
                "unique_id_ratio": report.unique_id_ratio,
                "collision_share": report.collision_share,
                "largest_group": report.largest_group,
                **_reconstruction_columns(residuals[name]),
            }
        )
    levels = pd.concat(level_frames, ignore_index=True)
    levels = levels[["assignment", *[c for c in levels.columns if c != "assignment"]]]

    same = codes["euclidean"] == codes["mahalanobis"]  # (n_items, L)
    agreement = pd.DataFrame(
        {
            "level": np.arange(n_levels),
            "agreement": same.mean(axis=0),
            "prefix_agreement": np.logical_and.accumulate(same, axis=1).mean(axis=0),
        }
    )
    return AssignmentComparison(
        levels=levels,
        agreement=agreement,
        summary=pd.DataFrame(summary_rows),
        covariance=_covariance_table(assigner),
        changed=_changed_items(codes, same, item_ids, titles, max_changed),
        n_changed=int((~same.all(axis=1)).sum()),
        n_items=n_items,
        category_depth=depth,
        counts={name: code_counts(codes[name], sizes) for name in ASSIGNMENTS},
    )


def _prefix_unique_ratios(codes) -> list[float]:
    index = sorted_codes(codes)
    return [len(index.groups(length).sizes) / len(index) for length in range(1, index.shape[1] + 1)]


def _reconstruction_columns(residuals: ResidualNorms) -> dict[str, float]:
    columns = {}
    for row in residuals.reconstruction.itertuples():
        if row.space in ("latent", "input"):
            columns[f"{row.space}_mse"] = float(row.mse)
            columns[f"{row.space}_cosine"] = float(row.cosine)
        if row.space == "input":
            columns["input_items"] = int(row.items)
    return columns


def _covariance_table(assigner: MahalanobisAssigner) -> pd.DataFrame:
    eigenvalues = np.linalg.eigvalsh(assigner.covariances_)  # (L, D), ascending
    return pd.DataFrame(
        {
            "level": np.arange(len(eigenvalues)),
            "shrinkage": assigner.shrinkages_,
            "trace": eigenvalues.sum(axis=1),
            "condition_number": eigenvalues[:, -1] / np.maximum(eigenvalues[:, 0], 1e-300),
            "jitter": assigner.jitter_,
        }
    )


def _changed_items(codes, same, item_ids, titles, max_changed: int) -> pd.DataFrame:
    rows = np.flatnonzero(~same.all(axis=1))[:max_changed]
    first_changed = np.argmin(same[rows], axis=1) if len(rows) else np.zeros(0, dtype=np.int64)
    return pd.DataFrame(
        {
            "item_id": np.asarray(item_ids, dtype=object)[rows],
            "title": (np.asarray(titles, dtype=object)[rows] if titles is not None else ""),
            "euclidean": ["-".join(map(str, c)) for c in codes["euclidean"][rows].tolist()],
            "mahalanobis": ["-".join(map(str, c)) for c in codes["mahalanobis"][rows].tolist()],
            "first_changed_level": first_changed.astype(np.int64),
        }
    )


# --- from a quantizer and its latents ----------------------------------------------------------


def mahalanobis_comparison(
    quantizer: Quantizer,
    z: np.ndarray,
    quantizer_codes: np.ndarray,
    *,
    embeddings=None,
    item_ids=None,
    titles=None,
    categories=None,
    covariance: str = "ledoit_wolf",
    chunk_size: int = 16_384,
    input_sample: int = INPUT_SAMPLE,
    seed: int = 0,
) -> AssignmentComparison:
    """Fit the Mahalanobis assigner on latents ``z`` (n, D) and compare with ``quantizer_codes``.

    quantizer_codes : (n, L), the quantizer's own assignment of ``z``. With ``embeddings``
    (n, d_in, may be a memmap) and a quantizer that has a decoder, input-space reconstruction
    errors of both assignments are computed in one more chunked pass over the embeddings:
    over every item up to ``input_sample`` items, above it over the seeded sample of
    :func:`analysis.metrics.residuals.input_error_rows` (``input_items`` in the summary).
    """
    codebooks = quantizer.codebooks
    assigner = MahalanobisAssigner(covariance, chunk_size, prepare=quantizer.prepare)
    mahalanobis = assigner.fit_transform(z, codebooks)
    codes = {"euclidean": check_codes(quantizer_codes), "mahalanobis": mahalanobis}
    decode = quantizer.decode if quantizer.has_decoder and embeddings is not None else None
    accumulators = {name: ResidualAccumulator(len(codebooks)) for name in ASSIGNMENTS}
    decoded_rows = input_error_rows(len(z), input_sample, seed)
    for start in range(0, len(z), chunk_size):
        z_chunk = np.asarray(z[start : start + chunk_size], dtype=np.float32)
        take = rows_in_chunk(decoded_rows, start, start + len(z_chunk))
        x_chunk = None
        if decode is not None and (take is None or len(take)):
            x_chunk = np.asarray(embeddings[start : start + chunk_size], dtype=np.float32)
            x_chunk = x_chunk if take is None else x_chunk[take]
        for name in ASSIGNMENTS:
            given = codes[name][start : start + chunk_size]
            chain = residual_chain(z_chunk, codebooks, codes=given, prepare=quantizer.prepare)
            x_hat = None
            if x_chunk is not None:
                x_hat = decode(chain.quantized if take is None else chain.quantized[take])
            accumulators[name].update(chain, x=x_chunk, x_hat=x_hat)
    residuals = {name: accumulators[name].result(sample_size=0) for name in ASSIGNMENTS}
    return compare_assignments(
        codes["euclidean"],
        mahalanobis,
        quantizer.codebook_sizes,
        residuals=residuals,
        assigner=assigner,
        item_ids=item_ids,
        titles=titles,
        categories=categories,
    )
