"""``rqvae probe``: the downstream probe of a run's IDs, and paired comparisons of two runs;
``rqvae random-ids``: the probe's random-ID control (:mod:`rqvae.probe.control`).

Every field of :class:`rqvae.probe.settings.ProbeSettings` is an option of the same name
(``--semantic-dim 128`` sets ``semantic_dim``); the defaults are the settings' own.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path

import click

# options with a fixed set of values, and help for the ones a user reaches for first
_CHOICES = {
    "model": ["pooled", "tiger", "sasrec", "both", "all"],
    "collisions": ["token", "shared"],
    "semantic_schedule": ["constant", "cosine"],
}
_HELP = {
    "model": "Semantic-ID model: pooled (SASRec over items' pooled ID tokens, generating the "
    "next ID), tiger (TIGER's encoder-decoder), sasrec (decoder-only over ID tokens); both: "
    "tiger and sasrec; all: the three.",
    "semantic_schedule": "Semantic models' learning rate after the warm-up: constant, or a "
    "cosine decay to 0 at the last of --epochs.",
    "semantic_warmup": "Optimizer steps of linear learning-rate warm-up (semantic models).",
    "collisions": "token: a collision-index token makes each item's ID unique; shared: "
    "colliding items share one ID and a hit on it counts 1/G (collision-corrected).",
    "epochs": "At most this many epochs (and the cosine schedule's length); early stopping on "
    "validation NDCG@10 may end sooner.",
    "patience": "Epochs without a better validation NDCG@10 before a model stops training.",
    "bootstrap": "Resamples of the per-user bootstrap intervals.",
    "valid_users": "Validation users a semantic model decodes after each epoch (0: all).",
}


def settings_options(command):
    """One option per ProbeSettings field, default None (= the settings' default)."""
    from rqvae.probe.settings import ProbeSettings

    for field in reversed(fields(ProbeSettings)):
        default = field.default if field.default is not MISSING else None
        kind = click.Choice(_CHOICES[field.name]) if field.name in _CHOICES else type(default)
        command = click.option(
            "--" + field.name.replace("_", "-"),
            field.name,
            type=kind,
            default=None,
            help=(_HELP.get(field.name, "") + f" [default: {default}]").strip(),
        )(command)
    return command


@click.command()
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False))
@click.option(
    "--sequences",
    "sequences_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="User sequences: JSONL(.gz) with user_id and item_ids, or MovieLens ratings.",
)
@click.option(
    "--compare",
    "compare_dirs",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Another probed run: paired bootstrap difference RUN - OTHER on the same users, "
    "stored in RUN/probe.json under compare. Repeatable.",
)
@click.option(
    "--retrain",
    is_flag=True,
    help="Train even when RUN/probe.json was made from the same sequences and settings "
    "(otherwise it is reused).",
)
@settings_options
def probe(run_dir, sequences_path, compare_dirs, retrain, **options):
    """Downstream probe: item-ID SASRec vs a semantic-ID model on RUN's IDs.

    Writes RUN/probe.json (metrics with 95% bootstrap intervals) and RUN/probe_users.npz
    (every user's rank, for paired comparisons).
    """
    from rqvae.probe import PROBE_FILE
    from rqvae.probe.compare import compare_probes
    from rqvae.probe.run import run_probe
    from rqvae.probe.settings import ProbeSettings

    settings = ProbeSettings(**{k: v for k, v in options.items() if v is not None})
    result = run_probe(
        Path(run_dir), Path(sequences_path), settings, log=click.echo, reuse=not retrain
    )
    click.echo(
        f"{'model':16s} {'Recall@5':>24s} {'NDCG@5':>24s} {'Recall@10':>24s} {'NDCG@10':>24s}"
    )
    for name, model in result["models"].items():
        test = model["test"]
        cells = [
            f"{test[m]:.4f} [{test[m + '_ci95'][0]:.4f}, {test[m + '_ci95'][1]:.4f}]"
            for m in ("recall_at_5", "ndcg_at_5", "recall_at_10", "ndcg_at_10")
        ]
        click.echo(f"{name:16s} " + " ".join(f"{c:>24s}" for c in cells))
        inflation = model.get("collision_inflation", {}).get("recall_at_10")
        if settings.collisions == "shared" and inflation is not None:
            naive = model["test_naive"]["recall_at_10"]
            click.echo(f"{'':16s} naive Recall@10 {naive:.4f}: inflated {inflation:+.1%}")
    click.echo(f"wrote {Path(run_dir) / PROBE_FILE}")
    for other in compare_dirs:
        comparison = compare_probes(Path(run_dir), Path(other))
        click.echo(
            f"paired difference {Path(run_dir).name} - {Path(other).name} "
            f"({comparison['users']} users, {comparison['resamples']} resamples):"
        )
        for name, metrics in comparison["models"].items():
            for metric in ("recall_at_10", "ndcg_at_10"):
                d = metrics[metric]
                low, high = d["difference_ci95"]
                click.echo(
                    f"  {name:16s} {metric:12s} {d['a']:.4f} - {d['b']:.4f} = "
                    f"{d['difference']:+.4f} [{low:+.4f}, {high:+.4f}]"
                )
        if comparison["settings_differ"]:
            click.echo(f"  settings differ: {', '.join(comparison['settings_differ'])}")


@click.command("random-ids")
@click.option("--like", "like_run", required=True, type=click.Path(file_okay=False), help="RUN")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="FILE.csv")
@click.option("--seed", type=int, default=0, show_default=True)
def random_ids(like_run, out_path, seed):
    """The probe's control: unique random IDs for RUN's items, same levels and codebook size.

    Import the CSV with ``rqvae import-ids --ids FILE.csv --out CONTROL --codebook-size K`` and
    probe CONTROL like any run: semantic IDs should score clearly above it.
    """
    from rqvae.probe.control import write_random_ids

    frame = write_random_ids(Path(like_run), Path(out_path), seed)
    levels = frame.shape[1] - 1
    click.echo(f"wrote {out_path}: {len(frame)} items, {levels} levels of random unique codes")
