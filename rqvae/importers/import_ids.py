"""Import semantic IDs made by another tool into a run folder of kind ``"imported"``.

Accepted ID files:

- **LC-Rec index** (``*.json``): ``{"<item id>": ["<a_70>", "<b_138>", ...], ...}``. Each token is
  ``<letter_number>``; the letter names the level (a = 0, b = 1, ...) and must run a, b, c, ...
  in order within an item.
- **Tables** (``*.parquet``, ``*.csv``, ``*.tsv``): one integer column per level, named
  ``code_0, code_1, ...`` or ``level_0, ...`` or ``l0, l1, ...`` (case-insensitive, the
  underscore optional; numbered 0..L-1 with no gap), plus an item id column: the first of
  item_id, id, item, itemid, parent_asin, asin, or else the only other column.

The run folder is the same as a trained run's, minus checkpoints and metrics::

    config.json   the schema of :mod:`rqvae.runs.folder` with kind "imported-ids", plus
                  "source": {"ids_file", "format", "sha256"} and "codebook_size_rule"
    status.json   {"state": "imported", ...}
    semantic_ids.parquet   item_id, code_0.., collision, sid  (as written by ``rqvae assign``)
    items.parquet          the normalised catalog, when one is given

``codebook_size`` (K, the same for every level) is the value given, else the smallest power of
two above the largest code (the reference LC-Rec files, with codes 0..255, get 256):
codebooks are powers of two in practice, and a rounded-up K only adds dead codes to the usage
counts, while a K that is too small would be wrong. Pass ``codebook_size`` when the tool used
another size.

Rows of semantic_ids.parquet follow the catalog order when a catalog is given, else the ID
file's order. The collision column is :func:`rqvae.id_metrics.collision_index` in that order.

Everything is checked and built in memory, then written to a temporary folder beside
``out_dir`` and renamed into place, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from rqvae.data.embeddings import EmbeddingReader, check_finite_chunk, item_rows
from rqvae.errors import InputError
from rqvae.files import (
    atomic_write_json,
    atomic_write_parquet,
    sha256_of,
)
from rqvae.runs.folder import (
    CONFIG_FILE,
    ITEMS_FILE,
    SEMANTIC_IDS_FILE,
    STATUS_FILE,
    config_document,
    write_run_files,
)
from rqvae.runs.lock import LOCK_FILE, run_lock
from rqvae.runs.semantic_ids import write_semantic_ids

ID_COLUMNS = ("item_id", "id", "item", "itemid", "parent_asin", "asin")
LEVEL_COLUMN = re.compile(r"^(code|level|l)_?(\d+)$", re.IGNORECASE)
LCREC_TOKEN = re.compile(r"^<([a-z])_(\d+)>$")
TABLE_SEPARATORS = {".csv": ",", ".tsv": "\t"}
MAX_CODE = 2**20 - 1  # largest code accepted: far above any codebook in use, far below int64
FINITE_CHECK_ROWS = 8192  # embeddings rows read per finite check


def import_ids(
    ids_path: str | Path,
    out_dir: str | Path,
    catalog=None,
    embeddings_path: str | Path | None = None,
    codebook_size: int | None = None,
    allow_missing: bool = False,
    level_columns: list[str] | None = None,
    id_column: str | None = None,
) -> Path:
    """Write a run folder of kind "imported-ids" from an external ID file; returns ``out_dir``.

    ids_path : LC-Rec ``*.index.json``, or a Parquet/CSV/TSV table (see the module docstring).
    catalog : optional :class:`rqvae.data.catalog.CatalogSpec`; every ID must name a catalog item.
    embeddings_path : optional ``.npy`` recorded in the run for the diagnostics that need
        embeddings; its rows must be the catalog's items (or, without a catalog, the ID file's
        rows), unless its JSON sidecar lists ``item_ids``.
    codebook_size : K; default the smallest power of two above the largest code.
    allow_missing : accept an ID file that lacks some catalog items; their count is kept as
        ``data.missing_items`` in config.json and ``missing_items`` in status.json.
    level_columns, id_column : a table's code columns (level order) and id column, when
        they are named otherwise than ``code_N`` / ``level_N`` / ``lN`` and ``item_id`` etc.

    Raises InputError (nothing written) for an empty or malformed file, ragged levels, IDs for
    items unknown to the catalog, a codebook_size below a code, or an existing run folder.
    """
    ids_path, out_dir = Path(ids_path), Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: is a file; --out must name a new run folder")
    with run_lock(out_dir, "import-ids"):
        columns = {"level_columns": level_columns, "id_column": id_column}
        return _import_locked(
            ids_path, out_dir, catalog, embeddings_path, codebook_size, allow_missing, columns
        )


def _import_locked(
    ids_path, out_dir, catalog, embeddings_path, codebook_size, allow_missing, columns
):
    if any(entry.name != LOCK_FILE for entry in out_dir.iterdir()):
        raise InputError(f"{out_dir}: already exists and is not empty; choose another --out")
    if embeddings_path is not None and not Path(embeddings_path).is_file():
        raise InputError(f"{embeddings_path}: embeddings file not found")
    item_ids, codes, file_format = read_id_file(ids_path, **columns)
    size, size_rule = _codebook_size(codes, codebook_size, ids_path)

    items = None
    if catalog is not None:
        from rqvae.data.catalog import load_catalog

        items = load_catalog(catalog)
        item_ids, codes = _align_to_catalog(item_ids, codes, items, ids_path, catalog.path)
        missing = len(items) - len(item_ids)
        if missing and not allow_missing:
            present = set(item_ids.tolist())
            absent = [i for i in items["item_id"].astype(str) if i not in present][:5]
            raise InputError(
                f"{ids_path}: has no IDs for {missing} of the {len(items)} items of the catalog "
                f"{catalog.path} (e.g. {', '.join(map(repr, absent))}); pass --allow-missing "
                "to import the others"
            )
    missing = len(items) - len(item_ids) if items is not None else 0

    dim = None
    if embeddings_path is not None:
        dim = _check_embeddings(Path(embeddings_path), item_ids, items)
    levels = int(codes.shape[1])
    config = config_document(
        "imported-ids",
        levels=levels,
        codebook_sizes=[size] * levels,
        distance="euclidean",
        data={
            "embeddings": str(Path(embeddings_path).resolve()) if embeddings_path else None,
            "embeddings_sha256": sha256_of(embeddings_path) if embeddings_path else None,
            "n_items": int(codes.shape[0]),
            "dim": dim,
            "catalog": catalog.to_dict() if catalog is not None else None,
            "item_ids": "catalog" if catalog is not None else "id_file",
            "missing_items": missing,
        },
        source={
            "ids_file": str(ids_path.resolve()),
            "format": file_format,
            "sha256": sha256_of(ids_path),
        },
        codebook_size_rule=size_rule,
    )
    status = {"state": "imported", "created": config["created"], "n_items": int(codes.shape[0])}
    status["missing_items"] = missing

    def write(staging: Path) -> None:
        write_semantic_ids(staging / SEMANTIC_IDS_FILE, item_ids, codes)
        if items is not None:
            atomic_write_parquet(staging / ITEMS_FILE, items)
        atomic_write_json(staging / STATUS_FILE, status)
        atomic_write_json(staging / CONFIG_FILE, config)

    write_run_files(out_dir, write)
    return out_dir


def read_id_file(
    path: str | Path,
    level_columns: list[str] | None = None,
    id_column: str | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Read an ID file: (item ids as object array of str, codes int64 (n, L), format name).

    For tables, ``level_columns`` (in level order) and ``id_column`` name the columns when they
    are not ``code_N`` / ``level_N`` / ``lN`` and one of the usual id names."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return (*_read_lcrec(path), "lcrec_index")
    if suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as error:  # pyarrow raises several types for damaged files
            raise InputError(f"{path}: cannot read Parquet ({error})") from None
        return (*_read_table(frame, path, level_columns, id_column), "parquet")
    if suffix in TABLE_SEPARATORS:
        try:
            frame = pd.read_csv(
                path, sep=TABLE_SEPARATORS[suffix], dtype=str, keep_default_na=False
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise InputError(f"{path}: cannot read {suffix[1:].upper()} ({error})") from None
        return (*_read_table(frame, path, level_columns, id_column), suffix[1:])
    raise InputError(
        f"{path}: unknown ID file type {suffix or '(none)'}; expected an LC-Rec .json index, "
        ".parquet, .csv or .tsv"
    )


def _read_lcrec(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        index = json.loads(path.read_text(), object_pairs_hook=_refuse_duplicate_keys)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None
    except _DuplicateKeys as error:
        raise InputError(f"{path}: item ids appear more than once: {error}") from None
    if not isinstance(index, dict):
        raise InputError(f"{path}: expected a JSON object item id -> list of tokens")
    if not index:
        raise InputError(f"{path}: no items")
    item_ids = np.array(list(index), dtype=object)
    rows: list[list[int]] = []
    malformed: list[str] = []
    for item_id, tokens in index.items():
        if not isinstance(tokens, list) or not tokens:
            malformed.append(f"item {item_id!r}: {tokens!r} is not a list of tokens")
            rows.append([])
            continue
        row = []
        for position, token in enumerate(tokens):
            match = LCREC_TOKEN.match(token) if isinstance(token, str) else None
            if match is None:
                malformed.append(f"item {item_id!r}: token {token!r} is not <letter_number>")
                break
            if ord(match.group(1)) - ord("a") != position:
                expected = chr(ord("a") + position)
                malformed.append(
                    f"item {item_id!r}: token {token!r} at position {position}, expected "
                    f"level letter {expected!r}"
                )
                break
            code = int(match.group(2))
            if code > MAX_CODE:
                malformed.append(
                    f"item {item_id!r}: code {code} in {token!r} is out of range (at most "
                    f"{MAX_CODE})"
                )
                break
            row.append(code)
        rows.append(row)
        if len(malformed) >= 5:
            break
    if malformed:
        raise InputError(f"{path}: malformed tokens: " + "; ".join(malformed))
    return item_ids, _rectangular(rows, item_ids, path)


def _rectangular(rows: list[list[int]], item_ids: np.ndarray, path: Path) -> np.ndarray:
    """Stack per-item code lists, refusing ragged levels (naming the odd items)."""
    lengths = np.array([len(row) for row in rows])
    levels = int(np.bincount(lengths).argmax())  # the most common length
    odd = np.flatnonzero(lengths != levels)
    if len(odd):
        examples = ", ".join(f"{item_ids[i]!r} ({lengths[i]} codes)" for i in odd[:5])
        raise InputError(
            f"{path}: ragged levels: {len(odd)} items do not have {levels} codes like the "
            f"others, e.g. {examples}"
        )
    return np.array(rows, dtype=np.int64).reshape(len(rows), levels)


def _read_table(
    frame: pd.DataFrame, path: Path, level_columns=None, id_column=None
) -> tuple[np.ndarray, np.ndarray]:
    if frame.empty:
        raise InputError(f"{path}: no rows")
    named = [*(level_columns or []), *([id_column] if id_column else [])]
    absent = [name for name in named if name not in frame.columns]
    if absent:
        raise InputError(
            f"{path}: no column {', '.join(map(repr, absent))}; columns are "
            f"{', '.join(map(str, frame.columns))}"
        )
    columns = list(level_columns) if level_columns else _level_columns(frame, path)
    id_column = id_column or _id_column(frame, columns, path)
    ids = frame[id_column]
    if pd.api.types.infer_dtype(ids, skipna=True) == "string":
        # text ids (the usual case): stripped in one vectorised pass, as _id_text would
        stripped = ids.str.strip()
        missing_id = ids.isna() | (stripped == "")
    else:
        stripped = None
        missing_id = ids.isna() | (ids.astype(str).str.strip() == "")
    if missing_id.any():
        raise InputError(f"{path}: rows {_rows(missing_id)} have no {id_column!r}")
    if stripped is not None:
        item_ids = stripped.to_numpy(dtype=object)
    else:
        item_ids = np.array([_id_text(value) for value in ids], dtype=object)
    duplicated = pd.Index(item_ids).duplicated()
    if duplicated.any():
        names = ", ".join(repr(i) for i in item_ids[duplicated][:5])
        raise InputError(f"{path}: item ids appear more than once: {names}")

    levels = frame[columns]
    if all(pd.api.types.is_integer_dtype(levels[c]) and levels[c].dtype != object for c in columns):
        return item_ids, _integer_codes(levels, columns, item_ids, path)
    as_text = levels.astype(str).apply(lambda column: column.str.strip())
    empty = levels.isna() | as_text.isin(["", "nan", "None", "<NA>"])
    if empty.any().any():
        ragged = np.flatnonzero(empty.any(axis=1).to_numpy())
        examples = ", ".join(repr(item_ids[i]) for i in ragged[:5])
        raise InputError(
            f"{path}: ragged levels: {len(ragged)} items lack a code in some of "
            f"{', '.join(columns)}, e.g. {examples}"
        )
    valid = as_text.apply(lambda column: column.str.fullmatch(r"\d+(\.0+)?"))
    if not valid.all().all():
        row, col = np.argwhere(~valid.to_numpy())[0]
        raise InputError(
            f"{path}: column {columns[col]!r} holds {as_text.iat[row, col]!r} for item "
            f"{item_ids[row]!r}, expected a non-negative integer code"
        )
    codes = as_text.apply(
        lambda column: column.str.replace(r"\.0+$", "", regex=True).str.lstrip("0").replace("", "0")
    )
    # More digits than MAX_CODE has cannot be a code (and would overflow int64 on the way).
    too_long = codes.apply(lambda column: column.str.len() > len(str(MAX_CODE))).to_numpy()
    values = np.where(too_long, "0", codes.to_numpy()).astype(np.int64)
    out_of_range = too_long | (values > MAX_CODE)
    if out_of_range.any():
        row, col = np.argwhere(out_of_range)[0]
        raise InputError(
            f"{path}: column {columns[col]!r} holds {codes.iat[row, col]} for item "
            f"{item_ids[row]!r}, out of range (codes are at most {MAX_CODE})"
        )
    return item_ids, values


def _integer_codes(levels: pd.DataFrame, columns: list[str], item_ids, path: Path) -> np.ndarray:
    """Codes from integer columns (no text to parse): the same checks and messages as the text
    path, without a Python string per value; nullable integer columns with gaps are ragged."""
    empty = levels.isna().to_numpy()
    if empty.any():
        ragged = np.flatnonzero(empty.any(axis=1))
        examples = ", ".join(repr(item_ids[i]) for i in ragged[:5])
        raise InputError(
            f"{path}: ragged levels: {len(ragged)} items lack a code in some of "
            f"{', '.join(columns)}, e.g. {examples}"
        )
    for name in columns:
        values = levels[name].to_numpy()
        negative = values < 0
        too_big = values > MAX_CODE
        if negative.any():
            row = int(np.flatnonzero(negative)[0])
            raise InputError(
                f"{path}: column {name!r} holds {str(values[row])!r} for item "
                f"{item_ids[row]!r}, expected a non-negative integer code"
            )
        if too_big.any():
            row = int(np.flatnonzero(too_big)[0])
            raise InputError(
                f"{path}: column {name!r} holds {values[row]} for item "
                f"{item_ids[row]!r}, out of range (codes are at most {MAX_CODE})"
            )
    return np.column_stack([levels[name].to_numpy().astype(np.int64) for name in columns])


def _level_columns(frame: pd.DataFrame, path: Path) -> list[str]:
    found = {}
    for column in frame.columns:
        match = LEVEL_COLUMN.match(str(column))
        if match:
            found.setdefault(match.group(1).lower(), {})[int(match.group(2))] = column
    if not found:
        raise InputError(
            f"{path}: no level columns; expected code_0, code_1, ... (or level_0.., l0..); "
            f"columns are {', '.join(map(str, frame.columns))}"
        )
    if len(found) > 1:
        raise InputError(f"{path}: level columns of several kinds ({', '.join(found)}); use one")
    numbered = next(iter(found.values()))
    if sorted(numbered) != list(range(len(numbered))):
        raise InputError(
            f"{path}: level columns {', '.join(map(str, numbered.values()))} must be "
            "numbered 0, 1, 2, ... with no gap"
        )
    return [numbered[level] for level in range(len(numbered))]


def _id_column(frame: pd.DataFrame, level_columns: list[str], path: Path) -> str:
    by_lower = {str(column).lower(): column for column in frame.columns}
    for name in ID_COLUMNS:
        if name in by_lower:
            return by_lower[name]
    others = [c for c in frame.columns if c not in level_columns]
    if len(others) == 1:
        return others[0]
    raise InputError(
        f"{path}: cannot tell the item id column; name it one of {', '.join(ID_COLUMNS)} "
        f"(columns are {', '.join(map(str, frame.columns))})"
    )


def _id_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # ids read as numbers must not become "12.0"
    return str(value).strip()


def _rows(mask: pd.Series) -> str:
    rows = np.flatnonzero(mask.to_numpy())
    return ", ".join(str(row) for row in rows[:5]) + (" ..." if len(rows) > 5 else "")


class _DuplicateKeys(ValueError):
    pass


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    """JSON objects keep the last of duplicated keys; an ID file must not have any."""
    keys = [key for key, _ in pairs]
    duplicated = (
        sorted({key for key in keys if keys.count(key) > 1}) if len(set(keys)) < len(keys) else []
    )
    if duplicated:
        raise _DuplicateKeys(", ".join(repr(key) for key in duplicated[:5]))
    return dict(pairs)


def _codebook_size(codes: np.ndarray, given: int | None, path: Path) -> tuple[int, str]:
    largest = int(codes.max())
    if given is not None:
        if given <= largest:
            raise InputError(f"{path}: holds code {largest}, but codebook size is {given}")
        return int(given), "given"
    inferred = max(2, 1 << largest.bit_length())  # smallest power of two > largest
    return inferred, "inferred: smallest power of two above the largest code"


def _align_to_catalog(item_ids, codes, items: pd.DataFrame, ids_path: Path, catalog_path):
    """Check every ID names a catalog item and reorder rows to the catalog's order."""
    positions = pd.Index(items["item_id"].astype(str)).get_indexer(item_ids)
    unknown = np.flatnonzero(positions < 0)
    if len(unknown):
        names = ", ".join(repr(i) for i in item_ids[unknown[:5]])
        raise InputError(
            f"{ids_path}: {len(unknown)} IDs are for items not in the catalog "
            f"{catalog_path} (e.g. {names})"
        )
    order = np.argsort(positions, kind="stable")
    return item_ids[order], codes[order]


def _check_embeddings(path: Path, item_ids: np.ndarray, items: pd.DataFrame | None) -> int:
    """Check every item has a row in the embeddings file (the rule of
    :func:`rqvae.data.embeddings.item_rows`); returns the embeddings' dimension."""
    reader = EmbeddingReader(path)
    catalog_ids = None if items is None else items["item_id"].astype(str).to_numpy(dtype=object)
    item_rows(path, reader.file_rows, np.asarray(item_ids, dtype=object).astype(str), catalog_ids)
    # The same refusal as train and assign: NaN or inf rows would poison every diagnostic.
    for start in range(0, reader.file_rows, FINITE_CHECK_ROWS):
        check_finite_chunk(reader[start : start + FINITE_CHECK_ROWS], start, name=str(path))
    return reader.shape[1]
