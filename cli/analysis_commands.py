"""The analysis commands: ``diagnose`` and ``report``.

Exit codes: 0 success; 1 ``--fail-on`` found findings at that severity or worse; 2 bad input
(the group prints ``error: <message>``).
"""

from __future__ import annotations

import dataclasses
import sys

import click

from analysis.metrics.health import SEVERITY_ORDER, HealthThresholds
from rqvae.errors import InputError
from rqvae.files import atomic_write_json

FAIL_ON = click.Choice(["warning", "error"])


def thresholds_from(pairs: tuple[str, ...]) -> HealthThresholds:
    """``("collapse_error=0.1", ...)`` -> :class:`HealthThresholds` with those fields changed."""
    fields = {f.name: f for f in dataclasses.fields(HealthThresholds)}
    values = {}
    for pair in pairs:
        name, _, raw = pair.partition("=")
        name = name.strip().replace("-", "_")
        if name not in fields or not raw:
            raise InputError(
                f"--threshold {pair!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}"
            )
        kind = type(getattr(HealthThresholds(), name))
        try:
            values[name] = kind(raw) if kind is float else int(raw)
        except ValueError:
            raise InputError(f"--threshold {pair!r}: {raw!r} is not a {kind.__name__}") from None
    return HealthThresholds(**values)


def diagnosis_options(function):
    """Flags shared by ``diagnose`` and ``report``."""
    options = [
        click.option(
            "--checkpoint",
            default="best",
            show_default=True,
            help="Checkpoint for residuals, geometry and Mahalanobis (best falls back to last).",
        ),
        click.option(
            "--umap/--no-umap", default=True, help="Compute UMAP maps (cached in RUN/cache)."
        ),
        click.option(
            "--threshold",
            "thresholds",
            multiple=True,
            metavar="NAME=VALUE",
            help="Override a verdict threshold, e.g. --threshold collapse_error=0.1 (repeatable).",
        ),
        click.option("--fail-on", type=FAIL_ON, default=None, help="Exit 1 on findings this bad."),
        click.option(
            "--cache/--no-cache",
            default=True,
            show_default=True,
            help="Reuse the diagnosis stored in RUN/cache for unchanged run files (shared with "
            "the dashboard).",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False))
@diagnosis_options
def diagnose(run_dir, json_path, checkpoint, umap, thresholds, fail_on, cache):
    """Run every diagnostic on RUN; print the verdict, optionally write JSON."""
    from analysis.diagnosis.diagnose import diagnose_run
    from analysis.diagnosis.to_json import diagnosis_to_json

    diagnosis = diagnose_run(
        run_dir, thresholds_from(thresholds), which=checkpoint, umap=umap, cache=cache
    )
    if json_path:
        atomic_write_json(json_path, diagnosis_to_json(diagnosis))
    _print_summary(diagnosis)
    if json_path:
        click.echo(f"wrote {json_path}")
    _exit_for(diagnosis.verdict, fail_on)


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="report.html")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False))
@click.option("--pdf", "pdf_path", default=None, type=click.Path(dir_okay=False))
@diagnosis_options
def report(run_dirs, out, json_path, pdf_path, checkpoint, umap, thresholds, fail_on, cache):
    """Write a self-contained HTML report (and JSON / PDF) over one or more runs."""
    from analysis.presentation.report import write_report

    result = write_report(
        run_dirs,
        out,
        json_path=json_path,
        pdf_path=pdf_path,
        thresholds=thresholds_from(thresholds),
        which=checkpoint,
        umap=umap,
        cache=cache,
    )
    for diagnosis in result.diagnoses:
        _print_summary(diagnosis)
    written = [str(p) for p in (result.html_path, result.json_path, result.pdf_path) if p]
    click.echo(f"wrote {', '.join(written)} ({result.figures} figures)")
    if result.pdf_error:
        raise InputError(f"{pdf_path}: PDF not written: {result.pdf_error}")
    _exit_for(result.verdict, fail_on)


def _print_summary(diagnosis) -> None:
    from analysis.diagnosis.results import Unavailable
    from analysis.presentation.labels import sizes_label

    click.echo(
        f"{diagnosis.name}: {diagnosis.verdict.upper()} ({diagnosis.kind}, "
        f"{diagnosis.n_items:,} items, {diagnosis.n_levels} levels x "
        f"{sizes_label(diagnosis.codebook_sizes)}, "
        f"unique-ID ratio {diagnosis.collisions.unique_id_ratio:.4f})"
    )
    for finding in diagnosis.findings:
        click.echo(f"  {finding.severity:<8} {finding.message}")
    for finding in diagnosis.run_findings:
        click.echo(f"  {finding.severity:<8} run: {finding.message}")
    missing = {}
    for name in ("residuals", "geometry", "taxonomy", "coherence", "mahalanobis"):
        value = getattr(diagnosis, name)
        if isinstance(value, Unavailable):
            missing.setdefault(value.reason, []).append(name)
    for reason, names in missing.items():
        click.echo(f"  unavailable: {', '.join(names)} ({reason})")


def _exit_for(verdict: str, fail_on: str | None) -> None:
    if fail_on is not None and SEVERITY_ORDER[verdict] >= SEVERITY_ORDER[fail_on]:
        click.echo(f"verdict {verdict} is at or above --fail-on {fail_on}", err=True)
        sys.exit(1)


COMMANDS = [diagnose, report]
