"""The runs root and the only way the dashboard turns a run name into a path.

The dashboard reads run folders under one root and never opens anything outside it. The root
comes, in this order, from ``streamlit run dashboard/app.py -- --runs-dir DIR``, from the
``RQVAE_RUNS_DIR`` environment variable, or is ``runs/`` under the working directory.

Run names come from widgets and URLs, so every one goes through :func:`run_path`, which
resolves symlinks and ``..`` and refuses anything that is not a folder directly under the root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from rqvae.errors import InputError

DEFAULT_RUNS_DIR = "runs"
RUNS_DIR_ENV = "RQVAE_RUNS_DIR"
RUNS_DIR_FLAG = "--runs-dir"


def runs_root_from(argv: Sequence[str], environ: Mapping[str, str]) -> Path:
    """The runs root, resolved to an absolute path (it need not exist yet).

    ``argv`` are the script arguments (what follows ``--`` on the ``streamlit run`` line);
    ``--runs-dir DIR`` and ``--runs-dir=DIR`` are understood, anything else is ignored so the
    app also runs under test runners with their own arguments.
    """
    chosen: str | None = None
    for index, argument in enumerate(argv):
        if argument == RUNS_DIR_FLAG:
            if index + 1 >= len(argv):
                raise InputError(f"{RUNS_DIR_FLAG} needs a folder")
            chosen = argv[index + 1]
        elif argument.startswith(RUNS_DIR_FLAG + "="):
            chosen = argument.split("=", 1)[1]
    if chosen is None:
        chosen = environ.get(RUNS_DIR_ENV) or DEFAULT_RUNS_DIR
    return Path(chosen).expanduser().resolve()


def run_path(root: Path, name: str) -> Path:
    """Absolute path of run ``name`` under ``root``; InputError if it would leave the root.

    Only plain folder names directly under the root are accepted: ``a/b``, ``..``, absolute
    paths and symlinks pointing elsewhere are refused.
    """
    root = root.resolve()
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\x00" in name:
        raise InputError(f"{name!r}: not a run name (expected a folder name under {root})")
    path = (root / name).resolve()
    if path.parent != root:
        raise InputError(f"{name!r}: resolves to {path}, outside the runs folder {root}")
    if not path.is_dir():
        raise InputError(f"{path}: run folder does not exist")
    return path
