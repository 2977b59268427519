"""k-means in torch, used to place each codebook level on the data before training.

k-means++ seeding (Arthur & Vassilvitskii 2007) followed by Lloyd iterations. Deterministic for a
given ``generator``. Empty clusters are refilled with the points worst served by their centroid,
so every returned centroid sits on data.
"""

from __future__ import annotations

import torch


def kmeans(
    points: torch.Tensor,
    num_clusters: int,
    iters: int,
    generator: torch.Generator | None = None,
    spherical: bool = False,
) -> torch.Tensor:
    """Cluster ``points`` (n, d) into ``num_clusters`` centroids, returned as (num_clusters, d).

    With ``spherical=True`` points and centroids are unit vectors and similarity is the cosine.
    If there are fewer points than clusters, the extra centroids repeat points (picked at random).
    """
    points = points.detach().float()
    if spherical:
        points = torch.nn.functional.normalize(points, dim=-1)
    n = points.shape[0]
    if n <= num_clusters:
        extra = torch.randint(n, (num_clusters - n,), generator=generator)
        return torch.cat([points, points[extra]])

    centroids = _kmeans_plus_plus(points, num_clusters, generator)
    for _ in range(iters):
        distances = _squared_distances(points, centroids)  # (n, num_clusters)
        nearest, assignment = distances.min(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, points)
        counts = torch.bincount(assignment, minlength=num_clusters).to(points.dtype)
        updated = sums / counts.clamp_min(1.0).unsqueeze(1)
        empty = counts == 0
        if empty.any():
            # refill empty clusters with the points farthest from their centroid
            worst = nearest.argsort(descending=True, stable=True)[: int(empty.sum())]
            updated[empty] = points[worst]
        if spherical:
            updated = torch.nn.functional.normalize(updated, dim=-1)
        centroids = updated
    return centroids


def _kmeans_plus_plus(
    points: torch.Tensor, num_clusters: int, generator: torch.Generator | None
) -> torch.Tensor:
    """Pick centroids one by one, each with probability proportional to squared distance."""
    n = points.shape[0]
    chosen = [int(torch.randint(n, (1,), generator=generator))]
    nearest = _squared_distances(points, points[chosen]).squeeze(1)  # (n,)
    for _ in range(num_clusters - 1):
        weights = nearest.clamp_min(0.0)
        if float(weights.sum()) <= 0.0:  # every point already a centroid: pick uniformly
            weights = torch.ones_like(weights)
        index = int(torch.multinomial(weights, 1, generator=generator))
        chosen.append(index)
        to_new = _squared_distances(points, points[index : index + 1])[:, 0]  # (n,)
        nearest = torch.minimum(nearest, to_new)
    return points[chosen].clone()


def _squared_distances(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """||p - c||^2 for every pair, (n, k), via the expansion |p|^2 - 2 p.c + |c|^2."""
    return (
        points.pow(2).sum(1, keepdim=True)
        - 2.0 * points @ centroids.T
        + centroids.pow(2).sum(1).unsqueeze(0)
    )
