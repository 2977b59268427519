"""``rqvae extend``: add items to a run without moving any ID, and say whether to retrain."""

from __future__ import annotations

from pathlib import Path

import click

from cli.catalog_flags import catalog_spec_from, pass_catalog


@click.command()
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False))
@click.option(
    "--embeddings",
    required=True,
    type=click.Path(dir_okay=False),
    help="The new items, or the whole grown catalogue (items already in the run are kept).",
)
@click.option(
    "--catalog",
    default=None,
    type=click.Path(dir_okay=False),
    help="The embeddings' catalog, row i = item i (needed when the run keeps a catalog).",
)
@click.option(
    "--update",
    is_flag=True,
    help="Accept items already in the run with another embedding: they keep their IDs and the "
    "new embedding is stored (recorded in extensions.json).",
)
@click.option(
    "--checkpoint",
    default=None,
    help="best or last (default: the checkpoint the run's IDs were assigned from).",
)
@click.option(
    "--last-level",
    type=click.Choice(["balanced", "nearest"]),
    default=None,
    help="balanced: a new item whose nearest ID is taken moves to a free last-level code of its "
    "prefix; nearest: keep the nearest codes (default: the rule the IDs were assigned with).",
)
@pass_catalog
def extend(run_dir, embeddings, catalog, update, checkpoint, last_level, catalog_flags):
    """Add items to RUN: new items get IDs, no existing ID moves (writes a new generation)."""
    from rqvae.ids.extend import extend_run

    result = extend_run(
        Path(run_dir),
        Path(embeddings),
        catalog=catalog_spec_from(catalog, **catalog_flags),
        update=update,
        checkpoint=checkpoint,
        last_level=last_level,
    )
    if result.generation == 0:
        click.echo(
            f"{run_dir}: nothing to add: the {result.already_in_run:,} items of {embeddings} are "
            "already in the run with the same embedding; nothing written"
        )
        return
    click.echo(
        f"{run_dir}: generation {result.generation}: {result.added:,} new items "
        f"({result.already_in_run:,} already in the run, {result.updated:,} updated), "
        f"{result.n_items:,} items now"
    )
    if result.updated:
        click.echo(
            f"updated: {result.updated:,} items keep their IDs with a new embedding; for "
            f"{result.updated_off_prefix:,} of them the quantizer would now choose another prefix"
        )
    if result.added:
        click.echo(
            f"last level ({result.rule}): {result.moved:,} new items moved to a free code of "
            f"their prefix; {result.colliding:,} kept a collision index (no free code left in "
            "their prefix)"
        )
    if catalog is not None and result.added and not result.catalog_kept:
        click.echo("note: the run keeps no catalog; --catalog only named the embeddings' rows")
    if result.fit is not None:
        for line in fit_lines(result.fit):
            click.echo(line)
    run = Path(run_dir)
    click.echo(f"wrote {run / 'semantic_ids.parquet'} and {run / 'extensions.json'}")


def fit_lines(fit: dict) -> list[str]:
    """The fit report of :mod:`rqvae.ids.fit` as the lines ``extend`` prints."""
    reference = fit["reference"]
    lines = [
        f"fit of the {fit['new_items']:,} new items against {reference['items']:,} of the "
        f"{reference['of']:,} generation-0 items (latent units):",
        f"  {'':<20} {'originals p50 / p95':>21} {'new p50 / p95':>21} {'new above p95':>14}",
    ]
    rows = [(f"level {row['level']} distance", row) for row in fit["levels"]]
    rows.append(("quantization error", fit["quantization_error"]))
    for name, row in rows:
        lines.append(
            f"  {name:<20} {_pair(row['reference']):>21} {_pair(row['new']):>21} "
            f"{_share(row['share_above_reference_p95']):>14}"
        )
    crowded, filled = fit["crowded"], fit["filled"]
    lines.append(
        f"  crowded prefixes (>= {crowded['fill']:.0%} of last-level codes used): "
        f"{crowded['prefixes']:,}; {crowded['new_items']:,} new items ({_share(crowded['share'])}) "
        "landed in them"
    )
    examples = f" ({', '.join(filled['examples'])})" if filled["examples"] else ""
    lines.append(f"  prefixes the new items filled up: {filled['prefixes']:,}{examples}")
    level0 = fit["level0"]
    lines.append(
        f"  level-0 codes: {_codes(level0['empty'], 'expected new items but got none')}; "
        f"{_codes(level0['overloaded'], 'got too many')}; total variation "
        f"{level0['total_variation']:.3f}"
    )
    lines.append(f"recommendation: {fit['recommendation']}")
    lines += [f"  {'x' if check['failed'] else '-'} {check['reason']}" for check in fit["checks"]]
    return lines


def _pair(summary: dict | None) -> str:
    return "-" if summary is None else f"{summary['p50']:.4g} / {summary['p95']:.4g}"


def _share(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def _codes(found: dict, what: str) -> str:
    examples = ", ".join(
        f"{example['code']}: {example['got']} vs {example['expected']:.1f} expected"
        for example in found["examples"]
    )
    return f"{found['codes']} {what}" + (f" ({examples})" if examples else "")


COMMANDS = [extend]
