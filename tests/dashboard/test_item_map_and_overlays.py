"""Issue 21 under AppTest: the item map on the Codeword map page and the "overlay the other
selected runs" switches, on the real runs of the gallery (tests/dashboard/conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.presentation.run_colours import run_colours
from tests.dashboard.test_pages import chart_titled, charts, codes_of, open_app, values


def test_codebooks_page_overlays_the_other_picked_runs_in_their_colours(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("codebooks", runs=["trained", "letter"])
    colours = run_colours(["trained", "letter"])
    bars = chart_titled(app, "Level 0: items per code")
    assert bars["data"][0]["marker"]["color"] == colours["trained"]

    app.toggle(key="codebooks_overlay").set_value(True).run()
    assert not app.exception
    overlay = chart_titled(app, "Level 0: items per code, runs overlaid")
    names = [trace["name"].split(" (")[0] for trace in overlay["data"]]
    assert names == ["trained", "letter"]
    assert [trace["line"]["color"] for trace in overlay["data"]] == [
        colours["trained"],
        colours["letter"],
    ]
    counts = np.bincount(codes_of(gallery_root / "letter")[:, 0])
    assert values(overlay["data"][1]["y"])[: len(counts)] == sorted(counts.tolist(), reverse=True)
    lorenz = chart_titled(app, "Lorenz curve")
    assert {trace["name"].split(",")[0] for trace in lorenz["data"][1:]} == {"trained", "letter"}


def test_item_map_shows_every_item_searches_titles_and_lists_prefixes(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("codeword_map", runs=["trained"])
    codes = codes_of(gallery_root / "trained")
    items_map = charts(app)[0]  # the item map comes first, without asking for it
    assert items_map["layout"]["title"]["text"] == "Item map: all 1,000 items (UMAP of the latents)"
    drawn = [t for t in items_map["data"] if t["name"] != "level-0 codeword"]
    rows = [row[3] for trace in drawn for row in trace["customdata"]]
    assert sorted(rows) == list(range(len(codes)))  # one point per item
    ids = {row[3]: row[1] for trace in drawn for row in trace["customdata"]}
    assert ids[0] == "-".join(map(str, codes[0]))  # hover: the full ID

    app.segmented_control(key="codeword_map_item_colour").set_value("collision group").run()
    assert charts(app)[0]["data"][0]["name"].startswith("unique ID (")

    titles = pd.read_parquet(gallery_root / "trained" / "items.parquet")["title"].astype(str)
    word = titles.iloc[0].split()[0]
    expected = int(titles.str.contains(word, case=False, regex=False).sum())
    app.text_input(key="codeword_map_search").input(word).run()
    match = [t for t in charts(app)[0]["data"] if t["name"].startswith("titles containing")]
    assert match and len(values(match[0]["x"])) == expected

    app.selectbox(key="codeword_map_match").set_value(0).run()
    table = app.dataframe[0].value
    assert table["prefix"].tolist() == ["-".join(map(str, codes[0, :n])) for n in (1, 2, 3)]
    shared = [int((codes[:, :n] == codes[0, :n]).all(axis=1).sum()) for n in (1, 2, 3)]
    assert table["items"].tolist() == shared


def test_taxonomy_page_overlays_nmi_of_the_other_runs(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("taxonomy", runs=["trained", "letter"])
    app.toggle(key="taxonomy_overlay").set_value(True).run()
    spec = chart_titled(app, "NMI between the ID prefix")
    depth = app.selectbox(key="taxonomy_depth").value
    assert [trace["name"] for trace in spec["data"]] == [
        f"trained, category depth {depth}",
        f"letter, category depth {depth}",
    ]
    colours = run_colours(["trained", "letter"])
    assert [trace["line"]["color"] for trace in spec["data"]] == [
        colours["trained"],
        colours["letter"],
    ]
