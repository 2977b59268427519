"""Code robustness: how many items change code when their embedding is slightly perturbed,
and how many codes remain distinguishable under that noise.

An item whose embedding sits on a cell boundary gets another ID from a re-embedded title, a
catalog update or a model refresh; a generative recommender then cannot find it by its
neighbours' codes. DRQ (Wang et al., "Decoupled Residual Quantization for Robust Semantic
IDs in Recommendation", Shopee, 2026) measures this as codeword confusion under
retrieval-time perturbation and turns it into an effective codebook size. We could not read
the paper's formulas offline; the definitions below are our reading of them.

Definitions, on a sample of m items (all items up to :data:`SAMPLE`, else that many drawn
without replacement with ``seed``):

- **Scale.** ``sigma = sqrt(mean_d Var_d)``, the root mean square of the per-dimension
  standard deviations of the sampled embeddings x (n x d). Then ``E||noise||^2 =
  s^2 sum_d Var_d = s^2 E||x - mean(x)||^2``: at scale s the noise is s times the items'
  root-mean-square distance from their mean. Scales :data:`SCALES` = 0.05, 0.1, 0.2.
- **Noise.** ``x~ = x + s sigma eps`` with ``eps ~ N(0, I_d)`` drawn once (seed + 1) and
  shared by the scales, so a larger scale moves every item further along the same direction.
- **Codes.** ``c = Q(x)`` and ``c~ = Q(x~)``: the quantizer's own assignment (encoder and
  nearest codewords, :func:`rqvae.quantizers.assign_codes`), not the stored IDs (which may
  carry a collision-aware last level).
- ``changed_share`` (level l): items with ``c~_l != c_l`` / m. ``prefix_changed_share``:
  items with any of ``c~_0..c~_l`` changed / m (non-decreasing in l).
- **Effective codebook size** (level l): ``exp I(c_l; c~_l)``, the mutual information (nats)
  between the clean and the noisy code of an item, plug-in estimate from the m pairs:
  ``I = H(c_l) + H(c~_l) - H(c_l, c~_l)``. Without noise it is ``exp H(c_l)``, the level's
  perplexity on the sample (the usage penalty: K_l only for even use); noise that confuses
  codes lowers it: ``effective = perplexity / confusion`` with ``confusion = exp H(c_l |
  c~_l)``, the number of clean codes a noisy code is, in effect, spread over. The plug-in
  mutual information is biased upwards by about (occupied (c, c~) pairs) / (2 m) nats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rqvae.data.embeddings import MAX_LISTED
from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.id_metrics import check_codebook_sizes, check_codes, entropy_nats
from rqvae.quantizers import Quantizer, assign_codes

SCALES = (0.05, 0.1, 0.2)
SAMPLE = 10_000
CHUNK = 2048  # items encoded at a time


@dataclass
class CodeRobustness:
    """Code changes under Gaussian noise (module docstring for every definition).

    levels : one row per (scale, level): ``scale``, ``noise_std`` (s x sigma per dimension),
        ``level``, ``changed_share``, ``prefix_changed_share``, ``perplexity``,
        ``confusion``, ``effective_codebook_size``, ``codebook_size`` (K_l).
    items : items in the sample; n_items : the catalog; seed : of the draws.
    sigma : the root-mean-square per-dimension standard deviation of the sampled embeddings.
    """

    levels: pd.DataFrame
    items: int
    n_items: int
    seed: int
    sigma: float

    def by_scale(self, column: str) -> dict[str, list[float]]:
        """``{"0.05": [level 0, level 1, ...], ...}`` of ``column``."""
        return {
            f"{scale:g}": group.sort_values("level")[column].tolist()
            for scale, group in self.levels.groupby("scale", sort=True)
        }

    def to_dict(self) -> dict:
        return {
            "items": self.items,
            "n_items": self.n_items,
            "sampled": self.items < self.n_items,
            "seed": self.seed,
            "scale_reference": "root mean square of the per-dimension std of the embeddings",
            "sigma": self.sigma,
            "scales": sorted(set(self.levels["scale"].tolist())),
            "changed_share": self.by_scale("changed_share"),
            "prefix_changed_share": self.by_scale("prefix_changed_share"),
            "effective_codebook_size": self.by_scale("effective_codebook_size"),
            "levels": self.levels.to_dict(orient="records"),
        }


def code_robustness(
    quantizer: Quantizer,
    embeddings,
    scales: tuple[float, ...] = SCALES,
    sample: int = SAMPLE,
    seed: int = 0,
    chunk_size: int = CHUNK,
) -> CodeRobustness:
    """Share of items whose code changes under noise, per level and scale (module docstring).

    quantizer : the run's :class:`rqvae.quantizers.Quantizer`. embeddings : float, shape
    (n_items, input_dim): an array, memmap or :class:`rqvae.data.embeddings.EmbeddingReader`;
    only the sampled rows are read. scales : noise scales s > 0 (relative to sigma).
    chunk_size : items encoded at a time (memory: a few chunks of (chunk_size, input_dim)).
    """
    n_items = len(embeddings)
    if n_items == 0:
        raise DiagnosticUnavailable("no items to perturb")
    if not scales or min(scales) <= 0 or sample < 1 or chunk_size < 1:
        raise InputError(f"scales {scales}, sample {sample} and chunk_size must be positive")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n_items, size=min(sample, n_items), replace=False))
    x = np.ascontiguousarray(embeddings[rows], dtype=np.float32)  # (m, d), read once
    bad = rows[~np.isfinite(x).all(axis=1)]
    if len(bad):
        listed = ", ".join(map(str, bad[:MAX_LISTED].tolist()))
        raise InputError(f"embeddings: rows {listed} contain NaN or inf")
    # sigma^2 = mean_d Var_d = sum of squared deviations / (m d), in float64, chunk by chunk
    mean = x.mean(axis=0, dtype=np.float64)
    squares = sum(
        float(np.square(x[start : start + chunk_size] - mean).sum())
        for start in range(0, len(x), chunk_size)
    )
    sigma = math.sqrt(squares / x.size)
    if sigma == 0:
        raise DiagnosticUnavailable("the sampled embeddings are all equal: no scale for noise")
    # Chunk by chunk, so that the noisy copies and the encoder's activations stay small; the
    # noise is drawn in order from one generator, the same numbers as one (m, d) draw.
    noise_rng = np.random.default_rng(seed + 1)
    scales = sorted(scales)
    clean = np.empty((len(rows), quantizer.levels), dtype=np.int64)
    noisy = np.empty((len(scales), *clean.shape), dtype=np.int64)  # (scales, m, L)
    for start in range(0, len(rows), chunk_size):
        chunk = x[start : start + chunk_size]
        eps = noise_rng.standard_normal(chunk.shape, dtype=np.float32)  # shared by the scales
        clean[start : start + len(chunk)] = assign_codes(quantizer, chunk, chunk_size)
        for position, scale in enumerate(scales):
            shifted = chunk + np.float32(scale * sigma) * eps
            noisy[position, start : start + len(chunk)] = assign_codes(
                quantizer, shifted, chunk_size
            )
    sizes = quantizer.codebook_sizes
    frames = [
        code_changes(clean, noisy[position], sizes).assign(scale=scale, noise_std=scale * sigma)
        for position, scale in enumerate(scales)
    ]
    levels = pd.concat(frames, ignore_index=True)
    columns = ["scale", "noise_std", "level", "codebook_size", "changed_share"]
    columns += ["prefix_changed_share", "perplexity", "confusion", "effective_codebook_size"]
    return CodeRobustness(
        levels=levels[columns], items=len(rows), n_items=n_items, seed=seed, sigma=sigma
    )


def code_changes(clean, noisy, codebook_sizes: list[int]) -> pd.DataFrame:
    """Per level: how many codes changed between ``clean`` and ``noisy`` and what remains
    distinguishable (module docstring for the definitions).

    clean, noisy : int, shape (m, L), the codes of the same m items before and after the
    noise; codebook_sizes : K_l per level. Returns one row per level: ``level, codebook_size,
    changed_share, prefix_changed_share, perplexity, confusion, effective_codebook_size``.
    """
    clean, noisy = check_codes(clean, "clean codes"), check_codes(noisy, "noisy codes")
    if clean.shape != noisy.shape:
        raise InputError(f"noisy codes have shape {noisy.shape}, expected {clean.shape}")
    sizes = check_codebook_sizes(codebook_sizes, clean, "clean codes")
    check_codebook_sizes(sizes, noisy, "noisy codes")
    changed = clean != noisy  # (m, L)
    rows = []
    for level, size in enumerate(sizes):
        # (clean, noisy) pairs as one int64 per item, counted by a sort
        _, joint = np.unique(clean[:, level] * size + noisy[:, level], return_counts=True)
        h_clean = entropy_nats(np.bincount(clean[:, level], minlength=size))
        h_noisy = entropy_nats(np.bincount(noisy[:, level], minlength=size))
        h_joint = entropy_nats(joint)
        rows.append(
            {
                "level": level,
                "codebook_size": size,
                "changed_share": float(changed[:, level].mean()),
                "prefix_changed_share": float(changed[:, : level + 1].any(axis=1).mean()),
                "perplexity": float(np.exp(h_clean)),
                "confusion": float(np.exp(h_joint - h_noisy)),  # exp H(c | c~)
                "effective_codebook_size": float(np.exp(h_clean + h_noisy - h_joint)),
            }
        )
    return pd.DataFrame(rows)
