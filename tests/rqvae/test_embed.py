"""Embeddings with the packaged all-MiniLM-L6-v2 reproduce the precomputed shared vectors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import main
from rqvae.data.catalog import CatalogSpec, load_catalog
from rqvae.data.sentence_encoder import default_model_path, embed_catalog
from rqvae.errors import InputError

N_ITEMS = 20
SIDECAR_KEYS = {
    "model",
    "template",
    "n_items",
    "dim",
    "catalog",
    "catalog_sha256",
    "item_ids",
    "normalized",
    "created",
}


def test_default_model_is_the_packaged_minilm():
    path = default_model_path()
    assert (path / "model.safetensors").is_file() and (path / "modules.json").is_file()


def test_embed_cli_reproduces_precomputed_rows(tmp_path: Path, scientific_dir: Path):
    """The first 20 LC-Rec items, embedded through the CLI, match rows 0..19 of the shared
    embeddings (same template, max 256 tokens): cosine ~1 for every row."""
    raw = json.loads((scientific_dir / "raw" / "Scientific.item.json").read_text())
    subset = {key: raw[key] for key in list(raw)[:N_ITEMS]}
    catalog = tmp_path / "Subset.item.json"
    catalog.write_text(json.dumps(subset))
    out = tmp_path / "emb.npy"

    result = CliRunner().invoke(
        main, ["embed", "--catalog", str(catalog), "--out", str(out), "--batch-size", "8"]
    )
    assert result.exit_code == 0, result.output

    vectors = np.load(out)
    expected = np.load(scientific_dir / "embeddings.minilm.npy", mmap_mode="r")[:N_ITEMS]
    assert vectors.dtype == np.float32 and vectors.shape == (N_ITEMS, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = (vectors * expected).sum(axis=1)
    assert cosine.min() > 0.999, cosine
    # and not trivially: different items stay apart
    assert (vectors[0] @ vectors[1:].T).max() < 0.99

    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert set(sidecar) >= SIDECAR_KEYS
    assert sidecar["n_items"] == N_ITEMS and sidecar["dim"] == 384
    assert sidecar["normalized"] is True
    assert sidecar["item_ids"] == list(subset)
    assert sidecar["catalog"] == str(catalog)
    assert sidecar["catalog_sha256"] == hashlib.sha256(catalog.read_bytes()).hexdigest()
    assert (
        sidecar["template"] == "{title}. Brand: {brand}. Category: {c1 > c2 > ...}. {description}"
    )
    assert sidecar["model"] == str(default_model_path())
    assert not list(tmp_path.glob(".*.tmp"))  # no temp files left behind


def test_output_must_be_npy(tmp_path: Path):
    catalog = tmp_path / "items.jsonl"
    catalog.write_text('{"item_id": 1, "title": "A"}\n')
    items = load_catalog(CatalogSpec(catalog))
    with pytest.raises(InputError, match=r"emb\.txt: .*must end in \.npy"):
        embed_catalog(items, tmp_path / "emb.txt")
