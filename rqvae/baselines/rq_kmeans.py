"""RQ-KMeans: k-means on each level's residuals (OneRec, MiniOneRec), optionally balanced.

Level l clusters the residuals ``r_l`` left by the levels above into K centroids, which become
codebook l; items take their nearest centroid and pass ``r_{l+1} = r_l - C_l[c_l]`` down.

``balanced=True`` is the constrained variant MiniOneRec uses on large catalogs: every code
should hold about n / K items. Each Lloyd step assigns by entropic optimal transport with
uniform marginals (Sinkhorn; Cuturi 2013, https://arxiv.org/abs/1306.0895) instead of the
plain nearest centroid. The transport plan's column potentials give one additive cost per
code, ``bias_k = -eps * log v_k``, and the row-wise argmax of the plan is
``argmin_k ||r - c_k||^2 + bias_k``: a crowded code costs more. The biases are stored with
the codebooks (``code_bias.{l}``), so the stored quantizer's own nearest rule reproduces the
IDs exactly, and new items are assigned the same way.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from rqvae.baselines.run_writer import BaselineFit
from rqvae.model.kmeans import kmeans
from rqvae.quantizers.base import nearest_codewords
from rqvae.quantizers.stored import StoredQuantizer

KMEANS_ITERS = 25  # Lloyd iterations per level
BALANCE_ROUNDS = 5  # balanced assignment + centroid update rounds after plain k-means
SINKHORN_ITERS = 100  # at most, per round; stops once the code shares are within 1 %
SINKHORN_EPSILON = 0.02  # entropic regularisation, relative to the mean squared distance


def fit_rq_kmeans(
    x: np.ndarray, levels: int, codebook_size: int, seed: int, balanced: bool = False
) -> BaselineFit:
    """Fit ``levels`` codebooks of ``codebook_size`` centroids on embeddings ``x`` (n, d)."""
    generator = torch.Generator().manual_seed(seed)
    residual = np.asarray(x, dtype=np.float32)
    codebooks, biases = [], []
    codes = np.empty((len(residual), levels), dtype=np.int64)
    for level in range(levels):
        points = torch.from_numpy(np.array(residual, dtype=np.float32))  # writable copy
        centroids = kmeans(points, codebook_size, KMEANS_ITERS, generator)
        centroids = centroids.numpy().astype(np.float32)  # (K, d)
        bias = None
        if balanced:
            centroids, bias = _balance(residual, centroids)
        code = nearest_codewords(residual, centroids, bias=bias)
        codes[:, level] = code
        codebooks.append(centroids)
        biases.append(bias)
        residual = residual - centroids[code]
    quantizer = StoredQuantizer(
        codebooks,
        source="rq-kmeans",
        code_biases=biases if balanced else None,
    )
    settings = {
        "balanced": balanced,
        "kmeans_iters": KMEANS_ITERS,
        "seed": seed,
    }
    if balanced:
        settings.update(
            balance_rounds=BALANCE_ROUNDS,
            sinkhorn_iters=SINKHORN_ITERS,
            sinkhorn_epsilon=SINKHORN_EPSILON,
        )
    return BaselineFit(codes=codes, quantizer=quantizer, settings=settings)


def _balance(residual: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Balanced Lloyd rounds from plain k-means centroids; returns (centroids, bias (K,))."""
    bias = np.zeros(len(centroids))
    for _ in range(BALANCE_ROUNDS):
        bias = sinkhorn_bias(residual, centroids, start=bias)
        code = nearest_codewords(residual, centroids, bias=bias)
        counts = np.bincount(code, minlength=len(centroids))
        sums = np.zeros(centroids.shape, dtype=np.float64)
        np.add.at(sums, code, residual)
        used = counts > 0  # an empty code keeps its centroid (its bias is low: it will fill)
        centroids = centroids.copy()
        centroids[used] = (sums[used] / counts[used, None]).astype(np.float32)
    return centroids, sinkhorn_bias(residual, centroids, start=bias).astype(np.float32)


def sinkhorn_bias(
    residual: np.ndarray, centroids: np.ndarray, start: np.ndarray | None = None
) -> np.ndarray:
    """Per-code cost ``bias`` (K,) that balances ``argmin ||r - c_k||^2 + bias_k``.

    Log-domain Sinkhorn on the cost ``D_ik = ||r_i - c_k||^2`` with row marginals 1/n and
    column marginals 1/K. With ``eps`` = ``SINKHORN_EPSILON`` x mean(D) and the column scaling
    ``log v``, the plan's row argmax is ``argmin_k D_ik - eps log v_k``; the bias is shifted
    to mean 0 (a constant changes no argmin). ``start`` (a previous bias) warm-starts it.
    Iterates until every code's share of the plan is within 1 % of 1/K, at most
    ``SINKHORN_ITERS`` times. Runs in torch float64 (n x K at a time).
    """
    r = torch.from_numpy(np.asarray(residual, dtype=np.float64))
    c = torch.from_numpy(np.asarray(centroids, dtype=np.float64))
    cost = (r.square().sum(1)[:, None] - 2.0 * r @ c.T + c.square().sum(1)[None, :]).clamp_min(0)
    eps = SINKHORN_EPSILON * max(float(cost.mean()), 1e-12)
    n, k = cost.shape
    log_kernel = -cost / eps  # (n, K)
    log_v = torch.zeros(k, dtype=torch.float64)
    if start is not None:
        log_v = -torch.from_numpy(np.asarray(start, dtype=np.float64)) / eps
    log_row, log_col = -math.log(n), -math.log(k)
    for _ in range(SINKHORN_ITERS):
        log_u = log_row - torch.logsumexp(log_kernel + log_v[None, :], dim=1)
        column = torch.logsumexp(log_kernel + log_u[:, None], dim=0)  # log (K^T u)
        if float((log_v + column - log_col).abs().max()) < 0.01:  # plan's column sums
            break
        log_v = log_col - column
    bias = (-eps * log_v).numpy()
    return bias - bias.mean()
