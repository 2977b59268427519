"""Diagnostic 2: entropy, perplexity and KL against uniform usage; joint entropy; branching.

All probabilities are empirical frequencies over the items: ``p_k = count_k / n_items``.
Entropies are in nats (natural log) unless a column says ``_bits`` (= nats / ln 2), and
``0 log 0 = 0``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.metrics.structure import children_per_prefix
from rqvae.id_metrics import (
    check_codebook_sizes,
    check_codes,
    code_counts,
    entropy_nats,
    prefix_strings,
    sorted_codes,
)


def usage_entropy(codes, codebook_sizes: int | Sequence[int]) -> pd.DataFrame:
    """One row per level: entropy of code usage and its distance from uniform usage.

    codes : int, shape (n_items, n_levels); codebook_sizes : K for every level, or K_l each.
    Entropies come from :func:`rqvae.id_metrics.entropy_nats`, as the trainer's perplexity.

    Columns
    -------
    level, codebook_size (K_l)
    entropy_nats : H(p) = -sum_k p_k ln p_k over the level's code frequencies p.
    entropy_bits : H(p) / ln 2.
    perplexity : exp(H(p)), the number of equally used codes with the same entropy (1..K).
    kl_uniform_nats : KL(p || U) = sum_k p_k ln(p_k K) = ln K - H(p), >= 0, 0 iff uniform.
    kl_uniform_bits : KL in bits (= log2 K - H in bits).
    normalized_entropy : H(p) / ln K in [0, 1] (1 = uniform; 0 when K = 1).
    """
    codes = check_codes(codes)
    sizes = np.array(check_codebook_sizes(codebook_sizes, codes))
    entropy = np.array([entropy_nats(row) for row in code_counts(codes, sizes)])
    kl = np.log(sizes) - entropy
    with np.errstate(divide="ignore", invalid="ignore"):
        normalized = np.where(sizes > 1, entropy / np.log(sizes), 0.0)
    return pd.DataFrame(
        {
            "level": np.arange(codes.shape[1]),
            "codebook_size": sizes,
            "entropy_nats": entropy,
            "entropy_bits": entropy / np.log(2),
            "perplexity": np.exp(entropy),
            "kl_uniform_nats": kl,
            "kl_uniform_bits": kl / np.log(2),
            "normalized_entropy": normalized,
        }
    )


def joint_entropy(codes) -> float:
    """Empirical entropy of the full L-tuple, in nats: ``-sum_t p_t ln p_t`` over distinct tuples.

    At most ln(n_items) (every ID unique) and at most L ln K. exp of it is the perplexity of
    the whole ID.
    """
    index = sorted_codes(codes)
    return entropy_nats(index.groups(index.shape[1]).sizes)


def branching_factor(codes) -> pd.DataFrame:
    """How many distinct children each prefix actually uses, one row per prefix.

    codes : int, shape (n_items, n_levels) with n_levels >= 2.

    For each level l = 1..L-1 and each distinct prefix (c_0..c_{l-1}) in the data, ``children``
    is the number of distinct codes c_l that follow it. Columns: ``level`` (l, the level of the
    children), ``prefix`` (``"12-7"``), ``items`` (items under the prefix), ``children``.
    Use :func:`branching_summary` for the mean / median / max per level. Empty (with the same
    columns) for a one-level code.
    """
    index = sorted_codes(codes)
    codes = index.codes
    frames = []
    for level in range(1, codes.shape[1]):
        parents = index.groups(level)
        frames.append(
            pd.DataFrame(
                {
                    "level": level,
                    "prefix": prefix_strings(codes, parents.first_rows, level),
                    "items": parents.sizes,
                    "children": children_per_prefix(index, level),
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            {
                "level": pd.Series(dtype=np.int64),
                "prefix": pd.Series(dtype=object),
                "items": pd.Series(dtype=np.int64),
                "children": pd.Series(dtype=np.int64),
            }
        )
    return pd.concat(frames, ignore_index=True)


def branching_summary(branching: pd.DataFrame) -> pd.DataFrame:
    """Per level of :func:`branching_factor`: ``prefixes, mean_children, median_children,
    max_children, min_children`` and ``mean_items`` (items per prefix)."""
    grouped = branching.groupby("level")
    return pd.DataFrame(
        {
            "prefixes": grouped.size(),
            "mean_children": grouped["children"].mean(),
            "median_children": grouped["children"].median(),
            "max_children": grouped["children"].max(),
            "min_children": grouped["children"].min(),
            "mean_items": grouped["items"].mean(),
        }
    ).reset_index()
