"""config.json documents written by hand, for tests that need a run folder's exact contents."""

from __future__ import annotations


def schema_2(**changes) -> dict:
    """A valid schema-2 config of an imported ID table (3 levels of 256 codes, 10 items), with
    ``changes`` applied at the top level."""
    document = {
        "schema": 2,
        "kind": "imported-ids",
        "created": "2026-01-01T00:00:00+00:00",
        "levels": 3,
        "codebook_sizes": [256, 256, 256],
        "distance": "euclidean",
        "data": {"embeddings": None, "n_items": 10, "catalog": None, "item_ids": "id_file"},
    }
    document.update(changes)
    return document
