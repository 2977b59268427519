"""``rqvae.training.threads.limited_threads``: torch and BLAS thread counts inside, restored
after."""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_info

from rqvae.training.threads import limited_threads


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
