"""Category prefix: a control with no learning; level l is the item's category at one depth.

Level l holds the category at depth ``d_l = d_0 + l``, where ``d_0`` is the shallowest depth
at which the items do not all share one category (so a root every item has, such as
"Industrial & Scientific", is skipped; :func:`analysis`-free copy of the same rule as
``informative_depth``). Categories are whole paths cut at that depth, so equal names under
different parents stay apart.

Inside each parent node (the items sharing codes c_0..c_{l-1}), the distinct categories at
depth ``d_l`` get codes 0, 1, ... by decreasing item count (ties: alphabetical). With more
categories than codes, or items that have no category at that depth, the most frequent
categories keep their own code, at most K - 1 of them, and the remaining items (overflow and
missing) are split by content k-means into the codes left. Nothing is learnt across parents,
so there are no codebooks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from rqvae.baselines.hkmeans import split_by_content
from rqvae.baselines.run_writer import BaselineFit
from rqvae.errors import InputError
from rqvae.id_metrics import prefix_members

SEPARATOR = " > "
NO_CODEBOOKS = (
    "no codebooks: category-prefix IDs are the catalog's categories, not codewords; "
    "nothing is learnt"
)


def fit_category_prefix(
    x: np.ndarray, categories: list[list[str]], levels: int, codebook_size: int, seed: int
) -> BaselineFit:
    """Codes int64 (n, levels) for items with category paths ``categories`` (root first)."""
    paths = [list(path) if path is not None else [] for path in categories]
    if not any(paths):
        raise InputError("category-prefix needs a catalog with categories (--category-field)")
    first_depth = _first_informative_depth(paths)
    generator = torch.Generator().manual_seed(seed)
    x = np.asarray(x, dtype=np.float32)
    codes = np.zeros((len(paths), levels), dtype=np.int64)
    named_total = 0
    for level in range(levels):
        depth = first_depth + level
        labels = np.array(
            [SEPARATOR.join(p[:depth]) if len(p) >= depth else "" for p in paths], dtype=object
        )
        for rows in prefix_members(codes, level):  # the nodes of the tree at this level
            codes[rows, level], named = _node_codes(labels[rows], x[rows], codebook_size, generator)
            named_total += named
    settings = {
        "first_category_depth": first_depth,
        "category_depths": [first_depth + level for level in range(levels)],
        "seed": seed,
        "named_codes": named_total,
    }
    return BaselineFit(codes=codes, no_codebooks=NO_CODEBOOKS, settings=settings)


def _node_codes(
    labels: np.ndarray, x: np.ndarray, codebook_size: int, generator: torch.Generator
) -> tuple[np.ndarray, int]:
    """Codes (m,) for one parent's items with category ``labels`` ("" = none); and how many
    codes name a category."""
    counts = pd.Series(labels[labels != ""]).value_counts()
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    names = [name for name, _ in ranked]
    fits = len(names) <= codebook_size and len(names) == len(labels[labels != ""])
    # otherwise keep at least one code for the overflow and the items without a category
    named = names if fits and (labels != "").all() else names[: codebook_size - 1]
    code_of = {name: code for code, name in enumerate(named)}
    codes = np.array([code_of.get(label, -1) for label in labels], dtype=np.int64)
    rest = codes < 0
    if rest.any():
        spare = codebook_size - len(named)
        codes[rest] = len(named) + split_by_content(x[rest], spare, generator)
    return codes, len(named)


def _first_informative_depth(paths: list[list[str]]) -> int:
    deepest = max(len(path) for path in paths)
    for depth in range(1, deepest + 1):
        labels = {SEPARATOR.join(p[:depth]) for p in paths if len(p) >= depth}
        if len(labels) > 1:
            return depth
    return deepest
