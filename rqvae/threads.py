"""How many CPU threads torch uses for training: ``OMP_NUM_THREADS`` if set, else one.

Measured with ``bench/bench_train.py`` (bench/RESULTS.md): for these small MLPs (batch 512,
widths 384-512-256-128-32) a second thread gains little on an idle 2-core machine and loses on a
busy one, where a thread pool waits on cores that other processes hold.
"""

from __future__ import annotations

import os

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
