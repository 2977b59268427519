"""Diagnostic 8: Euclidean against Mahalanobis assignment over the same codebooks.

The trained quantizer assigns each residual to its nearest codeword in Euclidean distance. If a
level's residuals are strongly anisotropic, a few directions dominate that distance; the
Mahalanobis distance ``(r - c)^T S_l^-1 (r - c)`` with ``S_l`` the covariance of the residuals
entering level ``l`` weighs every direction by its spread instead. Re-assigning with it, without
touching the codewords, shows how much the IDs depend on that choice.

Choice of residuals (documented because level ``l``'s residuals depend on earlier levels):
the assignment is *sequential and self-consistent*. ``S_0`` is the covariance of the latents
``z``; level 0 is assigned with it; ``S_1`` is the covariance of the residuals left by that
Mahalanobis assignment, and so on. Each level's metric therefore matches the residuals it
actually sees. Fitting takes one pass over the items per level (each pass recomputes the earlier
levels chunk by chunk), so memory stays at one chunk whatever the number of items.

Covariance: Ledoit-Wolf shrinkage towards ``mu I`` (``mu`` = mean variance), computed exactly
from streamed sufficient statistics; it equals ``sklearn.covariance.LedoitWolf`` on the full
matrix. Distances are computed by Cholesky whitening: with ``S = L L^T``,
``(r - c)^T S^-1 (r - c) = ||L^-1 r - L^-1 c||^2``, so the argmin is a Euclidean nearest-codeword
search between whitened residuals and whitened codewords. With ``S = I`` the whitening is the
identity and the assignment equals the Euclidean one exactly.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cholesky, solve_triangular

from rqvae.errors import InputError
from rqvae.quantizers import nearest_codewords, residual_chain
from rqvae.quantizers.base import PrepareResidual

DEFAULT_CHUNK = 16_384
# fit_transform keeps every item's residual (float64) when it takes at most this many bytes
# (a million 32-dimensional latents: 256 MB); above it, each level recomputes the earlier ones.
KEPT_RESIDUAL_BYTES = 512 * 2**20
COVARIANCES = ("ledoit_wolf", "identity")


class LedoitWolfAccumulator:
    """Streaming Ledoit-Wolf covariance: :meth:`update` with chunks, :meth:`covariance` at the end.

    Keeps the sufficient statistics (float64): ``n``, ``sum x``, ``sum x x^T``,
    ``sum ||x||^2 x``, ``sum ||x||^2`` and ``sum ||x||^4``. From them the centred fourth-moment
    term of the Ledoit-Wolf estimator follows exactly, because with ``a = ||x||^2``,
    ``b = x.m`` and ``c = ||m||^2``::

        sum ||x - m||^4 = sum a^2 - 4 m.(sum a x) + 4 m^T (sum x x^T) m + 2 c sum a - 3 n c^2
    """

    def __init__(self, dim: int):
        self.n = 0
        self.sum = np.zeros(dim)
        self.outer = np.zeros((dim, dim))
        self.weighted = np.zeros(dim)  # sum ||x||^2 x
        self.square = 0.0  # sum ||x||^2
        self.fourth = 0.0  # sum ||x||^4

    def update(self, x: np.ndarray) -> None:
        """Add rows ``x`` of shape (m, dim)."""
        x = np.asarray(x, dtype=np.float64)
        squared = np.square(x).sum(axis=1)  # (m,)
        self.n += len(x)
        self.sum += x.sum(axis=0)
        self.outer += x.T @ x
        self.weighted += squared @ x
        self.square += float(squared.sum())
        self.fourth += float(np.square(squared).sum())

    def covariance(self) -> tuple[np.ndarray, float]:
        """``(shrunk covariance (dim, dim), shrinkage in [0, 1])``, as sklearn's LedoitWolf."""
        if self.n == 0:
            raise InputError("no rows to estimate a covariance from")
        n, dim = self.n, len(self.sum)
        mean = self.sum / n
        c = float(mean @ mean)
        empirical = self.outer / n - np.outer(mean, mean)  # (dim, dim), biased (divides by n)
        centred_fourth = (
            self.fourth
            - 4.0 * float(mean @ self.weighted)
            + 4.0 * float(mean @ self.outer @ mean)
            + 2.0 * c * self.square
            - 3.0 * n * c * c
        )
        mu = float(np.trace(empirical)) / dim
        delta = float(np.square(empirical - mu * np.eye(dim)).sum()) / dim
        frobenius = float(np.square(empirical).sum())
        # Rounding can push this a hair below zero; the exact value is a sum of squares.
        beta = max(centred_fourth / n - frobenius, 0.0) / (n * dim)
        beta = min(beta, delta)
        shrinkage = 0.0 if beta == 0.0 or delta == 0.0 else beta / delta
        shrunk = (1.0 - shrinkage) * empirical + shrinkage * mu * np.eye(dim)
        return shrunk, shrinkage


class MahalanobisAssigner:
    """Sequential residual assignment under per-level Mahalanobis distance.

    Parameters
    ----------
    covariance : "ledoit_wolf" (default) or "identity". "identity" fixes every ``S_l = I`` and
        reproduces the Euclidean assignment; it exists to check the machinery.
    chunk_size : items per chunk in :meth:`fit` and :meth:`transform`.
    prepare : the quantizer's residual preparation (:attr:`Quantizer.prepare`), if it has one:
        each level's covariance and choice are then taken on the prepared residuals.

    Attributes (after :meth:`fit`)
    ------------------------------
    codebooks_ : list of float64 (K_l, D), the codebooks the assigner was fitted with.
    covariances_ : float64, shape (L, D, D), the covariance used at each level.
    shrinkages_ : float64, shape (L,), Ledoit-Wolf shrinkage per level (0 for "identity").
    whiteners_ : float64, shape (L, D, D), ``L_l^-1`` with ``S_l = L_l L_l^T``.
    jitter_ : float64, shape (L,), ridge added to a covariance that was not positive definite.
    n_samples_ : int, items seen per level.
    """

    def __init__(
        self,
        covariance: str = "ledoit_wolf",
        chunk_size: int = DEFAULT_CHUNK,
        prepare: PrepareResidual | None = None,
    ):
        if covariance not in COVARIANCES:
            raise InputError(f"covariance is {covariance!r}, expected one of {COVARIANCES}")
        self.covariance = covariance
        self.chunk_size = chunk_size
        self.prepare = prepare

    def fit(self, z: np.ndarray, codebooks: np.ndarray) -> MahalanobisAssigner:
        """Estimate one covariance per level from the residuals of ``z`` (n, D).

        ``z`` may be a memory map; level ``l`` is fitted in one chunked pass after levels
        ``0 .. l-1`` are fixed (see the module docstring for why).
        """
        self._fit(z, codebooks, keep_residuals=False)
        return self

    def _fit(self, z, codebooks, keep_residuals: bool) -> np.ndarray | None:
        """Fit; with ``keep_residuals`` (and room for them) also return the codes of ``z``."""
        z, codebooks = _check_latents(z, codebooks)
        n_levels, dim = len(codebooks), codebooks[0].shape[1]
        if keep_residuals and len(z) * dim * 8 <= KEPT_RESIDUAL_BYTES:
            return self._fit_keeping_residuals(z, codebooks)
        self._start(codebooks, len(z))
        for level in range(n_levels):
            if self.covariance == "identity":
                self._set_level(level, np.eye(dim), 0.0)
            else:
                accumulator = LedoitWolfAccumulator(dim)
                for start in range(0, len(z), self.chunk_size):
                    chunk = z[start : start + self.chunk_size]
                    accumulator.update(self._residual_entering(chunk, level))
                self._set_level(level, *accumulator.covariance())
        return None

    def _fit_keeping_residuals(self, z, codebooks: list[np.ndarray]) -> np.ndarray:
        """:meth:`fit` with every item's residual kept (float64 (n, D)), so each level is
        assigned once instead of once per later level plus once in :meth:`transform`. Same
        chunks, same float64 arithmetic in the same order: the same covariances and codes."""
        n_levels, dim = len(codebooks), codebooks[0].shape[1]
        self._start(codebooks, len(z))
        residual = np.empty((len(z), dim), dtype=np.float64)  # r_l of every item
        chunks = [
            slice(start, start + self.chunk_size) for start in range(0, len(z), self.chunk_size)
        ]
        for rows in chunks:
            residual[rows] = np.asarray(z[rows], dtype=np.float64)
        codes = np.empty((len(z), n_levels), dtype=np.int64)
        for level in range(n_levels):
            if self.prepare is not None:
                for rows in chunks:
                    residual[rows] = self.prepare(level, residual[rows])
            if self.covariance == "identity":
                self._set_level(level, np.eye(dim), 0.0)
            else:
                accumulator = LedoitWolfAccumulator(dim)
                for rows in chunks:
                    accumulator.update(residual[rows])
                self._set_level(level, *accumulator.covariance())
            for rows in chunks:
                code = self._nearest_whitened(level, residual[rows])
                codes[rows, level] = code
                residual[rows] = residual[rows] - self.codebooks_[level][code]
        return codes

    def _start(self, codebooks: list[np.ndarray], n_items: int) -> None:
        n_levels, dim = len(codebooks), codebooks[0].shape[1]
        self.codebooks_ = codebooks
        self._whitened_codebooks = []
        self.covariances_ = np.zeros((n_levels, dim, dim))
        self.shrinkages_ = np.zeros(n_levels)
        self.whiteners_ = np.zeros((n_levels, dim, dim))
        self.jitter_ = np.zeros(n_levels)
        self.n_samples_ = n_items

    def _set_level(self, level: int, covariance: np.ndarray, shrinkage: float) -> None:
        self.covariances_[level] = covariance
        self.shrinkages_[level] = shrinkage
        self.whiteners_[level], self.jitter_[level] = _whitener(covariance)
        self._whitened_codebooks.append(self.codebooks_[level] @ self.whiteners_[level].T)

    def transform(self, z: np.ndarray) -> np.ndarray:
        """Codes (int64, shape (n, L)) of ``z`` under the fitted per-level Mahalanobis metric."""
        self._check_fitted()
        z, _ = _check_latents(z, self.codebooks_)
        codes = np.empty((len(z), len(self.codebooks_)), dtype=np.int64)
        for start in range(0, len(z), self.chunk_size):
            chunk = z[start : start + self.chunk_size]
            codes[start : start + len(chunk)] = self._assign(chunk, len(self.codebooks_))[0]
        return codes

    def fit_transform(self, z: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
        """:meth:`fit` then :meth:`transform` (the same codes), assigning each level once
        when the residuals of every item fit in :data:`KEPT_RESIDUAL_BYTES`."""
        codes = self._fit(z, codebooks, keep_residuals=True)
        return self.transform(z) if codes is None else codes

    # --- internals ----------------------------------------------------------------------------

    def _assign(self, chunk: np.ndarray, n_levels: int) -> tuple[np.ndarray, np.ndarray]:
        """Assign levels ``0 .. n_levels-1``; returns codes (m, n_levels) and the residual left."""
        chain = residual_chain(
            chunk,
            self.codebooks_[:n_levels],
            self._nearest_whitened,
            prepare=self.prepare,
            dtype=np.float64,
        )
        return chain.codes, chain.left

    def _nearest_whitened(self, level: int, residual: np.ndarray) -> np.ndarray:
        """argmin (r - c)^T S_l^-1 (r - c): Euclidean between whitened residual and codewords."""
        whitened = residual @ self.whiteners_[level].T  # (m, D)
        return nearest_codewords(whitened, self._whitened_codebooks[level])

    def _residual_entering(self, chunk: np.ndarray, level: int) -> np.ndarray:
        residual = np.asarray(chunk, dtype=np.float64)
        if level > 0:
            residual = self._assign(chunk, level)[1]
        return residual if self.prepare is None else self.prepare(level, residual)

    def _check_fitted(self) -> None:
        if not hasattr(self, "whiteners_"):
            raise InputError("MahalanobisAssigner is not fitted; call fit(z, codebooks) first")


def _whitener(covariance: np.ndarray) -> tuple[np.ndarray, float]:
    """``(L^-1, jitter)`` with ``covariance + jitter I = L L^T``.

    A covariance that is not positive definite (residuals that are all equal, or fewer items
    than dimensions with no shrinkage) gets the smallest ridge ``1e-10 * 10^k * max(mu, 1)``
    that makes it so; the jitter is reported rather than hidden.
    """
    dim = len(covariance)
    scale = max(float(np.trace(covariance)) / dim, 1.0)
    jitter = 0.0
    for _ in range(12):
        try:
            lower = cholesky(covariance + jitter * np.eye(dim), lower=True)
            return solve_triangular(lower, np.eye(dim), lower=True), jitter
        except np.linalg.LinAlgError:
            jitter = 1e-10 * scale if jitter == 0.0 else jitter * 10.0
    raise InputError("residual covariance is not positive definite even with a ridge")


def _check_latents(z, codebooks) -> tuple[np.ndarray, list[np.ndarray]]:
    codebooks = [np.asarray(codebook, dtype=np.float64) for codebook in codebooks]
    if not codebooks or any(c.ndim != 2 for c in codebooks):
        raise InputError("codebooks must be one (K, dim) array per level")
    dim = codebooks[0].shape[1]
    if len(getattr(z, "shape", ())) != 2 or z.shape[1] != dim:
        raise InputError(f"z has shape {getattr(z, 'shape', None)}, expected (n_items, {dim})")
    if len(z) == 0:
        raise InputError("z has no rows")
    return z, codebooks
