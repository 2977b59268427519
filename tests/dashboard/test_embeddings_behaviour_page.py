"""The "Embeddings and behaviour" page and the churn on the comparison page, under AppTest."""

from __future__ import annotations

import json

import pytest

from tests.dashboard.test_pages import chart_titled, codes_of, open_app, texts, values


def test_trained_run_shows_geometry_and_says_why_behaviour_is_missing(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("embeddings_behaviour", runs=["trained"])
    assert app.title[0].value == "Embeddings and behaviour: trained"
    # the slice's MiniLM embeddings are unit vectors: a sentence says so, no histogram of noise
    input_norms = chart_titled(app, "Input norms (1,000 items, dim 384)")
    assert not input_norms["data"]
    assert (
        "all 1,000 input embeddings are L2-normalised"
        in (input_norms["layout"]["annotations"][0]["text"])
    )
    assert chart_titled(app, "Latent norms (1,000 items, dim 32)")
    spectrum = chart_titled(app, "Eigenvalue spectrum")
    assert [trace["name"].split(":")[0] for trace in spectrum["data"]] == ["input", "latent"]
    assert len(values(spectrum["data"][0]["y"])) == 384
    # the slice's catalog has no sequences next to it
    assert "no user sequences" in texts(app.info)


def test_imported_run_with_sequences_next_to_its_catalog(app_env, gallery_root, scientific_dir):
    app_env(gallery_root)
    app = open_app("embeddings_behaviour", runs=["letter"])
    assert "no checkpoint" in texts(app.info)  # no latent space without an encoder
    spec = chart_titled(app, "Pairs that share the ID prefix")
    shown = values(spec["data"][0]["y"])
    # Independent count: pairs at most 3 apart in Scientific.inter.json sharing code_0.
    codes = codes_of(gallery_root / "letter")
    sequences = json.loads((scientific_dir / "raw" / "Scientific.inter.json").read_text())
    same = total = 0
    for items in sequences.values():
        for t in range(len(items)):
            for k in range(1, 4):
                if t + k < len(items) and items[t] != items[t + k]:
                    total += 1
                    same += codes[items[t], 0] == codes[items[t + k], 0]
    assert shown[0] == pytest.approx(same / total)
    assert chart_titled(app, "Crowding by popularity")
    app.selectbox(key="embeddings_fanout").set_value(2).run()
    assert chart_titled(app, "Fan-out against popularity, prefixes of length 2")


def test_comparison_page_shows_churn_for_two_chosen_runs(app_env, gallery_root):
    app_env(gallery_root)
    app = open_app("training_comparison", runs=["trained", "live", "letter"])
    spec = chart_titled(app, "ID churn trained → live")  # live is a copy of trained
    assert values(spec["data"][0]["y"]) == [0, 0, 0]
    assert values(spec["data"][1]["y"]) == [0, 0, 0]
    app.selectbox(key="training_churn_b").set_value("letter").run()
    assert not app.exception
    spec = chart_titled(app, "ID churn trained → letter")
    raw = values(spec["data"][0]["y"])
    matched = values(spec["data"][1]["y"])
    assert len(raw) == 3  # 3 levels against LETTER's 4: the common prefix lengths
    assert all(m <= r for m, r in zip(matched, raw, strict=True))
