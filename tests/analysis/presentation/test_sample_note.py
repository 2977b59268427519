"""The "estimated on N of M items" notes shown beside sampled input-space errors."""

from __future__ import annotations

import pandas as pd

from analysis.presentation.labels import reconstruction_note, sample_note


def test_sample_note():
    assert sample_note(200_000, 1_000_000) == (
        "input-space errors estimated on 200,000 of 1,000,000 items (a seeded random sample)"
    )
    assert sample_note(1000, 1000) == ""  # every item: exact, no note


def test_reconstruction_note():
    table = pd.DataFrame(
        {"space": ["latent", "input"], "mse": [0.1, 0.2], "cosine": [0.9, 0.8], "items": [10, 4]}
    )
    assert reconstruction_note(table, 10) == sample_note(4, 10)
    assert reconstruction_note(table.assign(items=10), 10) == ""
    assert reconstruction_note(table.drop(columns="items"), 10) == ""  # a table from before
