"""Shared fixtures: where the real data lives, how its absence is handled, and real run folders.

Tests that need ``../shared/data`` skip when it is missing on a developer machine, and fail
loudly when ``CI=true``: a CI run that silently skipped the real-data tests would prove nothing.

Run folders built once per session from ../shared/data:

- ``letter_run``: the published LETTER IDs imported with catalog and embeddings (no checkpoint).
- ``mql_run``: the collapsed MQL4GRec IDs imported with the catalog only (no embeddings).
- ``trained_run``: a small RQ-VAE trained for two epochs on amazon-scientific and assigned, so
  every diagnostic, checkpoint-based ones included, has something real to work on.
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


# Small enough to train in seconds on two cores, large enough that the IDs are not trivial.
TRAINED_SETTINGS = {"epochs": 2, "num_levels": 3, "codebook_size": 32, "batch_size": 256}


def scientific_catalog(scientific_dir: Path):
    from rqvae.data.catalog import CatalogSpec

    return CatalogSpec(
        path=scientific_dir / "items.jsonl.gz",
        format="generic",
        id_field="item_id",
        text_fields=("title",),
        category_field="categories",
    )


def import_reference(scientific_dir: Path, method: str, out: Path, embeddings: bool) -> Path:
    """A published reference ID set imported with the catalog (and the embeddings)."""
    from rqvae.importers.import_ids import import_ids

    return import_ids(
        scientific_dir / "reference_ids" / method / "Scientific.index.json",
        out,
        catalog=scientific_catalog(scientific_dir),
        embeddings_path=scientific_dir / "embeddings.minilm.npy" if embeddings else None,
    )


@pytest.fixture(scope="session")
def letter_run(tmp_path_factory, scientific_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("runs") / "letter"
    return import_reference(scientific_dir, "letter_native", out, embeddings=True)


@pytest.fixture(scope="session")
def mql_run(tmp_path_factory, scientific_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("runs") / "mql4grec"
    return import_reference(scientific_dir, "mql4grec", out, embeddings=False)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, scientific_dir: Path) -> Path:
    from rqvae.ids.assign import assign_run
    from rqvae.model.config import load_config
    from rqvae.training.train import train

    out = tmp_path_factory.mktemp("runs") / "trained"
    train(
        load_config(None, TRAINED_SETTINGS),
        out_dir=out,
        embeddings_path=scientific_dir / "embeddings.minilm.npy",
        catalog=scientific_catalog(scientific_dir),
    )
    assign_run(out)
    return out
