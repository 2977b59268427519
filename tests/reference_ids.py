"""Reading the published reference IDs in ``../shared/data/amazon-scientific/reference_ids``.

Kept deliberately plain (json + str.split) so that tests compare the analysis package against
an independent reading of the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

METHODS = (
    "letter_native",
    "letter_zcr",
    "mql4grec",
    "quasid_native",
    "quasid_zcr",
    "rkmeans_native",
    "rkmeans_zcr",
    "rkmeans_zcr_cf",
    "rqvae_native",
    "rqvae_zcr",
)


def index_path(scientific_dir: Path, method: str) -> Path:
    return scientific_dir / "reference_ids" / method / "Scientific.index.json"


def load_tokens(scientific_dir: Path, method: str) -> dict[str, list[str]]:
    """The raw JSON: item id -> ["<a_70>", "<b_138>", ...]."""
    return json.loads(index_path(scientific_dir, method).read_text())


def tokens_to_codes(index: dict[str, list[str]]) -> np.ndarray:
    """Codes (n_items, n_levels) in the file's item order: "<b_138>" -> 138."""
    return np.array(
        [[int(token.split("_")[1].rstrip(">")) for token in tokens] for tokens in index.values()]
    )
