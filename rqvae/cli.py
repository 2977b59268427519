"""The ``rqvae`` command line: turns flags into settings and calls the library.

Commands that need the analysis package (``import-ids``, ``diagnose``, ``report``) live in
``analysis/cli.py`` and are loaded only when called: the CLI is the one place where the two
packages meet, and the rest of ``rqvae`` never imports ``analysis``.
"""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path

import click

from rqvae.errors import InputError

# Commands implemented outside this module: name -> "module:attribute".
LAZY_COMMANDS = {
    "import-ids": "analysis.cli:import_ids",
    "diagnose": "analysis.cli:diagnose",
    "report": "analysis.cli:report",
}


class WorkbenchGroup(click.Group):
    """Click group that loads the analysis commands lazily and turns InputError into one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            module_name, attribute = LAZY_COMMANDS[name].split(":")
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)


@click.group(cls=WorkbenchGroup)
@click.version_option(package_name="rqvae-workbench")
def main() -> None:
    """Train RQ-VAE semantic IDs from item catalogs and diagnose them."""


def catalog_options(function):
    """Flags that describe how to read a catalog; shared by every command that takes one."""
    options = [
        click.option(
            "--format",
            "catalog_format",
            type=click.Choice(["auto", "generic", "amazon", "lcrec", "movielens"]),
            default="auto",
            show_default=True,
            help="Catalog layout. auto: from the file name (meta_*.jsonl -> amazon, "
            "*.item.json -> lcrec, *.item -> movielens, else generic).",
        ),
        click.option("--id-field", default=None, help="Generic format: the item id column."),
        click.option(
            "--text-fields", default=None, help="Generic format: comma-separated text columns."
        ),
        click.option("--category-field", default=None, help="Column holding the category path."),
        click.option(
            "--category-sep",
            default=None,
            help="Separator when the category path is one string (e.g. ' > ').",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def catalog_spec_from(catalog: str | None, **flags):
    """Build a CatalogSpec from the catalog flags, or None when no catalog was given."""
    if catalog is None:
        return None
    from rqvae.catalog import CatalogSpec

    text_fields = flags.get("text_fields")
    return CatalogSpec(
        path=Path(catalog),
        format=flags.get("catalog_format") or "auto",
        id_field=flags.get("id_field"),
        text_fields=tuple(text_fields.split(",")) if text_fields else None,
        category_field=flags.get("category_field"),
        category_sep=flags.get("category_sep"),
    )


def _split_catalog_flags(kwargs: dict) -> dict:
    keys = ("catalog_format", "id_field", "text_fields", "category_field", "category_sep")
    return {key: kwargs.pop(key) for key in keys}


def pass_catalog(function):
    """Decorator: collect the catalog flags into ``catalog_flags`` for the command body."""

    @functools.wraps(function)
    def wrapper(**kwargs):
        return function(catalog_flags=_split_catalog_flags(kwargs), **kwargs)

    return catalog_options(wrapper)


# --- data -------------------------------------------------------------------------------------


@main.command()
@click.option("--catalog", required=True, type=click.Path(dir_okay=False), help="Catalog file.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .npy file.")
@click.option("--model", "model_path", default=None, help="sentence-transformers model folder.")
@click.option("--batch-size", default=64, show_default=True, type=int)
@pass_catalog
def embed(catalog, out, model_path, batch_size, catalog_flags):
    """Embed a catalog's item texts with sentence-transformers (offline)."""
    from rqvae.catalog import load_catalog
    from rqvae.embed import embed_catalog

    spec = catalog_spec_from(catalog, **catalog_flags)
    items = load_catalog(spec)
    out = embed_catalog(items, Path(out), spec=spec, model_path=model_path, batch_size=batch_size)
    click.echo(f"wrote {out} ({len(items)} items) and {out.with_suffix('.json')}")


@main.command()
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--cache-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Where the MovieLens download is kept (default: ~/.cache/rqvae-workbench).",
)
@click.option("--force", is_flag=True, help="Retrain the demo runs even if they exist.")
def demo(runs_dir, cache_dir, force):
    """Download MovieLens-100k, embed it and train two demo runs to compare."""
    from rqvae.demo import run_demo

    run_demo(Path(runs_dir), cache_dir=Path(cache_dir) if cache_dir else None, force=force)


# --- training ---------------------------------------------------------------------------------


@main.command()
@click.option("--embeddings", required=True, type=click.Path(dir_okay=False))
@click.option("--catalog", default=None, type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False))
@click.option("--epochs", type=int, default=None)
@click.option("--levels", "num_levels", type=int, default=None)
@click.option("--codebook-size", type=int, default=None)
@click.option("--beta", type=float, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--distance", type=click.Choice(["euclidean", "cosine"]), default=None)
@click.option(
    "--estimator", "gradient_estimator", type=click.Choice(["ste", "rotation"]), default=None
)
@click.option("--ema/--no-ema", "ema", default=None, help="EMA codebook updates.")
@click.option("--resume", is_flag=True, help="Continue a killed run from its last checkpoint.")
@pass_catalog
def train(embeddings, catalog, out, config_path, resume, catalog_flags, **overrides):
    """Train an RQ-VAE on an embeddings file and write a run folder."""
    from rqvae.config import load_config
    from rqvae.runs import read_json
    from rqvae.train import train as train_run

    overrides = {key: value for key, value in overrides.items() if value is not None}
    config = load_config(Path(config_path) if config_path else None, overrides)
    run_dir = train_run(
        config,
        out_dir=Path(out),
        embeddings_path=Path(embeddings),
        catalog=catalog_spec_from(catalog, **catalog_flags),
        resume=resume,
    )
    best = (read_json(run_dir / "status.json").get("best") or {}).get("epoch")
    click.echo(f"{run_dir}: trained, best checkpoint from epoch {best}")
    click.echo(f"next: rqvae assign --run {run_dir}")


@main.command()
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False))
@click.option("--embeddings", default=None, type=click.Path(dir_okay=False))
@click.option(
    "--checkpoint",
    default="best",
    show_default=True,
    help="Which checkpoint: best, last, or epoch_NNNN.",
)
def assign(run_dir, embeddings, checkpoint):
    """Assign semantic IDs to every item; writes RUN/semantic_ids.parquet."""
    from rqvae.assign import assign_run

    table = assign_run(
        Path(run_dir),
        embeddings_path=Path(embeddings) if embeddings else None,
        checkpoint=checkpoint,
    )
    unique = (table["collision"] == 0).mean()
    click.echo(
        f"{Path(run_dir) / 'semantic_ids.parquet'}: {len(table)} items, "
        f"unique-ID ratio {unique:.4f} before the collision level"
    )


@main.command()
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False))
@click.option("--limit", default=20, show_default=True, type=int)
@click.argument("query")
def lookup(run_dir, query, limit):
    """Map an ID string (or prefix) to its items, or a title substring to IDs."""
    from rqvae.lookup import lookup as lookup_items

    table = lookup_items(Path(run_dir), query, limit=limit)
    if table.empty:
        click.echo(f"no item matches {query!r}")
        sys.exit(1)
    with_pandas_width(lambda: click.echo(table.to_string(index=False)))


def with_pandas_width(callback) -> None:
    import pandas as pd

    with pd.option_context("display.max_colwidth", 80, "display.width", 200):
        callback()


if __name__ == "__main__":
    main()
