"""Flags that describe how to read a catalog, shared by every command that takes one."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from rqvae.data.catalog import CatalogSpec

CATALOG_FLAGS = ("catalog_format", "id_field", "text_fields", "category_field", "category_sep")


def catalog_options(function, format_flag: str = "--format"):
    """Decorator adding ``--format`` (or ``format_flag``), ``--id-field``, ``--text-fields``,
    ``--category-field`` and ``--category-sep``."""
    options = [
        click.option(
            format_flag,
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


def pass_catalog(function, format_flag: str = "--format"):
    """Decorator: add the catalog flags and hand them to the command as ``catalog_flags``."""

    @functools.wraps(function)
    def wrapper(**kwargs):
        flags = {key: kwargs.pop(key) for key in CATALOG_FLAGS}
        return function(catalog_flags=flags, **kwargs)

    return catalog_options(wrapper, format_flag)


def pass_catalog_as_catalog_format(function):
    """:func:`pass_catalog` with ``--catalog-format``, for commands whose ``--format`` is
    something else (``import-checkpoint``: the checkpoint's format)."""
    return pass_catalog(function, format_flag="--catalog-format")


def catalog_spec_from(catalog: str | None, **flags) -> CatalogSpec | None:
    """A CatalogSpec from the catalog flags, or None when no catalog was given."""
    if catalog is None:
        return None
    text_fields = flags.get("text_fields")
    return CatalogSpec(
        path=Path(catalog),
        format=flags.get("catalog_format") or "auto",
        id_field=flags.get("id_field"),
        text_fields=tuple(text_fields.split(",")) if text_fields else None,
        category_field=flags.get("category_field"),
        category_sep=flags.get("category_sep"),
    )
