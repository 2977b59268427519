"""Every dashboard page under ``streamlit.testing.v1.AppTest``, on real run folders.

Assertions read the numbers and titles inside the plotly specs the page sends
(``json.loads(element.proto.spec)``) and compare them with values worked out here from the run
files with plain numpy, so a page that draws the wrong run or the wrong level fails.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis.presentation.run_colours import run_colours
from rqvae.files import append_jsonl
from rqvae.runs.folder import METRICS_FILE
from rqvae.runs.lock import run_lock
from rqvae.runs.semantic_ids import level_columns
from tests.dashboard.conftest import APP_PATH
from tests.run_configs import schema_2

TIMEOUT = 300  # seconds per script run: the first UMAP of a session compiles numba code


def open_app(page: str | None = None, *, runs: list[str] | None = None, focus: str | None = None):
    """Run the app on ``app_pages/<page>.py`` with ``runs`` picked and ``focus`` shown."""
    app = AppTest.from_file(APP_PATH, default_timeout=TIMEOUT)
    if runs is not None:
        app.session_state["selected_runs"] = runs
        app.session_state["focus_run"] = focus or runs[0]
    if page is not None:
        app.switch_page(f"app_pages/{page}.py")
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def charts(app) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def values(encoded) -> list:
    """A plotly array as a list: plotly sends numpy arrays as ``{"dtype", "bdata"}`` base64."""
    if isinstance(encoded, dict) and "bdata" in encoded:
        array = np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"])
        if "shape" in encoded:  # "rows, columns" for 2-D arrays
            array = array.reshape([int(n) for n in str(encoded["shape"]).split(",")])
        return array.tolist()
    return list(encoded)


def chart_titled(app, start: str) -> dict:
    found = [spec for spec in charts(app) if spec["layout"]["title"]["text"].startswith(start)]
    assert found, (
        f"no chart titled {start!r}: {[s['layout']['title']['text'] for s in charts(app)]}"
    )
    return found[0]


def codes_of(run_dir: Path) -> np.ndarray:
    table = pd.read_parquet(run_dir / "semantic_ids.parquet")
    return table[level_columns(table)].to_numpy()


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


# --- Runs -----------------------------------------------------------------------------------------


def test_empty_runs_folder_explains_how_to_make_a_run(app_env, tmp_path):
    app_env(tmp_path)
    app = open_app()
    assert [title.value for title in app.title] == ["Runs"]
    help_text = texts(app.markdown)
    for command in ("rqvae demo", "rqvae train", "rqvae import-ids"):
        assert command in help_text
    assert str(tmp_path) in texts(app.info)

    app.switch_page("app_pages/codebooks.py").run()
    assert not app.exception
    assert "Pick one or more runs" in texts(app.info)


def test_runs_page_lists_every_run_with_state_and_verdict(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app(runs=["trained", "mql4grec", "live"])
    table = app.dataframe[0].value.set_index("run")
    assert sorted(table.index) == sorted(p.name for p in gallery_root.iterdir())
    assert table.loc["trained", "state"] == "finished"
    assert table.loc["live", "state"] == "training"
    assert table.loc["letter", "state"] == "imported"
    assert table.loc["broken-config", "state"] == "broken"
    assert table.loc["broken-ids", "state"] == "broken"
    # MQL4GRec puts every item on one first-level code: collapsed, so an error verdict.
    assert table.loc["mql4grec", "verdict"] == "error"
    codes = codes_of(gallery_root / "trained")
    expected_ratio = len(np.unique(codes, axis=0)) / len(codes)
    assert table.loc["trained", "unique_id_ratio"] == pytest.approx(expected_ratio)
    assert table.loc["trained", "epochs"] == "2/2"
    # kinds and sizes as the run folders' config.json files give them
    assert table.loc["trained", "kind"] == "trained"
    assert table.loc["live", "kind"] == "trained"
    assert table.loc["letter", "kind"] == "imported-ids"
    assert table.loc["mql4grec", "kind"] == "imported-ids"
    assert table.loc["broken-config", "kind"] == "unknown"
    assert (table.loc["trained", "levels"], table.loc["trained", "codebook_size"]) == (3, "32")
    letter_sizes = json.loads((gallery_root / "letter" / "config.json").read_text())
    assert len(set(letter_sizes["codebook_sizes"])) == 1
    assert table.loc["letter", "codebook_size"] == str(letter_sizes["codebook_sizes"][0])

    # Broken runs get a card naming the file; the others are still judged.
    errors = [error.value for error in app.error]
    assert any("broken-config" in e and "config.json" in e for e in errors)
    assert any("broken-ids" in e and "semantic_ids.parquet" in e for e in errors)
    badges = texts(app.markdown)
    assert "verdict: error" in badges
    assert "level 0 is collapsed" in badges
    # The run still training gets a live progress bar.
    assert any("live: epoch 2 of 2" in bar.text for bar in app.get("progress"))


def test_runs_page_labels_levels_of_different_sizes(app_env, tmp_path):
    """A schema-2 run whose levels have 8, 4 and 4 codes, written by hand."""
    run = tmp_path / "uneven"
    run.mkdir()
    codes = np.array([[0, 0, 0], [1, 3, 2], [7, 3, 2], [7, 1, 1], [2, 2, 3], [5, 0, 1]])
    config = schema_2(codebook_sizes=[8, 4, 4])
    config["data"]["n_items"] = len(codes)
    (run / "config.json").write_text(json.dumps(config))
    (run / "status.json").write_text(json.dumps({"state": "imported"}))
    ids = pd.DataFrame({f"code_{level}": codes[:, level] for level in range(3)})
    ids.insert(0, "item_id", [f"item-{row}" for row in range(len(codes))])
    ids["collision"] = 0
    ids["sid"] = [
        "<|sid_start|>"
        + "".join(f"<|sid_{level}_{code}|>" for level, code in enumerate(row))
        + "<|sid_3_0|><|sid_end|>"
        for row in codes
    ]
    ids.to_parquet(run / "semantic_ids.parquet")
    app_env(tmp_path)
    app = open_app(runs=["uneven"])
    table = app.dataframe[0].value.set_index("run")
    assert table.loc["uneven", "kind"] == "imported-ids"
    assert table.loc["uneven", "codebook_size"] == "8/4/4"
    assert table.loc["uneven", "levels"] == 3 and table.loc["uneven", "items"] == 6
    assert table.loc["uneven", "unique_id_ratio"] == 1.0


def test_live_run_shows_a_new_epoch_on_the_next_refresh(app_env, gallery_root, tmp_path):
    shutil.copytree(gallery_root / "live", tmp_path / "live")
    app_env(tmp_path)
    with run_lock(tmp_path / "live", "train"):  # a trainer is writing it
        app = open_app(runs=["live"])
        assert any("epoch 2 of 2" in bar.text for bar in app.get("progress"))
        last = json.loads((tmp_path / "live" / METRICS_FILE).read_text().splitlines()[-1])
        append_jsonl(tmp_path / "live" / METRICS_FILE, {**last, "epoch": last["epoch"] + 1})
        app.run()
        assert any("epoch 3 of 2" in bar.text for bar in app.get("progress"))


def test_runs_outside_the_root_are_refused(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("codebooks", runs=["../trained"])
    # A name that is not a run under the root is dropped from the picks, never opened.
    assert app.session_state["selected_runs"] == []
    assert "Pick one or more runs" in texts(app.info)


# --- single-run pages -----------------------------------------------------------------------------


def test_codebooks_page_draws_the_usage_of_each_level(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("codebooks", runs=["trained"])
    assert app.title[0].value == "Codebooks: trained"
    codes = codes_of(gallery_root / "trained")
    for level in range(codes.shape[1]):
        counts = np.bincount(codes[:, level], minlength=32)
        used = int((counts > 0).sum())
        spec = chart_titled(app, f"Level {level}: items per code ({used} of 32 used)")
        assert values(spec["data"][0]["y"]) == sorted(counts.tolist(), reverse=True)
    lorenz = chart_titled(app, "Lorenz curve")
    assert [trace["name"] for trace in lorenz["data"]][1:] == ["level 0", "level 1", "level 2"]

    app.segmented_control(key="codebooks_scale").set_value("log").run()
    assert chart_titled(app, "Level 0")["layout"]["yaxis"]["type"] == "log"


def test_broken_run_shows_its_file_and_the_others_stay_usable(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("codebooks", runs=["broken-ids", "letter"], focus="broken-ids")
    assert "semantic_ids.parquet" in texts(app.error)
    assert not charts(app)

    app.selectbox(key="focus_run").set_value("letter").run()
    assert not app.exception and not app.error
    assert chart_titled(app, "Level 0: items per code")


def test_broken_run_is_left_out_of_the_comparison(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("training_comparison", runs=["broken-config", "trained", "broken-ids"])
    errors = texts(app.error)
    assert "broken-config/config.json" in errors
    assert "broken-ids/semantic_ids.parquet" in errors
    spec = chart_titled(app, "loss over epochs")
    assert [trace["name"] for trace in spec["data"]][0] == "trained"
    assert not [trace for trace in spec["data"] if "broken" in trace["name"]]


def test_ids_page_ratios_collisions_and_lookup(app_env, gallery_root, scientific_slice):
    app_env(gallery_root)
    app = open_app("ids_collisions", runs=["trained"])
    codes = codes_of(gallery_root / "trained")
    ratios = [len(np.unique(codes[:, :n], axis=0)) / len(codes) for n in (1, 2, 3)]
    # both unique-ID ratios, each named: the assigned IDs and the quantizer's nearest codeword
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["unique-ID ratio, assigned IDs"] == f"{ratios[2]:.4f}"
    from rqvae.quantizers import assign_codes
    from rqvae.quantizers.from_run import load_run_quantizer

    embeddings = np.load(scientific_slice["embeddings"])
    nearest = assign_codes(load_run_quantizer(gallery_root / "trained"), embeddings)
    expected = len(np.unique(nearest, axis=0)) / len(nearest)
    assert metrics["unique-ID ratio, nearest codeword"] == f"{expected:.4f}"
    spec = chart_titled(app, "Unique-ID ratio by prefix length")
    assert values(spec["data"][0]["y"]) == pytest.approx(ratios)
    _, group_sizes = np.unique(codes, axis=0, return_counts=True)
    histogram = chart_titled(app, "Collision groups by size")
    sizes, groups = np.unique(group_sizes, return_counts=True)
    assert values(histogram["data"][0]["x"]) == [str(s) for s in sizes]
    assert values(histogram["data"][0]["y"]) == groups.tolist()

    table = pd.read_parquet(gallery_root / "trained" / "semantic_ids.parquet")
    items = pd.read_parquet(gallery_root / "trained" / "items.parquet").set_index("item_id")
    first = table.iloc[0]
    title = str(items.loc[first["item_id"], "title"])
    app.text_input(key="ids_lookup_query").input(title[:30]).run()
    found = app.dataframe[-1].value
    assert first["item_id"] in found["item_id"].tolist()
    app.text_input(key="ids_lookup_query").input(first["sid"]).run()
    found = app.dataframe[-1].value
    assert found["item_id"].tolist() == [first["item_id"]]
    app.text_input(key="ids_lookup_query").input("<|sid_0_oops").run()
    assert "not an ID string" in texts(app.warning)


def test_residuals_page(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("residuals", runs=["trained", "live", "letter"])
    spec = chart_titled(app, "Residual norm after each level")
    (box,) = spec["data"]
    assert box["type"] == "box"
    assert list(dict.fromkeys(values(box["x"]))) == [
        "input",
        "after level 0",
        "after level 1",
        "after level 2",
    ]
    app.segmented_control(key="residuals_kind").set_value("violin").run()
    spec = chart_titled(app, "Residual norm after each level")
    assert {trace["type"] for trace in spec["data"]} == {"violin"}

    # overlaid: one box per run and stage, grouped, in the runs' colours; letter has no
    # residuals (no checkpoint) and says so
    app.toggle(key="residuals_overlay").set_value(True).run()
    spec = chart_titled(app, "Residual norm after each level, runs side by side")
    assert [trace["name"] for trace in spec["data"]] == ["trained", "live"]
    colours = run_colours(["trained", "live", "letter"])
    assert [trace["line"]["color"] for trace in spec["data"]] == [
        colours["trained"],
        colours["live"],
    ]
    assert any("letter: no residual norms" in caption.value for caption in app.caption)

    # An imported run has no checkpoint: the page says why instead of failing.
    app.selectbox(key="focus_run").set_value("letter").run()
    assert not app.exception
    assert "no checkpoint" in texts(app.info)
    assert not charts(app)


def test_codeword_map_page(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("codeword_map", runs=["trained"])
    spec = chart_titled(app, "UMAP of the codewords, level 0")
    points = sum(len(values(trace["x"])) for trace in spec["data"])
    assert points == 32  # every codeword of level 0, used or not
    app.selectbox(key="codeword_map_level").set_value("all levels (joint map)").run()
    spec = chart_titled(app, "UMAP of the codewords, all levels (joint)")
    assert sum(len(values(trace["x"])) for trace in spec["data"]) == 3 * 32

    app = open_app("codeword_map", runs=["letter"])
    assert "no checkpoint" in texts(app.info)


def test_taxonomy_page_drills_down_one_prefix(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("taxonomy", runs=["trained"])
    codes = codes_of(gallery_root / "trained")
    top = chart_titled(app, "ID prefix tree coloured by category purity")
    first_level = {i for i in values(top["data"][0]["ids"]) if "-" not in i}
    assert first_level == {str(code) for code in np.unique(codes[:, 0])}

    child = app.selectbox(key="taxonomy_child")
    largest = child.options[0].split()[0]  # options are labelled "12  (45 items, ...)"
    child.set_value(largest).run()
    code = int(largest)
    assert app.session_state["taxonomy_prefix"] == str(code)
    spec = chart_titled(app, f"ID prefix {code} and below")
    under = {i for i in values(spec["data"][0]["ids"]) if i.count("-") == 1}
    expected = {f"{code}-{c}" for c in np.unique(codes[codes[:, 0] == code, 1])}
    assert under == expected
    mix = app.dataframe[0].value
    assert mix["count"].sum() == (codes[:, 0] == code).sum()

    app.button(key="taxonomy_up").click().run()
    assert app.session_state["taxonomy_prefix"] == ""
    nmi = chart_titled(app, "NMI between the ID prefix")
    assert nmi["layout"]["yaxis"]["range"][0] == 0  # NMI starts at 0


def test_mahalanobis_page_shows_both_assignments(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("mahalanobis", runs=["trained"])
    codes = codes_of(gallery_root / "trained")
    euclidean = chart_titled(app, "euclidean: level 0 items per code")
    expected = sorted(np.bincount(codes[:, 0], minlength=32).tolist(), reverse=True)
    assert values(euclidean["data"][0]["y"]) == expected  # the model's IDs are the run's IDs
    assert chart_titled(app, "mahalanobis: level 0 items per code")
    assert chart_titled(app, "Euclidean (model) against Mahalanobis assignment")
    # the two unique-ID ratios that differ by design are both named
    labels = [metric.label for metric in app.metric]
    assert "unique-ID ratio, nearest codeword" in labels
    assigned = len(np.unique(codes, axis=0)) / len(codes)
    assert f"assigned IDs of semantic_ids.parquet: unique-ID ratio {assigned:.4f}" in texts(
        app.info
    )

    app = open_app("mahalanobis", runs=["letter"])
    assert "no checkpoint" in texts(app.info)


# --- across runs ----------------------------------------------------------------------------------


def test_training_and_comparison_page(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("training_comparison", runs=["trained", "live", "letter"])
    spec = chart_titled(app, "loss over epochs")
    curves = [trace for trace in spec["data"] if trace["name"] in ("trained", "live")]
    assert [trace["name"] for trace in curves] == ["trained", "live"]
    metrics = [json.loads(line) for line in (gallery_root / "trained" / METRICS_FILE).open()]
    assert values(spec["data"][0]["y"]) == pytest.approx([m["loss_total"] for m in metrics])

    # the best epoch is starred; the imported run says why it has no curve
    status = json.loads((gallery_root / "trained" / "status.json").read_text())
    names = [trace["name"] for trace in spec["data"]]
    assert f"trained: best epoch {status['best']['epoch']}" in names
    assert "letter: no training history: imported IDs" in names
    colours = run_colours(["trained", "live", "letter"])
    assert spec["data"][0]["line"]["color"] == colours["trained"]

    app.slider(key="training_window").set_value(3).run()
    assert chart_titled(app, "loss over epochs (ema smoothing, window 3)")
    assert chart_titled(app, "Best-rule checks over epochs")

    # settings side by side, readable, as text: never None, never a mixed column
    settings = app.dataframe[0].value.set_index("setting")
    made_by = ["rqvae train", "rqvae train", "LC-Rec .index.json IDs"]
    assert settings.loc["made by"].tolist() == made_by
    assert settings.loc["encoder activation"].tolist() == ["silu", "silu", ""]
    assert "None" not in settings.to_numpy().ravel().tolist()
    profile = chart_titled(app, "Settings and final metrics, one line per run")
    lines = [trace for trace in profile["data"] if not trace["name"].endswith(": missing")]
    assert [trace["name"] for trace in lines] == ["trained", "live", "letter"]


def test_report_page_builds_the_report(app_env, gallery_root):
    from dashboard import data

    app_env(gallery_root)
    app = open_app("report", runs=["trained", "letter"])
    app.button(key="report_build").click().run()
    assert not app.exception
    labels = [button.label for button in app.download_button]
    assert labels == ["Download HTML report", "Download JSON"]
    report = data.report([gallery_root / "trained", gallery_root / "letter"])
    assert report.html.startswith(b"<!DOCTYPE html>")
    names = [run["run"]["name"] for run in json.loads(report.json)["runs"]]
    assert names == ["trained", "letter"]
