"""Benchmark: peak memory and wall time of ``diagnose_run`` on a 1,000,000-item run.

    .venv/bin/python bench/bench_diagnose.py                 # 1M items, reference 100k
    .venv/bin/python bench/bench_diagnose.py --items 200000 --reference-items 20000

What it builds (in a temporary folder, removed at the end unless ``--keep``):

- Synthetic but realistic catalogs: unit-norm float32 embeddings of dimension 384 written
  chunk by chunk to a memory-mapped ``.npy``, with a three-level category tree. Each item is
  ``normalize(0.32 g + 0.5 u_dept + 0.5 u_sub + 0.63 e)`` with ``g`` a direction shared by
  all items, ``u_dept`` / ``u_sub`` random directions of its department (Zipf-sized, 40 of them)
  and sub-category (25 per department) and ``e`` its own noise; so cosine similarity is about
  0.6 within a sub-category, 0.35 within a department and 0.1 across, as with MiniLM
  embeddings of a real catalog. Titles name the item and its categories.
- A reference run trained by ``rqvae.training.train.train`` for one epoch on a ``--reference-items``
  catalog, and a full run on the ``--items`` catalog that reuses the reference checkpoint
  (trained on a sample of the same distribution; see :func:`derive_run`). Both are assigned
  with ``rqvae.ids.assign.assign_run``: semantic IDs for every item.

Then ``diagnose_run`` (every diagnostic; UMAP on a 2,000-item sample) runs on each run in a
fresh child process, so each measurement starts from an empty heap: first on the
never-diagnosed run (``RUN/cache`` removed, so the UMAP maps are computed too), with the
on-disk diagnosis store as ``rqvae diagnose`` uses it, then a second time in another fresh
process, which reads the stored diagnosis ("cached" rows). Reported per call: wall time, CPU
time of the child (user + system), peak RSS (``VmHWM``), and the peaks of anonymous and
file-backed resident memory sampled from ``/proc/self/status`` every 20 ms (file-backed pages
are the memory-mapped embeddings, which the kernel can drop at any time), and the load
average before each call (the machine may be shared). Ratios are against the reference run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DIM = 384
DEPARTMENTS = 40
SUBCATEGORIES = 25
TRAIN_SETTINGS = {"epochs": 1, "num_levels": 3, "codebook_size": 256, "batch_size": 1024}


def write_catalog(folder: Path, n_items: int, seed: int = 0, chunk: int = 100_000) -> tuple:
    """Embeddings ``emb.npy`` (memmap, written chunk by chunk) and catalog ``items.jsonl.gz``."""
    rng = np.random.default_rng(seed)
    shared = _unit(rng.normal(size=DIM))
    departments = _unit(rng.normal(size=(DEPARTMENTS, DIM)))
    subcategories = _unit(rng.normal(size=(DEPARTMENTS, SUBCATEGORIES, DIM)))
    sizes = 1.0 / np.arange(1, DEPARTMENTS + 1)  # Zipf: a few large departments, a long tail
    embeddings_path, catalog_path = folder / "emb.npy", folder / "items.jsonl.gz"
    matrix = np.lib.format.open_memmap(embeddings_path, "w+", np.float32, (n_items, DIM))
    with gzip.open(catalog_path, "wt", compresslevel=1) as catalog:
        for start in range(0, n_items, chunk):
            m = min(chunk, n_items - start)
            dept = rng.choice(DEPARTMENTS, size=m, p=sizes / sizes.sum())
            sub = rng.integers(0, SUBCATEGORIES, size=m)
            noise = _unit(rng.normal(size=(m, DIM)))
            x = 0.32 * shared + 0.5 * departments[dept] + 0.5 * subcategories[dept, sub]
            matrix[start : start + m] = _unit(x + 0.63 * noise).astype(np.float32)
            catalog.writelines(
                json.dumps(
                    {
                        "item_id": str(start + i),
                        "title": f"item {start + i} of department {d} / {s}",
                        "categories": ["Synthetic", f"department {d}", f"department {d} / {s}"],
                    }
                )
                + "\n"
                for i, (d, s) in enumerate(zip(dept.tolist(), sub.tolist(), strict=True))
            )
    matrix.flush()
    del matrix
    return embeddings_path, catalog_path


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def catalog_spec(catalog: Path):
    from rqvae.data.catalog import CatalogSpec

    return CatalogSpec(
        path=catalog,
        format="generic",
        id_field="item_id",
        text_fields=("title",),
        category_field="categories",
    )


def train_reference(folder: Path, embeddings: Path, catalog: Path) -> Path:
    """Train the reference run (one epoch) on its own catalog and assign its IDs."""
    from rqvae.ids.assign import assign_run
    from rqvae.model.config import load_config
    from rqvae.training.train import train

    run = folder / "run"
    config = load_config(None, TRAIN_SETTINGS)
    train(config, out_dir=run, embeddings_path=embeddings, catalog=catalog_spec(catalog))
    assign_run(run)
    return run


def derive_run(trained: Path, folder: Path, embeddings: Path, catalog: Path) -> Path:
    """A run folder for the full catalog that reuses ``trained``'s checkpoints.

    Training on a million items for the sake of a diagnosis benchmark would only cost time; a
    checkpoint trained on a sample of the same distribution is what the diagnostics see in
    practice. ``config.json`` keeps the settings, points ``data`` at the full catalog and
    records ``trained_on``; the IDs of every item come from ``rqvae.ids.assign.assign_run``.
    """
    from rqvae.data.catalog import load_catalog
    from rqvae.files import atomic_write_json, atomic_write_parquet, read_json, sha256_of
    from rqvae.ids.assign import assign_run

    run = folder / "run"
    run.mkdir(parents=True)
    shutil.copytree(trained / "checkpoints", run / "checkpoints")
    for name in ("metrics.jsonl", "status.json"):
        shutil.copy(trained / name, run / name)
    config = read_json(trained / "config.json")
    items = load_catalog(catalog_spec(catalog))
    config["data"] = {
        **config["data"],
        "embeddings": str(embeddings.resolve()),
        "embeddings_sha256": sha256_of(embeddings),
        "n_items": len(items),
        "catalog": {**config["data"]["catalog"], "path": str(catalog.resolve())},
        "trained_on": config["data"]["embeddings"],
    }
    atomic_write_parquet(run / "items.parquet", items)
    atomic_write_json(run / "config.json", config)
    assign_run(run)
    return run


# --- measuring --------------------------------------------------------------------------------


class MemorySampler:
    """Peak RssAnon / RssFile of this process, sampled from /proc/self/status."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peaks = {"RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            status = proc_status()
            for key in self.peaks:
                self.peaks[key] = max(self.peaks[key], status[key])
            time.sleep(self.interval)


def proc_status() -> dict[str, int]:
    """Memory lines of /proc/self/status in kB (VmHWM = peak RSS of this process image; unlike
    ``ru_maxrss`` it does not carry over the parent's peak through fork and exec)."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            values[key] = int(value.split()[0])
    return values


def measure(run_dir: str, queue) -> None:
    """Child process: diagnose the run and report time and memory (kB) to the parent."""
    from analysis.diagnosis.diagnose import diagnose_run

    load = os.getloadavg()[0]
    with MemorySampler() as sampler:
        start = time.perf_counter()
        diagnosis = diagnose_run(run_dir, cache=True)  # as `rqvae diagnose` does
        wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    unavailable = [
        name
        for name in ("residuals", "geometry", "taxonomy", "coherence", "mahalanobis")
        if not diagnosis.available(name)
    ]
    queue.put(
        {
            "n_items": diagnosis.n_items,
            "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "load": load,
            "peak_rss_kb": proc_status()["VmHWM"],
            "peak_anon_kb": sampler.peaks["RssAnon"],
            "peak_file_kb": sampler.peaks["RssFile"],
            "timings": diagnosis.timings,
            "verdict": diagnosis.verdict,
            "unavailable": unavailable,
        }
    )


def run_child(run_dir: Path) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=measure, args=(str(run_dir), queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--reference-items", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument(
        "--keep", action="store_true", help="keep the runs (a later --workdir DIR reuses them)"
    )
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rqvae-bench-"))
    results = {}
    try:
        start = time.perf_counter()
        reference_folder, full_folder = workdir / "reference", workdir / "full"
        reference_run, full_run = reference_folder / "run", full_folder / "run"
        if (full_run / "semantic_ids.parquet").exists():
            print(f"reusing the runs in {workdir}")
        else:
            reference_folder.mkdir(parents=True, exist_ok=True)
            full_folder.mkdir(parents=True, exist_ok=True)
            catalog = write_catalog(reference_folder, args.reference_items)
            train_reference(reference_folder, *catalog)
            derive_run(reference_run, full_folder, *write_catalog(full_folder, args.items))
            print(f"built the runs in {time.perf_counter() - start:.0f} s")
        for label, run in (("reference", reference_run), ("full", full_run)):
            shutil.rmtree(run / "cache", ignore_errors=True)  # never diagnosed
            results[label] = run_child(run)
            results[f"{label} (cached)"] = run_child(run)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    reference = results["reference"]
    print(f"\nreference: {reference['n_items']:,}-item run")
    print(f"{'run':>18} {'items':>10} {'wall s':>8} {'cpu s':>7} {'load':>5} {'peak RSS MB':>12} "
          f"{'anon MB':>9} {'file MB':>9} {'x time':>7} {'x RSS':>6}")  # fmt: skip
    for label, r in results.items():
        print(
            f"{label:>18} {r['n_items']:>10,} {r['wall_s']:>8.1f} {r['cpu_s']:>7.1f} "
            f"{r['load']:>5.1f} {r['peak_rss_kb'] / 1024:>12.0f} "
            f"{r['peak_anon_kb'] / 1024:>9.0f} {r['peak_file_kb'] / 1024:>9.0f} "
            f"{r['wall_s'] / reference['wall_s']:>7.2f} "
            f"{r['peak_rss_kb'] / reference['peak_rss_kb']:>6.2f}"
        )
    for label, r in results.items():
        print(f"{label} timings (s): {json.dumps(r['timings'])}")
        print(f"{label} verdict: {r['verdict']}; unavailable: {r['unavailable'] or 'none'}")


if __name__ == "__main__":
    main()
