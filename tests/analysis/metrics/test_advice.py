"""Every finding says what to do for the kind of run it is on, and which page shows why."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analysis.metrics.advice import ADVICE, KINDS, PAGES, TRAINING_FLAGS, advise, with_advice
from analysis.metrics.health import Finding

ANALYSIS = Path(__file__).resolve().parents[3] / "analysis"


def codes_in_source() -> set[str]:
    """Every finding code the rules can emit: the first argument of ``Finding(...)`` /
    ``_finding(...)`` calls, or a ``code = "..."`` assignment, anywhere under analysis/."""
    found = set()
    for path in ANALYSIS.rglob("*.py"):
        source = path.read_text()
        found |= set(re.findall(r"_?[Ff]inding\(\s*\"([a-z0-9_]+)\"", source))
        found |= set(re.findall(r"code, severity = \"([a-z0-9_]+)\"", source))
    return found


def test_every_code_the_rules_emit_has_advice_and_a_page():
    emitted = codes_in_source()
    assert {"residual_growing", "duplicate_codewords", "latent_rank_collapse"} <= emitted
    assert "training_interrupted" in emitted and "high_churn_between_seeds" in emitted
    assert emitted <= set(ADVICE), emitted - set(ADVICE)
    for code, (page, _) in ADVICE.items():
        assert page in PAGES, (code, page)


@pytest.mark.parametrize("kind", KINDS)
def test_advice_for_every_kind_names_only_what_applies(kind):
    for code in ADVICE:
        for level, severity in ((0, "warning"), (2, "error"), (None, "info")):
            advice, page = advise(Finding(code, severity, level, "m", None, None), kind)
            assert advice and advice.endswith("."), (code, kind, advice)
            assert page == ADVICE[code][0]
            if kind.startswith("imported"):
                named = [flag for flag in TRAINING_FLAGS if flag in advice]
                assert not named, (code, kind, named, advice)


def test_collapsed_level_advice_depends_on_the_level_and_the_kind():
    level0 = Finding("collapsed_level", "error", 0, "m", 0.01, 0.05)
    level2 = Finding("collapsed_level", "warning", 2, "m", 0.1, 0.25)
    trained0, page = advise(level0, "trained")
    assert page == "Codebooks"
    assert "`[model] kmeans_init = true`" in trained0 and "`--lr`" in trained0
    assert "dead_code_threshold" in trained0
    assert (
        "Level 2" in advise(level2, "trained")[0] and "`--levels`" in advise(level2, "trained")[0]
    )
    imported = advise(level0, "imported-checkpoint")[0]
    assert "`--activation`" in imported and "--lr" not in imported
    assert "--balanced" in advise(level0, "baseline")[0]


def test_divergence_is_never_training_advice_for_an_import():
    """Issue 19 item 7: "the training diverged; retrain with a lower --lr" is wrong for an
    import; the advice is about the source checkpoint."""
    finding = Finding("loss_not_finite", "error", None, "m", None, None)
    assert "`--lr`" in advise(finding, "trained")[0]
    for kind in ("imported-checkpoint", "imported-ids"):
        advice = advise(finding, kind)[0]
        assert "--lr" not in advice and "source checkpoint" in advice


def test_with_advice_copies_and_keeps_everything_else():
    finding = Finding("residual_growing", "error", 0, "level 0 grows", 1.025, 1.0)
    [advised] = with_advice([finding], "imported-checkpoint")
    assert finding.advice == "" and finding.page == ""  # the input is not changed
    assert advised.page == "Residuals" and "--activation" in advised.advice
    assert (advised.code, advised.level, advised.value, advised.threshold) == (
        "residual_growing",
        0,
        1.025,
        1.0,
    )
    assert advised.to_dict()["advice"] == advised.advice
    assert advise(Finding("no_such_rule", "info", None, "m", None, None), "trained") == (
        "",
        "Runs",
    )
