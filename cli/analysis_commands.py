"""The analysis commands ``diagnose``, ``report``, ``churn``; the verdicts ``rqvae demo`` prints.

Exit codes: 0 success; 1 ``--fail-on`` found findings at that severity or worse; 2 bad input
(the group prints ``error: <message>``).

User sequences are found where the dashboard finds them
(:func:`analysis.reading.behaviour_sequences.find_sequences`: ``sequences.jsonl.gz`` in the run
folder or next to the run's catalog, or an LC-Rec ``NAME.inter.json``) unless ``--sequences``
names a file, so the CLI and the dashboard diagnose a run alike and share its stored diagnosis.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def stage_bar(label: str) -> Iterator:
    """A progress bar over the stages of a diagnosis, on stderr when it is a terminal (a CI log
    gets only the summary). Yields the ``progress`` callback of
    :func:`analysis.diagnosis.diagnose.diagnose_run`; both lanes call it, and tqdm's lock
    keeps their updates apart."""
    from tqdm import tqdm

    from analysis.diagnosis.diagnose import STAGES

    bar = tqdm(total=len(STAGES), desc=label, unit="stage", disable=None, leave=False)

    def report(running: str, fraction: float) -> None:
        bar.n = round(fraction * len(STAGES))
        bar.set_postfix_str(running.replace("_", " "), refresh=True)

    try:
        yield report
    finally:
        bar.close()


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
        click.option(
            "--sequences",
            default=None,
            type=click.Path(dir_okay=False),
            help="User sequences (JSONL with item_ids, or LC-Rec .inter.json): behavioural "
            "alignment and popularity allocation. Default: sequences.jsonl.gz in the run folder "
            "or next to its catalog, as the dashboard finds them.",
        ),
        click.option(
            "--window",
            default=3,
            show_default=True,
            type=click.IntRange(min=1),
            help="Items at most this many positions apart in a sequence co-occur.",
        ),
        click.option(
            "--study",
            default=None,
            type=click.Path(dir_okay=False),
            help="A study.json (rqvae study) whose correlations the findings cite as evidence. "
            "Default: the newest study of the run's catalog in its runs folder (*.study.json, "
            "studies/*.json), if any.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False))
@diagnosis_options
def diagnose(
    run_dir, json_path, checkpoint, umap, thresholds, fail_on, cache, sequences, window, study
):
    """Run every diagnostic on RUN; print the verdict, optionally write JSON."""
    from analysis.diagnosis.diagnose import diagnose_run
    from analysis.diagnosis.to_json import diagnosis_to_json
    from analysis.reading.behaviour_sequences import find_sequences
    from rqvae.runs.folder import Run

    with stage_bar(f"diagnose {run_dir}") as progress:
        diagnosis = diagnose_run(
            run_dir,
            thresholds_from(thresholds),
            which=checkpoint,
            umap=umap,
            sequences=sequences if sequences is not None else find_sequences(Run(run_dir)),
            window=window,
            cache=cache,
            progress=progress,
            study=study,
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
def report(
    run_dirs,
    out,
    json_path,
    pdf_path,
    checkpoint,
    umap,
    thresholds,
    fail_on,
    cache,
    sequences,
    window,
    study,
):
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
        sequences=sequences,
        window=window,
        study=study,
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
        _echo_advice(finding)
    for finding in diagnosis.run_findings:
        click.echo(f"  {finding.severity:<8} run: {finding.message}")
        _echo_advice(finding)
    if diagnosis.sequences is not None:
        click.echo(f"  user sequences: {diagnosis.sequences}")
    for line in _behaviour_lines(diagnosis):
        click.echo(f"  {line}")
    missing = {}
    names = ("residuals", "geometry", "taxonomy", "coherence", "mahalanobis")
    names += ("input_geometry", "latent_geometry", "behaviour", "popularity")
    for name in names:
        value = getattr(diagnosis, name)
        if isinstance(value, Unavailable):
            missing.setdefault(value.reason, []).append(name)
    for reason, names in missing.items():
        click.echo(f"  unavailable: {', '.join(names)} ({reason})")


def _echo_advice(finding) -> None:
    """The finding's advice and evidence page, indented under it."""
    if finding.advice:
        click.echo(f"{'':11}what to do: {finding.advice}")
    if finding.page:
        click.echo(f'{"":11}evidence: dashboard page "{finding.page}"')
    if finding.evidence:
        click.echo(f"{'':11}study: {finding.evidence}")


def top_finding(diagnosis):
    """The most severe of the run's findings (run findings first among equals), or None."""
    from analysis.metrics.health import SEVERITY_ORDER

    ranked = sorted(
        [*diagnosis.run_findings, *diagnosis.findings],
        key=lambda finding: -SEVERITY_ORDER[finding.severity],
    )
    return ranked[0] if ranked else None


def print_demo_verdicts(run_dirs, runs_dir, port: int = 8501) -> None:
    """Diagnose the demo runs (stored in RUN/cache with their UMAP maps, so the dashboard opens
    at once) and print each run's verdict with its top finding and advice, then how to open
    the dashboard."""
    from analysis.diagnosis.diagnose import diagnose_run
    from analysis.reading.behaviour_sequences import find_sequences
    from rqvae.runs.folder import Run

    click.echo("")
    for run_dir in run_dirs:
        with stage_bar(f"diagnose {run_dir}") as progress:
            diagnosis = diagnose_run(
                run_dir, cache=True, progress=progress, sequences=find_sequences(Run(run_dir))
            )
        finding = top_finding(diagnosis)
        click.echo(f"{diagnosis.name}: verdict {diagnosis.verdict.upper()}")
        if finding is None:
            click.echo("  no findings: every health rule passed")
            continue
        click.echo(f"  top finding ({finding.severity}): {finding.message}")
        if finding.advice:
            click.echo(f"  what to do: {finding.advice}")
    click.echo(
        f"\nDashboard: rqvae dashboard --runs-dir {runs_dir}, then open http://localhost:{port}"
    )


def _behaviour_lines(diagnosis) -> list[str]:
    """One line per embedding / behaviour diagnostic that ran: its headline numbers."""
    lines = []
    for name in ("input_geometry", "latent_geometry"):
        if diagnosis.available(name):
            g = getattr(diagnosis, name)
            lines.append(
                f"{g.space} geometry: anisotropy {g.anisotropy:.4f} ({g.n_pairs:,} random "
                f"pairs), effective rank {g.effective_rank:.1f} of {g.dim}, mean norm "
                f"{g.norms.mean():.4g}"
            )
    if diagnosis.available("behaviour"):
        b = diagnosis.behaviour
        shares = ", ".join(
            f"l{row.level} {row.cooccurring_share:.4f} vs {row.random_share:.4f} / "
            f"{row.popularity_share:.4f}"
            for row in b.levels.itertuples()
        )
        lines.append(
            f"behaviour ({b.n_pairs:,} co-occurring pairs, window {b.window}): shared prefix "
            f"co-occurring vs random / popularity-matched: {shares}"
        )
    if diagnosis.available("popularity"):
        p = diagnosis.popularity.summary()
        lines.append(
            f"popularity: head {p['head_items']:,} items ({p['head_interaction_share']:.1%} of "
            f"interactions), collision share head {p['head_collision_share']:.4f}, tail "
            f"{p['tail_collision_share']:.4f}, interactions {p['interaction_collision_share']:.4f}"
        )
    return lines


def _exit_for(verdict: str, fail_on: str | None) -> None:
    if fail_on is not None and SEVERITY_ORDER[verdict] >= SEVERITY_ORDER[fail_on]:
        click.echo(f"verdict {verdict} is at or above --fail-on {fail_on}", err=True)
        sys.exit(1)


@click.command()
@click.argument("run_a", type=click.Path(file_okay=False))
@click.argument("run_b", type=click.Path(file_okay=False))
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False))
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a verdict threshold, e.g. --threshold churn_warning=0.3 (repeatable).",
)
@click.option(
    "--sequences",
    default=None,
    type=click.Path(dir_okay=False),
    help="User sequences (JSONL with item_ids, or LC-Rec .inter.json): also the share of the "
    "user-history tokens that would change.",
)
def churn(run_a, run_b, json_path, thresholds, sequences):
    """Share of items whose ID (and each prefix) changes from RUN_A to RUN_B, raw and after
    matching code labels (Hungarian matching per level and prefix)."""
    from analysis.diagnosis.churn import run_churn

    result = run_churn(run_a, run_b, thresholds_from(thresholds), sequences=sequences)
    click.echo(
        f"churn {result.name_a} -> {result.name_b}: {result.items_common:,} common items "
        f"({result.items_only_a:,} only in A, {result.items_only_b:,} only in B)"
        + (", settings differ only in the seed" if result.seeds_only else "")
    )
    click.echo("  prefix  raw churn  matched churn")
    for row in result.churn.levels.itertuples():
        click.echo(f"  {row.prefix_length:>6}  {row.raw_churn:>9.4f}  {row.matched_churn:>13.4f}")
    if result.churn.full_id_raw is None:
        click.echo(
            f"  full ID: not compared ({result.churn.n_levels_a} and "
            f"{result.churn.n_levels_b} levels)"
        )
    else:
        click.echo(
            f"  full ID: raw {result.churn.full_id_raw:.4f}, matched "
            f"{result.churn.full_id_matched:.4f}"
        )
    for finding in result.findings:
        click.echo(f"  {finding.severity:<8} {finding.message}")
    if result.history is not None:
        _echo_history(result.history, sequences)
    if json_path:
        atomic_write_json(json_path, result.to_json())
        click.echo(f"wrote {json_path}")


def _echo_history(history, sequences) -> None:
    """The user-history lines of ``rqvae churn --sequences``."""
    if history.tokens == 0:
        click.echo(f"  user histories ({sequences}): no interaction with an item of A")
        return
    click.echo(
        f"  user histories ({sequences}): {history.interactions:,} interactions with items of "
        f"A ({history.unknown:,} with items A lacks, not counted); {history.tokens_changed:,} "
        f"of {history.tokens:,} tokens would change ({history.token_churn:.2%}); "
        f"{history.interactions_changed:,} interactions ({history.interaction_churn:.2%}) "
        "would hold another whole ID"
    )
    shares = ", ".join(
        f"{row.token} {row.share:.2%}" for row in history.positions.itertuples(index=False)
    )
    click.echo(f"  tokens changed per position: {shares}")


COMMANDS = [diagnose, report, churn]
