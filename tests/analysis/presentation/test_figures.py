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


def test_runs_profile_draws_one_labelled_line_per_run_and_marks_missing_values():
    table = pd.DataFrame(
        {
            "run": ["ours", "lcrec"],
            "ids_unique_ratio": [1.0, 0.913],
            "val_loss_total": [0.7131, np.nan],
        }
    )
    colours = {"ours": "#4e79a7", "lcrec": "#f28e2b"}
    figure = figures_compare.runs_profile(table, ["ids_unique_ratio", "val_loss_total"], colours)
    lines = [trace for trace in figure.data if not trace.name.endswith(": missing")]
    assert [trace.name for trace in lines] == ["ours", "lcrec"]
    assert [trace.line.color for trace in lines] == ["#4e79a7", "#f28e2b"]
    # each axis from its lowest run (0) to its highest (1); one run alone sits in the middle
    assert list(lines[0].y) == [1.0, 0.5] and lines[1].y[0] == 0.0
    assert np.isnan(lines[1].y[1])  # no validation loss: a gap, never a made-up value
    assert list(lines[0].text) == ["1.0000", "0.7131"]  # rounded to the column's format
    missing = [trace for trace in figure.data if trace.name == "lcrec: missing"]
    assert len(missing) == 1 and list(missing[0].text) == ["missing"]
    axis_ends = [a.text for a in figure.layout.annotations]
    assert "0.9130" in axis_ends and "1.0000" in axis_ends


def test_training_curves_mark_best_epoch_early_stop_and_runs_without_history():
    curves = pd.DataFrame(
        {
            "run": ["a"] * 4 + ["base"],
            "epoch": [1, 2, 3, 4, 1],
            "metric": ["val_loss_total"] * 4 + ["unique_id_ratio"],
            "value": [4.0, 3.0, 3.5, 3.6, 0.7],
        }
    )
    marks = pd.DataFrame(
        [{"run": "a", "best_epoch": 2, "last_epoch": 4, "stopped": "early", "stop_reason": ""}]
    )
    figure = figures_compare.training_curves(
        curves,
        "val_loss_total",
        colours={"a": "#111111", "base": "#222222", "imp": "#333333"},
        marks=marks,
        without_history={"imp": "no training history: imported IDs"},
    )
    names = [trace.name for trace in figure.data]
    assert names == [
        "a",
        "a: best epoch 2",
        "a: stopped early at epoch 4",
        "imp: no training history: imported IDs",
        "base: not recorded by this run",
    ]
    best, stop = figure.data[1], figure.data[2]
    assert (list(best.x), list(best.y), best.marker.symbol) == ([2], [3.0], "star")
    assert (list(stop.x), list(stop.y), stop.marker.symbol) == ([4], [3.6], "x")
    assert figure.layout.title.text == "validation loss over epochs"
    labelled = figures_compare.training_curves(curves, "unique_id_ratio")
    assert labelled.layout.title.text.startswith("unique-ID ratio, nearest codeword (training)")


def test_best_rule_figure_draws_each_check_with_its_threshold():
    curves = pd.DataFrame(
        {
            "run": "a",
            "epoch": [1, 2, 1, 2],
            "metric": ["codebook_usage_l0"] * 2 + ["neighbor_lift_l0"] * 2,
            "value": [0.5, 1.0, 4.0, 12.0],
        }
    )
    marks = pd.DataFrame(
        [
            {
                "run": "a",
                "best_epoch": 2,
                "last_epoch": 2,
                "stopped": "",
                "stop_reason": "",
                "best_min_usage": 1.0,
                "best_min_neighbor_lift": 10.0,
            }
        ]
    )
    figure = figures_compare.best_rule_figure(curves, marks, {"a": "#111111"})
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert "codes used, level 0" in titles and "level-0 neighbour lift (×)" in titles
    assert sorted(shape.y0 for shape in figure.layout.shapes) == [1.0, 10.0]
    stars = [trace for trace in figure.data if trace.name == "a: best epoch 2"]
    assert [list(star.y) for star in stars] == [[1.0], [12.0]]


def test_log_axes_label_powers_of_ten_only():
    figure = figures.collision_histogram(
        pd.DataFrame({"size": [1, 2], "groups": [4000, 12], "items": [4000, 24]})
    )
    axis = figure.layout.yaxis
    assert (axis.type, axis.dtick, axis.tickformat) == ("log", 1, ",~g")


def test_overlays_colour_each_run_and_name_it():
    colours = {"ours": "#4e79a7", "lcrec": "#f28e2b"}
    usage = figures.usage_overlay(
        {"ours": np.array([3, 0, 1]), "lcrec": np.array([2, 2, 0])}, 0, colours
    )
    assert [trace.name for trace in usage.data] == ["ours (2 of 3 used)", "lcrec (2 of 3 used)"]
    assert list(usage.data[0].y) == [3, 1, 0]  # sorted, most used first
    assert [trace.line.color for trace in usage.data] == ["#4e79a7", "#f28e2b"]
    lorenz = pd.DataFrame(
        {"level": [0, 0, 1, 1], "code_share": [0, 1] * 2, "item_share": [0, 1] * 2}
    )
    figure = figures.lorenz_figure({"ours": lorenz, "lcrec": lorenz}, colours)
    drawn = [(trace.name, trace.line.color, trace.line.dash) for trace in figure.data[1:]]
    assert drawn == [
        ("ours, level 0", "#4e79a7", "solid"),
        ("ours, level 1", "#4e79a7", "dash"),
        ("lcrec, level 0", "#f28e2b", "solid"),
        ("lcrec, level 1", "#f28e2b", "dash"),
    ]


def test_nmi_axis_starts_at_zero_and_runs_overlay_in_their_colours():
    from analysis.presentation.taxonomy_figures import taxonomy_scores_figure

    scores = pd.DataFrame(
        {"grouping": "prefix", "depth": [1, 1, 2, 2], "level": [0, 1, 0, 1], "nmi": [0.3, 0.4] * 2}
    )
    colours = {"a": "#111111", "b": "#222222"}
    figure = taxonomy_scores_figure({"a": scores, "b": scores}, colours=colours, depths=[2])
    assert [trace.name for trace in figure.data] == ["a, category depth 2", "b, category depth 2"]
    assert figure.layout.yaxis.range[0] == 0


def test_unit_norm_embeddings_get_a_sentence_not_a_histogram():
    from analysis.metrics.embedding_geometry import embedding_geometry
    from analysis.presentation.behaviour_figures import norm_histogram

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    figure = norm_histogram(embedding_geometry(unit, space="input"))
    assert not figure.data
    assert "all 50 input embeddings are L2-normalised" in figure.layout.annotations[0].text
    raw = norm_histogram(embedding_geometry(vectors, space="input"))
    assert raw.data[0].type == "histogram"


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
