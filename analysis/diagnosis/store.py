"""On-disk cache of a whole :class:`~analysis.diagnosis.results.Diagnosis`, shared by
``rqvae diagnose``, ``rqvae report`` and the dashboard: a run diagnosed once opens at once.

Layout: ``RUN/cache/diagnosis/<key>/`` (a 32-hex-digit key, marked by an empty
:data:`ENTRY_MARKER` file the store writes) holds ``maps/`` and / or ``plain/``, each with
``diagnosis.json`` plus one ``.parquet`` per DataFrame and one ``.npy`` per numeric array.
Nothing is unpickled: JSON names each result's dataclass by its class name, and only the
classes listed in :data:`analysis.diagnosis.results.STORED_RESULT_TYPES` are rebuilt; no module
is ever imported by a name read from the file (a hand-made cache file can at worst produce a
wrong number, never run code; and its key would not match a real run's files).

``diagnosis.json`` is ``{"format", "files": {name: sha256}, "digest", "document"}``: the
SHA-256 of every data file and ``digest``, the SHA-256 of the files map and the document
together (:func:`entry_digest`). Both are checked on read; an edited, truncated or swapped
file is a cache miss and the diagnosis is recomputed. Paths and texts that name the run folder
are stored relative to it (``{"$run_path": "checkpoints/best.safetensors"}``, ``{"$run_text":
[pieces]}``) and re-rooted on read, so a copied or moved run never shows the old location.

The key is the SHA-256 of: the diagnosis options, the contents of every run file a diagnostic
reads (semantic IDs, catalog, config, status, metrics, checkpoints), the embeddings file's size
and modification time (hashing gigabytes would cost more than it saves), and the source code of
``analysis`` and ``rqvae`` (a new release never reads an old release's numbers). A diagnosis
with UMAP maps also serves a request without them.

The store never reaches outside the run: when ``RUN/cache`` or ``RUN/cache/diagnosis`` is a
link (or not a folder), nothing is read, written or deleted there (the diagnosis is still
computed). Pruning deletes only folders the store made: a key-shaped name, a real folder
directly in the store, holding the marker.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import stat
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.diagnosis.results import STORED_RESULT_TYPES
from rqvae.errors import InputError
from rqvae.files import atomic_write_bytes, file_fingerprint, read_bytes, real_folder, sha256_of
from rqvae.runs.folder import CACHE_DIR, TENSORBOARD_DIR, Run
from rqvae.runs.safe_paths import remove_tree

STORE_DIR = "diagnosis"
STORE_FILE = "diagnosis.json"
STORE_FORMAT = 2
ENTRY_MARKER = ".rqvae-diagnosis-entry"  # written by the store into every entry it makes
KEEP_ENTRIES = 4  # newest entries kept per run; older ones are deleted on write
_KEY = re.compile(r"[0-9a-f]{32}")
_VARIANTS = ("maps", "plain")
_PACKAGES = ("analysis", "rqvae")
_ROOT = Path(__file__).resolve().parents[2]


class NotStorable(Exception):
    """A value the store has no encoding for; the diagnosis is then simply not cached."""


# --- the key -------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def code_version() -> str:
    """SHA-256 over the source files of ``analysis`` and ``rqvae``."""
    digest = hashlib.sha256()
    for package in _PACKAGES:
        for path in sorted((_ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(_ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def diagnosis_key(run_dir: Path, options: dict[str, Any]) -> str:
    """The cache key of diagnosing ``run_dir`` with ``options`` (JSON-able values).

    Only the run's regular files count (links and special files are never read: a run that
    holds one fails when a diagnostic reaches it)."""
    run = Run(run_dir)
    inputs = {
        "options": options,
        "code": code_version(),
        "files": [
            [relative, sha256_of(run.path / relative, root=run.path)]
            for relative in _run_files(run.path)
        ],
    }
    embeddings = run.embeddings_path
    if embeddings is not None and Path(embeddings).exists():
        inputs["embeddings"] = file_fingerprint(embeddings, content=False)
    encoded = json.dumps(inputs, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def _run_files(run_dir: Path) -> list[str]:
    """Relative paths of the regular files of a run, sorted; caches, TensorBoard and dot files
    left out. ``os.walk`` never descends into a linked folder."""
    found = []
    for folder, folders, files in os.walk(run_dir):
        here = Path(folder)
        if here == run_dir:
            folders[:] = [name for name in folders if name not in (CACHE_DIR, TENSORBOARD_DIR)]
        for name in files:
            path = here / name
            if not name.startswith(".") and stat.S_ISREG(os.lstat(path).st_mode):
                found.append(str(path.relative_to(run_dir)))
    return sorted(found)


# --- reading and writing -------------------------------------------------------------------------


def load_diagnosis(run_dir: Path, key: str, need_maps: bool):
    """The stored diagnosis under ``key``, or None (absent, unreadable, failing its digests,
    or without UMAP maps when ``need_maps``). A damaged entry is a cache miss, never an error."""
    run_dir = Path(run_dir)
    root = _store(run_dir, create=False)
    if root is None or not _KEY.fullmatch(key):
        return None
    for variant in _VARIANTS[:1] if need_maps else _VARIANTS:
        folder = root / key / variant
        try:
            document, files = _checked_entry(run_dir, folder)
            return _decode(document, _Context(folder, run_dir, files))
        except Exception:  # any damage or tampering: recompute  # noqa: BLE001
            continue
    return None


def save_diagnosis(run_dir: Path, key: str, diagnosis, has_maps: bool) -> bool:
    """Store ``diagnosis`` under ``key`` atomically (a folder renamed into place); returns
    False when it cannot be stored (read-only run folder, a linked cache folder, a value with
    no encoding)."""
    run_dir = Path(run_dir)
    root = _store(run_dir, create=True)
    if root is None or not _KEY.fullmatch(key):
        return False
    entry = root / key
    target = entry / ("maps" if has_maps else "plain")
    try:
        staging = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
        try:
            context = _Context(staging, run_dir, {})
            document = _encode(diagnosis, context, [0])
            files = {name: sha256_of(staging / name) for name in sorted(context.files)}
            manifest = {
                "format": STORE_FORMAT,
                "files": files,
                "digest": entry_digest(files, document),
                "document": document,
            }
            (staging / STORE_FILE).write_text(json.dumps(manifest))
            real_folder(run_dir, entry, create=True)
            atomic_write_bytes(entry / ENTRY_MARKER, b"", root=run_dir)
            remove_tree(target, run_dir)
            real_folder(run_dir, entry)  # right before the rename
            staging.rename(target)
        finally:
            if staging.exists():
                remove_tree(staging, run_dir)
    except (OSError, InputError, NotStorable, ValueError, TypeError):
        return False
    _prune(run_dir, root)
    return True


def entry_digest(files: dict[str, str], document: Any) -> str:
    """SHA-256 of an entry's files map and document, as canonical JSON."""
    text = json.dumps([files, document], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _store(run_dir: Path, create: bool) -> Path | None:
    """``RUN/cache/diagnosis`` when it is (or, with ``create``, can be made) a real folder of
    the run; None otherwise: a link there, anywhere, disables the store."""
    try:
        return real_folder(run_dir, run_dir / CACHE_DIR / STORE_DIR, create=create)
    except (InputError, OSError):
        return None


def _checked_entry(run_dir: Path, folder: Path) -> tuple[Any, dict[str, str]]:
    """The document of the entry in ``folder`` and its files map, after checking the digest."""
    manifest = json.loads(read_bytes(folder / STORE_FILE, root=run_dir))
    if not isinstance(manifest, dict) or manifest.get("format") != STORE_FORMAT:
        raise ValueError("not an entry of this store format")
    files, document = manifest.get("files"), manifest.get("document")
    if not isinstance(files, dict) or manifest.get("digest") != entry_digest(files, document):
        raise ValueError("the entry's digest does not match its content")
    return document, files


def _prune(run_dir: Path, root: Path) -> None:
    """Delete all but the KEEP_ENTRIES newest entries this store made (see the module
    docstring); anything else in the folder is left alone."""
    entries = []
    for path in root.iterdir():
        try:
            info = os.lstat(path)
            marker = os.lstat(path / ENTRY_MARKER)
        except OSError:
            continue
        ours = stat.S_ISDIR(info.st_mode) and stat.S_ISREG(marker.st_mode)
        if ours and _KEY.fullmatch(path.name):
            entries.append((info.st_mtime, path))
    for _, old in sorted(entries, reverse=True)[KEEP_ENTRIES:]:
        try:
            remove_tree(old, run_dir)
        except (OSError, InputError):
            continue


# --- encoding ------------------------------------------------------------------------------------


class _Context:
    """Where an entry's data files are (``folder``, ``files``: name -> SHA-256) and how the run
    folder is named in texts (``run_texts``: its spellings, longest first, for encoding; the
    first is the one texts are re-rooted to when decoding)."""

    def __init__(self, folder: Path, run_dir: Path, files: dict[str, str]):
        self.folder, self.run_dir, self.files = folder, run_dir, files
        spellings = {str(run_dir), str(run_dir.resolve())}
        self.run_texts = sorted(spellings, key=len, reverse=True)
        self.pattern = re.compile(
            # a spelling of the run folder, as a whole path or the start of one, never part of
            # a longer name ("runs/R" in "runs/R2" or "xruns/R")
            "|".join(rf"(?<![\w.~/-]){re.escape(text)}(?![\w~-])" for text in self.run_texts)
        )

    def data_file(self, name: Any) -> bytes:
        """The bytes of the data file ``name`` of this entry, checked against its digest."""
        if not isinstance(name, str) or name not in self.files or Path(name).name != name:
            raise ValueError(f"{name!r} is not a data file of this cache entry")
        data = read_bytes(self.folder / name, root=self.run_dir, max_bytes=None)
        if hashlib.sha256(data).hexdigest() != self.files[name]:
            raise ValueError(f"{name}: content does not match its digest")
        return data


def _encode(value: Any, context: _Context, counter: list[int]) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        pieces = context.pattern.split(value)
        return value if len(pieces) == 1 else {"$run_text": pieces}
    if isinstance(value, int | np.integer) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, float | np.floating):
        return {"$float": repr(float(value))}  # repr keeps every bit, and nan/inf
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        inside = _relative_to_run(value, context.run_dir)
        return {"$path": str(value)} if inside is None else {"$run_path": inside}
    if isinstance(value, pd.DataFrame):
        name = _next_name(counter, "parquet")
        value.to_parquet(context.folder / name)
        context.files[name] = ""
        return {"$frame": name}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"$objects": [_encode(item, context, counter) for item in value.tolist()]}
        name = _next_name(counter, "npy")
        np.save(context.folder / name, value, allow_pickle=False)
        context.files[name] = ""
        return {"$array": name}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(item, context, counter) for item in value]}
    if isinstance(value, list):
        return [_encode(item, context, counter) for item in value]
    if isinstance(value, dict):
        return {
            "$dict": [
                [_encode(k, context, counter), _encode(v, context, counter)]
                for k, v in value.items()
            ]
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if STORED_RESULT_TYPES.get(name) is not type(value):
            raise NotStorable(f"{type(value)!r} is not in STORED_RESULT_TYPES")
        fields = {
            f.name: _encode(getattr(value, f.name), context, counter)
            for f in dataclasses.fields(value)
        }
        return {"$dataclass": name, "fields": fields}
    raise NotStorable(f"no encoding for {type(value)!r}")


def _relative_to_run(path: Path, run_dir: Path) -> str | None:
    """``path`` relative to the run folder (either spelling of it), or None outside it."""
    for base in (run_dir, run_dir.resolve()):
        try:
            return str(path.relative_to(base))
        except ValueError:
            continue
    return None


def _next_name(counter: list[int], suffix: str) -> str:
    counter[0] += 1
    return f"{counter[0]:05d}.{suffix}"


def _decode(value: Any, context: _Context) -> Any:
    if isinstance(value, list):
        return [_decode(item, context) for item in value]
    if not isinstance(value, dict):
        return value
    if "$float" in value:
        return float(value["$float"])
    if "$run_text" in value:
        pieces = value["$run_text"]
        if not isinstance(pieces, list) or not all(isinstance(p, str) for p in pieces):
            raise ValueError("bad $run_text in a cache entry")
        return str(context.run_dir).join(pieces)
    if "$path" in value:
        return Path(value["$path"])
    if "$run_path" in value:
        relative = Path(value["$run_path"])
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError("bad $run_path in a cache entry")
        return context.run_dir / relative
    if "$frame" in value:
        return pd.read_parquet(io.BytesIO(context.data_file(value["$frame"])))
    if "$array" in value:
        return np.load(io.BytesIO(context.data_file(value["$array"])), allow_pickle=False)
    if "$objects" in value:
        items = [_decode(item, context) for item in value["$objects"]]
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array
    if "$tuple" in value:
        return tuple(_decode(item, context) for item in value["$tuple"])
    if "$dict" in value:
        return {_decode(k, context): _decode(v, context) for k, v in value["$dict"]}
    if "$dataclass" in value:
        cls = _result_class(value["$dataclass"])
        fields = {name: _decode(item, context) for name, item in value["fields"].items()}
        return cls(**fields)
    raise ValueError(f"unknown cache entry {sorted(value)}")


def _result_class(name: Any) -> type:
    """The registered result type called ``name``; any other name is refused."""
    if not isinstance(name, str) or name not in STORED_RESULT_TYPES:
        raise ValueError(f"{name!r} is not a stored result type")
    return STORED_RESULT_TYPES[name]
