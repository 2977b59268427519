"""The item map: every item a point, coloured as asked, the search lighting up its matches."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.presentation.figures_items import item_map_figure, title_matches, with_generations


def map_items() -> pd.DataFrame:
    """Four items (two share ID 1-0) and one level-0 codeword, as Geometry.items holds them."""
    return pd.DataFrame(
        {
            "kind": ["item"] * 4 + ["codeword"],
            "item_index": [0, 1, 2, 3, -1],
            "code": [-1, -1, -1, -1, 1],
            "x": [0.0, 1.0, 2.0, 3.0, 1.5],
            "y": [0.0, 1.0, 0.0, 1.0, 0.5],
            "placed": [False, True, False, False, False],
            "code_0": [1, 1, 2, 0, 1],
            "code_1": [0, 0, 3, 1, -1],
            "full_id": ["1-0", "1-0#1", "2-3", "0-1", ""],
            "collision_group": [0, 0, -1, -1, -1],
            "title": ["Brass hinge", "brass screw", "Glue", "Tape", ""],
            "category": ["Tools > Hinges", "Tools > Hinges", "Adhesives", "Adhesives", "(none)"],
        }
    )


def drawn_items(figure) -> int:
    return sum(len(trace.x) for trace in figure.data if trace.name != "level-0 codeword")


def test_every_item_is_a_point_with_title_and_full_id_on_hover():
    figure = item_map_figure(map_items(), "category")
    assert drawn_items(figure) == 4
    assert figure.layout.title.text == "Item map: all 4 items (UMAP of the latents)"
    names = [trace.name for trace in figure.data]
    assert names == ["Hinges (2)", "Adhesives (2)", "level-0 codeword"]  # last part of the path
    hinges = figure.data[0]
    assert [list(row) for row in hinges.customdata] == [
        ["Brass hinge", "1-0", "Tools > Hinges", 0],
        ["brass screw", "1-0#1", "Tools > Hinges", 1],
    ]
    assert "customdata[1]" in hinges.hovertemplate


def test_colour_by_collision_group_and_by_level_zero_code():
    by_group = item_map_figure(map_items(), "collision group")
    assert [trace.name for trace in by_group.data][:2] == [
        "unique ID (2 items)",
        "ID 1-0 (2 items)",
    ]
    by_code = item_map_figure(map_items(), "level-0 code")
    colours = list(by_code.data[0].marker.color)
    assert colours[0] == colours[1] != colours[2]  # items 0 and 1 share code 1


def test_colour_by_generation_of_a_grown_run():
    # rows 0-2 are the original items, row 3 came with extension 2 (row 4 is not on the map)
    items = with_generations(map_items(), np.array([0, 0, 0, 2, 1]))
    assert items["generation"].tolist() == [0, 0, 0, 2, -1]  # the codeword row gets -1
    figure = item_map_figure(items, "generation")
    traces = [trace for trace in figure.data if trace.name != "level-0 codeword"]
    assert [trace.name for trace in traces] == ["original (3)", "extension 2 (1)"]
    assert [row[3] for row in traces[1].customdata] == [3]
    assert traces[0].marker.color != traces[1].marker.color


def test_search_highlights_matching_titles_case_insensitively():
    items = map_items()
    assert title_matches(items, "BRASS").tolist() == [True, True, False, False]
    assert not title_matches(items, "  ").any()
    figure = item_map_figure(items, "category", highlight="brass")
    match = [trace for trace in figure.data if trace.name.startswith("titles containing")]
    assert len(match) == 1 and len(match[0].x) == 2
    assert match[0].name == "titles containing 'brass' (2)"
    assert all(trace.opacity < 0.5 for trace in figure.data[:2])  # the rest fades


def test_density_layer_and_a_sample_stated_in_the_title():
    density = pd.DataFrame(
        {"x": [0.0, 0.0, 1.0, 1.0], "y": [0.0, 1.0, 0.0, 1.0], "count": [5, 0, 1, 94]}
    )
    figure = item_map_figure(map_items(), "category", density=density, n_items=100,
                             density_items=100)  # fmt: skip
    heatmap = figure.data[0]
    assert heatmap.type == "heatmap"
    z = np.array(heatmap.z, dtype=float)  # rows: y, columns: x; empty cells are clear (NaN)
    assert np.isnan(z[1, 0]) and z[1, 1] > z[0, 0] > z[0, 1]
    assert figure.layout.title.text == (
        "Item map: 4 of 100 items (a seeded sample) over the density of 100 items"
    )
    assert drawn_items(item_map_figure(map_items(), max_points=3)) == 3
