"""Input checks shared by the metric modules (codes themselves: :mod:`rqvae.id_metrics`).

Public metric functions check their inputs here and then call private helpers that trust
them. Bad user data raises :class:`rqvae.errors.InputError` with a message that says what was
expected, e.g. ``"categories has 3 entries, expected one per item (4)"``. A legal input on
which a metric cannot be computed (a catalog without categories) raises
:class:`rqvae.errors.DiagnosticUnavailable` with a one-line reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.id_metrics import SortedCodes, check_codebook_sizes


def check_vector(values, n_items: int, name: str) -> np.ndarray:
    """Return a 1-D array of length ``n_items`` (e.g. a collision column), or raise InputError."""
    array = np.asarray(values)
    if array.shape != (n_items,):
        raise InputError(f"{name} has shape {array.shape}, expected ({n_items},)")
    return array


def checked_sizes(codes: SortedCodes, codebook_sizes: int | Sequence[int]) -> list[int]:
    """``K_l`` per level for ``codes``, as :func:`rqvae.id_metrics.check_codebook_sizes`; a
    :class:`SortedCodes` made with the same sizes was checked against them when it was made,
    so its n x L codes are not compared again (milliseconds per diagnostic at a million items).
    """
    known = codes.codebook_sizes
    if known is not None:
        if isinstance(codebook_sizes, int | np.integer) and not isinstance(codebook_sizes, bool):
            if known == [int(codebook_sizes)] * len(known):
                return known
        elif isinstance(codebook_sizes, Sequence) and list(codebook_sizes) == known:
            return known
    return check_codebook_sizes(codebook_sizes, codes.codes)


def check_embeddings(embeddings, n_items: int, name: str = "embeddings") -> np.ndarray:
    """Check a (n_items, dim) float matrix (a memmap stays a memmap; nothing is copied).

    Finiteness is checked by the callers chunk by chunk, so a memory-mapped file of millions of
    rows is never loaded whole.
    """
    if not hasattr(embeddings, "shape") or not hasattr(embeddings, "dtype"):
        embeddings = np.asarray(embeddings)
    if len(embeddings.shape) != 2:
        raise InputError(f"{name} has shape {embeddings.shape}, expected (n_items, dim)")
    if embeddings.shape[0] != n_items:
        raise InputError(
            f"{name} has {embeddings.shape[0]} rows, expected one per item ({n_items})"
        )
    if embeddings.dtype.kind != "f":
        raise InputError(f"{name} has dtype {embeddings.dtype}, expected floating point")
    return embeddings


def check_categories(categories, n_items: int) -> list[list[str]]:
    """Category paths as ``list[list[str]]`` (root first), one per item.

    ``None`` entries and missing values become ``[]``. Raises :class:`DiagnosticUnavailable`
    when there are no categories at all (``None``, or every path empty): that is a property of
    the catalog, not a mistake.
    """
    if categories is None:
        raise DiagnosticUnavailable("the catalog has no categories")
    if len(categories) != n_items:
        raise InputError(
            f"categories has {len(categories)} entries, expected one per item ({n_items})"
        )
    paths = [_as_path(path, index) for index, path in enumerate(categories)]
    if not any(paths):
        raise DiagnosticUnavailable("no item in the catalog has a category")
    return paths


def _as_path(path, index: int) -> list[str]:
    if path is None or (isinstance(path, float) and np.isnan(path)):
        return []
    if isinstance(path, str):
        raise InputError(
            f"categories[{index}] is the string {path!r}, expected a list (root first)"
        )
    if not isinstance(path, Sequence | np.ndarray):
        raise InputError(f"categories[{index}] is {type(path).__name__}, expected a list")
    return [str(part) for part in path]
