"""Deleting and moving things inside a run folder, never outside it.

Every deletion in a run (the writer lock, shard parts after a merge, stale cache entries) and
every move into one (a new run's files, out of their staging folder) goes through here. Each
checks, right before it acts, that the folders from the run folder down to the target are real
folders (:func:`rqvae.files.real_folder`, ``lstat`` component by component) and that the target
is what it should be: a link planted in a run (``RUN/cache -> ~/projects``) makes the operation
fail with an InputError instead of reaching through it. Reading and atomic writes have the same
checks in :mod:`rqvae.files` (``root=`` the run folder).
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from rqvae.errors import InputError
from rqvae.files import file_kind, real_folder


def remove_file(path: str | Path, root: str | Path) -> None:
    """Delete the regular file ``path`` of the run folder ``root`` (absent: nothing to do).

    A link, folder or special file in its place is refused (InputError): it was not written by
    the workbench, and unlinking is the one operation a caller should never have to guess about.
    """
    path = Path(path)
    real_folder(root, path.parent)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise InputError(f"{path}: is {file_kind(mode)}, expected a regular file to delete")
    os.unlink(path)


def remove_tree(path: str | Path, root: str | Path) -> None:
    """Delete the folder ``path`` of the run folder ``root`` with everything in it (absent:
    nothing to do). ``path`` and every folder above it up to ``root`` must be real folders
    (InputError otherwise); inside it, ``shutil.rmtree`` removes links without following them
    (its file-descriptor walk, ``shutil.rmtree.avoids_symlink_attacks`` on Linux)."""
    path = Path(path)
    real_folder(root, path.parent)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):
        raise InputError(f"{path}: is {file_kind(mode)}, expected a folder to delete")
    shutil.rmtree(path)


def move_into(source: str | Path, root: str | Path, name: str) -> Path:
    """Rename ``source`` (a file or folder of a staging area) to ``root/name``, where nothing
    may be yet, or a regular file (replaced); a link, folder or special file there is refused.
    Returns the new path."""
    target = Path(root) / name
    real_folder(root, Path(root))
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise InputError(f"{target}: is {file_kind(mode)}, expected nothing there yet")
    os.replace(source, target)
    return target
