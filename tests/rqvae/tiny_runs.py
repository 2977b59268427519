"""Small synthetic embeddings and runs for the training, assignment and bad-input tests.

A tiny model on 240 random unit vectors trains in well under a second, so tests that need a
real run folder (checkpoints, config.json, metrics) do not pay for the real catalog.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from rqvae.model.config import ModelConfig, RunConfig, TrainConfig
from rqvae.model.network import RQVAE
from rqvae.training.train import train

TINY_ITEMS, TINY_DIM = 240, 16


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors run far faster on one thread, above all when other jobs share the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_embeddings(
    path: Path, n_items: int = TINY_ITEMS, dim: int = TINY_DIM, seed: int = 0, ids: bool = False
) -> Path:
    """Random unit vectors as float32 ``.npy``; with ``ids`` also a sidecar naming them."""
    vectors = np.random.default_rng(seed).normal(size=(n_items, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.save(path, vectors)
    if ids:
        sidecar = {"model": "test", "n_items": n_items, "dim": dim}
        sidecar["item_ids"] = [f"item-{row}" for row in range(n_items)]
        path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def tiny_config(epochs: int = 2, **model_changes) -> RunConfig:
    model = dict(hidden_dims=(32,), latent_dim=8, num_levels=2, codebook_size=8, dead_code_window=2)
    model.update(model_changes)
    return RunConfig(
        model=ModelConfig(**model),
        # random unit vectors have no neighbourhoods for the best rule's semantic check to find
        train=TrainConfig(
            epochs=epochs,
            batch_size=64,
            warmup_steps=2,
            checkpoint_every=1,
            best_min_neighbor_lift=0.0,
        ),
    )


def train_tiny(out_dir: Path, embeddings: Path, epochs: int = 2) -> Path:
    return train(tiny_config(epochs), out_dir, embeddings)


def trained_tiny_run(folder: Path) -> tuple[Path, Path]:
    """A tiny trained run in ``folder/run`` on embeddings whose sidecar names the items."""
    torch.set_num_threads(1)
    embeddings = write_embeddings(folder / "emb.npy", ids=True)
    return train_tiny(folder / "run", embeddings), embeddings


def copy_run(run_dir: Path, target: Path, keep: Callable[[Path], bool] = lambda path: True) -> Path:
    """Copy the files of a run folder whose path relative to it passes ``keep``."""
    for path in run_dir.rglob("*"):
        relative = path.relative_to(run_dir)
        if path.is_file() and keep(relative):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            (target / relative).write_bytes(path.read_bytes())
    return target


def reference_codes(model: RQVAE, embeddings: np.ndarray) -> np.ndarray:
    """Codes (n, L) by brute force, independent of the workbench's chain: encode, then at each
    level take the codeword at the smallest full squared distance and subtract it."""
    assert model.config.distance == "euclidean"
    with torch.no_grad():
        residual = model.encoder(torch.from_numpy(embeddings)).numpy()  # (n, D)
    codebooks = model.quantizer.codebooks.detach().numpy()  # (L, K, D)
    codes = []
    for codebook in codebooks:
        distances = np.square(residual[:, None, :] - codebook[None, :, :]).sum(-1)  # (n, K)
        code = distances.argmin(axis=1)
        residual = residual - codebook[code]
        codes.append(code)
    return np.stack(codes, axis=1)
