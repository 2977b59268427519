"""``rqvae.threads.limited_threads``: torch and BLAS thread counts inside, restored after."""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_info

from rqvae.threads import limited_threads


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_limited_threads_sets_and_restores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch_before, blas_before = torch.get_num_threads(), _blas_threads()
    with limited_threads() as threads:  # the default: one thread
        assert threads == 1
        assert torch.get_num_threads() == 1
        assert all(count == 1 for count in _blas_threads())
    assert torch.get_num_threads() == torch_before
    assert _blas_threads() == blas_before
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with limited_threads() as threads:
        assert threads == 2 == torch.get_num_threads()


def test_overlapping_limits_restore_the_setting_from_before_the_first(monkeypatch):
    """Two diagnoses overlapping in one process (page and background job) leave and enter in
    any order; torch's thread count comes back to what it was before the first one."""
    import threading

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

        def first():
            with limited_threads():
                first_in.set()
                second_in.wait(5)
            first_out.set()

        worker = threading.Thread(target=first)
        worker.start()
        first_in.wait(5)
        with limited_threads():  # enters while the first holds it, leaves after it
            second_in.set()
            first_out.wait(5)
            assert torch.get_num_threads() == 1
        worker.join(5)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
