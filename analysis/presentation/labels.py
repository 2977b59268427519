"""Short texts shared by the report, the command line and the dashboard."""

from __future__ import annotations

from collections.abc import Sequence


def sizes_label(codebook_sizes: Sequence[int]) -> str:
    """``"256"``, or ``"256/128/64"`` when the levels differ in size."""
    if len(set(codebook_sizes)) == 1:
        return str(codebook_sizes[0])
    return "/".join(map(str, codebook_sizes))
