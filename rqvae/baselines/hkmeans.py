"""Hierarchical k-means: cluster the items, then cluster inside each cluster, L times.

Level 0 is k-means on the embeddings into K clusters; level l splits the items of each
length-l prefix (a node of the tree) into at most K clusters of their own embeddings (not of
residuals). A node with K items or fewer gives each item its own code, in catalog order.

Codes below level 0 are local to their parent: code 7 under prefix 3 and code 7 under prefix
12 are unrelated clusters. There is therefore no codebook shared by all items, so the
codeword diagnostics (residual norms through codebooks, codeword map, Mahalanobis) are
unavailable, and the taxonomy scores show it: level-l codes alone carry little category
information while the prefixes carry it (``grouping = "code"`` vs ``"prefix"``).
"""

from __future__ import annotations

import numpy as np
import torch

from rqvae.baselines.run_writer import BaselineFit
from rqvae.id_metrics import prefix_members
from rqvae.model.kmeans import kmeans
from rqvae.quantizers.base import nearest_codewords

KMEANS_ITERS = 25
NO_CODEBOOKS = (
    "no codebooks: hierarchical k-means clusters each parent's items separately, so a code "
    "below level 0 means nothing across parents and there is no codebook shared by all items"
)


def fit_hkmeans(x: np.ndarray, levels: int, codebook_size: int, seed: int) -> BaselineFit:
    """Codes int64 (n, levels) of the tree above, for embeddings ``x`` (n, d)."""
    generator = torch.Generator().manual_seed(seed)
    x = np.asarray(x, dtype=np.float32)
    codes = np.zeros((len(x), levels), dtype=np.int64)
    for level in range(levels):
        for rows in prefix_members(codes, level):  # the nodes of the tree at this level
            codes[rows, level] = split_by_content(x[rows], codebook_size, generator)
    settings = {"kmeans_iters": KMEANS_ITERS, "seed": seed, "codes_local_to_parent": True}
    return BaselineFit(codes=codes, no_codebooks=NO_CODEBOOKS, settings=settings)


def split_by_content(x: np.ndarray, clusters: int, generator: torch.Generator) -> np.ndarray:
    """Cluster labels int64 (m,) in ``[0, clusters)`` for the rows ``x`` (m, d).

    ``m <= clusters``: each row its own label (0..m-1, in row order). Otherwise k-means
    (k-means++ seeding, ``KMEANS_ITERS`` Lloyd steps) and each row's nearest centroid.
    """
    if len(x) <= clusters:
        return np.arange(len(x), dtype=np.int64)
    centroids = kmeans(torch.from_numpy(np.ascontiguousarray(x)), clusters, KMEANS_ITERS, generator)
    return nearest_codewords(x, centroids.numpy())
