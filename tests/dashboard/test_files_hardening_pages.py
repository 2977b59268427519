"""Issue 19 in the dashboard (items 1, 3, 4 and 12): opening a page never deletes outside a
run, one run's FIFO ``.lock`` never stops the app for everyone, files linked out of a run are
never read, run names with Streamlit directives render literally, and a dashboard not started
by ``rqvae dashboard`` says so. AppTests over tiny synthetic runs."""

from __future__ import annotations

import json
import os
import re

import pytest

from dashboard.markup import plain
from dashboard.serving import HOST_ENV, serving_problems
from tests.dashboard.test_hardening_pages import rendered_markdown, tiny_source  # noqa: F401
from tests.dashboard.test_pages import open_app, texts
from tests.rqvae.tiny_runs import copy_run


def listing(folder) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_opening_the_runs_page_deletes_nothing_through_a_linked_cache(
    app_env,
    tiny_source,  # noqa: F811
    tmp_path,
):
    root = tmp_path / "runs"
    run = copy_run(tiny_source, root / "linked", keep=lambda path: path.parts[0] != "cache")
    victim = tmp_path / "victim"
    for number in range(1, 8):
        (victim / f"project{number}").mkdir(parents=True)
        (victim / f"project{number}" / "notes.txt").write_text(str(number))
    before = listing(victim)
    (run / "cache").mkdir()
    os.symlink(victim, run / "cache" / "diagnosis")
    app_env(root)
    app = open_app(runs=["linked"])
    assert app.dataframe[0].value.set_index("run").loc["linked", "state"] == "finished"
    open_app("codebooks", runs=["linked"])
    assert listing(victim) == before


@pytest.mark.timeout(180)  # a FIFO .lock used to block the script forever: fail instead
def test_a_fifo_lock_in_one_run_does_not_stop_the_app(app_env, tiny_source, tmp_path):  # noqa: F811
    root = tmp_path / "runs"
    copy_run(tiny_source, root / "good")
    bad = copy_run(tiny_source, root / "fifo-lock")
    os.mkfifo(bad / ".lock")
    status = json.loads((bad / "status.json").read_text())
    (bad / "status.json").write_text(json.dumps({**status, "state": "training"}))
    app_env(root)
    app = open_app()
    assert app.multiselect[0].options == ["fifo-lock", "good"]
    table = app.dataframe[0].value.set_index("run")
    assert table.loc["good", "state"] == "finished"
    assert table.loc["fifo-lock", "state"] == "interrupted"  # nobody can hold a FIFO "lock"
    app = open_app("codebooks", runs=["fifo-lock"])
    assert [title.value for title in app.title] == ["Codebooks: fifo-lock"]


def test_a_config_linked_out_of_the_run_is_never_read(app_env, tiny_source, tmp_path):  # noqa: F811
    root = tmp_path / "runs"
    run = copy_run(tiny_source, root / "planted")
    planted = json.loads((run / "config.json").read_text())
    planted["created"] = "PLANTED-VALUE"
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(planted))
    (run / "config.json").unlink()
    os.symlink(outside, run / "config.json")
    copy_run(tiny_source, root / "good")
    app_env(root)
    app = open_app()
    assert app.session_state["selected_runs"] == ["good"]  # a broken run is never picked
    assert "planted/config.json: is a symbolic link" in texts(app.error)
    assert "PLANTED-VALUE" not in json.dumps(app.dataframe[0].value.astype(str).values.tolist())
    assert app.dataframe[0].value.set_index("run").loc["planted", "state"] == "broken"


def test_a_run_named_with_a_directive_renders_literally(app_env, tiny_source, tmp_path):  # noqa: F811
    name = "x :red[alert] :blue-background[b] :smile:"
    copy_run(tiny_source, tmp_path / name)
    app_env(tmp_path)
    app = open_app(runs=[name])
    assert plain(name) in texts(app.subheader)
    for source in rendered_markdown(app):
        # remark-directive reads ":name" before a letter as a directive unless escaped (the
        # app's own badges, ":red-badge[...]", are directives on purpose)
        assert re.search(r"(?<!\\):(red\[alert|blue-background|smile)", source) is None, source


def test_plain_defeats_directives_and_bare_url_autolinks():
    assert plain(":red[x]") == "\\:red\\[x\\]"
    # in an autolinked URL escapes show literally (the stray backslash); no autolink, no stray
    assert plain("https://example.com/a_b_ ~x") == "https\\://example.com/a_b\\_ \\~x"
    assert plain("see www.example.com or me@example.com") == (
        "see www\\.example.com or me\\@example.com"
    )
    assert plain("semantic_ids.parquet: a_b") == "semantic_ids.parquet: a_b"  # colon + space


# --- a dashboard started without `rqvae dashboard` --------------------------------------------


def test_serving_problems_name_what_is_unsafe():
    unsafe = {"server.address": None, "browser.gatherUsageStats": True}
    assert serving_problems(unsafe.get, {}) == [
        "it accepts connections on every network interface",
        "it sends usage statistics to Streamlit",
    ]
    safe = {"server.address": "127.0.0.1", "browser.gatherUsageStats": False}
    assert serving_problems(safe.get, {}) == []
    shared = {"server.address": "0.0.0.0", "browser.gatherUsageStats": False}
    assert serving_problems(shared.get, {HOST_ENV: "0.0.0.0"}) == []  # rqvae dashboard --host
    assert serving_problems(shared.get, {}) == ["it accepts connections on address 0.0.0.0"]


def test_plain_streamlit_run_from_another_folder_shows_the_banner(app_env, tmp_path):
    from streamlit import config

    app_env(tmp_path)
    app = open_app()  # from the repository: .streamlit/config.toml holds the safe settings
    assert "rqvae dashboard" not in texts(app.error)
    here = os.getcwd()
    try:
        os.chdir(tmp_path)  # Streamlit reads .streamlit/config.toml from the working folder
        config.get_config_options(force_reparse=True)
        app = open_app()
    finally:
        os.chdir(here)
        config.get_config_options(force_reparse=True)
    banner = texts(app.error)
    assert "was not started with `rqvae dashboard`" in banner
    assert "every network interface" in banner and "usage statistics" in banner
    assert app.title[0].value == "Runs"  # the page itself still works
