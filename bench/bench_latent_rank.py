"""Is a low latent effective rank a problem? The evidence behind ``latent_rank_warning``.

Usage::

    python bench/bench_latent_rank.py RUN [RUN ...]

1. For every run (trained RQ-VAEs on amazon-scientific with different settings), the latents'
   effective rank (participation ratio, :mod:`analysis.metrics.embedding_geometry`), the share
   of variance on the top direction, and the quality of the run's own IDs: unique-ID ratio,
   level-0 NMI against the depth-2 categories, level-0 neighbour lift (coherence: 1,000 query
   items, 10 nearest neighbours in input space, against random pairs).
2. A controlled collapse of the first run's latents: every principal direction but the first
   is shrunk by a factor ``s`` (s = 1 keeps the latents as they are; s = 0 leaves one line),
   and the result is quantized by rq-kmeans with the run's level and codebook sizes, seed 0;
   the same quality numbers against the effective rank they end up with.

Prints one table per part (Markdown).
"""

from __future__ import annotations

import sys

import numpy as np

from analysis.metrics.coherence import semantic_coherence
from analysis.metrics.collisions import collision_report
from analysis.metrics.embedding_geometry import embedding_geometry
from analysis.metrics.taxonomy import taxonomy_scores
from analysis.reading.run_data import RunData
from rqvae.baselines.rq_kmeans import fit_rq_kmeans
from rqvae.quantizers.from_run import load_run_quantizer

SHRINK = (1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.0)


def quality(codes, categories, embeddings) -> tuple[float, float, float]:
    """unique-ID ratio, level-0 NMI at category depth 2, level-0 neighbour lift."""
    scores = taxonomy_scores(codes, categories)
    nmi = scores[(scores.level == 0) & (scores.depth == 2) & (scores.grouping == "code")]["nmi"]
    lift = semantic_coherence(embeddings, codes, n_queries=1000, k=10)["lift"].iloc[0]
    return collision_report(codes, top=0).unique_id_ratio, float(nmi.iloc[0]), float(lift)


def latents(data: RunData) -> np.ndarray:
    quantizer = load_run_quantizer(data.run)
    x = np.asarray(data.embeddings()[: data.n_items], dtype=np.float32)
    return quantizer.encode(x), x


def main(runs: list[str]) -> None:
    print("| run | latent effective rank | top-direction variance | unique-ID ratio | "
          "level-0 NMI | level-0 lift |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    first = None
    for run in runs:
        data = RunData.load(run)
        z, x = latents(data)
        geometry = embedding_geometry(z, space="latent")
        top = geometry.eigenvalues[0] / geometry.eigenvalues.sum()
        unique, nmi, lift = quality(data.codes, data.category_table, x)
        print(
            f"| {data.run.name} | {geometry.effective_rank:.2f} | {top:.2f} | {unique:.4f} | "
            f"{nmi:.3f} | {lift:.1f} |"
        )
        first = first or (data, z, x)
    data, z, x = first
    print(f"\nControlled collapse of {data.run.name}'s latents, quantized by rq-kmeans:\n")
    print("| shrink of directions 2.. | effective rank | top-direction variance | "
          "unique-ID ratio | level-0 NMI | level-0 lift |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    centred = z - z.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    coordinates = centred @ axes.T  # principal coordinates, largest variance first
    for shrink in SHRINK:
        scaled = coordinates * np.r_[1.0, np.full(coordinates.shape[1] - 1, shrink)]
        collapsed = (scaled @ axes).astype(np.float32)
        geometry = embedding_geometry(collapsed, space="latent")
        top = geometry.eigenvalues[0] / geometry.eigenvalues.sum()
        fit = fit_rq_kmeans(collapsed, data.n_levels, max(data.codebook_sizes), seed=0)
        unique, nmi, lift = quality(fit.codes, data.category_table, x)
        print(
            f"| {shrink:g} | {geometry.effective_rank:.2f} | {top:.2f} | {unique:.4f} | "
            f"{nmi:.3f} | {lift:.1f} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
