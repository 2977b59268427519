"""Diagnostic 4: residual norms per level and reconstruction error.

The residuals are those of the one residual chain, :func:`rqvae.quantizers.residual_chain`:
``r_0 = z``, ``r_{l+1} = r_l - C_l[c_l]``, ``z_q = sum_l C_l[c_l]``. A healthy quantizer
makes ``||r_{l+1}||`` shrink level after level; a level that does not shrink it adds bits
without adding information. This module reports, for every level, the
distribution of ``||r_{l+1}||`` (Euclidean norm, in latent units), its ratio to the input norm
``||z||``, and the reconstruction error of ``z_q`` (latent space) and of the decoder output
(input space, when a model is given).

Everything streams over items in chunks: only per-item scalar norms (n x (L + 1) float32, 16 MB
for a million items and 3 levels) are kept, never an n x D matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rqvae.errors import InputError
from rqvae.id_metrics import check_codebook_sizes, check_codes
from rqvae.quantizers import ResidualChain, residual_chain
from rqvae.quantizers.base import PrepareResidual

PERCENTILES = (5, 25, 50, 75, 95)
DEFAULT_CHUNK = 65_536
DEFAULT_SAMPLE = 2_000
INPUT_STAGE = "input"
# Input-space errors need the decoder on every item (four decoder passes in a diagnosis, the
# largest cost at a million items); above this many items they are estimated on a seeded
# random sample of this size (``items`` in the reconstruction table says how many).
INPUT_SAMPLE = 200_000


def input_error_rows(n_items: int, size: int = INPUT_SAMPLE, seed: int = 0) -> np.ndarray | None:
    """Rows (sorted int64) whose input-space errors are computed: None (every row, exact) for
    ``n_items <= size``, else ``size`` rows drawn without replacement with
    ``np.random.default_rng(seed)``."""
    if n_items <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_items, size=size, replace=False))


def rows_in_chunk(rows: np.ndarray | None, start: int, stop: int) -> np.ndarray | None:
    """Positions inside the chunk ``start .. stop - 1`` of the sorted ``rows`` in it (None:
    every row of the chunk)."""
    if rows is None:
        return None
    return rows[np.searchsorted(rows, start) : np.searchsorted(rows, stop)] - start


@dataclass
class ResidualNorms:
    """Result of :func:`residual_norms` (and of a model pass, with input-space errors).

    Attributes
    ----------
    levels : DataFrame, one row per level ``l = 0 .. L-1`` describing ``||r_{l+1}||``, the
        residual left *after* level ``l``: ``level``, ``stage`` ("after level l"),
        ``mean_norm``, ``p5``, ``p25``, ``p50``, ``p75``, ``p95`` (latent units),
        ``ratio_to_input`` (``mean_norm / mean ||z||``), ``mean_item_ratio`` (mean over items of
        ``||r_{l+1}|| / ||z||``, items with ``||z|| = 0`` left out) and ``shrink`` (``mean_norm``
        divided by the previous stage's ``mean_norm``; the input for level 0; for quantizers
        that re-normalise each level's input (GRID) by the mean norm of that input instead).
    input_norm : dict with ``mean_norm`` and ``p5 .. p95`` of ``||z||``.
    reconstruction : DataFrame with one row per space: ``space`` ("latent", "input",
        "input_unquantized"), ``mse`` (mean over items and dimensions of the squared error),
        ``cosine`` (mean over items of the cosine similarity between target and reconstruction,
        0 where either vector is zero) and ``items`` (the items those means are over: every
        item, except the input-space rows of a run above :data:`INPUT_SAMPLE` items, which
        are estimated on the seeded sample of :func:`input_error_rows`). "latent" compares
        ``z`` with ``z_q``; "input" compares the embedding ``x`` with ``decode(z_q)``;
        "input_unquantized" with ``decode(z)``, which separates the autoencoder's own error
        from the quantization error.
    sample : DataFrame in long form for box/violin plots: ``item_index``, ``level`` (-1 for the
        input), ``stage`` ("input", "after level 0", ...), ``norm``; a seeded random sample of
        items, every stage of each sampled item.
    n_items : number of items the statistics cover.
    """

    levels: pd.DataFrame
    input_norm: dict
    reconstruction: pd.DataFrame
    sample: pd.DataFrame
    n_items: int


def stage_name(level: int) -> str:
    """Display name of the residual after ``level`` (``-1`` names the input itself)."""
    return INPUT_STAGE if level < 0 else f"after level {level}"


def residual_norms(
    z: np.ndarray,
    codebooks: list[np.ndarray],
    codes: np.ndarray,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    sample_size: int = DEFAULT_SAMPLE,
    seed: int = 0,
    prepare: PrepareResidual | None = None,
) -> ResidualNorms:
    """Residual norm after each level and latent reconstruction error, from arrays.

    Parameters
    ----------
    z : float, shape (n_items, D). Latents; may be a memory map (read chunk by chunk).
    codebooks : one float (K_l, D) array per level (or one (L, K, D) array).
    codes : int, shape (n_items, L), level l's values in ``[0, K_l)``.
    chunk_size : items per chunk; peak extra memory is about ``chunk_size * D * 4 * (L + 1)``
        bytes.
    sample_size : items kept in ``sample`` for plots.
    prepare : the quantizer's residual preparation (:attr:`Quantizer.prepare`), if it has one.

    Returns a :class:`ResidualNorms` without input-space rows (there is no decoder here).
    """
    z, codebooks, codes = _check_arrays(z, codebooks, codes)
    accumulator = ResidualAccumulator(len(codebooks))
    for start in range(0, len(z), chunk_size):
        chunk = np.asarray(z[start : start + chunk_size], dtype=np.float32)
        given = codes[start : start + chunk_size]
        accumulator.update(residual_chain(chunk, codebooks, codes=given, prepare=prepare))
    return accumulator.result(sample_size=sample_size, seed=seed)


def _check_arrays(z, codebooks, codes) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    codebooks = [np.asarray(codebook, dtype=np.float32) for codebook in codebooks]
    if not codebooks or any(c.ndim != 2 for c in codebooks):
        raise InputError("codebooks must be one (K, dim) array per level")
    dim = codebooks[0].shape[1]
    if any(c.shape[1] != dim for c in codebooks):
        raise InputError("codebooks of different levels have different dimensions")
    if len(getattr(z, "shape", ())) != 2 or z.shape[1] != dim:
        raise InputError(f"z has shape {getattr(z, 'shape', None)}, expected (n_items, {dim})")
    codes = check_codes(codes)
    if codes.shape != (z.shape[0], len(codebooks)):
        raise InputError(
            f"codes has shape {codes.shape}, expected ({z.shape[0]}, {len(codebooks)})"
        )
    check_codebook_sizes([len(c) for c in codebooks], codes)
    return z, codebooks, codes


class ResidualAccumulator:
    """Streaming accumulator: feed chains with :meth:`update`, read :meth:`result` at the end.

    Only per-item norms and a few float64 sums are kept, so memory grows by
    ``(L + 1) * 4`` bytes per item whatever the latent or input dimension.
    """

    def __init__(self, n_levels: int):
        self.n_levels = n_levels
        self.norm_chunks: list[np.ndarray] = []  # each (chunk, L + 1): ||z||, ||r_1||, ...
        # each (chunk, L): norm of the prepared residual each level quantized, kept only for
        # chains that prepare residuals (GRID's per-level L2 normalisation)
        self.entering_chunks: list[np.ndarray] = []
        # Sums of squared errors, cosines and value counts per space.
        self.sums: dict[str, list[float]] = {}

    def update(
        self,
        chain: ResidualChain,
        x: np.ndarray | None = None,
        x_hat: np.ndarray | None = None,
        x_hat_unquantized: np.ndarray | None = None,
    ) -> None:
        """Add one chunk's chain; optional embeddings ``x`` (m, d_in) with their decoded
        reconstructions from ``z_q`` and from ``z``."""
        z = chain.residuals[0]
        # (m, L + 1): ||z||, then what each level left (before a next level re-normalises it)
        norms = np.column_stack([np.linalg.norm(z, axis=1), chain.after_norms()])
        self.norm_chunks.append(norms.astype(np.float32, copy=False))
        if chain.after is not None:  # levels re-normalise their input: shrink against that
            entering = np.linalg.norm(chain.residuals[:-1], axis=2).T.astype(np.float32)
            self.entering_chunks.append(entering)
        self._add_errors("latent", z, z - chain.left)
        if x is not None and x_hat is not None:
            self._add_errors("input", x, x_hat)
        if x is not None and x_hat_unquantized is not None:
            self._add_errors("input_unquantized", x, x_hat_unquantized)

    def _add_errors(self, space: str, target: np.ndarray, estimate: np.ndarray) -> None:
        # float32 arithmetic per item, float64 sums across items: exact enough, half the memory
        target = np.asarray(target, dtype=np.float32)
        estimate = np.asarray(estimate, dtype=np.float32)
        squared = float(np.square(target - estimate).sum(dtype=np.float64))
        denominator = np.linalg.norm(target, axis=1) * np.linalg.norm(estimate, axis=1)
        dots = np.einsum("ij,ij->i", target, estimate)
        cosine = np.divide(dots, denominator, out=np.zeros_like(dots), where=denominator > 0)
        sums = self.sums.setdefault(space, [0.0, 0.0, 0.0, 0.0])
        sums[0] += squared
        sums[1] += float(cosine.sum(dtype=np.float64))
        sums[2] += target.size  # values, for the MSE
        sums[3] += len(target)  # items, for the mean cosine

    def result(self, *, sample_size: int = DEFAULT_SAMPLE, seed: int = 0) -> ResidualNorms:
        n_levels = self.n_levels
        norms = (
            np.concatenate(self.norm_chunks)
            if self.norm_chunks
            else np.empty((0, n_levels + 1), dtype=np.float32)
        )
        if len(norms) == 0:
            raise InputError("no items to compute residual norms on")
        input_norm = norms[:, 0].astype(np.float64)
        input_mean = float(input_norm.mean())
        nonzero = input_norm > 0
        rows = []
        previous = input_mean
        entering = np.concatenate(self.entering_chunks) if self.entering_chunks else None
        for level in range(n_levels):
            values = norms[:, level + 1].astype(np.float64)
            mean = float(values.mean())
            if entering is not None:
                previous = float(entering[:, level].astype(np.float64).mean())
            item_ratio = values[nonzero] / input_norm[nonzero]
            rows.append(
                {
                    "level": level,
                    "stage": stage_name(level),
                    "mean_norm": mean,
                    **_percentiles(values),
                    "ratio_to_input": mean / input_mean if input_mean > 0 else float("nan"),
                    "mean_item_ratio": float(item_ratio.mean()) if item_ratio.size else np.nan,
                    "shrink": mean / previous if previous > 0 else float("nan"),
                }
            )
            previous = mean
        reconstruction = pd.DataFrame(
            [
                {"space": space, "mse": s[0] / s[2], "cosine": s[1] / s[3], "items": int(s[3])}
                for space, s in self.sums.items()
            ],
            columns=["space", "mse", "cosine", "items"],
        )
        return ResidualNorms(
            levels=pd.DataFrame(rows),
            input_norm={"mean_norm": input_mean, **_percentiles(input_norm)},
            reconstruction=reconstruction,
            sample=_sample_frame(norms, sample_size, seed),
            n_items=len(norms),
        )


def _percentiles(values: np.ndarray) -> dict[str, float]:
    points = np.percentile(values, PERCENTILES)
    return {f"p{p}": float(v) for p, v in zip(PERCENTILES, points, strict=True)}


def _sample_frame(norms: np.ndarray, sample_size: int, seed: int) -> pd.DataFrame:
    n_items, n_stages = norms.shape
    rng = np.random.default_rng(seed)
    size = min(sample_size, n_items)
    index = np.sort(rng.choice(n_items, size=size, replace=False))
    levels = np.arange(-1, n_stages - 1)
    return pd.DataFrame(
        {
            "item_index": np.repeat(index, n_stages),
            "level": np.tile(levels, size),
            "stage": np.tile([stage_name(level) for level in levels], size),
            "norm": norms[index].reshape(-1).astype(np.float64),
        }
    )
