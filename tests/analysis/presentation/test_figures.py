"""Figure builders: the data in the plotly spec is the data given, dead codes are marked."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.metrics.taxonomy import node_purity
from analysis.presentation import figures, figures_compare
from analysis.presentation.taxonomy_figures import sunburst_frame


def test_usage_bars_sort_and_mark_dead_codes():
    figure = figures.usage_bars(np.array([0, 5, 2, 0]), level=1)
    bars, dead = figure.data
    assert list(bars.y) == [5, 2, 0, 0]
    assert list(bars.customdata) == [1, 2, 0, 3]  # codes in usage order
    assert list(dead.customdata) == [0, 3]
    assert dead.name == "dead code (2)"
    assert figure.layout.title.text == "Level 1: items per code (2 of 4 used)"
    log = figures.usage_bars(np.array([0, 5, 2, 0]), level=1, log_y=True)
    assert log.layout.yaxis.type == "log" and list(log.data[1].y) == [1.0, 1.0]


def test_codeword_map_hover_names_usage_category_and_items():
    codewords = pd.DataFrame(
        {
            "level": [0, 0],
            "code": [0, 1],
            "count": [3, 0],
            "majority_category": ["Tools", "(none)"],
            "majority_share": [2 / 3, np.nan],
            "top_items": ["drill; saw", ""],
            "umap_x": [0.0, 1.0],
            "umap_y": [1.0, 0.0],
        }
    )
    figure = figures.codeword_map(codewords, level=0)
    hover = list(figure.data[0].text)
    assert hover[0] == "level 0 code 0<br>3 items<br>Tools (67%)<br>drill<br>saw"
    by_category = figures.codeword_map(codewords, level=0, color="majority_category")
    assert sorted(trace.name for trace in by_category.data) == ["(none)", "Tools"]


def test_training_curves_draw_raw_and_smoothed_lines():
    curves = pd.DataFrame(
        {
            "run": ["a"] * 4 + ["b"] * 4,
            "epoch": [1, 2, 3, 4] * 2,
            "metric": "val_loss_total",
            "value": [4.0, 3.0, 2.0, 1.0, 5.0, 5.0, 4.0, 4.0],
        }
    )
    raw = figures_compare.training_curves(curves, "val_loss_total")
    assert [trace.name for trace in raw.data] == ["a", "b"]
    smoothed = figures_compare.training_curves(curves, "val_loss_total", window=3)
    assert len(smoothed.data) == 4
    # EMA with alpha 2 / (3 + 1) = 0.5 over 4, 3, 2, 1: 4, 3.5, 2.75, 1.875.
    np.testing.assert_allclose(smoothed.data[1].y, [4.0, 3.5, 2.75, 1.875])


def test_parallel_coordinates_turn_text_into_categorical_axes():
    table = pd.DataFrame(
        {"model.distance": ["cosine", "euclidean"], "ids_unique_ratio": [0.9, 0.95]}
    )
    figure = figures_compare.parallel_coordinates(table, list(table.columns), "ids_unique_ratio")
    distance, ratio = figure.data[0].dimensions
    assert list(distance.ticktext) == ["cosine", "euclidean"]
    assert list(ratio.values) == [0.9, 0.95]


def test_sunburst_frame_is_a_consistent_tree():
    codes = np.array([[0, 0], [0, 1], [0, 1], [1, 0]])
    categories = [["A", "X"], ["A", "Y"], ["A", "X"], ["B"]]
    purity = node_purity(codes, categories, max_depth=2, max_prefix_length=2)
    frame = sunburst_frame(purity, depth=2)
    assert frame["ids"].tolist() == ["0", "1", "0-0", "0-1", "1-0"]
    assert frame["parents"].tolist() == ["", "", "0", "0", "1"]
    assert frame["labels"].tolist() == ["0", "1", "0", "1", "0"]
    # Sizes are items per node: 3 under code 0 (1 + 2 below it), 1 under code 1.
    values = dict(zip(frame["ids"], frame["values"], strict=True))
    assert values == {"0": 3, "1": 1, "0-0": 1, "0-1": 2, "1-0": 1}
