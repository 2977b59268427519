"""The runs root and the check that keeps every path the dashboard opens inside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.paths import RUNS_DIR_ENV, run_path, runs_root_from
from rqvae.errors import InputError


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A resolved working directory (``/tmp`` may itself be a symlink)."""
    real = tmp_path.resolve()
    monkeypatch.chdir(real)
    return real


def test_runs_root_comes_from_the_flag_then_the_environment_then_runs(workdir, monkeypatch):
    environ = {RUNS_DIR_ENV: str(workdir / "from-env")}
    assert runs_root_from(["--runs-dir", "flag"], environ) == workdir / "flag"
    assert runs_root_from(["--runs-dir=flag2"], environ) == workdir / "flag2"
    assert runs_root_from(["-k", "unrelated"], environ) == workdir / "from-env"
    assert runs_root_from([], {RUNS_DIR_ENV: "relative-env"}) == workdir / "relative-env"
    assert runs_root_from([], {}) == workdir / "runs"
    assert runs_root_from([], {RUNS_DIR_ENV: ""}) == workdir / "runs"  # set but empty
    # the last flag wins, as on any command line
    assert runs_root_from(["--runs-dir", "a", "--runs-dir=b"], {}) == workdir / "b"
    with pytest.raises(InputError, match="--runs-dir needs a folder"):
        runs_root_from(["--runs-dir"], {})


def test_runs_root_is_absolute_with_dots_links_and_home_resolved(workdir, monkeypatch):
    (workdir / "real-runs").mkdir()
    (workdir / "link-to-runs").symlink_to(workdir / "real-runs")
    assert runs_root_from(["--runs-dir", "x/../y/./z"], {}) == workdir / "y" / "z"
    assert runs_root_from(["--runs-dir", "link-to-runs"], {}) == workdir / "real-runs"
    monkeypatch.setenv("HOME", str(workdir / "home"))
    assert runs_root_from([], {RUNS_DIR_ENV: "~/runs"}) == workdir / "home" / "runs"
    assert runs_root_from(["--runs-dir", "/"], {}) == Path("/")


def test_run_path_accepts_only_folders_directly_under_the_root(workdir):
    root = workdir / "runs"
    (root / "good").mkdir(parents=True)
    (workdir / "secret").mkdir()
    (root / "escape").symlink_to(workdir / "secret")
    (root / "alias").symlink_to(root / "good")
    (root / "a-file").write_text("not a folder")
    assert run_path(root, "good") == root / "good"
    assert run_path(Path(str(root) + "/"), "good") == root / "good"
    assert run_path(Path("runs"), "good") == root / "good"  # a relative root is resolved first
    assert run_path(workdir / "secret" / ".." / "runs", "good") == root / "good"
    # a link to another run under the root is that run
    assert run_path(root, "alias") == root / "good"
    for name in ("..", ".", "", "../secret", "good/..", "/etc", "a\x00b", "a\\b"):
        with pytest.raises(InputError, match="not a run name"):
            run_path(root, name)
    with pytest.raises(InputError, match=f"resolves to {workdir / 'secret'}, outside the runs"):
        run_path(root, "escape")
    with pytest.raises(InputError, match="does not exist"):
        run_path(root, "missing")
    with pytest.raises(InputError, match="does not exist"):
        run_path(root, "a-file")


def test_a_linked_root_gives_paths_under_its_target(workdir):
    (workdir / "real" / "good").mkdir(parents=True)
    (workdir / "linked").symlink_to(workdir / "real")
    assert run_path(workdir / "linked", "good") == workdir / "real" / "good"
