"""Issue 8 in the dashboard: markup in user strings, symlinks out of the runs root, malformed
config.json, and the "interrupted" state. Tiny synthetic runs keep these AppTests fast."""

from __future__ import annotations

import json
import os
import re

import pytest

from dashboard.markup import code, plain
from rqvae.files import atomic_write_json
from rqvae.runs.lock import run_lock
from tests.dashboard.test_pages import open_app, texts
from tests.rqvae.tiny_runs import copy_run, trained_tiny_run

# A folder name cannot hold "/", so the image and the link use scheme-relative-free URLs.
HOSTILE = "x ![p](http:127.0.0.1:9) [l](http:evil) `tick"
QUERY = "![q](http:127.0.0.1:9)"


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory):
    from rqvae.ids.assign import assign_run

    run, _ = trained_tiny_run(tmp_path_factory.mktemp("dash-hardening"))
    assign_run(run)
    return run


def rendered_markdown(app) -> list[str]:
    """The markdown source of every element that renders markdown."""
    kinds = ("title", "subheader", "markdown", "caption", "error", "warning", "info")
    return [str(element.value) for kind in kinds for element in app.get(kind)]


# An image or link opener, or a backtick, that no backslash escapes.
LIVE_MARKUP = re.compile(r"(?<!\\)!(?<!\\)\[|(?<!\\)\]\(|(?<![\\`])`tick")


def assert_no_live_markup(app) -> None:
    for source in rendered_markdown(app):
        outside_code = re.sub(r"(`{2,}) .*? \1", "", source)  # code() spans render literally
        assert LIVE_MARKUP.search(outside_code) is None, source


def test_plain_and_code_leave_no_markup():
    # issue 19: a colon before a non-space is escaped too (Streamlit directives, autolinks)
    assert plain(HOSTILE) == "x !\\[p\\](http\\:127.0.0.1\\:9) \\[l\\](http\\:evil) \\`tick"
    assert plain("semantic_ids.parquet: a_b") == "semantic_ids.parquet: a_b"
    assert code("a`b") == "`` a`b ``"
    assert plain("two\nlines <b>") == "two lines \\<b\\>"


def test_a_run_named_with_markdown_is_shown_as_text(app_env, tiny_source, tmp_path):
    copy_run(tiny_source, tmp_path / HOSTILE)
    app_env(tmp_path)
    app = open_app(runs=[HOSTILE])
    assert plain(HOSTILE) in texts(app.subheader)
    assert_no_live_markup(app)
    for page in ("codebooks", "ids_collisions", "report"):
        app = open_app(page, runs=[HOSTILE])
        assert_no_live_markup(app)
    app = open_app("ids_collisions", runs=[HOSTILE])
    app.text_input[0].set_value(QUERY).run()
    assert plain(repr(QUERY)) in texts(app.warning)
    assert_no_live_markup(app)


def test_a_symlink_out_of_the_root_is_refused_not_opened(app_env, tiny_source, tmp_path):
    root, elsewhere = tmp_path / "runs", tmp_path / "elsewhere"
    copy_run(tiny_source, root / "good")
    copy_run(tiny_source, elsewhere / "secret")
    os.symlink(elsewhere / "secret", root / "escape")
    app_env(root)
    app = open_app()
    assert app.dataframe[0].value["run"].tolist() == ["good"]
    assert app.multiselect[0].options == ["good"]
    refused = [error for error in app.error if "escape" in error.value]
    assert len(refused) == 1 and "outside the runs folder" in refused[0].value
    # a URL or session naming it directly is refused too
    app = open_app("codebooks", runs=["escape"])
    assert app.session_state["selected_runs"] == []


def test_malformed_configs_get_cards_and_are_never_preselected(app_env, tiny_source, tmp_path):
    config = json.loads((tiny_source / "config.json").read_text())
    broken = {
        "a-list": [config],
        "b-model-oops": {**config, "model": "oops"},
        "c-kind-weird": {**config, "kind": "weird"},
    }
    for name, document in broken.items():
        copy_run(tiny_source, tmp_path / name)
        (tmp_path / name / "config.json").write_text(json.dumps(document))
    copy_run(tiny_source, tmp_path / "good")
    app_env(tmp_path)
    app = open_app()
    assert app.session_state["selected_runs"] == ["good"]  # broken ones are not picked
    errors = texts(app.error)
    for name in broken:
        assert f"{name}/config.json" in errors
    table = app.dataframe[0].value.set_index("run")
    assert (table.loc[list(broken), "state"] == "broken").all()
    app = open_app("training_comparison", runs=["b-model-oops", "good", "c-kind-weird"])
    assert "b-model-oops/config.json" in texts(app.error)
    assert "c-kind-weird/config.json" in texts(app.error)


def test_training_without_a_lock_holder_is_interrupted(app_env, tiny_source, tmp_path):
    run = copy_run(tiny_source, tmp_path / "killed")
    status = json.loads((run / "status.json").read_text())
    atomic_write_json(run / "status.json", {**status, "state": "training"})
    app_env(tmp_path)
    app = open_app(runs=["killed"])
    assert app.dataframe[0].value.set_index("run").loc["killed", "state"] == "interrupted"
    assert "training stopped at epoch" in texts(app.markdown)
    with run_lock(run, "train"):  # a live trainer holds the lock: the run is training
        app = open_app(runs=["killed"])
        assert app.dataframe[0].value.set_index("run").loc["killed", "state"] == "training"
