"""The report's study section: found by the runs' catalog key in their runs folder, refused
when a given study is of another catalog."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.diagnosis.study import study
from analysis.presentation.report_study import study_blocks
from rqvae.errors import InputError
from rqvae.runs.semantic_ids import write_semantic_ids
from tests.analysis.diagnosis.test_study import _runs


def _run(root, name, items):
    run = root / name
    run.mkdir()
    codes = np.arange(len(items) * 2, dtype=np.int64).reshape(len(items), 2)
    write_semantic_ids(run / "semantic_ids.parquet", items, codes)
    return run


def test_study_section_is_found_by_the_runs_catalog(tmp_path):
    run = _run(tmp_path, "mine", ["c", "a", "b"])  # the hand-made runs' items, another order
    other = _run(tmp_path, "other", ["x", "y"])
    assert study_blocks([run]) == []  # no study yet: no section
    document = study(_runs(), n_resamples=100)
    (tmp_path / "scientific.study.json").write_text(json.dumps(document))
    assert study_blocks([other]) == []  # another catalog
    blocks = study_blocks([other, run])
    assert "What predicts Recall@10 on this catalog" in blocks[0].html
    assert "Perplexity_l0" in blocks[1].html and "tracked recall" in blocks[1].html
    assert blocks[2].figure is not None
    assert "Residual_kept_l0" in blocks[3].html
    with pytest.raises(InputError, match="a study of another catalog"):
        study_blocks([other], study=tmp_path / "scientific.study.json")
