"""Slow loads run in a background thread so that no page waits on a spinner.

A page asks for a result with :func:`job`; the first ask starts it on the one worker thread
(one at a time: two million-item diagnoses side by side would double the memory), later asks
from any page or session get the same :class:`Job`. Pages show what they already have, a
progress bar fed by the job, and re-run when it is done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

MAX_JOBS = 32  # finished jobs kept (their results are what pages show)


@dataclass
class Job:
    """One background computation: its future, and the latest ``(stage, fraction)`` it reported."""

    title: str
    future: Future
    started: float = field(default_factory=time.monotonic)
    stage: str = "waiting"
    fraction: float = 0.0

    def report(self, stage: str, fraction: float) -> None:
        self.stage, self.fraction = stage, fraction

    def done(self) -> bool:
        return self.future.done()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the job; True when it is done."""
        try:
            self.future.exception(timeout=seconds)
        except TimeoutError:
            return False
        return True

    def result(self) -> Any:
        """The result; re-raises what the job raised."""
        return self.future.result()

    def elapsed(self) -> float:
        return time.monotonic() - self.started


@st.cache_resource(show_spinner=False)
def _workers() -> tuple[ThreadPoolExecutor, dict[Hashable, Job], threading.Lock]:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="rqvae-bg"), {}, threading.Lock()


def existing(key: Hashable) -> Job | None:
    """The job for ``key`` if one was started (running or done), else None; starts nothing."""
    _, jobs, lock = _workers()
    with lock:
        return jobs.get(key)


def job(key: Hashable, title: str, compute: Callable[[Callable[[str, float], None]], Any]) -> Job:
    """The job for ``key``, started if there is none: ``compute(report)`` runs in the worker and
    may call ``report(stage, fraction)`` as it goes."""
    executor, jobs, lock = _workers()
    with lock:
        existing = jobs.get(key)
        if (
            existing is not None
        ):  # keys hold the run files' stamps: a failure stays until they change
            return existing
        started = Job(title=title, future=Future())
        started.future = executor.submit(compute, started.report)
        jobs[key] = started
        finished = [k for k, j in jobs.items() if j.done()]
        for old in finished[: max(0, len(finished) - MAX_JOBS)]:
            del jobs[old]
        return started
