"""The runs root and the check that keeps every path the dashboard opens inside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.paths import RUNS_DIR_ENV, run_path, runs_root_from
from rqvae.errors import InputError


def test_runs_root_comes_from_the_flag_then_the_environment_then_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    environ = {RUNS_DIR_ENV: str(tmp_path / "from-env")}
    assert runs_root_from(["--runs-dir", "flag"], environ) == tmp_path / "flag"
    assert runs_root_from(["--runs-dir=flag2"], environ) == tmp_path / "flag2"
    assert runs_root_from(["-k", "unrelated"], environ) == tmp_path / "from-env"
    assert runs_root_from([], {}) == tmp_path / "runs"
    with pytest.raises(InputError, match="--runs-dir needs a folder"):
        runs_root_from(["--runs-dir"], {})


def test_run_path_accepts_only_folders_directly_under_the_root(tmp_path):
    root = tmp_path / "runs"
    (root / "good").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (root / "escape").symlink_to(tmp_path / "secret")
    assert run_path(root, "good") == (root / "good").resolve()
    for name in ("..", ".", "", "../secret", "good/..", "/etc", "a\x00b"):
        with pytest.raises(InputError, match="not a run name"):
            run_path(root, name)
    with pytest.raises(InputError, match="outside the runs folder"):
        run_path(root, "escape")
    with pytest.raises(InputError, match="does not exist"):
        run_path(root, "missing")
    assert isinstance(run_path(Path(str(root) + "/"), "good"), Path)
