"""Diagnostic 9: the health verdict, a list of findings with a severity, a number and a threshold.

Each rule compares one measured number with one threshold from :class:`HealthThresholds`;
every default is documented there and every one can be overridden
(``HealthThresholds(collapse_error=0.02)``). Severities: ``"error"`` means the IDs are not fit
for use (a collapsed level), ``"warning"`` means worth fixing, ``"info"`` is context.
:func:`worst_severity` turns the list into one overall verdict.

Codebook rules measure against the level's *capacity* ``min(K, n_items)``: a catalog of 100
items cannot use more than 100 of 256 codes, and that is not the quantizer's fault.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.metrics.collisions import CollisionReport
from rqvae.errors import InputError

SEVERITY_ORDER = {"ok": 0, "info": 1, "warning": 2, "error": 3}


@dataclass
class HealthThresholds:
    """Thresholds of the health verdict (fractions are of the level capacity min(K, n_items))."""

    # Collapsed level: used codes / capacity, or perplexity / capacity, below this ...
    collapse_error: float = 0.05  # ... is an error (e.g. 10 of 256 codes, or perplexity < 12.8)
    collapse_warning: float = 0.25  # ... is a warning (e.g. 32 of 256 codes used)
    # Dead codes: unused codes / capacity above this is a warning (not repeated for a level
    # already reported as collapsed).
    dead_code_warning: float = 0.25
    # Unique-ID ratio of the full L-tuple (without the collision index) below these.
    unique_ratio_error: float = 0.5
    unique_ratio_warning: float = 0.95
    # Largest group of items sharing one L-tuple: above this many items is a warning; above the
    # codebook size K it is an error, since one more level of K codes cannot tell them apart.
    collision_group_warning: int = 10
    # Residual norm after level l must be at most (1 - this) x the norm entering it (the
    # latent's for level 0); above 1 x, the level makes the residual grow: an error.
    residual_min_shrink: float = 0.02
    # Degenerate codewords (at zero or coinciding with another, analysis.metrics.geometry):
    # more than this share of a level's codewords is a warning, more than the error share an
    # error (rules in analysis/metrics/health_geometry.py).
    duplicate_codeword_warning: float = 0.1
    duplicate_codeword_error: float = 0.5
    # Latent effective rank (participation ratio) below this many directions is a warning.
    latent_rank_warning: float = 1.5
    # Loss terms out of scale: quantization (sum over levels of codebook + commitment) over
    # reconstruction, or the inverse, above this factor (last epoch).
    loss_scale_ratio: float = 100.0
    # Not converged: validation loss still fell by more than `convergence_tolerance` (relative)
    # over the last `convergence_window` epochs.
    convergence_window: int = 5
    convergence_tolerance: float = 0.01
    # Embeddings and behaviour (rules in analysis/metrics/behaviour_health.py).
    # Input anisotropy (mean cosine of random pairs) above this is a warning.
    anisotropy_warning: float = 0.4
    # Level-0 prefixes ignore behaviour: co-occurring pairs share the first code less than this
    # many times as often as popularity-matched random pairs.
    behaviour_lift_warning: float = 2.0
    # Popular (head) items that share their full ID with another item: share above this.
    popular_collision_warning: float = 0.1
    # Two runs that differ only in their seed: matched full-ID churn above this.
    churn_warning: float = 0.5

    def __post_init__(self) -> None:
        fractions = (
            "collapse_error",
            "collapse_warning",
            "dead_code_warning",
            "unique_ratio_error",
            "unique_ratio_warning",
            "residual_min_shrink",
            "duplicate_codeword_warning",
            "duplicate_codeword_error",
            "anisotropy_warning",
            "popular_collision_warning",
            "churn_warning",
        )
        for name in fractions:
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"threshold {name} is {getattr(self, name)}, expected 0..1")
        for name, low in (
            ("collision_group_warning", 1),
            ("loss_scale_ratio", 1),
            ("convergence_window", 1),
            ("convergence_tolerance", 0),
            ("behaviour_lift_warning", 0),
            ("latent_rank_warning", 0),
        ):
            if getattr(self, name) < low:
                raise InputError(f"threshold {name} is {getattr(self, name)}, expected >= {low}")


@dataclass
class Finding:
    """One health finding. ``level`` is the 0-based level, or None for the whole run.

    advice : one or two sentences, the likely cause and the concrete thing to try (naming
        ``rqvae`` flags where one exists); page : the dashboard navigation title of the page that
        shows the evidence. Both are filled in for the run's kind by
        :func:`analysis.metrics.advice.with_advice` (empty until then).
    evidence : "on this catalog, <diagnostic> tracked Recall@10: Spearman ..." when a study
        (``rqvae study``) of the run's catalog exists
        (:func:`analysis.diagnosis.study_files.with_study_evidence`), else empty.
    """

    code: str  # stable identifier, e.g. "collapsed_level"
    severity: str  # "info" | "warning" | "error"
    level: int | None
    message: str
    value: float | None
    threshold: float | None
    advice: str = ""
    page: str = ""
    # how this finding's diagnostic tracked downstream recall in a study of the run's catalog
    # (analysis.diagnosis.study.evidence_for); empty without one
    evidence: str = ""

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "level": self.level,
            "message": self.message,
            "value": self.value,
            "threshold": self.threshold,
            "advice": self.advice,
            "page": self.page,
            "evidence": self.evidence,
        }


def worst_severity(findings: list[Finding]) -> str:
    """Overall verdict: ``"error"``, ``"warning"``, ``"info"``, or ``"ok"`` without findings."""
    return max((f.severity for f in findings), key=SEVERITY_ORDER.__getitem__, default="ok")


def health_verdict(
    usage: pd.DataFrame,
    entropy: pd.DataFrame,
    collisions: CollisionReport,
    residual_norms: pd.DataFrame | None = None,
    metrics: pd.DataFrame | None = None,
    thresholds: HealthThresholds | None = None,
) -> list[Finding]:
    """Findings for one run, most severe first (then by level).

    usage : :func:`analysis.metrics.usage.codebook_usage`;
    entropy : :func:`analysis.metrics.entropy.usage_entropy`;
    collisions : :func:`analysis.metrics.collisions.collision_report`;
    residual_norms : optional, columns ``level, mean_norm`` (mean L2 norm of the residual left
    after each level); metrics : optional ``metrics.jsonl`` frame (one row per epoch with
    ``epoch, loss_recon, loss_codebook_l{i}, loss_commit_l{i}, val_loss_total``).

    Rules (thresholds in :class:`HealthThresholds`):
    ``collapsed_level`` (used fraction or perplexity fraction of capacity too low),
    ``dead_codes``, ``low_unique_ratio``, ``large_collision_group``,
    ``collision_index_invalid`` (the collision column does not make IDs unique; error),
    ``residual_not_shrinking`` (warning) and ``residual_growing`` (error) from level 0 on (see
    :func:`residual_findings`), ``loss_scale``, ``not_converged``, ``loss_not_finite``.
    """
    thresholds = thresholds or HealthThresholds()
    findings = [
        *_codebook_findings(usage, entropy, collisions.n_items, thresholds),
        *_collision_findings(collisions, int(usage["codebook_size"].max()), thresholds),
    ]
    if residual_norms is not None and len(residual_norms):
        findings += residual_findings(residual_norms, thresholds)
    if metrics is not None and len(metrics):
        findings += _training_findings(metrics, thresholds)
    findings.sort(key=lambda f: (-SEVERITY_ORDER[f.severity], -1 if f.level is None else f.level))
    return findings


def _grade(value: float, error: float, warning: float) -> str | None:
    """Severity of a "higher is better" value, or None when it is fine."""
    if value < error:
        return "error"
    if value < warning:
        return "warning"
    return None


def _codebook_findings(usage, entropy, n_items: int, t: HealthThresholds) -> list[Finding]:
    findings = []
    merged = usage.merge(entropy[["level", "perplexity"]], on="level")
    for row in merged.itertuples():
        capacity = min(int(row.codebook_size), n_items)
        used = row.used_codes / capacity
        effective = row.perplexity / capacity
        worst = min(used, effective)
        severity = _grade(worst, t.collapse_error, t.collapse_warning)
        if severity:
            findings.append(
                Finding(
                    "collapsed_level",
                    severity,
                    int(row.level),
                    f"level {row.level} is {'collapsed' if severity == 'error' else 'under-used'}: "
                    f"{row.used_codes} of {row.codebook_size} codes used, perplexity "
                    f"{row.perplexity:.1f} ({used:.1%} and {effective:.1%} of the "
                    f"{capacity} codes the level can use)",
                    float(worst),
                    t.collapse_error if severity == "error" else t.collapse_warning,
                )
            )
            continue
        dead = (capacity - min(row.used_codes, capacity)) / capacity
        if dead > t.dead_code_warning:
            findings.append(
                Finding(
                    "dead_codes",
                    "warning",
                    int(row.level),
                    f"level {row.level}: {row.dead_codes} of {row.codebook_size} codes are "
                    f"never used ({dead:.1%} of capacity {capacity})",
                    float(dead),
                    t.dead_code_warning,
                )
            )
    return findings


def _collision_findings(report: CollisionReport, codebook_size: int, t) -> list[Finding]:
    findings = []
    severity = _grade(report.unique_id_ratio, t.unique_ratio_error, t.unique_ratio_warning)
    if severity:
        findings.append(
            Finding(
                "low_unique_ratio",
                severity,
                None,
                f"unique-ID ratio {report.unique_id_ratio:.4f}: "
                f"{int(report.prefixes['distinct'].iloc[-1])} distinct {report.n_levels}-level "
                f"IDs for {report.n_items} items",
                report.unique_id_ratio,
                t.unique_ratio_error if severity == "error" else t.unique_ratio_warning,
            )
        )
    if report.largest_group > t.collision_group_warning:
        too_big = report.largest_group > codebook_size
        findings.append(
            Finding(
                "large_collision_group",
                "error" if too_big else "warning",
                None,
                f"{report.largest_group} items share one ID"
                + (
                    f", more than one extra level of {codebook_size} codes can separate"
                    if too_big
                    else ""
                ),
                float(report.largest_group),
                float(codebook_size if too_big else t.collision_group_warning),
            )
        )
    if report.unique_id_ratio_with_collision < 1.0:
        findings.append(
            Finding(
                "collision_index_invalid",
                "error",
                None,
                "IDs are not unique even with the collision index appended "
                f"(unique-ID ratio {report.unique_id_ratio_with_collision:.4f})",
                report.unique_id_ratio_with_collision,
                1.0,
            )
        )
    return findings


def residual_findings(residual_norms: pd.DataFrame, t: HealthThresholds) -> list[Finding]:
    """``residual_not_shrinking`` / ``residual_growing`` for every level, level 0 included.

    residual_norms : one row per level ``l`` with ``level``, ``mean_norm`` (mean ||r_{l+1}||,
    the residual left after level l) and, as :class:`analysis.metrics.residuals.ResidualNorms`
    has it, ``shrink``: ``mean_norm`` over the mean norm of what entered the level (mean ||z||
    for level 0, so level 0's ratio is mean ||r_1|| / mean ||z||; then mean ||r_{l+1}|| /
    mean ||r_l||; for quantizers that re-normalise each level's input, the norm of that
    input). Without ``shrink`` the ratio is ``mean_norm`` over the previous row's, and level 0
    is not checked (its input norm is unknown).

    A ratio above 1 means the level *adds* to the residual: its codewords are farther from
    the items than nothing at all (typically an encoder run differently from how the codebook
    was trained): error ``residual_growing``. A ratio in ``(1 - residual_min_shrink, 1]``:
    warning ``residual_not_shrinking``, the level spends its bits without removing error.
    """
    findings = []
    norms = residual_norms.sort_values("level")
    levels, means = norms["level"].to_numpy(), norms["mean_norm"].to_numpy(dtype=float)
    shrinks = norms["shrink"].to_numpy(dtype=float) if "shrink" in norms else None
    for index, (level, after) in enumerate(zip(levels, means, strict=True)):
        if shrinks is not None and np.isfinite(shrinks[index]):
            ratio = float(shrinks[index])
            before = after / ratio if ratio > 0 else math.nan
        elif index > 0:
            before = means[index - 1]
            ratio = after / before if before > 0 else math.inf
        else:
            continue  # level 0 without the latent's norm: nothing to compare with
        entering = "of the latent" if index == 0 else "entering it"
        if ratio > 1:
            findings.append(
                Finding(
                    "residual_growing",
                    "error",
                    int(level),
                    f"level {level} makes the residual grow: mean norm {after:.4g} after it vs "
                    f"{before:.4g} {entering} (ratio {ratio:.3f})",
                    ratio,
                    1.0,
                )
            )
        elif ratio > 1 - t.residual_min_shrink:
            findings.append(
                Finding(
                    "residual_not_shrinking",
                    "warning",
                    int(level),
                    f"level {level} barely reduces the residual: mean norm {after:.4g} after it "
                    f"vs {before:.4g} {entering} (ratio {ratio:.3f})",
                    ratio,
                    1 - t.residual_min_shrink,
                )
            )
    return findings


def _training_findings(metrics: pd.DataFrame, t: HealthThresholds) -> list[Finding]:
    findings = []
    metrics = metrics.sort_values("epoch") if "epoch" in metrics else metrics
    last = metrics.iloc[-1]
    loss_columns = [c for c in metrics.columns if c.startswith(("loss_", "val_loss_"))]
    # null = not measured (no validation split on a tiny catalog), not a diverged loss
    bad = [c for c in loss_columns if last[c] is not None and not np.isfinite(float(last[c]))]
    if bad:
        findings.append(
            Finding(
                "loss_not_finite",
                "error",
                None,
                f"training diverged: {', '.join(bad)} not finite at the last epoch",
                None,
                None,
            )
        )
        return findings

    quant_columns = [c for c in metrics.columns if re.fullmatch(r"loss_(codebook|commit)_l\d+", c)]
    # null losses: not trained by gradient (a baseline), nothing to compare
    if (
        "loss_recon" in metrics
        and quant_columns
        and last[["loss_recon", *quant_columns]].notna().all()
    ):
        recon, quant = float(last["loss_recon"]), float(last[quant_columns].sum())
        ratio = max(quant, recon) / max(min(quant, recon), 1e-12)
        if ratio > t.loss_scale_ratio:
            bigger = "quantization" if quant > recon else "reconstruction"
            findings.append(
                Finding(
                    "loss_scale",
                    "warning",
                    None,
                    f"loss terms out of scale: reconstruction {recon:.4g} vs quantization "
                    f"{quant:.4g}; the {bigger} term dominates by {ratio:.0f}x",
                    float(ratio),
                    t.loss_scale_ratio,
                )
            )

    measured = metrics["val_loss_total"].notna() if "val_loss_total" in metrics else None
    if measured is not None and measured.all():
        values = metrics["val_loss_total"].to_numpy(dtype=float)
        window = t.convergence_window
        if len(values) <= window:
            findings.append(
                Finding(
                    "not_converged",
                    "info",
                    None,
                    f"only {len(values)} epochs: too few to judge convergence "
                    f"(needs more than {window})",
                    float(len(values)),
                    float(window),
                )
            )
        else:
            before, after = values[-window - 1], values[-1]
            drop = (before - after) / max(abs(before), 1e-12)
            if drop > t.convergence_tolerance:
                findings.append(
                    Finding(
                        "not_converged",
                        "warning",
                        None,
                        f"validation loss still falling: {drop:.1%} over the last {window} "
                        "epochs; train longer",
                        float(drop),
                        t.convergence_tolerance,
                    )
                )
    return findings
