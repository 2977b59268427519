"""Degenerate codewords and a collapsed latent space (analysis.metrics.health_geometry), by hand."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.metrics.embedding_geometry import embedding_geometry
from analysis.metrics.geometry import COINCIDE_TOLERANCE, codeword_geometry
from analysis.metrics.health import HealthThresholds
from analysis.metrics.health_geometry import codeword_findings, latent_findings


def codebook(distinct: int, degenerate: int, seed: int) -> np.ndarray:
    """``distinct`` unit-scale codewords spread apart, then ``degenerate`` ones within 1e-7 of
    zero (what weight decay leaves of codewords nothing pulled on)."""
    generator = np.random.default_rng(seed)
    spread = generator.normal(size=(distinct, 4)) + 3 * np.eye(distinct, 4)
    tiny = generator.normal(size=(degenerate, 4)) * 1e-7
    return np.concatenate([spread, tiny])


def test_degenerate_codewords_are_zeros_and_coinciding_codewords():
    """Level 0: (0, 0), (3, 4), (3, 0): mean norm 8/3, tolerance 8/3 x 1e-3; (0, 0) sits at zero
    but coincides with nothing. Level 1: (1, 1) twice and (0, 1): the twins coincide."""
    levels = codeword_geometry(
        [np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 0.0]]), np.array([[1.0, 1], [1, 1], [0, 1]])]
    ).levels.set_index("level")
    assert levels["zero_codewords"].tolist() == [1, 0]
    assert levels["duplicate_codewords"].tolist() == [0, 2]
    assert levels["degenerate_codewords"].tolist() == [1, 2]
    # just inside and just outside the tolerance of the mean norm (here 1.0)
    inside = np.array([[1.0, 0.0], [1.0, COINCIDE_TOLERANCE * 0.99], [-1.0, 0.0]])
    outside = np.array([[1.0, 0.0], [1.0, COINCIDE_TOLERANCE * 1.01], [-1.0, 0.0]])
    assert codeword_geometry([inside]).levels["duplicate_codewords"].tolist() == [2]
    assert codeword_geometry([outside]).levels["duplicate_codewords"].tolist() == [0]


def test_lcrec_like_checkpoint_with_221_and_234_near_zero_codewords():
    """256 codes per level; 221 and 234 of them at ~1e-7 (the LC-Rec checkpoint of issue 21):
    86.3 % and 91.4 % of the level, above the 50 % error line; level 0 is healthy."""
    books = [codebook(256, 0, 0), codebook(35, 221, 1), codebook(22, 234, 2)]
    levels = codeword_geometry(books).levels
    assert levels["degenerate_codewords"].tolist() == [0, 221, 234]
    findings = codeword_findings(levels, HealthThresholds())
    assert [(f.code, f.severity, f.level) for f in findings] == [
        ("duplicate_codewords", "error", 1),
        ("duplicate_codewords", "error", 2),
    ]
    assert findings[0].value == pytest.approx(221 / 256, rel=1e-12)
    assert findings[0].threshold == 0.5
    assert "221 of 256 codewords are degenerate (86.3%)" in findings[0].message


def test_many_is_more_than_a_tenth_and_an_error_above_half():
    """40 codes: 4 degenerate (10 %) is not many, 5 (12.5 %) a warning, 20 (50 %) still a
    warning, 21 (52.5 %) an error."""
    t = HealthThresholds()
    for degenerate, expected in ((4, []), (5, ["warning"]), (20, ["warning"]), (21, ["error"])):
        levels = codeword_geometry([codebook(40 - degenerate, degenerate, 3)]).levels
        assert levels["degenerate_codewords"].tolist() == [degenerate]
        assert [f.severity for f in codeword_findings(levels, t)] == expected, degenerate


def test_latent_rank_collapse_on_a_line_and_not_on_a_plane():
    """Participation ratio (sum l)^2 / sum l^2. Points (+-1, 0) and (0, +-e): eigenvalues 1/2 and
    e^2/2. e = 0 (a line): 1.0 < 1.5, a warning. e = 1 (a square): (1/2 + 1/2)^2 / (1/4 + 1/4) =
    2.0, no finding. e = 0.5: (0.625)^2 / (0.25 + 0.015625) = 1.4706 < 1.5: a warning."""
    t = HealthThresholds()

    def geometry(e):
        points = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, e], [0.0, -e]], dtype=np.float32)
        return embedding_geometry(points, space="latent", n_pairs=10)

    line = latent_findings(geometry(0.0), t, input_rank=77.3)
    assert [(f.code, f.severity) for f in line] == [("latent_rank_collapse", "warning")]
    assert line[0].value == pytest.approx(1.0, rel=1e-6) and line[0].threshold == 1.5
    assert "effective rank 1.00 of 2; the input embeddings have 77.3" in line[0].message
    assert latent_findings(geometry(1.0), t) == []
    assert geometry(0.5).effective_rank == pytest.approx(0.625**2 / 0.265625, rel=1e-6)
    assert len(latent_findings(geometry(0.5), t)) == 1
