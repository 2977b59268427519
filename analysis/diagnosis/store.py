"""On-disk cache of a whole :class:`~analysis.diagnosis.results.Diagnosis`, shared by
``rqvae diagnose``, ``rqvae report`` and the dashboard: a run diagnosed once opens at once.

Layout: ``RUN/cache/diagnosis/<key>/`` holds ``diagnosis.json`` plus one ``.parquet`` per
DataFrame and one ``.npy`` per numeric array. Nothing is unpickled: JSON names each result's
dataclass by its class name, and only the classes listed in
:data:`analysis.diagnosis.results.STORED_RESULT_TYPES` are rebuilt; no module is ever imported
by a name read from the file (a hand-made cache file can at worst produce a wrong number, never
run code; and its key would not match a real run's files).

The key is the SHA-256 of: the diagnosis options, the contents of every run file a diagnostic
reads (semantic IDs, catalog, config, status, metrics, checkpoints), the embeddings file's size
and modification time (hashing gigabytes would cost more than it saves), and the source code of
``analysis`` and ``rqvae`` (a new release never reads an old release's numbers). A diagnosis
with UMAP maps also serves a request without them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.diagnosis.results import STORED_RESULT_TYPES
from rqvae.files import file_fingerprint
from rqvae.runs.folder import CACHE_DIR, TENSORBOARD_DIR, Run

STORE_DIR = "diagnosis"
STORE_FILE = "diagnosis.json"
KEEP_ENTRIES = 4  # newest entries kept per run; older ones are deleted on write
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
    """The cache key of diagnosing ``run_dir`` with ``options`` (JSON-able values)."""
    run = Run(run_dir)
    skipped = {CACHE_DIR, TENSORBOARD_DIR}
    files = sorted(
        path
        for path in run.path.rglob("*")
        if path.is_file()
        and path.relative_to(run.path).parts[0] not in skipped
        and not path.name.startswith(".")
    )
    inputs = {
        "options": options,
        "code": code_version(),
        "files": [
            [str(path.relative_to(run.path)), file_fingerprint(path)["sha256"]] for path in files
        ],
    }
    embeddings = run.embeddings_path
    if embeddings is not None and Path(embeddings).exists():
        inputs["embeddings"] = file_fingerprint(embeddings, content=False)
    encoded = json.dumps(inputs, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


# --- reading and writing -------------------------------------------------------------------------


def load_diagnosis(run_dir: Path, key: str, need_maps: bool):
    """The stored diagnosis under ``key``, or None (absent, unreadable, or without UMAP maps
    when ``need_maps``). A damaged entry is a cache miss, never an error."""
    folder = Path(run_dir) / CACHE_DIR / STORE_DIR / key
    for candidate in (folder / "maps", folder / "plain"):
        if not (candidate / STORE_FILE).exists() or (need_maps and candidate.name == "plain"):
            continue
        try:
            document = json.loads((candidate / STORE_FILE).read_text())
            return _decode(document, candidate)
        except Exception:  # any damage: recompute  # noqa: BLE001
            continue
    return None


def save_diagnosis(run_dir: Path, key: str, diagnosis, has_maps: bool) -> bool:
    """Store ``diagnosis`` under ``key`` atomically (a folder renamed into place); returns
    False when it cannot be stored (read-only run folder, a value with no encoding)."""
    root = Path(run_dir) / CACHE_DIR / STORE_DIR
    target = root / key / ("maps" if has_maps else "plain")
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
        try:
            document = _encode(diagnosis, staging, [0])
            (staging / STORE_FILE).write_text(json.dumps(document))
            target.parent.mkdir(exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except (OSError, NotStorable, ValueError, TypeError):
        return False
    _prune(root)
    return True


def _prune(root: Path) -> None:
    entries = sorted(
        (path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for old in entries[KEEP_ENTRIES:]:
        shutil.rmtree(old, ignore_errors=True)


# --- encoding ------------------------------------------------------------------------------------


def _encode(value: Any, folder: Path, counter: list[int]) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, float | np.floating):
        return {"$float": repr(float(value))}  # repr keeps every bit, and nan/inf
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return {"$path": str(value)}
    if isinstance(value, pd.DataFrame):
        name = _next_name(counter, "parquet")
        value.to_parquet(folder / name)
        return {"$frame": name}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"$objects": [_encode(item, folder, counter) for item in value.tolist()]}
        name = _next_name(counter, "npy")
        np.save(folder / name, value, allow_pickle=False)
        return {"$array": name}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(item, folder, counter) for item in value]}
    if isinstance(value, list):
        return [_encode(item, folder, counter) for item in value]
    if isinstance(value, dict):
        return {
            "$dict": [
                [_encode(k, folder, counter), _encode(v, folder, counter)] for k, v in value.items()
            ]
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if STORED_RESULT_TYPES.get(name) is not type(value):
            raise NotStorable(f"{type(value)!r} is not in STORED_RESULT_TYPES")
        fields = {
            f.name: _encode(getattr(value, f.name), folder, counter)
            for f in dataclasses.fields(value)
        }
        return {"$dataclass": name, "fields": fields}
    raise NotStorable(f"no encoding for {type(value)!r}")


def _next_name(counter: list[int], suffix: str) -> str:
    counter[0] += 1
    return f"{counter[0]:05d}.{suffix}"


def _decode(value: Any, folder: Path) -> Any:
    if isinstance(value, list):
        return [_decode(item, folder) for item in value]
    if not isinstance(value, dict):
        return value
    if "$float" in value:
        return float(value["$float"])
    if "$path" in value:
        return Path(value["$path"])
    if "$frame" in value:
        return pd.read_parquet(folder / _plain_name(value["$frame"]))
    if "$array" in value:
        return np.load(folder / _plain_name(value["$array"]), allow_pickle=False)
    if "$objects" in value:
        items = [_decode(item, folder) for item in value["$objects"]]
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array
    if "$tuple" in value:
        return tuple(_decode(item, folder) for item in value["$tuple"])
    if "$dict" in value:
        return {_decode(k, folder): _decode(v, folder) for k, v in value["$dict"]}
    if "$dataclass" in value:
        cls = _result_class(value["$dataclass"])
        fields = {name: _decode(item, folder) for name, item in value["fields"].items()}
        return cls(**fields)
    raise ValueError(f"unknown cache entry {sorted(value)}")


def _plain_name(name: str) -> str:
    if Path(name).name != name or name.startswith("."):
        raise ValueError(f"bad file name {name!r} in a cache entry")
    return name


def _result_class(name: Any) -> type:
    """The registered result type called ``name``; any other name is refused."""
    if not isinstance(name, str) or name not in STORED_RESULT_TYPES:
        raise ValueError(f"{name!r} is not a stored result type")
    return STORED_RESULT_TYPES[name]
