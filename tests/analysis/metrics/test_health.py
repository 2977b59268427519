"""Diagnostic 9 (health verdict): each rule on a hand-made case, and the reference methods."""

import numpy as np
import pandas as pd
import pytest

from analysis.metrics.collisions import collision_report
from analysis.metrics.entropy import usage_entropy
from analysis.metrics.health import Finding, HealthThresholds, health_verdict, worst_severity
from analysis.metrics.usage import codebook_usage
from rqvae.errors import InputError
from tests.reference_ids import METHODS, load_tokens, tokens_to_codes


def verdict(codes, codebook_size, **kwargs):
    return health_verdict(
        codebook_usage(codes, codebook_size),
        usage_entropy(codes, codebook_size),
        collision_report(codes),
        **kwargs,
    )


def codes_of(findings, code):
    return [(f.severity, f.level) for f in findings if f.code == code]


def healthy_codes(n=64, k=8):
    """Every (c0, c1) pair once: all codes used evenly, all IDs unique."""
    return np.array([[i // k, i % k] for i in range(n)])


def test_healthy_codes_have_no_findings():
    findings = verdict(healthy_codes(), 8)
    assert findings == []
    assert worst_severity(findings) == "ok"


def test_collapsed_level_is_an_error_and_under_use_a_warning():
    codes = healthy_codes(64, 8).copy()
    codes[:, 0] = 0  # 1 of 8 codes: 12.5% of capacity, below the 25% warning line
    findings = verdict(codes, 8)
    assert codes_of(findings, "collapsed_level") == [("warning", 0)]
    codes = np.column_stack([np.zeros(400, dtype=int), np.arange(400) % 40])
    findings = verdict(codes, 40)  # 1 of 40 codes: 2.5% < 5%
    assert codes_of(findings, "collapsed_level") == [("error", 0)]
    assert worst_severity(findings) == "error"
    finding = [f for f in findings if f.code == "collapsed_level"][0]
    assert finding.value == pytest.approx(1 / 40)
    assert finding.threshold == 0.05


def test_skewed_usage_is_caught_by_perplexity():
    # All 40 codes used, but 1 code takes 961 of 1000 items: perplexity ~1.3, far below 40.
    codes = np.concatenate([np.zeros(961, dtype=int), np.arange(1, 40)])[:, None]
    usage = codebook_usage(codes, 40)
    assert usage["used_fraction"][0] == 1.0
    findings = health_verdict(usage, usage_entropy(codes, 40), collision_report(codes))
    assert codes_of(findings, "collapsed_level") == [("error", 0)]


def test_capacity_is_limited_by_the_number_of_items():
    # 10 items can use at most 10 of 256 codes: using all 10 is not a collapse.
    codes = np.arange(10)[:, None]
    assert codes_of(verdict(codes, 256), "collapsed_level") == []
    assert codes_of(verdict(codes, 256), "dead_codes") == []


def test_dead_codes_warning():
    codes = np.column_stack([np.arange(100) % 12, np.arange(100) % 16])
    findings = verdict(codes, 16)  # level 0 uses 12 of 16: 25% dead, not above 25%
    assert codes_of(findings, "dead_codes") == []
    codes[:, 0] = np.arange(100) % 11  # 11 of 16: 31% dead
    assert codes_of(verdict(codes, 16), "dead_codes") == [("warning", 0)]


def test_unique_ratio_and_large_groups():
    codes = np.array([[i % 5] for i in range(100)])  # 5 IDs for 100 items: ratio 0.05
    findings = verdict(codes, 8)
    assert codes_of(findings, "low_unique_ratio") == [("error", None)]
    # 20 items per ID: more than K = 8, so one extra level cannot separate them -> error.
    assert codes_of(findings, "large_collision_group") == [("error", None)]
    codes = np.array([[i % 50, 0] for i in range(100)])  # groups of 2, ratio 0.5
    findings = verdict(codes, 64)
    assert codes_of(findings, "low_unique_ratio") == [("warning", None)]
    assert codes_of(findings, "large_collision_group") == []
    codes = np.array([[min(i, 80), 0] for i in range(100)])  # one group of 20 items, K = 128
    assert codes_of(verdict(codes, 128), "large_collision_group") == [("warning", None)]


def test_invalid_collision_column_is_an_error():
    codes = np.array([[0], [0], [1]])
    report = collision_report(codes, collision=np.array([0, 0, 0]))
    findings = health_verdict(codebook_usage(codes, 2), usage_entropy(codes, 2), report)
    assert codes_of(findings, "collision_index_invalid") == [("error", None)]


def test_residual_norm_not_shrinking():
    residuals = pd.DataFrame({"level": [0, 1, 2], "mean_norm": [1.0, 0.5, 0.495]})
    findings = verdict(healthy_codes(), 8, residual_norms=residuals)
    assert codes_of(findings, "residual_not_shrinking") == [("warning", 2)]
    finding = findings[0]
    assert finding.value == pytest.approx(0.99) and finding.threshold == pytest.approx(0.98)


def test_residual_check_starts_at_level_0_and_growth_is_an_error():
    """``shrink`` = mean norm after the level / mean norm entering it (the latent's for level 0).

    Latent mean norm 1.0. Level 0 leaves 1.025 (an imported semantic-ids-llm checkpoint's
    ratio): the residual grew, error. Level 1 leaves 0.5 (0.5 / 1.025 = 0.488: fine). Level 2
    leaves 0.495 (0.99 of 0.5: above 1 - 0.02, a warning, not an error)."""
    residuals = pd.DataFrame(
        {
            "level": [0, 1, 2],
            "mean_norm": [1.025, 0.5, 0.495],
            "shrink": [1.025, 0.5 / 1.025, 0.495 / 0.5],
        }
    )
    findings = verdict(healthy_codes(), 8, residual_norms=residuals)
    assert codes_of(findings, "residual_growing") == [("error", 0)]
    assert codes_of(findings, "residual_not_shrinking") == [("warning", 2)]
    growing = findings[0]
    assert growing.value == pytest.approx(1.025, rel=1e-12) and growing.threshold == 1.0
    assert "of the latent (ratio 1.025)" in growing.message
    # exactly 1: not growing, but not shrinking either
    flat = residuals.assign(mean_norm=[1.0, 0.5, 0.2], shrink=[1.0, 0.5, 0.4])
    assert codes_of(verdict(healthy_codes(), 8, residual_norms=flat), "residual_not_shrinking") == [
        ("warning", 0)
    ]
    assert codes_of(verdict(healthy_codes(), 8, residual_norms=flat), "residual_growing") == []


def metrics(val_losses, recon=0.5, quant=0.1):
    return pd.DataFrame(
        {
            "epoch": np.arange(1, len(val_losses) + 1),
            "loss_recon": recon,
            "loss_codebook_l0": quant / 2,
            "loss_commit_l0": quant / 2,
            "val_loss_total": val_losses,
        }
    )


def test_training_rules():
    converged = metrics([5, 4, 3, 3, 3, 3, 3, 3])
    assert verdict(healthy_codes(), 8, metrics=converged) == []
    falling = metrics([10, 9, 8, 7, 6, 5, 4])  # fell (9 - 4) / 9 = 56% over the last 5
    findings = verdict(healthy_codes(), 8, metrics=falling)
    assert codes_of(findings, "not_converged") == [("warning", None)]
    assert findings[0].value == pytest.approx(5 / 9)
    short = verdict(healthy_codes(), 8, metrics=metrics([3, 2, 1]))
    assert codes_of(short, "not_converged") == [("info", None)]
    out_of_scale = verdict(healthy_codes(), 8, metrics=metrics([1] * 8, recon=0.001, quant=1.0))
    assert codes_of(out_of_scale, "loss_scale") == [("warning", None)]
    assert out_of_scale[0].value == pytest.approx(1000)
    diverged = verdict(healthy_codes(), 8, metrics=metrics([1] * 7 + [np.nan]))
    assert codes_of(diverged, "loss_not_finite") == [("error", None)]


def test_thresholds_are_overridable():
    codes = np.column_stack([np.zeros(400, dtype=int), np.arange(400) % 40])
    relaxed = HealthThresholds(collapse_error=0.01, collapse_warning=0.02)
    assert codes_of(verdict(codes, 40, thresholds=relaxed), "collapsed_level") == []
    with pytest.raises(InputError, match="threshold collapse_error is 2, expected 0..1"):
        HealthThresholds(collapse_error=2)
    with pytest.raises(InputError, match="convergence_window is 0"):
        HealthThresholds(convergence_window=0)


def test_findings_sorted_and_serialisable():
    codes = np.array([[0, i % 3] for i in range(30)])
    findings = verdict(codes, 4)
    severities = [f.severity for f in findings]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)
    assert set(findings[0].to_dict()) == {
        "code",
        "severity",
        "level",
        "message",
        "value",
        "threshold",
        "advice",
        "page",
        "evidence",
    }
    assert worst_severity([Finding("x", "info", None, "", None, None)]) == "info"


def test_reference_verdicts(scientific_dir):
    """MQL4GRec (1 first-level code) and RQ-VAE+ZCR (10 codes) are collapsed; LETTER is not."""
    verdicts = {}
    for method in METHODS:
        codes = tokens_to_codes(load_tokens(scientific_dir, method))
        verdicts[method] = verdict(codes, 256)
    for method in ("mql4grec", "rqvae_zcr"):
        assert ("error", 0) in codes_of(verdicts[method], "collapsed_level")
        assert worst_severity(verdicts[method]) == "error"
    assert [f for f in verdicts["letter_native"] if f.severity == "error"] == []
    # RQ-VAE's 32 of 256 first-level codes and 0.87 unique IDs are worth a warning.
    assert ("warning", 0) in codes_of(verdicts["rqvae_native"], "collapsed_level")
    assert codes_of(verdicts["rqvae_native"], "low_unique_ratio") == [("warning", None)]
