"""Look items up by semantic ID, or IDs up by item title (``rqvae lookup``).

A query is read as an ID when it starts with ``<|sid_start|>`` (or with the first level token
``<|sid_0_``). A complete ID string, ``<|sid_start|><|sid_0_3|><|sid_1_17|>...<|sid_end|>``,
and any prefix of one (tokens cut off at the end, with or without ``<|sid_end|>``) both match
every item whose leading codes equal the query's: the level codes, then the collision index,
in the order of :func:`rqvae.runs.sid_string`. Anything else is a title search: items whose id
equals the query, then items whose title contains it (case-insensitive), in catalog order.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from rqvae.errors import InputError
from rqvae.runs.folder import Run
from rqvae.runs.semantic_ids import SID_END, SID_START, level_columns, parse_sid_string

RESULT_COLUMNS = ["item_id", "sid", "title"]


def lookup(run_dir: Path, query: str, limit: int = 20) -> pd.DataFrame:
    """Items of the run at ``run_dir`` that match ``query``; see :func:`lookup_table`."""
    run = Run(run_dir)
    return lookup_table(run.semantic_ids(), run.items(), query, limit)


def lookup_table(
    semantic_ids: pd.DataFrame, items: pd.DataFrame | None, query: str, limit: int
) -> pd.DataFrame:
    """Match ``query`` against a run's IDs and titles; at most ``limit`` rows.

    Parameters
    ----------
    semantic_ids : the run's ``semantic_ids.parquet`` (``item_id, code_0.., collision, sid``).
    items : the run's ``items.parquet`` (``item_id, title, ...``) or None when the run has no
        catalog; titles are then empty and only ID queries can match.
    query : an ID string or prefix, or a title substring (see the module docstring).

    Returns
    -------
    DataFrame with columns ``item_id, sid, title``: in code order (level 0 first, then
    collision) for an ID query, in catalog order for a title query. Empty when nothing matches.
    """
    if limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    table = _with_titles(semantic_ids, items)
    query = query.strip()
    if not query:
        raise InputError("empty query: give an ID string or a title substring")
    codes = _id_prefix(query)
    if codes is not None:
        positions = _positions(semantic_ids)
        selected = semantic_ids.loc[_prefix_mask(semantic_ids, codes), positions]
        matched = table.loc[selected.sort_values(positions, kind="stable").index]
    else:
        if items is None:
            raise InputError(
                f"{query!r} is not an ID string, and the run has no items.parquet to search "
                "titles in (train with --catalog to keep the catalog)"
            )
        exact = table["item_id"] == query
        contains = table["title"].str.contains(query, case=False, regex=False, na=False)
        matched = pd.concat([table[exact], table[contains & ~exact]])
    return matched.head(limit).reset_index(drop=True)


def _with_titles(semantic_ids: pd.DataFrame, items: pd.DataFrame | None) -> pd.DataFrame:
    """``item_id, sid, title`` for every item of ``semantic_ids``, in its row order."""
    table = pd.DataFrame(
        {"item_id": semantic_ids["item_id"].astype(str), "sid": semantic_ids["sid"].astype(str)}
    )
    if items is None:
        table["title"] = ""
        return table
    titles = pd.Series(items["title"].astype(str).values, index=items["item_id"].astype(str))
    titles = titles[~titles.index.duplicated()]
    table["title"] = table["item_id"].map(titles).fillna("")
    return table


def _id_prefix(query: str) -> list[int] | None:
    """The codes of an ID query (possibly fewer than a full ID), or None for a title query."""
    if query.startswith("<|sid_0_"):
        query = SID_START + query  # the start token is optional
    if not query.startswith(SID_START):
        return None
    body = query[len(SID_START) :]
    if body.endswith(SID_END):
        body = body[: -len(SID_END)]
    if not body:
        return []  # the start token alone: every item
    # A prefix may be cut inside a token ("<|sid_1_1"); only complete tokens count.
    if not re.fullmatch(r"(<\|sid_\d+_\d+\|>)+", body):
        raise InputError(
            f"{query!r}: not an ID string; expected tokens like <|sid_0_12|><|sid_1_3|>, "
            f"optionally between {SID_START} and {SID_END}"
        )
    return parse_sid_string(SID_START + body + SID_END)


def _positions(semantic_ids: pd.DataFrame) -> list[str]:
    """The code columns in ID order: ``code_0 .. code_{L-1}``, then ``collision`` if present."""
    positions = level_columns(semantic_ids)
    if "collision" in semantic_ids.columns:
        positions = [*positions, "collision"]
    return positions


def _prefix_mask(semantic_ids: pd.DataFrame, codes: list[int]) -> pd.Series:
    """True for rows whose leading positions (levels, then collision) equal ``codes``."""
    positions = _positions(semantic_ids)
    mask = pd.Series(True, index=semantic_ids.index)
    if len(codes) > len(positions):
        return ~mask  # longer than any ID of this run: nothing can match
    for column, code in zip(positions[: len(codes)], codes, strict=True):
        mask &= semantic_ids[column].to_numpy() == code
    return mask
