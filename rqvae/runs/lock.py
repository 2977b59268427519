"""One writer per run folder: an OS-level lock on ``RUN/.lock``.

Every command that writes a run folder (``train`` and ``train --resume``, ``assign``,
``merge-ids``, ``import-ids``, ``import-checkpoint``) holds ``fcntl.flock(LOCK_EX)`` on
``RUN/.lock`` while it writes. The kernel releases the lock when the process ends, however it
ends, so ``kill -9`` never leaves a stale lock. A second writer is refused at once with
:class:`RunLocked`, naming the holder as written into the lock file: ``runs/R is being written
by process 1234 (train, started ...)``.

The folder is checked before the lock is taken (:func:`check_lock_folder`): a writer of a new
run accepts a missing folder, an empty one or a run folder (it refuses an existing run itself
when it must), ``assign`` and ``merge-ids`` only a run folder, so no command ever leaves a
``.lock`` in a folder that is not a run. ``.lock`` is opened with ``O_NOFOLLOW | O_NONBLOCK``
and must be a regular file: a link (whose target would be overwritten), a FIFO (which would
block) or a folder is an InputError. A lock file the command created is removed when it ends.

Readers never take the lock. :func:`is_locked` probes it (for a run whose ``status.json`` says
"training": when nobody holds the lock, the training process is gone and the run is shown as
"interrupted", see :func:`effective_state`). Probes never block, and each is time-boxed
(:data:`PROBE_TIMEOUT_S`): one bad run folder never holds up a dashboard page.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from rqvae.errors import InputError
from rqvae.files import file_kind, now_iso, read_bytes
from rqvae.runs.folder import CONFIG_FILE

LOCK_FILE = ".lock"
# A reader's probe holds a shared lock for microseconds; a writer retries for this long so that
# such a probe never makes it fail.
ACQUIRE_TRIES, ACQUIRE_PAUSE_S = 20, 0.025
# A probe of someone else's lock gives up after this long (an unresponsive file system) and
# reports "not locked" / "no holder": the page goes on instead of waiting.
PROBE_TIMEOUT_S = 2.0
HOLDER_MAX_BYTES = 4096  # the lock record is one short JSON line


class RunLocked(InputError):
    """Another process is writing this run folder; ``holder`` is what its lock file says."""

    def __init__(self, run_dir: Path, holder: dict):
        pid, command, started = (_quoted(holder.get(key)) for key in ("pid", "command", "started"))
        super().__init__(
            f"{run_dir} is being written by process {pid} ({command}, started {started}); "
            "wait for it to finish or stop it first"
        )
        self.holder = holder


@contextmanager
def run_lock(run_dir: str | Path, command: str, existing: bool = False) -> Iterator[Path]:
    """Hold the writer lock of ``run_dir`` (created if missing) for the ``with`` block.

    ``command`` names the writer in the refusal message of a second one (``"train"``).
    ``existing``: the command writes into a run that must exist (``assign``, ``merge-ids``);
    otherwise the folder may be missing or empty too (a new run). The folder is checked before
    anything is created (:func:`check_lock_folder`). Raises :class:`RunLocked` at once when
    another process holds the lock. The lock file is removed at the end when this call made
    it, and a folder it made that holds nothing else is removed, so a command refused for bad
    input leaves nothing behind.
    """
    run_dir = Path(run_dir)
    check_lock_folder(run_dir, existing)
    created = not os.path.lexists(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd, made = _acquire(run_dir, path)
    try:
        holder = {"pid": os.getpid(), "command": command, "started": now_iso()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield run_dir
    finally:
        if made or _only_lock_left(run_dir):
            # Still locked while unlinking, so no other writer can be inside this folder; and
            # only the file this call locked is unlinked, never one put in its place.
            with suppress(OSError):
                if os.lstat(path).st_ino == os.fstat(fd).st_ino:
                    path.unlink()
            if created:
                with suppress(OSError):  # someone put a file there meanwhile: keep it
                    run_dir.rmdir()
        os.close(fd)  # releases the lock


def check_lock_folder(run_dir: Path, existing: bool) -> None:
    """Refuse, before any lock file is made, a ``run_dir`` that a writer must not touch: a
    file; with ``existing``, anything but a run folder (one with ``config.json``); otherwise
    an existing folder that is neither empty (a stale ``.lock`` aside) nor a run."""
    try:
        mode = os.stat(run_dir).st_mode  # the folder the user named: may be a link of theirs
    except FileNotFoundError:
        if os.path.lexists(run_dir):
            raise InputError(
                f"{run_dir}: is a symbolic link to nothing, expected a folder"
            ) from None
        if existing:
            raise InputError(f"{run_dir}: not a run folder (folder does not exist)") from None
        return
    if not stat.S_ISDIR(mode):
        kind = "a file" if stat.S_ISREG(mode) else file_kind(mode)
        raise InputError(f"{run_dir}: is {kind}, expected a run folder")
    names = set(os.listdir(run_dir))
    if CONFIG_FILE in names:
        return
    if existing:
        raise InputError(f"{run_dir}: not a run folder ({CONFIG_FILE} is missing)")
    if names - {LOCK_FILE}:
        raise InputError(
            f"{run_dir}: already exists and is not empty, and is not a run folder; "
            "choose another folder"
        )


def is_locked(run_dir: str | Path) -> bool:
    """Whether some process holds the writer lock of ``run_dir`` right now (False when the
    lock file is missing, not a regular file, or does not answer within the time box)."""
    return _time_boxed(_probe, Path(run_dir) / LOCK_FILE, default=False)


def lock_holder(run_dir: str | Path) -> dict:
    """What the lock file says about its last holder (``pid``, ``command``, ``started``);
    {} when it says nothing readable (or is not a regular file of the run)."""
    return _time_boxed(_read_holder, Path(run_dir), default={})


def effective_state(run_dir: str | Path, state: str) -> str:
    """``state`` from ``status.json``, except "training" with nobody holding the lock: the
    process that trained was killed, and the run is "interrupted" (``--resume`` continues it)."""
    if state == "training" and not is_locked(run_dir):
        return "interrupted"
    return state


def _acquire(run_dir: Path, path: Path) -> tuple[int, bool]:
    """The locked descriptor of ``path``, and whether this call created the file."""
    for attempt in range(ACQUIRE_TRIES):
        fd, made = _open_lock_file(path)
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
            same = os.lstat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, made
        os.close(fd)
        run_dir.mkdir(parents=True, exist_ok=True)
    raise RunLocked(run_dir, lock_holder(run_dir))


def _open_lock_file(path: Path) -> tuple[int, bool]:
    """Open (or create) ``path`` read-write without following a link and without blocking on
    a FIFO; InputError unless it is a regular file."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    while True:
        try:
            return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666), True
        except FileExistsError:
            pass
        try:
            fd = os.open(path, flags)
            break
        except FileNotFoundError:
            continue  # removed between the two opens: create it
        except OSError as error:
            mode = os.lstat(path).st_mode if os.path.lexists(path) else 0
            raise InputError(
                f"{path}: is {file_kind(mode)}, expected the run's lock file; remove it "
                f"({error.strerror})"
            ) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InputError(f"{path}: is {file_kind(mode)}, expected the run's lock file; remove it")
    return fd, False


def _probe(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False  # nobody can hold a lock on a FIFO or device we would open
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also drops the probe's shared lock
    return False


def _read_holder(run_dir: Path) -> dict:
    try:
        holder = json.loads(read_bytes(run_dir / LOCK_FILE, run_dir, HOLDER_MAX_BYTES) or b"{}")
    except (InputError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _time_boxed(probe: Callable[[Any], Any], argument: Any, default: Any) -> Any:
    """``probe(argument)``, or ``default`` when it has not returned within PROBE_TIMEOUT_S.

    Run in a daemon thread: a probe stuck in the kernel (a hung network file system) cannot be
    interrupted, but the caller need not wait for it."""
    result: list[Any] = []
    thread = threading.Thread(
        target=lambda: result.append(probe(argument)), name="rqvae-lock-probe", daemon=True
    )
    thread.start()
    thread.join(PROBE_TIMEOUT_S)
    return result[0] if result else default


def _quoted(value: Any) -> str:
    """A value from the lock file, fit for a one-line message: no control characters, short."""
    text = re.sub(r"[\x00-\x1f\x7f-\x9f]", "?", str(value if value is not None else "?"))
    return text if len(text) <= 60 else text[:57] + "..."


def _only_lock_left(run_dir: Path) -> bool:
    try:
        return [entry.name for entry in run_dir.iterdir()] == [LOCK_FILE]
    except OSError:
        return False
