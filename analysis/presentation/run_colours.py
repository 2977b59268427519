"""One colour per run, the same on every page, figure and report: :func:`run_colours`.

A run's colour is chosen from its name, not from its position in a list, so picking another
run in the sidebar does not repaint the runs already shown. Each name hashes to a preferred
slot of :data:`PALETTE`; when two runs of the same set want the same slot, the one whose name
sorts later takes the next free slot. The dashboard and the report pass the runs they show,
so one set of runs gets one set of colours wherever it is drawn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# Tableau 10 (the plotly "T10" qualitative palette): colours that stay apart for the common
# forms of colour blindness and print legibly on white. Its grey is replaced by a dark indigo:
# a grey run would read as "missing" next to the greyed-out parts of the figures.
PALETTE = (
    "#4e79a7",  # blue
    "#f28e2b",  # orange
    "#59a14f",  # green
    "#e15759",  # red
    "#b07aa1",  # purple
    "#76b7b2",  # teal
    "#edc948",  # yellow
    "#ff9da7",  # pink
    "#9c755f",  # brown
    "#3b3b98",  # indigo
)


def _preferred_slot(name: str) -> int:
    # SHA-1 rather than hash(): Python salts str hashes per process, colours must not change.
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % len(PALETTE)


def run_colours(names: Iterable[str]) -> dict[str, str]:
    """``{run name: "#rrggbb"}`` for a set of runs (order does not matter).

    Distinct names get distinct colours while there are at most ``len(PALETTE)`` of them;
    beyond that colours repeat. Duplicated names get one entry.
    """
    unique = sorted(set(names))
    taken: dict[int, str] = {}
    colours: dict[str, str] = {}
    for name in unique:
        slot = _preferred_slot(name)
        if len(taken) < len(PALETTE):
            while slot in taken:
                slot = (slot + 1) % len(PALETTE)
        taken.setdefault(slot, name)
        colours[name] = PALETTE[slot]
    return colours


def run_colour(name: str, names: Iterable[str] | None = None) -> str:
    """The colour of run ``name`` among ``names`` (default: the run alone)."""
    names = [name] if names is None else [*names, name]
    return run_colours(names)[name]


def faded(colour: str, opacity: float) -> str:
    """``"#rrggbb"`` as ``"rgba(r, g, b, opacity)"``: the same hue, lighter on white."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {opacity})"
