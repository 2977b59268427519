"""Short texts shared by the report, the command line and the dashboard."""

from __future__ import annotations

from collections.abc import Sequence


def sizes_label(codebook_sizes: Sequence[int]) -> str:
    """``"256"``, or ``"256/128/64"`` when the levels differ in size."""
    if len(set(codebook_sizes)) == 1:
        return str(codebook_sizes[0])
    return "/".join(map(str, codebook_sizes))


def sample_note(items: int, n_items: int, what: str = "input-space errors") -> str:
    """``"input-space errors estimated on 200,000 of 1,000,000 items (a seeded random
    sample)"``, or ``""`` when ``items`` covers every item (the number is then exact)."""
    if items >= n_items:
        return ""
    return f"{what} estimated on {items:,} of {n_items:,} items (a seeded random sample)"


def reconstruction_note(reconstruction, n_items: int) -> str:
    """:func:`sample_note` for a reconstruction table (``space, mse, cosine, items``), or ``""``
    when every row covers all items (or the table predates the ``items`` column)."""
    if "items" not in reconstruction or not len(reconstruction):
        return ""
    return sample_note(int(reconstruction["items"].min()), n_items)


def last_level_note(last_level: dict | None, n_items: int) -> str:
    """One sentence on ``assign``'s collision-aware last level (``Diagnosis.last_level``), or
    ``""`` when the IDs do not record a balanced last level."""
    if not last_level or last_level.get("rule") != "balanced" or last_level.get("moved") is None:
        return ""
    moved, left = int(last_level["moved"]), int(last_level.get("left_colliding") or 0)
    text = (
        f"Collision-aware last level: {moved:,} of {n_items:,} items ({moved / n_items:.2%}) "
        "moved from their nearest last-level code to a free one of their prefix"
    )
    if moved:
        text += f" (mean extra squared distance {float(last_level['extra_cost_mean']):.3g})"
    if left:
        text += f"; {left:,} found no free code and keep colliding"
    return text + " (rqvae assign --last-level nearest writes the nearest codes)."
