"""Item catalogs: read a catalog file in one of several layouts and normalise it.

Every catalog becomes the same table, one row per item, in file order:

    item_id     str        unique id, as written in the file
    title       str        short display name
    text        str        what gets embedded (HTML stripped, entities unescaped, spaces folded)
    categories  list[str]  category path, root first; [] when the item has none
    raw         str        the original record as JSON, for display

Formats (``--format``; ``auto`` picks one from the file name) and the text each one embeds:

``generic`` (``*.jsonl[.gz]``, ``*.json-lines``, ``*.csv``, ``*.tsv``, ``*.parquet``)
    ``--id-field`` (default: the first of item_id, id, parent_asin, asin that exists),
    ``--text-fields a,b,c`` (default: those of title, name, summary, description that exist),
    ``--category-field`` (default: ``categories`` if present) holding a list, root first, or a
    string split by ``--category-sep``. Text: ``"{a}. {b}. {c}"`` (empty fields skipped, no
    period added after one that already ends a sentence; lists joined by ", ").
``amazon`` (``meta_*.jsonl[.gz]``, Amazon Reviews 2023 item metadata)
    id ``parent_asin``; categories ``categories``, or ``[main_category]`` when that list is
    empty. Text: ``"{title}. Brand: {store}. Category: {c1 > c2 > ...}. {features}. {description}"``
    with empty parts left out.
``lcrec`` (``*.item.json``, LC-Rec: one JSON object id -> record)
    categories are one string joined by "," while names contain ", ", so the path is split on
    commas not followed by a space. Text, exactly as the precomputed embeddings in
    ``../shared/data/amazon-scientific`` were made (empty parts kept):
    ``"{title}. Brand: {brand}. Category: {c1 > c2 > ...}. {description}"``.
``movielens`` (``*.item``, a RecBole atomic file such as ``ml-100k.item``)
    title with a trailing article moved to the front ("Usual Suspects, The" -> "The Usual
    Suspects") plus the year; categories ``[first listed genre]`` (MovieLens genres are flat
    tags, so the path has one level). Text: ``"{title} ({year}). Genres: {g1}, {g2}."``.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rqvae.data import records
from rqvae.errors import InputError

FORMATS = ("generic", "amazon", "lcrec", "movielens")
TEMPLATES = {
    "amazon": "{title}. Brand: {store}. Category: {c1 > c2 > ...}. {features}. {description}",
    "lcrec": "{title}. Brand: {brand}. Category: {c1 > c2 > ...}. {description}",
    "movielens": "{title} ({year}). Genres: {g1}, {g2}, ...",
}
DEFAULT_ID_FIELDS = ("item_id", "id", "parent_asin", "asin")
DEFAULT_TEXT_FIELDS = ("title", "name", "summary", "description")
DEFAULT_CATEGORY_FIELD = "categories"
TITLE_FIELDS = ("title", "name")
COLUMNS = ["item_id", "title", "text", "categories", "raw"]


@dataclass(frozen=True)
class CatalogSpec:
    """Where a catalog is and how to read it (the ``--format`` and field flags)."""

    path: Path
    format: str = "auto"  # auto | generic | amazon | lcrec | movielens
    id_field: str | None = None  # generic: the item id field
    text_fields: tuple[str, ...] | None = None  # generic: fields that make up the text
    category_field: str | None = None  # generic: the category path field
    category_sep: str | None = None  # split a category string on this, e.g. " > "

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as run folders keep it in ``config.json`` (``data.catalog``), with
        the file's ``sha256`` (``rqvae churn`` warns when two runs' catalogs differ)."""
        from rqvae.files import sha256_of

        spec = dataclasses.asdict(self)
        spec["path"] = str(Path(self.path).resolve())
        if self.text_fields is not None:
            spec["text_fields"] = list(self.text_fields)
        spec["sha256"] = sha256_of(self.path)
        return spec


# One normalised item: (item_id, title, text, categories).
Item = tuple[str, str, str, list[str]]


class _MissingField(Exception):
    """A record lacks a field that every record must have (turned into an InputError)."""

    def __init__(self, field: str, record: dict):
        super().__init__(field)
        self.field = field
        self.record = record


def load_catalog(spec: CatalogSpec) -> pd.DataFrame:
    """Read ``spec.path`` and return the normalised table described in the module docstring.

    The frame's ``attrs`` carry ``format``, ``template`` (how ``text`` was built) and
    ``catalog`` (the path). Raises :class:`InputError` naming the file for an unknown format,
    an empty or damaged file, missing id/text fields (listing the available ones) and
    duplicate item ids.
    """
    path = Path(spec.path)
    records.check_readable(path)
    fmt = resolve_format(spec)
    unit, stream = _records(path, fmt, spec)
    stream = _peek(stream, path)
    make_item, template, required = _item_maker(fmt, spec, path, stream.first)

    ids: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    categories: list[list[str]] = []
    raws: list[str] = []
    numbers: list[Any] = []
    seen_fields: set[str] = set()
    for number, record in stream:
        try:
            item_id, title, text, path_ = make_item(number, record)
        except _MissingField as missing:
            available = ", ".join(map(str, missing.record)) or "none"
            raise InputError(
                f"{path}: {unit} {number} has no {missing.field!r} field "
                f"(fields in that record: {available})"
            ) from None
        seen_fields.update(record)
        ids.append(item_id)
        titles.append(title)
        texts.append(text)
        categories.append(path_)
        raws.append(json.dumps(record, ensure_ascii=False, default=str))
        numbers.append(number)

    never_seen = [field for field in required if field not in seen_fields]
    if never_seen:
        raise InputError(
            f"{path}: no record has the field(s) {', '.join(map(repr, never_seen))}; "
            f"available fields: {', '.join(sorted(map(str, seen_fields)))}"
        )
    _check_unique(path, unit, ids, numbers)
    frame = pd.DataFrame(
        {"item_id": ids, "title": titles, "text": texts, "categories": categories, "raw": raws}
    )
    frame.attrs.update({"format": fmt, "template": template, "catalog": str(path)})
    return frame


def resolve_format(spec: CatalogSpec) -> str:
    """The concrete format of ``spec``: its ``format``, or one chosen from the file name."""
    if spec.format != "auto":
        if spec.format not in FORMATS:
            raise InputError(
                f"{spec.path}: unknown catalog format {spec.format!r} "
                f"(choose one of auto, {', '.join(FORMATS)})"
            )
        return spec.format
    path = Path(spec.path)
    name = path.name.lower()
    if name.endswith((".item.json", ".item.json.gz")):
        return "lcrec"
    if name.endswith((".item", ".item.gz")):
        return "movielens"
    container = records.container_of(path)
    if container == "jsonl" and name.startswith("meta_"):
        return "amazon"
    if container is not None:
        return "generic"
    raise InputError(
        f"{path}: unknown catalog format: cannot tell it from the file name; name the file "
        "*.jsonl[.gz], *.csv, *.tsv or *.parquet (generic), meta_*.jsonl[.gz] (amazon), "
        "*.item.json (lcrec) or *.item (movielens), or pass --format"
    )


# --- text cleaning ----------------------------------------------------------------------------

# Block tags separate words ("a<br>b" -> "a b"); inline ones do not ("<b>great</b>!").
_BLOCK_TAG = re.compile(
    r"</?(?:br|p|div|li|ul|ol|tr|td|th|h[1-6]|table|hr|dd|dt|blockquote)\b[^<>]*>", re.IGNORECASE
)
_HTML_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][^<>]*>", re.DOTALL)


def clean_text(value: Any) -> str:
    """Plain one-line text: entities unescaped, HTML tags removed, whitespace folded.

    Lists are cleaned element by element and joined with a space; None and NaN give "".
    Entities are unescaped first so that escaped markup (``&lt;br&gt;``) is removed too;
    a tag must start with a letter, so "size < 5 mm" survives.
    """
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(part for part in map(clean_text, value) if part)
    text = str(value)
    if "&" in text:
        text = html.unescape(text)
    if "<" in text:
        text = _HTML_TAG.sub("", _BLOCK_TAG.sub(" ", text))
    return " ".join(text.split())  # folds any Unicode whitespace; faster than a regex


def category_path(value: Any, sep: str | None = None) -> list[str]:
    """A category path (root first) from a list, a string split by ``sep``, or nothing.

    Amazon 2018 stores several paths as a list of lists; the first path is used.
    """
    if value is None or (isinstance(value, float) and value != value):
        return []
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        parts = list(value)
        if parts and isinstance(parts[0], (list, tuple)):
            parts = list(parts[0])
    elif isinstance(value, str):
        parts = value.split(sep) if sep else [value]
    else:
        parts = [value]
    cleaned = (clean_text(part) for part in parts)
    return [part for part in cleaned if part]


def _sentences(parts: list[str]) -> str:
    """Join non-empty parts as sentences: "a. b. c" (no period after one ending in .!?)."""
    kept = [part for part in parts if part]
    return " ".join(
        part if part.endswith((".", "!", "?")) or index == len(kept) - 1 else part + "."
        for index, part in enumerate(kept)
    )


# --- formats ----------------------------------------------------------------------------------


def _records(path: Path, fmt: str, spec: CatalogSpec) -> tuple[str, Iterator[tuple[Any, dict]]]:
    """The record unit for messages ("line", "row", "item") and the record stream."""
    if fmt == "lcrec":
        return "item", records.iter_lcrec(path)
    if fmt == "movielens":
        return "line", records.iter_atomic(path)
    container = records.container_of(path)
    if fmt == "amazon":
        container = "jsonl"  # Amazon metadata is always JSON Lines, whatever the name says
    if container is None:
        raise InputError(
            f"{path}: unknown file type for --format {fmt}: name it *.jsonl[.gz], *.csv, *.tsv "
            "or *.parquet"
        )
    unit = "line" if container == "jsonl" else "row"
    return unit, records.iter_records(path, container)


class _Peeked:
    """A record stream whose first record is already read (to choose default fields)."""

    def __init__(self, first: tuple[Any, dict], rest: Iterator[tuple[Any, dict]]):
        self.first = first[1]
        self._stream = itertools.chain([first], rest)

    def __iter__(self) -> Iterator[tuple[Any, dict]]:
        return self._stream


def _peek(stream: Iterator[tuple[Any, dict]], path: Path) -> _Peeked:
    first = next(stream, None)
    if first is None:
        raise InputError(f"{path}: empty catalog (no items)")
    return _Peeked(first, stream)


def _item_maker(
    fmt: str, spec: CatalogSpec, path: Path, first: dict
) -> tuple[Callable[[Any, dict], Item], str, list[str]]:
    """``((number, record) -> Item, text template, fields some record must have)``.

    ``number`` is what the record stream yields with each record: its line or row, or for
    LC-Rec the item id (the key of the record in the JSON object).
    """
    if fmt != "generic":
        _check_no_generic_flags(spec, path, fmt)
    if fmt == "amazon":
        return _amazon_item, TEMPLATES["amazon"], ["title"]
    if fmt == "lcrec":
        return _lcrec_item, TEMPLATES["lcrec"], ["title"]
    if fmt == "movielens":
        return _movielens_item, TEMPLATES["movielens"], ["movie_title"]
    return _generic_maker(spec, path, first)


def _check_no_generic_flags(spec: CatalogSpec, path: Path, fmt: str) -> None:
    """The field flags describe generic files; ignoring them silently would mislead."""
    flags = {
        "--id-field": spec.id_field,
        "--text-fields": spec.text_fields,
        "--category-field": spec.category_field,
        "--category-sep": spec.category_sep,
    }
    given = [flag for flag, value in flags.items() if value]
    if given:
        raise InputError(
            f"{path}: {', '.join(given)} only apply to --format generic; this file is read "
            f"as {fmt} (pass --format generic to choose the fields yourself)"
        )


def _item_id(record: dict, field: str) -> str:
    value = record.get(field)
    if value is None or value == "" or (isinstance(value, float) and value != value):
        raise _MissingField(field, record)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # ids read as numbers from Parquet must not become "12.0"
    return str(value)


def _generic_maker(
    spec: CatalogSpec, path: Path, first: dict
) -> tuple[Callable[[Any, dict], Item], str, list[str]]:
    available = ", ".join(map(str, first)) or "none"
    id_field = spec.id_field or next((f for f in DEFAULT_ID_FIELDS if f in first), None)
    if id_field is None:
        raise InputError(
            f"{path}: no id field: none of {', '.join(DEFAULT_ID_FIELDS)} exists; pass "
            f"--id-field (available fields: {available})"
        )
    text_fields = list(spec.text_fields or [f for f in DEFAULT_TEXT_FIELDS if f in first])
    if not text_fields:
        raise InputError(
            f"{path}: no text fields: none of {', '.join(DEFAULT_TEXT_FIELDS)} exists; pass "
            f"--text-fields a,b,c (available fields: {available})"
        )
    category_field = spec.category_field
    if category_field is None and DEFAULT_CATEGORY_FIELD in first:
        category_field = DEFAULT_CATEGORY_FIELD
    title_field = next((f for f in TITLE_FIELDS if f in first), text_fields[0])
    sep = spec.category_sep

    def make_item(number: int, record: dict) -> Item:
        item_id = _item_id(record, id_field)
        parts = [clean_text(record.get(field)) for field in text_fields]
        if category_field in text_fields:
            where = text_fields.index(category_field)
            parts[where] = " > ".join(category_path(record.get(category_field), sep))
        title = clean_text(record.get(title_field))
        path_ = category_path(record.get(category_field), sep) if category_field else []
        return item_id, title, _sentences(parts), path_

    template = ". ".join("{" + field + "}" for field in text_fields)
    required = [id_field, *text_fields] + ([category_field] if category_field else [])
    return make_item, template, required


def _amazon_item(number: int, record: dict) -> Item:
    item_id = _item_id(record, "parent_asin")
    title = clean_text(record.get("title"))
    path_ = category_path(record.get("categories"))
    if not path_:
        path_ = category_path(record.get("main_category"))
    store = clean_text(record.get("store"))
    parts = [
        title,
        f"Brand: {store}" if store else "",
        f"Category: {' > '.join(path_)}" if path_ else "",
        clean_text(record.get("features")),
        clean_text(record.get("description")),
    ]
    return item_id, title, _sentences(parts), path_


_LCREC_CATEGORY_SEP = re.compile(r",(?! )")  # names contain ", "; the joins are bare ","


def _lcrec_item(item_id: str, record: dict) -> Item:
    title = clean_text(record.get("title"))
    categories = record.get("categories")
    if isinstance(categories, str):
        categories = _LCREC_CATEGORY_SEP.split(categories)
    path_ = category_path(categories)
    text = (
        f"{title}. Brand: {clean_text(record.get('brand'))}. "
        f"Category: {' > '.join(path_)}. {clean_text(record.get('description'))}"
    )
    return str(item_id), title, clean_text(text), path_


_TRAILING_ARTICLE = re.compile(r"^(?P<rest>.+), (?P<article>The|A|An|Il|La|Le|Les|L'|Das|Die|El)$")


def _movielens_item(number: int, record: dict) -> Item:
    item_id = _item_id(record, "item_id")
    title = clean_text(record.get("movie_title", record.get("title")))
    match = _TRAILING_ARTICLE.match(title)
    if match:
        joiner = "" if match["article"].endswith("'") else " "
        title = f"{match['article']}{joiner}{match['rest']}"
    year = clean_text(record.get("release_year", record.get("year")))
    if year.isdigit():
        title = f"{title} ({year})"
    genre_text = record.get("class", record.get("genre", ""))
    genres = [g for g in clean_text(genre_text).split() if g.lower() != "unknown"]
    text = title + (f". Genres: {', '.join(genres)}." if genres else ".")
    return item_id, title, text, genres[:1]


def _check_unique(path: Path, unit: str, ids: list[str], numbers: list[Any]) -> None:
    duplicated = pd.Index(ids).duplicated(keep=False)
    if not duplicated.any():
        return
    positions = duplicated.nonzero()[0]
    first_id = ids[positions[0]]
    where = [str(numbers[i]) for i in positions if ids[i] == first_id][:5]
    n_ids = len({ids[i] for i in positions})
    raise InputError(
        f"{path}: duplicate item ids: {first_id!r} appears at {unit}s {', '.join(where)} "
        f"({n_ids} id(s) occur more than once)"
    )
