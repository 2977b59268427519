"""Shared fixtures: where the real data lives, and how its absence is handled.

Tests that need ``../shared/data`` skip when it is missing on a developer machine, and fail
loudly when ``CI=true``: a CI run that silently skipped the real-data tests would prove nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def require_shared(*parts: str) -> Path:
    """Path under ``../shared/data``; skip (or fail in CI) when it does not exist."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"real test data missing: {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the shared data must be present)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def scientific_dir() -> Path:
    """``../shared/data/amazon-scientific``: 4,344 products with MiniLM embeddings."""
    return require_shared("amazon-scientific")


@pytest.fixture(scope="session")
def scientific_embeddings(scientific_dir: Path) -> Path:
    return scientific_dir / "embeddings.minilm.npy"


@pytest.fixture(scope="session")
def scientific_items(scientific_dir: Path) -> Path:
    return scientific_dir / "items.jsonl.gz"


@pytest.fixture(scope="session")
def debian_dir() -> Path:
    """``../shared/data/debian-packages``: 63,681 packages with MiniLM embeddings."""
    return require_shared("debian-packages")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests train tiny models: on 2 cores a torch thread pool costs more than it gains."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
