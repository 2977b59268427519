"""Input checks shared by every analysis module, and the "diagnostic unavailable" signal.

Public analysis functions check their inputs here and then call private helpers that trust
them. Bad user data raises :class:`rqvae.errors.InputError` with a message that says what was
expected, e.g. ``"codes has shape (500,), expected (n_items, n_levels)"``.

A diagnostic that cannot be computed for a legal input (no categories in the catalog, no
checkpoint in an imported run) raises :class:`DiagnosticUnavailable` with a one-line reason.
This is the single pattern used across ``analysis/``: callers that assemble a full report
catch it and record ``{"available": False, "reason": str(error)}`` instead of crashing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rqvae.errors import InputError


class DiagnosticUnavailable(Exception):
    """A diagnostic cannot be computed for this run; ``reason`` says why, in one line.

    Not an error in the user's data: an imported run has no checkpoint, a catalog may have no
    categories. Report assembly catches it and shows the reason in place of the diagnostic.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check_codes(codes, name: str = "codes") -> np.ndarray:
    """Return ``codes`` as an int64 array of shape (n_items, n_levels), or raise InputError.

    Accepts any array-like of non-negative integers (integer dtype, or floats that are whole
    numbers). At least one item and one level are required.
    """
    array = np.asarray(codes)
    if array.ndim != 2:
        raise InputError(f"{name} has shape {array.shape}, expected (n_items, n_levels)")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{name} has shape {array.shape}, expected at least one item and level")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise InputError(f"{name} holds non-integer values, expected integer codes")
    elif array.dtype.kind not in "iu":
        raise InputError(f"{name} has dtype {array.dtype}, expected integer codes")
    array = array.astype(np.int64, copy=False)
    if array.min() < 0:
        row, level = np.argwhere(array < 0)[0]
        raise InputError(
            f"{name} holds negative code {array[row, level]} (item {row}, level {level}); "
            "codes must be >= 0"
        )
    return array


def check_codebook_size(codebook_size, codes: np.ndarray | None = None, name: str = "codes") -> int:
    """Return ``codebook_size`` as a positive int; with ``codes``, check every code is below it."""
    if isinstance(codebook_size, bool) or not isinstance(codebook_size, int | np.integer):
        raise InputError(f"codebook_size is {codebook_size!r}, expected a positive integer")
    size = int(codebook_size)
    if size < 1:
        raise InputError(f"codebook_size is {size}, expected a positive integer")
    if codes is not None:
        too_big = codes >= size
        if too_big.any():
            row, level = np.argwhere(too_big)[0]
            raise InputError(
                f"{name} holds code {codes[row, level]} at level {level} (item {row}), "
                f"expected codes below codebook_size {size}"
            )
    return size


def check_vector(values, n_items: int, name: str) -> np.ndarray:
    """Return a 1-D array of length ``n_items`` (e.g. a collision column), or raise InputError."""
    array = np.asarray(values)
    if array.shape != (n_items,):
        raise InputError(f"{name} has shape {array.shape}, expected ({n_items},)")
    return array


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


def check_finite_chunk(chunk: np.ndarray, start: int, name: str = "embeddings") -> None:
    """Raise InputError naming the first rows (global index) of ``chunk`` with NaN or inf."""
    bad = ~np.isfinite(chunk).all(axis=1)
    if bad.any():
        rows = (np.flatnonzero(bad)[:5] + start).tolist()
        raise InputError(f"{name}: rows {', '.join(map(str, rows))} contain NaN or inf")


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
