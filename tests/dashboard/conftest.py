"""Real run folders for the dashboard tests, built once per session under a temp folder.

The gallery root holds every kind of run the dashboard must handle::

    trained            a real 2-epoch training on 1,000 items of amazon-scientific (checkpoint)
    live               a copy of `trained` whose status.json says it is still training (the
                       test session holds its writer lock, as a live trainer would)
    letter             LETTER's published IDs, imported with catalog and embeddings (no checkpoint)
    mql4grec           MQL4GRec's IDs, every item on one first-level code (collapsed)
    rq-kmeans          the rq-kmeans baseline on the same 1,000 items (stored codebooks, one
                       metrics.jsonl line, no losses)
    broken-config      a run whose config.json is not JSON
    broken-ids         a run whose semantic_ids.parquet is cut in half

Nothing from ../shared is copied into the repository: the 1,000-item slice of the embeddings
is written under the session's temp folder.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rqvae.files import atomic_write_json
from rqvae.runs.folder import CONFIG_FILE, SEMANTIC_IDS_FILE, STATUS_FILE
from rqvae.runs.lock import run_lock

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_PATH = REPO_ROOT / "dashboard" / "app.py"
SLICE_ITEMS = 1_000
TRAIN_EPOCHS = 2


@pytest.fixture(scope="session")
def scientific_slice(tmp_path_factory, scientific_dir: Path) -> dict[str, Path]:
    """The first 1,000 items of amazon-scientific: embeddings .npy and an LC-Rec item file."""
    folder = tmp_path_factory.mktemp("scientific-slice")
    embeddings = np.load(scientific_dir / "embeddings.minilm.npy", mmap_mode="r")
    np.save(folder / "embeddings.npy", np.ascontiguousarray(embeddings[:SLICE_ITEMS]))
    items = json.loads((scientific_dir / "raw" / "Scientific.item.json").read_text())
    kept = {key: items[key] for key in list(items)[:SLICE_ITEMS]}
    (folder / "Scientific.item.json").write_text(json.dumps(kept))
    return {"embeddings": folder / "embeddings.npy", "catalog": folder / "Scientific.item.json"}


def _import(scientific_dir: Path, method: str, out: Path) -> Path:
    from rqvae.data.catalog import CatalogSpec
    from rqvae.importers.import_ids import import_ids

    return import_ids(
        scientific_dir / "reference_ids" / method / "Scientific.index.json",
        out,
        catalog=CatalogSpec(scientific_dir / "raw" / "Scientific.item.json", format="lcrec"),
        embeddings_path=scientific_dir / "embeddings.minilm.npy",
    )


def _baseline(slice_files: dict[str, Path], out: Path) -> Path:
    from rqvae.baselines import BaselineSettings, train_baseline
    from rqvae.data.catalog import CatalogSpec

    settings = BaselineSettings(method="rq-kmeans", levels=3, codebook_size=32, seed=0)
    catalog = CatalogSpec(slice_files["catalog"], format="lcrec")
    return train_baseline(settings, out, slice_files["embeddings"], catalog)


def _train(slice_files: dict[str, Path], out: Path) -> Path:
    from rqvae.data.catalog import CatalogSpec
    from rqvae.ids.assign import assign_run
    from rqvae.model.config import load_config
    from rqvae.training.train import train

    config = load_config(
        None, {"epochs": TRAIN_EPOCHS, "codebook_size": 32, "batch_size": 256, "seed": 0}
    )
    catalog = CatalogSpec(slice_files["catalog"], format="lcrec")
    train(config, out_dir=out, embeddings_path=slice_files["embeddings"], catalog=catalog)
    assign_run(out)
    return out


@pytest.fixture(scope="session")
def gallery_root(tmp_path_factory, scientific_dir: Path, scientific_slice) -> Iterator[Path]:
    """A runs folder with one run of every kind (see the module docstring)."""
    root = tmp_path_factory.mktemp("runs")
    trained = _train(scientific_slice, root / "trained")
    _import(scientific_dir, "letter_native", root / "letter")
    _import(scientific_dir, "mql4grec", root / "mql4grec")
    _baseline(scientific_slice, root / "rq-kmeans")

    live = root / "live"
    shutil.copytree(trained, live)
    status = json.loads((live / STATUS_FILE).read_text())
    atomic_write_json(live / STATUS_FILE, {**status, "state": "training"})

    broken_config = root / "broken-config"
    shutil.copytree(root / "letter", broken_config)
    (broken_config / CONFIG_FILE).write_text('{"kind": "imported", "codebook_si')

    broken_ids = root / "broken-ids"
    shutil.copytree(root / "letter", broken_ids)
    table = (broken_ids / SEMANTIC_IDS_FILE).read_bytes()
    (broken_ids / SEMANTIC_IDS_FILE).write_bytes(table[: len(table) // 2])
    # "live" is training only while a writer holds its lock (else it shows as interrupted);
    # this session plays that writer.
    with run_lock(live, "train"):
        yield root


@pytest.fixture
def app_env(monkeypatch):
    """Point the app at a runs folder and start from empty Streamlit caches."""
    from dashboard import data

    def use(root: Path) -> None:
        monkeypatch.setenv("RQVAE_RUNS_DIR", str(root))

    # pages wait for the whole diagnosis, so tests see every figure on the first run
    # (tests/dashboard/test_background.py checks what a page shows while it is computed)
    monkeypatch.setenv("RQVAE_DASHBOARD_WAIT_S", "600")

    data.clear_caches()
    yield use
    data.clear_caches()
