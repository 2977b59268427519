"""PyTorch's distributed runtime for ``torchrun ... -m rqvae <command>``.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` for every process;
:func:`distributed_session` joins that process group (gloo on CPU, nccl when a GPU is there)
and leaves it on exit. Outside torchrun nothing is initialised and the world has one rank.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.distributed as dist

from rqvae.errors import InputError


def launched_by_torchrun() -> bool:
    """True inside a multi-process ``torchrun`` job (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextmanager
def distributed_session() -> Iterator[tuple[int, int]]:
    """Join the torchrun process group for the block; yields ``(rank, world_size)``."""
    if not launched_by_torchrun() or dist.is_initialized():
        yield (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    try:
        yield dist.get_rank(), dist.get_world_size()
        # every rank is done before any tears its connections down (after a failure torchrun
        # stops the others, so this is skipped then)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def same_on_every_rank(value: str, what: str) -> None:
    """InputError on every rank unless ``value`` is the same string on all of them (e.g. the
    digest of a checkpoint that each machine reads from its own copy of the run folder)."""
    digest = np.frombuffer(hashlib.sha256(value.encode()).digest(), dtype=np.uint8)
    mine = torch.from_numpy(digest.astype(np.int64)).to(_device())
    gathered = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, mine)
    if any(not torch.equal(other, mine) for other in gathered):
        raise InputError(f"{what}: not the same file on every rank; share one run folder")


def gather_rows(rows: np.ndarray, n_total: int) -> np.ndarray | None:
    """Concatenate every rank's contiguous block of ``rows`` (int64, (n_rank, L)) on rank 0.

    Rank r holds rows ``[r * n_total // world, (r + 1) * n_total // world)``. Returns the
    (n_total, L) array on rank 0 and None on the others. Blocks are padded to one length
    because collective gathers move equal-sized tensors.
    """
    world, rank = dist.get_world_size(), dist.get_rank()
    bounds = [r * n_total // world for r in range(world + 1)]
    width = max(bounds[r + 1] - bounds[r] for r in range(world))
    padded = torch.zeros((width, rows.shape[1]), dtype=torch.int64, device=_device())
    padded[: len(rows)] = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64))
    gathered = [torch.empty_like(padded) for _ in range(world)] if rank == 0 else None
    dist.gather(padded, gathered, dst=0)
    if rank != 0:
        return None
    blocks = [gathered[r][: bounds[r + 1] - bounds[r]].cpu().numpy() for r in range(world)]
    return np.concatenate(blocks, axis=0)


# --- training: what ranks exchange so that every rank holds the same model ------------------


def world() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def on_main_rank(action, what: str):
    """Run ``action()`` on rank 0 only; every rank returns once it is done, and if it failed
    the others raise too instead of waiting forever in the next collective."""
    rank, size = world()
    if size == 1:
        return action()
    failure: BaseException | None = None
    result = None
    if rank == 0:
        try:
            result = action()
        except BaseException as error:  # re-raised below, after telling the other ranks
            failure = error
    flag = torch.tensor([0 if failure is None else 1], device=_device())
    dist.broadcast(flag, src=0)
    if failure is not None:
        raise failure
    if int(flag) == 1:
        raise InputError(f"{what}: failed on rank 0 (its message says why)")
    return result


def rank0_decides(value: bool) -> bool:
    """Rank 0's ``value`` on every rank (e.g. whether to stop training)."""
    if world()[1] == 1:
        return value
    flag = torch.tensor([int(value)], device=_device())
    dist.broadcast(flag, src=0)
    return bool(int(flag))


def gather_batch(local: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Every rank's ``local`` rows (sizes[r] on rank r) stacked in rank order, on every rank."""
    width = max(sizes)
    padded = local.new_zeros((width, *local.shape[1:]))
    padded[: len(local)] = local
    gathered = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(gathered, padded)
    return torch.cat([block[:size] for block, size in zip(gathered, sizes, strict=True)])


def broadcast_state(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers into every rank's ``module``, in place."""
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def sum_over_ranks(values: np.ndarray) -> np.ndarray:
    """Element-wise sum of a float64 vector over the ranks."""
    if world()[1] == 1:
        return values
    tensor = torch.from_numpy(np.asarray(values, dtype=np.float64).copy()).to(_device())
    dist.all_reduce(tensor)
    return tensor.cpu().numpy()


def barrier() -> None:
    if world()[1] > 1:
        dist.barrier()
