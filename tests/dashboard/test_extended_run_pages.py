"""The dashboard on a run grown by ``rqvae extend``: the IDs page lists the newest items with
their IDs, the pages that read embeddings work over every item (old and new), the item map
colours by generation and the Scorecard has the growth rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rqvae.data.catalog import CatalogSpec
from rqvae.ids.extend import extend_run
from tests.dashboard.conftest import SLICE_ITEMS
from tests.dashboard.test_pages import charts, open_app, texts
from tests.dashboard.test_scorecard_page import scorecard_markup

ADDED = 50


@pytest.fixture(scope="module")
def grown_root(tmp_path_factory, gallery_root, scientific_dir) -> Path:
    """A runs folder holding ``grown``: the gallery's trained run (the first 1,000 products)
    extended by the next 50, with their LC-Rec catalog entries."""
    root = tmp_path_factory.mktemp("grown-runs")
    run = shutil.copytree(gallery_root / "trained", root / "grown")
    embeddings = np.load(scientific_dir / "embeddings.minilm.npy", mmap_mode="r")
    rows = slice(SLICE_ITEMS, SLICE_ITEMS + ADDED)
    np.save(root.parent / "new.npy", np.ascontiguousarray(embeddings[rows]))
    items = json.loads((scientific_dir / "raw" / "Scientific.item.json").read_text())
    added = {key: items[key] for key in list(items)[rows]}
    (root.parent / "new.item.json").write_text(json.dumps(added))
    catalog = CatalogSpec(root.parent / "new.item.json", format="lcrec")
    extend_run(run, root.parent / "new.npy", catalog=catalog)
    return root


def test_ids_page_lists_the_newest_items_with_their_ids(app_env, grown_root):
    app_env(grown_root)
    app = open_app("ids_collisions", runs=["grown"])
    assert "Newest items" in [header.value for header in app.subheader]
    assert "rqvae extend" in texts(app.caption)
    newest = next(frame.value for frame in app.dataframe if "ID" in frame.value.columns)
    table = pd.read_parquet(grown_root / "grown" / "semantic_ids.parquet")
    items = pd.read_parquet(grown_root / "grown" / "items.parquet").set_index("item_id")
    expected = table.iloc[::-1].head(len(newest))  # the last rows, newest first
    assert newest["item id"].tolist() == expected["item_id"].tolist()
    assert newest["ID"].tolist() == expected["sid"].tolist()
    assert newest["generation"].tolist() == [1] * len(newest)
    assert newest["title"].tolist() == items.loc[expected["item_id"], "title"].tolist()


def test_embedding_pages_read_every_item_of_a_grown_run(app_env, grown_root):
    app_env(grown_root)
    app = open_app("residuals", runs=["grown"])
    captions = texts(app.caption)
    assert f"over all {SLICE_ITEMS + ADDED:,} items" in captions
    # the new items' IDs are what the checkpoint gives them, placed after the old ones
    assert "100.00% of the items get the same codes" in captions


def test_item_map_colours_by_generation(app_env, grown_root):
    app_env(grown_root)
    app = open_app("codeword_map", runs=["grown"])
    control = app.segmented_control(key="codeword_map_item_colour")
    assert "generation" in control.options
    control.set_value("generation").run()
    assert not app.exception
    traces = [t for t in charts(app)[0]["data"] if t["name"] != "level-0 codeword"]
    assert [t["name"] for t in traces] == [f"original ({SLICE_ITEMS:,})", f"extension 1 ({ADDED})"]
    rows = sorted(row[3] for row in traces[1]["customdata"])
    assert rows == list(range(SLICE_ITEMS, SLICE_ITEMS + ADDED))  # the appended rows


def test_scorecard_has_the_growth_rows(app_env, grown_root):
    app_env(grown_root)
    app = open_app("scorecard", runs=["grown"])
    markup = scorecard_markup(app)
    assert f"2: {SLICE_ITEMS:,} + {ADDED} items" in markup
    row = markup[markup.index("data-key='extend_recommendation'") :].split("</tr>")[0]
    assert "extend (generation 1)" in row or "retrain (generation 1)" in row
