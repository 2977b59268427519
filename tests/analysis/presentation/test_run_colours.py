"""One colour per run: chosen from the name (SHA-1 mod the palette), distinct within a set."""

from __future__ import annotations

import hashlib

from analysis.presentation.run_colours import PALETTE, faded, run_colour, run_colours


def slot(name: str) -> int:
    """The documented preferred slot: the first 8 hex digits of SHA-1(name), mod 10."""
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % len(PALETTE)


def names_with_slot(target: int, count: int) -> list[str]:
    names = [f"run-{i}" for i in range(2000) if slot(f"run-{i}") == target]
    return names[:count]


def test_a_run_keeps_its_colour_whatever_else_is_picked_and_in_any_order():
    first, other = names_with_slot(3, 1)[0], names_with_slot(5, 1)[0]
    third = names_with_slot(7, 1)[0]
    alone = run_colours([first])[first]
    assert alone == PALETTE[3]
    assert run_colours([first, other])[first] == alone
    assert run_colours([third, other, first])[first] == alone
    assert run_colours([other, first]) == run_colours([first, other])
    assert run_colour(first) == alone


def test_a_clash_moves_the_later_name_to_the_next_free_colour():
    early, late = sorted(names_with_slot(4, 2))
    colours = run_colours([late, early])
    assert colours[early] == PALETTE[4]
    assert colours[late] == PALETTE[5]
    # slot 5 taken too: the later one moves on to 6
    blocker = names_with_slot(5, 1)[0]
    colours = run_colours([early, late, blocker])
    assert len(set(colours.values())) == 3


def test_up_to_ten_runs_get_ten_different_colours_then_they_repeat():
    names = [f"run-{i}" for i in range(10)]
    assert len(set(run_colours(names).values())) == 10
    eleven = run_colours([*names, "run-10"])
    assert len(eleven) == 11 and len(set(eleven.values())) == 10


def test_faded_keeps_the_hue():
    assert faded("#4e79a7", 0.35) == "rgba(78, 121, 167, 0.35)"
