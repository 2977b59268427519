"""Why a catalog is hard to quantize: norms, anisotropy and spectrum of a set of vectors.

Works on the input embeddings (n x d_in, streamed in chunks from a memmap or
:class:`rqvae.data.embeddings.EmbeddingReader`) and on a quantizer's latents (n x latent_dim).
Nothing n x n is ever formed; memory is one chunk plus a d x d covariance.

- **Norms**: the L2 norm of every row, summarised by quantiles.
- **Anisotropy**: the mean cosine similarity of ``n_pairs`` random pairs of distinct rows,
  drawn with a fixed seed (Ethayarajh 2019, "How contextual are contextualized word
  representations?"). 0 for directions spread evenly; near 1 when every vector points the same
  way, and then a Euclidean codebook spends its codes on one narrow cone. The exact mean over
  all ordered pairs, ``(||sum_i u_i||^2 - n) / (n (n - 1))`` with ``u_i`` the unit rows, comes
  for free and is reported next to it.
- **Spectrum**: eigenvalues of the covariance (centred, divided by n) in decreasing order, and
  the **effective rank** as the participation ratio ``(sum lambda)^2 / sum lambda^2``: d when
  every direction has equal variance, 1 when one direction holds it all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.metrics.checks import check_embeddings
from rqvae.data.embeddings import check_finite_chunk
from rqvae.errors import DiagnosticUnavailable, InputError

DEFAULT_PAIRS = 10_000
NORM_QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0)
CHUNK = 16_384
# Norms within this of 1 count as L2-normalised: float32 rounding of a unit vector in 384-D
# moves its norm by about 1e-7, a vector that was not normalised by far more than 1e-3.
UNIT_NORM_TOLERANCE = 1e-3


@dataclass
class EmbeddingGeometry:
    """Norms, anisotropy and spectrum of one set of vectors (:func:`embedding_geometry`).

    space : what the vectors are ("input" or "latent"). n_items, dim : the matrix shape.
    norms : float64 (n_items,), L2 norm of every row (for histograms).
    norm_summary : one row, columns ``mean, std, min, p01, p25, p50, p75, p99, max``.
    anisotropy : mean cosine of ``n_pairs`` random pairs of distinct rows (seed ``seed``).
    anisotropy_std : standard deviation of those cosines.
    mean_cosine_all_pairs : the exact mean cosine over all n (n - 1) ordered pairs.
    eigenvalues : float64 (dim,), covariance eigenvalues, largest first (squared units).
    effective_rank : participation ratio of ``eigenvalues`` (between 1 and dim).
    """

    space: str
    n_items: int
    dim: int
    norms: np.ndarray
    norm_summary: pd.DataFrame
    anisotropy: float
    anisotropy_std: float
    n_pairs: int
    seed: int
    mean_cosine_all_pairs: float
    eigenvalues: np.ndarray
    effective_rank: float

    def summary(self) -> dict:
        """The headline numbers as one flat dict (for tables and JSON)."""
        total = float(self.eigenvalues.sum())
        top = self.eigenvalues[:10].sum() / total if total > 0 else float("nan")
        return {
            "space": self.space,
            "n_items": self.n_items,
            "dim": self.dim,
            "norm_mean": float(self.norm_summary["mean"].iloc[0]),
            "norm_std": float(self.norm_summary["std"].iloc[0]),
            "anisotropy": self.anisotropy,
            "anisotropy_std": self.anisotropy_std,
            "n_pairs": self.n_pairs,
            "pair_seed": self.seed,
            "mean_cosine_all_pairs": self.mean_cosine_all_pairs,
            "effective_rank": self.effective_rank,
            "effective_rank_fraction": self.effective_rank / self.dim,
            "top10_variance_share": float(top),
            "total_variance": total,
        }

    def unit_norm(self, tolerance: float = UNIT_NORM_TOLERANCE) -> bool:
        """True when every row's L2 norm is within ``tolerance`` of 1: the vectors were
        L2-normalised, and a histogram of their norms would only show float rounding."""
        return len(self.norms) > 0 and bool(np.abs(self.norms - 1.0).max() <= tolerance)

    def spectrum(self) -> pd.DataFrame:
        """``component`` (1-based), ``eigenvalue``, ``variance_share``, ``cumulative_share``."""
        total = self.eigenvalues.sum()
        share = self.eigenvalues / total if total > 0 else np.zeros_like(self.eigenvalues)
        return pd.DataFrame(
            {
                "component": np.arange(1, len(self.eigenvalues) + 1),
                "eigenvalue": self.eigenvalues,
                "variance_share": share,
                "cumulative_share": np.cumsum(share),
            }
        )


def embedding_geometry(
    vectors,
    space: str = "input",
    n_pairs: int = DEFAULT_PAIRS,
    seed: int = 0,
    chunk: int = CHUNK,
) -> EmbeddingGeometry:
    """Norms, anisotropy, spectrum and effective rank of ``vectors``.

    vectors : float, shape (n_items, dim); an array, memmap or EmbeddingReader, read ``chunk``
        rows at a time (NaN or inf rows raise InputError naming them).
    n_pairs : random pairs (i, j), i != j, drawn uniformly with ``np.random.default_rng(seed)``
        for the anisotropy; each pair's cosine is ``u_i . u_j`` with u the row scaled to unit
        length (a zero row has cosine 0 with everything).

    Fewer than 2 rows: :class:`DiagnosticUnavailable` (no pairs, no covariance).
    """
    if not hasattr(vectors, "shape"):
        vectors = np.asarray(vectors)
    if len(vectors.shape) != 2:
        raise InputError(f"vectors has shape {vectors.shape}, expected (n_items, dim)")
    vectors = check_embeddings(vectors, vectors.shape[0], name=f"{space} vectors")
    if n_pairs < 1 or chunk < 1:
        raise InputError(f"n_pairs and chunk must be positive, got {n_pairs} and {chunk}")
    n_items, dim = vectors.shape
    if n_items < 2:
        raise DiagnosticUnavailable(f"{space} geometry needs 2 or more items, got {n_items}")
    return _geometry(vectors, space, n_pairs, seed, chunk)


def _geometry(vectors, space: str, n_pairs: int, seed: int, chunk: int) -> EmbeddingGeometry:
    n_items, dim = vectors.shape
    # 1. One pass: norms, the sum of unit rows (exact all-pairs cosine), and the moments.
    norms = np.empty(n_items, dtype=np.float64)
    unit_sum = np.zeros(dim, dtype=np.float64)
    unit_square_sum = 0.0  # number of non-zero rows, as sum of ||u_i||^2
    total = np.zeros(dim, dtype=np.float64)
    # Moments around the first row, not 0: the covariance of vectors far from the origin
    # would otherwise lose its digits to cancellation.
    shift = np.asarray(vectors[0:1], dtype=np.float64)[0]
    second = np.zeros((dim, dim), dtype=np.float64)
    for start in range(0, n_items, chunk):
        block = np.asarray(vectors[start : start + chunk], dtype=np.float64)  # (rows, dim)
        check_finite_chunk(block, start, name=f"{space} vectors")
        block_norms = np.linalg.norm(block, axis=1)
        norms[start : start + len(block)] = block_norms
        units = block / np.maximum(block_norms, 1e-300)[:, None]
        units[block_norms == 0] = 0.0
        unit_sum += units.sum(axis=0)
        unit_square_sum += float((block_norms > 0).sum())
        centred = block - shift
        total += centred.sum(axis=0)
        second += centred.T @ centred
    mean_shifted = total / n_items
    covariance = second / n_items - np.outer(mean_shifted, mean_shifted)  # (dim, dim)
    eigenvalues = np.clip(np.linalg.eigvalsh(covariance)[::-1], 0.0, None)
    squares = float((eigenvalues**2).sum())
    effective_rank = float(eigenvalues.sum() ** 2 / squares) if squares > 0 else 0.0
    all_pairs = (float(unit_sum @ unit_sum) - unit_square_sum) / (n_items * (n_items - 1.0))

    # 2. Random pairs of distinct rows: j is drawn from the n - 1 rows other than i.
    rng = np.random.default_rng(seed)
    first = rng.integers(0, n_items, size=n_pairs)
    second_rows = rng.integers(0, n_items - 1, size=n_pairs)
    second_rows += second_rows >= first
    cosines = _pair_cosines(vectors, first, second_rows, norms)

    quantiles = np.quantile(norms, NORM_QUANTILES)
    norm_summary = pd.DataFrame(
        [
            {
                "mean": float(norms.mean()),
                "std": float(norms.std()),
                **{
                    name: float(value)
                    for name, value in zip(
                        ("min", "p01", "p25", "p50", "p75", "p99", "max"), quantiles, strict=True
                    )
                },
            }
        ]
    )
    return EmbeddingGeometry(
        space=space,
        n_items=n_items,
        dim=dim,
        norms=norms,
        norm_summary=norm_summary,
        anisotropy=float(cosines.mean()),
        anisotropy_std=float(cosines.std()),
        n_pairs=n_pairs,
        seed=seed,
        mean_cosine_all_pairs=float(all_pairs),
        eigenvalues=eigenvalues,
        effective_rank=effective_rank,
    )


def _pair_cosines(vectors, first: np.ndarray, second: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Cosine of rows ``first[p]`` and ``second[p]``; each needed row is read once, in order."""
    rows, inverse = np.unique(np.concatenate([first, second]), return_inverse=True)
    picked = np.asarray(vectors[rows], dtype=np.float64)  # (distinct rows, dim)
    scale = norms[rows]
    units = picked / np.maximum(scale, 1e-300)[:, None]
    units[scale == 0] = 0.0
    a, b = inverse[: len(first)], inverse[len(first) :]
    return np.einsum("pd,pd->p", units[a], units[b])
