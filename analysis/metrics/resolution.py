"""Raw IDs against the IDs a codebase's own collision handling produced (``--ids``).

Given the codes a checkpoint assigns (``raw``, int (n, L)) and the codes the codebase wrote
after resolving collisions (``resolved``, int (n, L'), same items in the same order):

- ``items_moved``: items whose resolved ID differs from the raw one at any common level, and
  ``moved_share`` = items_moved / n; ``moved_by_level``: items whose code differs per level.
- ``unique_id_ratio``: distinct L-tuples / n, raw and resolved.
- ``last_level_used``: distinct codes at the last level / codebook size K_last, raw and
  resolved (K_last is the larger of the two maximum codes + 1 unless given).
- ``last_level_purity``: items-weighted purity of the full-ID groups (majority category share
  at ``depth``, :func:`analysis.metrics.taxonomy.prefix_purity`), raw and resolved; NaN
  without categories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.metrics.taxonomy import prefix_purity
from rqvae.errors import InputError
from rqvae.id_metrics import check_codes, unique_id_ratio


def resolution_summary(
    raw: np.ndarray,
    resolved: np.ndarray,
    *,
    categories=None,
    depth: int | None = None,
    last_codebook_size: int | None = None,
) -> pd.DataFrame:
    """One row per ID set (``ids`` = "raw", "resolved") with the columns described above."""
    raw, resolved = check_codes(raw, name="raw IDs"), check_codes(resolved, name="source IDs")
    if len(raw) != len(resolved):
        raise InputError(f"raw IDs have {len(raw)} items, the source IDs {len(resolved)}")
    common = min(raw.shape[1], resolved.shape[1])
    differs = raw[:, :common] != resolved[:, :common]
    moved = differs.any(axis=1)
    size = last_codebook_size or int(max(raw[:, -1].max(), resolved[:, -1].max()) + 1)
    rows = []
    for name, codes in (("raw", raw), ("resolved", resolved)):
        purity = prefix_purity(codes, categories, depth)
        rows.append(
            {
                "ids": name,
                "levels": codes.shape[1],
                "unique_id_ratio": unique_id_ratio(codes),
                "last_level_used": len(np.unique(codes[:, -1])) / size,
                "last_level_purity": float(purity[-1]),
                "items_moved": int(moved.sum()),
                "moved_share": float(moved.mean()),
                "moved_by_level": differs.sum(axis=0).astype(int).tolist(),
            }
        )
    return pd.DataFrame(rows)
