"""The quantizer commands: ``embed``, ``demo``, ``train``, ``assign``, ``lookup``, ``import-ids``.

Each turns its flags into settings and calls :mod:`rqvae`; heavy imports (torch, the
sentence-transformers model) happen inside the command, so ``rqvae --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.catalog_flags import catalog_spec_from, pass_catalog, pass_catalog_as_catalog_format
from cli.probe_command import probe, random_ids
from rqvae.errors import printable

# --- data -------------------------------------------------------------------------------------


@click.command()
@click.option("--catalog", required=True, type=click.Path(dir_okay=False), help="Catalog file.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .npy file.")
@click.option("--model", "model_path", default=None, help="sentence-transformers model folder.")
@click.option("--batch-size", default=64, show_default=True, type=int)
@pass_catalog
def embed(catalog, out, model_path, batch_size, catalog_flags):
    """Embed a catalog's item texts with sentence-transformers (offline)."""
    from rqvae.data.catalog import load_catalog
    from rqvae.data.sentence_encoder import embed_catalog

    spec = catalog_spec_from(catalog, **catalog_flags)
    items = load_catalog(spec)
    out = embed_catalog(items, Path(out), spec=spec, model_path=model_path, batch_size=batch_size)
    click.echo(f"wrote {out} ({len(items)} items) and {out.with_suffix('.json')}")


@click.command()
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--cache-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Where the MovieLens download is kept (default: ~/.cache/rqvae-workbench).",
)
@click.option("--force", is_flag=True, help="Retrain (and probe) the demo runs even if they exist.")
def demo(runs_dir, cache_dir, force):
    """Download MovieLens-100k, embed it, train and probe two demo runs, print their verdicts."""
    from cli.analysis_commands import print_demo_verdicts
    from rqvae.demo import run_demo
    from rqvae.training.threads import use_default_threads

    use_default_threads()  # as `rqvae train` does: one thread unless OMP_NUM_THREADS says more
    cache = Path(cache_dir) if cache_dir else None
    run_dirs = run_demo(Path(runs_dir), cache_dir=cache, force=force)
    print_demo_verdicts(run_dirs, runs_dir)


# --- training ---------------------------------------------------------------------------------


def setting_help(name: str, text: str) -> str:
    """``text`` and the setting's default, read from its settings dataclass (so the help can
    never drift from the value training uses)."""
    from rqvae.model.config import OVERRIDE_FIELDS, ModelConfig, TrainConfig

    settings = ModelConfig if OVERRIDE_FIELDS[name] == "model" else TrainConfig
    default = getattr(settings(), name)
    shown = ("--ema" if default else "--no-ema") if isinstance(default, bool) else default
    return f"{text}  [default: {shown}]"


@click.command()
@click.option("--embeddings", required=True, type=click.Path(dir_okay=False))
@click.option("--catalog", default=None, type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False))
@click.option("--epochs", type=int, default=None, help=setting_help("epochs", "Epochs at most."))
@click.option(
    "--levels",
    "num_levels",
    type=int,
    default=None,
    help=setting_help("num_levels", "Codebook levels."),
)
@click.option(
    "--codebook-size",
    type=int,
    default=None,
    help=setting_help("codebook_size", "Codes per level."),
)
@click.option("--beta", type=float, default=None, help=setting_help("beta", "Commitment weight."))
@click.option("--lr", type=float, default=None, help=setting_help("lr", "Peak learning rate."))
@click.option(
    "--batch-size", type=int, default=None, help=setting_help("batch_size", "Items per batch.")
)
@click.option("--seed", type=int, default=None, help=setting_help("seed", "Random seed."))
@click.option(
    "--distance",
    type=click.Choice(["euclidean", "cosine"]),
    default=None,
    help=setting_help("distance", "Codeword distance."),
)
@click.option(
    "--estimator",
    "gradient_estimator",
    type=click.Choice(["ste", "rotation"]),
    default=None,
    help=setting_help("gradient_estimator", "Gradient estimator."),
)
@click.option("--ema/--no-ema", "ema", default=None, help=setting_help("ema", "EMA codebooks."))
@click.option(
    "--patience",
    type=int,
    default=None,
    help=setting_help(
        "patience", "Stop once the best epoch is this many epochs old (0: never stop early)."
    ),
)
@click.option("--resume", is_flag=True, help="Continue a killed run from its last checkpoint.")
@click.option(
    "--method",
    type=click.Choice(["rqvae", "rq-kmeans", "faiss-rq", "hkmeans", "category-prefix"]),
    default="rqvae",
    show_default=True,
    help="rqvae, or a baseline written in the same run format.",
)
@click.option("--balanced", is_flag=True, help="rq-kmeans: equal-size clusters (Sinkhorn).")
@click.option("--beam", type=int, default=None, help="faiss-rq: beam width (default 5).")
@pass_catalog
def train(
    embeddings,
    catalog,
    out,
    config_path,
    resume,
    method,
    balanced,
    beam,
    catalog_flags,
    **overrides,
):
    """Train an RQ-VAE (or a baseline, --method) on an embeddings file; write a run folder.

    Data-parallel under torchrun: torchrun --nproc_per_node N -m rqvae -- train ...
    """
    from rqvae.files import read_json
    from rqvae.model.config import load_config
    from rqvae.training.distributed import distributed_session
    from rqvae.training.threads import use_default_threads
    from rqvae.training.train import train as train_run

    use_default_threads()  # OMP_NUM_THREADS, else the measured default
    overrides = {key: value for key, value in overrides.items() if value is not None}
    config = load_config(Path(config_path) if config_path else None, overrides)
    if method != "rqvae" or balanced or beam is not None:
        train_baseline_run(config, method, balanced, beam, embeddings, out, catalog, catalog_flags)
        return
    with distributed_session() as (rank, _):  # one rank outside torchrun
        run_dir = train_run(
            config,
            out_dir=Path(out),
            embeddings_path=Path(embeddings),
            catalog=catalog_spec_from(catalog, **catalog_flags),
            resume=resume,
        )
    if rank != 0:
        return
    best = (read_json(run_dir / "status.json", root=run_dir).get("best") or {}).get("epoch")
    click.echo(f"{run_dir}: trained, best checkpoint from epoch {best}")
    click.echo(f"next: rqvae assign --run {run_dir}")


def train_baseline_run(config, method, balanced, beam, embeddings, out, catalog, flags) -> None:
    """``train --method <baseline>``: fit it and write its run folder (IDs included)."""
    from rqvae.baselines import BaselineSettings, train_baseline
    from rqvae.errors import InputError

    if method == "rqvae":
        raise InputError("--balanced and --beam apply to the baselines (--method), not rqvae")
    settings = BaselineSettings(
        method=method,
        levels=config.model.num_levels,
        codebook_size=config.model.codebook_size,
        seed=config.train.seed,
        balanced=balanced,
        beam=beam,
    )
    run_dir = train_baseline(
        settings, Path(out), Path(embeddings), catalog_spec_from(catalog, **flags)
    )
    click.echo(f"{run_dir}: {method} fitted; semantic IDs in {run_dir / 'semantic_ids.parquet'}")


LAST_LEVEL_OPTION = click.option(
    "--last-level",
    type=click.Choice(["balanced", "nearest"]),
    default="balanced",
    show_default=True,
    help="balanced: items that would share a whole ID move to the free last-level codes of "
    "their prefix nearest to them (rqvae/ids/last_level.py); nearest: the nearest codeword at "
    "every level.",
)


@click.command()
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False))
@click.option("--embeddings", default=None, type=click.Path(dir_okay=False))
@click.option(
    "--checkpoint",
    default="best",
    show_default=True,
    help="Which checkpoint: best or last.",
)
@click.option(
    "--shard",
    default=None,
    metavar="I/N",
    help="Assign only rows of shard I of N (contiguous); combine the parts with merge-ids.",
)
@LAST_LEVEL_OPTION
@click.option(
    "--reassign-all",
    is_flag=True,
    help="Re-assign every item of a run grown by `rqvae extend` (refused without it), and "
    "report how many IDs change against the current table.",
)
def assign(run_dir, embeddings, checkpoint, shard, last_level, reassign_all):
    """Assign semantic IDs to every item; writes RUN/semantic_ids.parquet.

    Under torchrun (WORLD_SIZE > 1) every rank encodes its shard and rank 0 writes the table.
    """
    from rqvae.ids import assign as assigning
    from rqvae.ids.shards import Shard
    from rqvae.runs.checkpoint import best_warning
    from rqvae.training.distributed import distributed_session, launched_by_torchrun

    embeddings_path = Path(embeddings) if embeddings else None
    if reassign_all:
        if shard is not None or launched_by_torchrun():
            from rqvae.errors import InputError

            raise InputError("--reassign-all runs in one process, without --shard or torchrun")
        done = assigning.reassign_all(Path(run_dir), embeddings_path, checkpoint, last_level)
        _echo_ids(Path(run_dir), done.table)
        _echo_churn(done.churn)
        return
    if shard is not None:
        part = assigning.assign_shard(
            Path(run_dir), Shard.parse(shard), embeddings_path, checkpoint
        )
        click.echo(
            f"{part}: shard {shard} written; once every shard is: rqvae merge-ids --run {run_dir}"
        )
        return
    if launched_by_torchrun():
        with distributed_session():
            table = assigning.assign_distributed(
                Path(run_dir), embeddings_path, checkpoint, last_level
            )
        if table is None:  # not rank 0
            return
    else:
        table = assigning.assign_run(Path(run_dir), embeddings_path, checkpoint, last_level)
    _echo_ids(Path(run_dir), table)
    warning = best_warning(Path(run_dir)) if checkpoint == "best" else None
    if warning:
        click.echo(f"warning: {warning}", err=True)


@click.command("merge-ids")
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False))
@click.option(
    "--embeddings",
    default=None,
    type=click.Path(dir_okay=False),
    help="The embeddings the shards were assigned from (default: the run's).",
)
@LAST_LEVEL_OPTION
def merge_ids(run_dir, embeddings, last_level):
    """Combine the parts of `assign --shard i/n` into RUN/semantic_ids.parquet."""
    from rqvae.ids.assign import merge_ids as merge

    embeddings_path = Path(embeddings) if embeddings else None
    _echo_ids(Path(run_dir), merge(Path(run_dir), embeddings_path, last_level))


def _echo_ids(run_dir: Path, table) -> None:
    from rqvae.runs.semantic_ids import read_ids_source

    path = run_dir / "semantic_ids.parquet"
    unique = (table["collision"] == 0).mean()
    click.echo(
        f"{path}: {len(table)} items, unique-ID ratio {unique:.4f} before the collision level"
    )
    source = read_ids_source(path, root=run_dir) or {}
    if source.get("last_level") == "balanced":
        click.echo(
            f"last level balanced: {source.get('last_level_moved', 0)} items moved to a free "
            f"code of their prefix, {source.get('last_level_left_colliding', 0)} left colliding "
            "(their prefix was full); --last-level nearest keeps the nearest codewords"
        )


def _echo_churn(churn: dict | None) -> None:
    """How many IDs ``assign --reassign-all`` changed against the table it replaced."""
    if churn is None:
        click.echo("re-assigned every item (the run had no IDs before)")
        return
    prefixes = ", ".join(
        f"{length} code{'s' if length > 1 else ''} {share:.2%}"
        for length, share in enumerate(churn["share"][:-1], start=1)
    )
    click.echo(
        f"re-assigned every item: {churn['changed'][-1]:,} of {churn['items']:,} items "
        f"({churn['share'][-1]:.2%}) changed their ID (codes and collision index) against the "
        f"table it replaced; changed prefixes: {prefixes}; {churn['only_after']:,} items had "
        "no ID before"
    )


@click.command("import-ids")
@click.option("--ids", "ids_path", required=True, type=click.Path(dir_okay=False), help="ID file.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="New run folder.")
@click.option("--catalog", default=None, type=click.Path(dir_okay=False), help="Catalog file.")
@click.option("--embeddings", default=None, type=click.Path(dir_okay=False), help="EMB.npy.")
@click.option("--codebook-size", type=int, default=None, help="K (default: inferred).")
@click.option("--allow-missing", is_flag=True, help="Accept an ID file lacking some catalog items.")
@click.option(
    "--level-columns",
    default=None,
    metavar="C0,C1,...",
    help="A table's code columns, in level order (default: code_N, level_N or lN).",
)
@click.option("--id-column", default=None, help="A table's item id column (default: item_id, ...).")
@pass_catalog
def import_ids(
    ids_path,
    out,
    catalog,
    embeddings,
    codebook_size,
    allow_missing,
    level_columns,
    id_column,
    catalog_flags,
):
    """Import semantic IDs made by another tool (LC-Rec .index.json, Parquet or CSV)."""
    from rqvae.files import read_json
    from rqvae.importers.import_ids import import_ids as run_import

    spec = catalog_spec_from(catalog, **catalog_flags)
    path = run_import(
        ids_path,
        out,
        catalog=spec,
        embeddings_path=embeddings,
        codebook_size=codebook_size,
        allow_missing=allow_missing,
        level_columns=level_columns.split(",") if level_columns else None,
        id_column=id_column,
    )
    click.echo(f"imported {ids_path} -> {path}")
    missing = read_json(Path(path) / "status.json", root=path).get("missing_items")
    if missing:
        click.echo(f"warning: {missing} catalog items have no ID (--allow-missing)", err=True)


NOT_LOADED_SHOWN = 20  # placeholder names printed by import-checkpoint


@click.command("import-checkpoint")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False), help=".pth/.pt/.ckpt")
@click.option("--embeddings", required=True, type=click.Path(dir_okay=False), help="EMB.npy")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="New run folder.")
@click.option(
    "--format",
    "checkpoint_format",
    default="auto",
    show_default=True,
    type=click.Choice(
        ["auto", "lcrec", "rqvae-recommender", "semantic-ids-llm", "grid", "codebooks"]
    ),
)
@click.option(
    "--activation",
    type=click.Choice(["relu", "silu", "gelu", "tanh", "sigmoid"]),
    default=None,
    help="Encoder activation, over what the checkpoint says (its config or module tree; "
    "else LC-Rec relu, others silu).",
)
@click.option(
    "--codebook-normalize/--no-codebook-normalize",
    default=None,
    help="RQ-VAE-Recommender's codebook_normalize when its model_config cannot be read.",
)
@click.option(
    "--normalize-residuals/--no-normalize-residuals",
    default=None,
    help="GRID's per-level residual L2 normalisation (default on).",
)
@click.option(
    "--ids",
    "ids_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="The codebase's own (collision-resolved) ID file, kept for comparison.",
)
@click.option("--catalog", default=None, type=click.Path(dir_okay=False), help="Catalog file.")
@click.option(
    "--encoder",
    default=None,
    type=click.Path(dir_okay=False),
    help="With a plain .npy/.safetensors codebook stack: the encoder's Linear layers.",
)
@pass_catalog_as_catalog_format
def import_checkpoint(
    checkpoint,
    embeddings,
    out,
    checkpoint_format,
    activation,
    codebook_normalize,
    normalize_residuals,
    ids_path,
    catalog,
    encoder,
    catalog_flags,
):
    """Turn another codebase's RQ-VAE checkpoint into a run folder (nothing in it is run)."""
    from rqvae.importers.import_checkpoint import import_checkpoint as run_import

    result = run_import(
        checkpoint,
        embeddings,
        out,
        format=checkpoint_format,
        activation=activation,
        codebook_normalize=codebook_normalize,
        normalize_residuals=normalize_residuals,
        catalog=catalog_spec_from(catalog, **catalog_flags),
        ids_path=ids_path,
        encoder=encoder,
    )
    chosen = "detected" if checkpoint_format == "auto" else "given"
    click.echo(f"{printable(checkpoint, 1000)}: format {result.format} ({chosen})")
    for name, value in result.settings.items():
        click.echo(f"  {name} = {value} (from {result.settings_from[name]})")
    if result.not_loaded:
        # names from the file: printable already, but a hostile one may list thousands
        shown = result.not_loaded[:NOT_LOADED_SHOWN]
        more = len(result.not_loaded) - len(shown)
        tail = f" and {more:,} more (config.json source.not_loaded)" if more > 0 else ""
        click.echo(f"  not loaded (never run): {', '.join(shown)}{tail}")
    for warning in result.warnings:
        click.echo(f"warning: {printable(warning, 1000)}", err=True)
    click.echo(
        f"{result.run_dir}: imported, unique-ID ratio {result.unique_id_ratio:.4f} "
        "before the collision level"
    )


@click.command()
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False))
@click.option("--limit", default=20, show_default=True, type=int)
@click.argument("query")
def lookup(run_dir, query, limit):
    """Map an ID string (or prefix) to its items, or a title substring to IDs."""
    from rqvae.ids.lookup import lookup as lookup_items

    table = lookup_items(Path(run_dir), query, limit=limit)
    if table.empty:
        click.echo(f"no item matches {query!r}")
        sys.exit(1)
    with_pandas_width(lambda: click.echo(table.to_string(index=False)))


def with_pandas_width(callback) -> None:
    import pandas as pd

    with pd.option_context("display.max_colwidth", 80, "display.width", 200):
        callback()


COMMANDS = [
    embed,
    demo,
    train,
    assign,
    merge_ids,
    lookup,
    import_ids,
    import_checkpoint,
    probe,
    random_ids,
]
