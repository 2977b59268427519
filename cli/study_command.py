"""``rqvae study``: which diagnostics predict downstream recall, across runs of one catalog.

Probes every run (reusing a ``probe.json`` made from the same sequences with the same
settings: :func:`rqvae.probe.run.run_probe` with ``reuse``), diagnoses it (the cached
diagnosis when there is one), and writes the rank correlations of every scorecard diagnostic
with the probe's Recall@10 and NDCG@10 (:mod:`analysis.diagnosis.study`).
"""

from __future__ import annotations

from pathlib import Path

import click

from cli.probe_command import settings_options


@click.command()
@click.option(
    "--runs",
    "run_dirs",
    required=True,
    multiple=True,
    type=click.Path(file_okay=False),
    help="Run folders of one catalog: --runs R1 R2 R3 (or --runs R1 --runs R2 ...), at least 3.",
)
@click.option(
    "--sequences",
    "sequences_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="User sequences every run is probed on (JSONL(.gz) with user_id and item_ids).",
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write study.json (put it in the runs folder, e.g. runs/NAME.study.json, "
    "and diagnose, the report and the dashboard cite it for runs of the same catalog).",
)
@click.option(
    "--resamples",
    default=2000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Bootstrap resamples over runs of every correlation's interval.",
)
@click.option("--retrain", is_flag=True, help="Probe every run again, even when reusable.")
@click.argument("more_runs", nargs=-1, type=click.Path(file_okay=False))
@settings_options
def study(run_dirs, more_runs, sequences_path, out_path, resamples, retrain, **options):
    """Correlate every run's scalar diagnostics with its probe Recall@10 / NDCG@10.

    Runs are probed one after the other (the longest part: a probe of each run that has no
    reusable probe.json), then diagnosed; the table printed at the end lists the diagnostics
    strongest first.
    """
    from analysis.diagnosis.study_runs import run_study
    from rqvae.probe.settings import ProbeSettings

    run_dirs = [Path(run_dir) for run_dir in (*run_dirs, *more_runs)]
    settings = ProbeSettings(**{k: v for k, v in options.items() if v is not None})
    document = run_study(
        run_dirs, Path(sequences_path), Path(out_path), settings,
        n_resamples=resamples, retrain=retrain, log=click.echo,
    )  # fmt: skip
    click.echo(f"{'diagnostic':34s} {'target':12s} {'Spearman [95% CI]':>26s} {'Kendall':>8s} runs")
    for entry in document["correlations"]:
        if entry["spearman"] is None:
            continue
        low, high = entry["spearman_ci95"]
        interval = f"{entry['spearman']:+.2f} [{low:+.2f}, {high:+.2f}]"
        click.echo(
            f"{entry['diagnostic']:34s} {entry['target']:12s} {interval:>26s} "
            f"{entry['kendall']:+8.2f} {entry['n_runs']}"
        )
    click.echo(f"wrote {out_path}")


COMMANDS = [study]
