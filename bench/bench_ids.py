"""Benchmark: the ID-only diagnostics of a 10,000,000-item imported ID table.

    .venv/bin/python bench/bench_ids.py                      # 10M items, reference 1M
    .venv/bin/python bench/bench_ids.py --items 2000000 --reference-items 200000
    .venv/bin/python bench/bench_ids.py --workdir /tmp/bench_ids --keep   # reuse the runs

What it builds, for each size (in a temporary folder, removed at the end unless ``--keep``):

- ``ids.parquet``: ``item_id`` (``"i0"``, ``"i1"``, ...) and ``code_0 .. code_2`` (3 levels x
  256 codes). Level 0 follows the item's department (40 Zipf-sized departments, 6 codes each,
  10 % of items off their department's codes), level 1 its sub-category (25 per department,
  8 % noise), level 2 is uniform: a realistic prefix tree with a few hundred thousand
  collisions at 10M items.
- ``catalog.parquet``: the run's catalog, in the normalised layout of ``items.parquet``
  (``item_id``, ``title``, ``categories``: a three-level path ``Synthetic`` > department >
  sub-category).
- ``rqvae import-ids --ids ids.parquet`` makes the run (timed), and the catalog is attached as
  ``RUN/items.parquet``. (``--catalog catalog.parquet`` would attach the same table, but
  :func:`rqvae.data.catalog.load_catalog` reads a catalog record by record in Python: about
  100 s per million items, a setup cost the ID diagnostics never pay; pass
  ``--import-catalog`` to time it anyway.)

Then ``diagnose_run`` (as ``rqvae diagnose`` calls it: with the on-disk cache) runs twice on
each run, each time in a fresh child process: the first call diagnoses (usage, entropy,
collisions, taxonomy; an imported ID table has no quantizer or embeddings, so the other
diagnostics are Unavailable), the second reads the stored diagnosis. Reported per call: wall
time and peak RSS (``VmHWM`` of the child). Ratios are against the reference size.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_diagnose import MemorySampler, proc_status  # noqa: E402

DEPARTMENTS = 40
SUBCATEGORIES = 25
LEVELS = 3
CODEBOOK = 256
CHUNK = 1_000_000  # rows per Parquet row group written


def write_inputs(folder: Path, n_items: int, seed: int = 0) -> tuple[Path, Path]:
    """``ids.parquet`` and ``catalog.parquet`` of ``n_items`` items (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    sizes = 1.0 / np.arange(1, DEPARTMENTS + 1)
    department_names = np.array([f"department {d}" for d in range(DEPARTMENTS)], dtype=object)
    sub_names = np.array(
        [f"department {d} / {s}" for d in range(DEPARTMENTS) for s in range(SUBCATEGORIES)],
        dtype=object,
    )
    ids_path, catalog_path = folder / "ids.parquet", folder / "catalog.parquet"
    ids_writer = catalog_writer = None
    try:
        for start in range(0, n_items, CHUNK):
            m = min(CHUNK, n_items - start)
            dept = rng.choice(DEPARTMENTS, size=m, p=sizes / sizes.sum())
            sub = rng.integers(0, SUBCATEGORIES, size=m)
            code_0 = (dept * 6 + rng.integers(0, 6, size=m)) % CODEBOOK
            code_0 = np.where(rng.random(m) < 0.1, rng.integers(0, CODEBOOK, size=m), code_0)
            code_1 = (sub * 10 + rng.integers(0, 10, size=m)) % CODEBOOK
            code_1 = np.where(rng.random(m) < 0.08, rng.integers(0, CODEBOOK, size=m), code_1)
            code_2 = rng.integers(0, CODEBOOK, size=m)
            numbers = pa.array(np.arange(start, start + m)).cast(pa.string())
            item_ids = pc.binary_join_element_wise("i", numbers, "")
            ids = pa.table(
                {"item_id": item_ids, "code_0": code_0, "code_1": code_1, "code_2": code_2}
            )
            # categories: a list<string> column built from offsets, no per-row Python
            flat = np.empty(3 * m, dtype=object)
            flat[0::3] = "Synthetic"
            flat[1::3] = department_names[dept]
            flat[2::3] = sub_names[dept * SUBCATEGORIES + sub]
            offsets = pa.array(np.arange(0, 3 * m + 1, 3, dtype=np.int32))
            categories = pa.ListArray.from_arrays(offsets, pa.array(flat, type=pa.string()))
            titles = pc.binary_join_element_wise("item ", numbers, "")
            catalog = pa.table({"item_id": item_ids, "title": titles, "categories": categories})
            if ids_writer is None:
                ids_writer = pq.ParquetWriter(ids_path, ids.schema)
                catalog_writer = pq.ParquetWriter(catalog_path, catalog.schema)
            ids_writer.write_table(ids)
            catalog_writer.write_table(catalog)
    finally:
        for writer in (ids_writer, catalog_writer):
            if writer is not None:
                writer.close()
    return ids_path, catalog_path


# --- measuring in fresh child processes ----------------------------------------------------------


def _import_child(ids_path: str, catalog_path: str, run_dir: str, with_catalog: bool, queue):
    from rqvae.data.catalog import CatalogSpec
    from rqvae.importers.import_ids import import_ids

    spec = CatalogSpec(
        path=Path(catalog_path),
        format="generic",
        id_field="item_id",
        text_fields=("title",),
        category_field="categories",
    )
    start = time.perf_counter()
    import_ids(ids_path, run_dir, catalog=spec if with_catalog else None)
    if not with_catalog:  # the catalog as import-ids would write it (see the docstring)
        shutil.copy(catalog_path, Path(run_dir) / "items.parquet")
    queue.put({"wall_s": time.perf_counter() - start, "peak_rss_kb": proc_status()["VmHWM"]})


def _diagnose_child(run_dir: str, queue) -> None:
    from analysis.diagnosis.diagnose import diagnose_run

    load = os.getloadavg()[0]
    with MemorySampler() as sampler:
        start = time.perf_counter()
        diagnosis = diagnose_run(run_dir, cache=True)  # as `rqvae diagnose` does
        wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    queue.put(
        {
            "n_items": diagnosis.n_items,
            "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "load": load,
            "peak_rss_kb": proc_status()["VmHWM"],
            "peak_anon_kb": sampler.peaks["RssAnon"],
            "timings": diagnosis.timings,
            "verdict": diagnosis.verdict,
            "available": [
                name
                for name in ("usage", "entropy", "collisions", "taxonomy")
                if diagnosis.available(name)
            ],
            "unique_id_ratio": diagnosis.collisions.unique_id_ratio,
        }
    )


def in_child(target, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=target, args=(*args, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def build(folder: Path, n_items: int, with_catalog: bool) -> tuple[Path, dict | None]:
    """The imported run of ``n_items`` items in ``folder`` (reused when it is there)."""
    run = folder / "run"
    if (run / "semantic_ids.parquet").exists():
        return run, None
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ids_path, catalog_path = write_inputs(folder, n_items)
    print(f"{n_items:,} items: wrote the inputs in {time.perf_counter() - start:.0f} s")
    imported = in_child(_import_child, str(ids_path), str(catalog_path), str(run), with_catalog)
    print(
        f"{n_items:,} items: import-ids {imported['wall_s']:.1f} s, "
        f"peak RSS {imported['peak_rss_kb'] / 1024:.0f} MB"
    )
    return run, imported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000_000)
    parser.add_argument("--reference-items", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument(
        "--keep", action="store_true", help="keep the runs (a later --workdir DIR reuses them)"
    )
    parser.add_argument(
        "--import-catalog", action="store_true", help="import-ids --catalog (slow; see above)"
    )
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rqvae-bench-ids-"))
    results = {}
    try:
        for label, n_items in (("reference", args.reference_items), ("full", args.items)):
            run, _ = build(workdir / label, n_items, args.import_catalog)
            shutil.rmtree(run / "cache", ignore_errors=True)  # never diagnosed
            results[label] = in_child(_diagnose_child, str(run))
            results[f"{label} (cached)"] = in_child(_diagnose_child, str(run))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    reference = results["reference"]
    print(f"\nreference: {reference['n_items']:,}-item ID table")
    print(f"{'call':>18} {'items':>11} {'wall s':>8} {'cpu s':>7} {'load':>5} {'peak RSS MB':>12} "
          f"{'x time':>7} {'x RSS':>6}")  # fmt: skip
    for label, r in results.items():
        print(
            f"{label:>18} {r['n_items']:>11,} {r['wall_s']:>8.1f} {r['cpu_s']:>7.1f} "
            f"{r['load']:>5.1f} "
            f"{r['peak_rss_kb'] / 1024:>12.0f} {r['wall_s'] / reference['wall_s']:>7.2f} "
            f"{r['peak_rss_kb'] / reference['peak_rss_kb']:>6.2f}"
        )
    for label, r in results.items():
        print(f"{label} timings (s): {json.dumps(r['timings'])}")
        print(
            f"{label}: available {', '.join(r['available'])}; verdict {r['verdict']}; "
            f"unique_id_ratio {r['unique_id_ratio']:.4f}"
        )


if __name__ == "__main__":
    main()
