"""One writer per run folder: an OS-level lock on ``RUN/.lock``.

Every command that writes a run folder (``train`` and ``train --resume``, ``assign``,
``import-ids``) holds ``fcntl.flock(LOCK_EX)`` on ``RUN/.lock`` while it writes. The kernel
releases the lock when the process ends, however it ends, so ``kill -9`` never leaves a stale
lock. A second writer is refused at once with :class:`RunLocked`, naming the holder as written
into the lock file: ``runs/R is being written by process 1234 (train, started ...)``.

Readers never take the lock. :func:`is_locked` probes it (for a run whose ``status.json`` says
"training": when nobody holds the lock, the training process is gone and the run is shown as
"interrupted", see :func:`effective_state`).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from rqvae.errors import InputError
from rqvae.files import now_iso

LOCK_FILE = ".lock"
# A reader's probe holds a shared lock for microseconds; a writer retries for this long so that
# such a probe never makes it fail.
ACQUIRE_TRIES, ACQUIRE_PAUSE_S = 20, 0.025


class RunLocked(InputError):
    """Another process is writing this run folder; ``holder`` is what its lock file says."""

    def __init__(self, run_dir: Path, holder: dict):
        pid = holder.get("pid", "?")
        command = holder.get("command", "?")
        started = holder.get("started", "?")
        super().__init__(
            f"{run_dir} is being written by process {pid} ({command}, started {started}); "
            "wait for it to finish or stop it first"
        )
        self.holder = holder


@contextmanager
def run_lock(run_dir: str | Path, command: str) -> Iterator[Path]:
    """Hold the writer lock of ``run_dir`` (created if missing) for the ``with`` block.

    ``command`` names the writer in the refusal message of a second one (``"train"``).
    Raises :class:`RunLocked` at once when another process holds it. A folder that holds
    nothing but the lock afterwards loses the lock file, and is removed when this call created
    it, so a command refused for bad input leaves nothing behind.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir}: is a file, expected a run folder")
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = _acquire(run_dir, path)
    try:
        holder = {"pid": os.getpid(), "command": command, "started": now_iso()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield run_dir
    finally:
        if _only_lock_left(run_dir):
            # Still locked while unlinking, so no other writer can be inside this folder.
            path.unlink(missing_ok=True)
            if created:
                with suppress(OSError):  # someone put a file there meanwhile: keep it
                    run_dir.rmdir()
        os.close(fd)  # releases the lock


def is_locked(run_dir: str | Path) -> bool:
    """Whether some process holds the writer lock of ``run_dir`` right now."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also drops the probe's shared lock
    return False


def lock_holder(run_dir: str | Path) -> dict:
    """What the lock file says about its last holder (``pid``, ``command``, ``started``)."""
    try:
        holder = json.loads((Path(run_dir) / LOCK_FILE).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def effective_state(run_dir: str | Path, state: str) -> str:
    """``state`` from ``status.json``, except "training" with nobody holding the lock: the
    process that trained was killed, and the run is "interrupted" (``--resume`` continues it)."""
    if state == "training" and not is_locked(run_dir):
        return "interrupted"
    return state


def _acquire(run_dir: Path, path: Path) -> int:
    for attempt in range(ACQUIRE_TRIES):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if attempt == ACQUIRE_TRIES - 1:
                raise RunLocked(run_dir, lock_holder(run_dir)) from None
            time.sleep(ACQUIRE_PAUSE_S)
            continue
        # The file may have been unlinked (an empty folder's cleanup) between open and flock:
        # a lock on an unlinked file guards nothing, so try again on the current one.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
        run_dir.mkdir(parents=True, exist_ok=True)
    raise RunLocked(run_dir, lock_holder(run_dir))


def _only_lock_left(run_dir: Path) -> bool:
    try:
        return [entry.name for entry in run_dir.iterdir()] == [LOCK_FILE]
    except OSError:
        return False
