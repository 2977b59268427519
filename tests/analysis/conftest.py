"""Run folders shared by the analysis tests, built once per session from ../shared/data.

- ``letter_run``: the published LETTER IDs imported with catalog and embeddings (no checkpoint).
- ``mql_run``: the collapsed MQL4GRec IDs imported with the catalog only (no embeddings).
- ``trained_run``: a small RQ-VAE trained for two epochs on amazon-scientific and assigned, so
  every diagnostic, checkpoint-based ones included, has something real to work on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.external import import_ids

# Small enough to train in seconds on two cores, large enough that the IDs are not trivial.
TRAINED_SETTINGS = {"epochs": 2, "num_levels": 3, "codebook_size": 32, "batch_size": 256}


def scientific_catalog(scientific_dir: Path):
    from rqvae.catalog import CatalogSpec

    return CatalogSpec(
        path=scientific_dir / "items.jsonl.gz",
        format="generic",
        id_field="item_id",
        text_fields=("title",),
        category_field="categories",
    )


@pytest.fixture(scope="session")
def letter_run(tmp_path_factory, scientific_dir: Path) -> Path:
    return import_ids(
        scientific_dir / "reference_ids" / "letter_native" / "Scientific.index.json",
        tmp_path_factory.mktemp("runs") / "letter",
        catalog=scientific_catalog(scientific_dir),
        embeddings_path=scientific_dir / "embeddings.minilm.npy",
    )


@pytest.fixture(scope="session")
def mql_run(tmp_path_factory, scientific_dir: Path) -> Path:
    return import_ids(
        scientific_dir / "reference_ids" / "mql4grec" / "Scientific.index.json",
        tmp_path_factory.mktemp("runs") / "mql4grec",
        catalog=scientific_catalog(scientific_dir),
    )


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, scientific_dir: Path) -> Path:
    from rqvae.assign import assign_run
    from rqvae.config import load_config
    from rqvae.train import train

    out = tmp_path_factory.mktemp("runs") / "trained"
    train(
        load_config(None, TRAINED_SETTINGS),
        out_dir=out,
        embeddings_path=scientific_dir / "embeddings.minilm.npy",
        catalog=scientific_catalog(scientific_dir),
    )
    assign_run(out)
    return out
