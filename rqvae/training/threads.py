"""How many CPU threads torch uses for training: ``OMP_NUM_THREADS`` if set, else one.

Measured with ``bench/bench_train.py`` (bench/RESULTS.md): for these small MLPs (batch 128,
widths 384-512-256-128-32) a second thread gains between nothing and 1.4x on an idle 2-core
machine and loses 5x on a busy one, where a thread pool waits on cores that other processes
hold.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_THREADS = 1


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when it is set to a positive integer, else :data:`DEFAULT_THREADS`."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_THREADS


def use_default_threads() -> int:
    """Set torch's intra-op thread count to :func:`default_threads`; returns it."""
    import torch

    threads = default_threads()
    torch.set_num_threads(threads)
    return threads


@contextmanager
def limited_threads(threads: int | None = None) -> Iterator[int]:
    """Inside: torch and the BLAS of numpy / scipy use ``threads`` threads (default
    :func:`default_threads`); the previous settings come back on exit.

    Why one thread by default for inference too (``bench/RESULTS.md``, issue 12): on a 2-core
    machine shared with other jobs, a second OpenBLAS or torch thread spins waiting for a core
    that another process holds; measured under load, 60 small 16,384 x 32 covariance updates
    took 8.2 s with two BLAS threads and 0.16 s with one, and a 16,384-row encoder pass 0.43 s
    with two torch threads against 0.32 s with one. The diagnosis uses both cores by running
    independent diagnostics side by side instead.
    """
    import torch
    from threadpoolctl import threadpool_limits

    threads = threads or default_threads()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            yield threads
    finally:
        torch.set_num_threads(before)
