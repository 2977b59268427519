"""Findings about the run folder itself rather than its IDs: is the run's state what it says,
are the IDs those of the current checkpoint, did ``best`` meet its rule.

These go into ``Diagnosis.run_findings`` (``verdict.run_findings`` in the JSON), next to the
health findings of the IDs, and use the same :class:`~analysis.metrics.health.Finding`:

- ``training_interrupted`` (warning): status.json says "training" but no process holds the
  run's writer lock: it was killed; ``rqvae train ... --resume`` continues it.
- ``training_failed`` (error): status.json says "failed"; the message is its error.
- ``ids_stale`` (warning): ``semantic_ids.parquet`` was assigned from a checkpoint file whose
  SHA-256 differs from the run's current ``best`` (e.g. after ``--resume``); value is the epoch
  the IDs came from, threshold the epoch of ``best``.
- ``best_not_qualified`` (warning): no epoch met the best-checkpoint rule, so ``best`` holds an
  epoch that did not qualify (see :func:`rqvae.runs.checkpoint.best_warning`).
- ``new_items_drift`` (warning): the items the newest ``rqvae extend`` added fit the quantizer
  clearly worse than the original items: its fit report (:mod:`rqvae.ids.fit`) found at least
  ``DRIFT_SHARE`` (15 %) of them above the originals' 95th percentile of quantization error,
  or of nearest-codeword distance at some level (about 5 % expected). Value: that share (the
  larger of the two), threshold: ``DRIFT_SHARE``.
"""

from __future__ import annotations

from analysis.metrics.advice import with_advice
from analysis.metrics.health import Finding
from rqvae.files import sha256_of
from rqvae.ids.fit import DRIFT_SHARE
from rqvae.runs.checkpoint import best_warning, checkpoint_path, checkpoint_state
from rqvae.runs.extensions import read_history
from rqvae.runs.folder import SEMANTIC_IDS_FILE, Run
from rqvae.runs.lock import effective_state
from rqvae.runs.semantic_ids import read_ids_source


def run_findings(run: Run) -> list[Finding]:
    """The findings above for ``run`` (an empty list when all is well), with the advice and
    page for the run's kind (:mod:`analysis.metrics.advice`)."""
    findings = []
    status = run.status()
    state = effective_state(run.path, str(status.get("state", "unknown")))
    if state == "interrupted":
        findings.append(
            _finding(
                "training_interrupted",
                "warning",
                f"training stopped at epoch {status.get('epoch')} of {status.get('epochs')} "
                "without finishing (the process is gone); continue it with rqvae train ... "
                "--resume",
                status.get("epoch"),
            )
        )
    elif state == "failed":
        findings.append(
            _finding("training_failed", "error", f"training failed: {status.get('error')}")
        )
    findings += _stale_ids(run)
    warning = best_warning(run.path) if run.kind == "trained" else None
    if warning:
        findings.append(_finding("best_not_qualified", "warning", warning))
    findings += _new_items_drift(run)
    return with_advice(findings, run.kind)


DRIFT_CHECKS = ("quantization_error_drift", "distance_drift")


def _new_items_drift(run: Run) -> list[Finding]:
    if not (run.path / SEMANTIC_IDS_FILE).exists():
        return []
    history = read_history(run.path)
    latest = next((g for g in reversed(history.generations) if g.record.get("fit")), None)
    if latest is None:
        return []
    checks = {check.get("check"): check for check in latest.record["fit"].get("checks", [])}
    failed = [checks[name] for name in DRIFT_CHECKS if (checks.get(name) or {}).get("failed")]
    if not failed:
        return []
    share = max(float(check["value"]) for check in failed)
    reasons = "; ".join(check["reason"] for check in failed)
    return [
        _finding(
            "new_items_drift",
            "warning",
            f"the {latest.added:,} items extension {latest.number} added fit the quantizer "
            f"clearly worse than the original items ({reasons})",
            share,
            DRIFT_SHARE,
        )
    ]


def _stale_ids(run: Run) -> list[Finding]:
    ids_path, best = run.path / SEMANTIC_IDS_FILE, checkpoint_path(run.path, "best")
    if run.kind != "trained" or not ids_path.exists() or not best.exists():
        return []
    source = read_ids_source(ids_path, root=run.path)
    if source is None or not source.get("sha256") or source.get("checkpoint") != "best":
        return []  # IDs from an older workbench, or asked for another checkpoint on purpose
    if source["sha256"] == sha256_of(best, root=run.path):
        return []
    best_epoch = checkpoint_state(best, root=run.path).get("epoch")
    return [
        _finding(
            "ids_stale",
            "warning",
            f"semantic_ids.parquet comes from epoch {source.get('epoch')}, but the run's best "
            f"checkpoint is now epoch {best_epoch}; refresh with: rqvae assign --run {run.path}",
            source.get("epoch"),
            best_epoch,
        )
    ]


def _finding(code, severity, message, value=None, threshold=None) -> Finding:
    return Finding(code, severity, None, message, value, threshold)
