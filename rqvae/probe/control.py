"""The random-ID control of the probe: unique random codes of the same shape as a run's IDs.

A probe number means little alone: the semantic-ID model may learn the items' order from any
unique code, semantic or not. The control gives every item of a run a random ID with the same
number of levels and codes per level, all IDs distinct, so that the probe on the control
measures what a generative recommender gets from IDs that carry no meaning. The semantic IDs
should score clearly above it.

``rqvae random-ids --like RUN --out FILE.csv [--seed 0]`` writes the control as a CSV
(``item_id, code_0, ..., code_{L-1}``) that ``rqvae import-ids --ids FILE.csv --out CONTROL
--codebook-size K`` turns into a run folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rqvae.errors import InputError
from rqvae.files import atomic_write_with, read_json
from rqvae.runs.folder import Run
from rqvae.runs.semantic_ids import read_code_table


def random_unique_codes(n_items: int, levels: int, codebook_size: int, seed: int) -> np.ndarray:
    """int64 (n_items, levels): each row uniform over ``codebook_size ** levels`` tuples, all
    rows distinct (a duplicate of an earlier row is drawn again until none is left).

    Raises InputError when ``codebook_size ** levels < n_items`` (not enough distinct IDs).
    """
    if codebook_size**levels < n_items:
        raise InputError(
            f"{n_items} items cannot have distinct IDs of {levels} levels of {codebook_size} codes"
        )
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, codebook_size, size=(n_items, levels), dtype=np.int64)
    while True:
        # first occurrence of each tuple keeps its code; later copies draw again
        _, first = np.unique(codes, axis=0, return_index=True)
        again = np.setdiff1d(np.arange(n_items), first)
        if len(again) == 0:
            return codes
        codes[again] = rng.integers(0, codebook_size, size=(len(again), levels), dtype=np.int64)


def write_random_ids(like_run: str | Path, out_path: str | Path, seed: int = 0) -> pd.DataFrame:
    """Write a CSV of random unique IDs for the items of ``like_run``, with its number of
    levels and its (largest) codebook size; returns the table written.

    The table's rows follow ``like_run``'s ``semantic_ids.parquet``; columns ``item_id``,
    ``code_0`` .. ``code_{L-1}``.
    """
    run = Run(like_run)
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".csv":
        raise InputError(f"{out_path}: expected a .csv file name for the random IDs")
    if out_path.exists():
        raise InputError(f"{out_path}: already exists; choose another --out")
    table = read_code_table(run.path / "semantic_ids.parquet", root=run.path)
    config = read_json(run.path / "config.json", root=run.path)
    sizes = config.get("codebook_sizes") if isinstance(config, dict) else None
    levels = table.codes.shape[1]
    if isinstance(sizes, list) and len(sizes) == levels and all(isinstance(s, int) for s in sizes):
        codebook_size = max(sizes)
    else:  # a run without sizes in its config: the smallest power of two above its codes
        codebook_size = 1 << int(table.codes.max()).bit_length()
    codes = random_unique_codes(len(table.item_ids), levels, codebook_size, seed)
    frame = pd.DataFrame({"item_id": np.asarray(table.item_ids, dtype=str)})
    for level in range(levels):
        frame[f"code_{level}"] = codes[:, level]
    atomic_write_with(out_path, lambda tmp: frame.to_csv(tmp, index=False))
    return frame
