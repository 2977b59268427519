"""Benchmark: time and peak memory of ``rqvae extend`` adding 100,000 items to a 1M-item run.

    .venv/bin/python bench/bench_extend.py                      # 1M + 100k, reference 100k
    .venv/bin/python bench/bench_extend.py --items 200000 --new-items 20000 --reference-items 20000

Target (issue 23): at most 30 s and 4 GB on 2 cores.

What it builds (in a temporary folder, removed at the end unless ``--keep``), with the helpers
of ``bench/bench_diagnose.py``: one synthetic catalog of ``--items + --new-items`` items
(unit-norm 384-dimensional embeddings with a category tree, see that file), split into the first
``--items`` (the run's catalog) and the last ``--new-items`` (the extension: the same
distribution, as a growing catalogue's next items), and the run: a checkpoint trained for one
epoch on a ``--reference-items`` catalog of the same distribution, reused for the ``--items``
catalog and assigned for every item (``derive_run``).

Then ``rqvae extend --run RUN --embeddings new.npy --catalog new.jsonl.gz`` (the library call
behind it, :func:`rqvae.ids.extend.extend_run`, with the same flags) runs in a fresh child
process on a copy of the run, twice (each on its own copy). Reported per call: wall time, CPU
time (user + system), peak RSS (``VmHWM``), the peaks of anonymous and file-backed resident
memory (file-backed pages are the memory-mapped embeddings, which the kernel can drop), the
load average before the call, and what extend did (items added, moved, left colliding, the
recommendation).
"""

from __future__ import annotations

import argparse
import gzip
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
sys.path.insert(0, str(REPO / "bench"))

from bench_diagnose import (  # noqa: E402  (after the path set-up above)
    MemorySampler,
    catalog_spec,
    derive_run,
    proc_status,
    train_reference,
    write_catalog,
)

COPY_CHUNK = 100_000  # embeddings rows copied at a time when the catalog is split


def split_catalog(folder: Path, n_items: int, n_new: int) -> tuple[tuple, tuple]:
    """One catalog of ``n_items + n_new`` items, split into ``base`` and ``new`` files."""
    embeddings, catalog = write_catalog(folder, n_items + n_new)
    whole = np.load(embeddings, mmap_mode="r")
    parts = {}
    for name, start, stop in (("base", 0, n_items), ("new", n_items, n_items + n_new)):
        path = folder / f"{name}.npy"
        out = np.lib.format.open_memmap(path, "w+", np.float32, (stop - start, whole.shape[1]))
        for row in range(start, stop, COPY_CHUNK):
            end = min(row + COPY_CHUNK, stop)
            out[row - start : end - start] = whole[row:end]
        out.flush()
        del out
        parts[name] = path
    with gzip.open(catalog, "rt") as lines:
        for name, count in (("base", n_items), ("new", n_new)):
            with gzip.open(folder / f"{name}.jsonl.gz", "wt", compresslevel=1) as out:
                for _ in range(count):
                    out.write(next(lines))
    del whole
    embeddings.unlink()
    catalog.unlink()
    return (parts["base"], folder / "base.jsonl.gz"), (parts["new"], folder / "new.jsonl.gz")


def measure(run_dir: str, embeddings: str, catalog: str, queue) -> None:
    """Child process: extend the run and report time and memory (kB) to the parent."""
    from rqvae.ids.extend import extend_run

    load = os.getloadavg()[0]
    with MemorySampler() as sampler:
        start = time.perf_counter()
        result = extend_run(run_dir, embeddings, catalog=catalog_spec(Path(catalog)))
        wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    queue.put(
        {
            "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "load": load,
            "peak_rss_kb": proc_status()["VmHWM"],
            "peak_anon_kb": sampler.peaks["RssAnon"],
            "peak_file_kb": sampler.peaks["RssFile"],
            "added": result.added,
            "n_items": result.n_items,
            "moved": result.moved,
            "colliding": result.colliding,
            "recommendation": result.fit["recommendation"],
            "quantization_error_above_p95": result.fit["quantization_error"][
                "share_above_reference_p95"
            ],
        }
    )


def run_child(run_dir: Path, embeddings: Path, catalog: Path) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    arguments = (str(run_dir), str(embeddings), str(catalog), queue)
    child = context.Process(target=measure, args=arguments)
    child.start()
    result = queue.get()
    child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--new-items", type=int, default=100_000)
    parser.add_argument("--reference-items", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument(
        "--keep", action="store_true", help="keep the run (a later --workdir DIR reuses it)"
    )
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rqvae-bench-extend-"))
    results = []
    try:
        start = time.perf_counter()
        reference_folder, full_folder = workdir / "reference", workdir / "full"
        run = full_folder / "run"
        new = (full_folder / "new.npy", full_folder / "new.jsonl.gz")
        if (run / "semantic_ids.parquet").exists():
            print(f"reusing the run in {workdir}")
        else:
            reference_folder.mkdir(parents=True, exist_ok=True)
            full_folder.mkdir(parents=True, exist_ok=True)
            reference = write_catalog(reference_folder, args.reference_items)
            train_reference(reference_folder, *reference)
            base, new = split_catalog(full_folder, args.items, args.new_items)
            derive_run(reference_folder / "run", full_folder, *base)
            print(f"built the run in {time.perf_counter() - start:.0f} s")
        for repeat in range(args.repeats):
            copy = workdir / f"extended-{repeat}"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(run, copy, ignore=shutil.ignore_patterns("cache"))
            results.append(run_child(copy, *new))
            shutil.rmtree(copy)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nrqvae extend: {args.items:,}-item run + {args.new_items:,} new items (with catalog)")
    print(f"{'call':>5} {'wall s':>7} {'cpu s':>7} {'load':>5} {'peak RSS MB':>12} "
          f"{'anon MB':>8} {'file MB':>8} {'moved':>7} {'colliding':>9} {'above p95':>9} "
          f"{'advice':>8}")  # fmt: skip
    for number, r in enumerate(results, start=1):
        print(
            f"{number:>5} {r['wall_s']:>7.1f} {r['cpu_s']:>7.1f} {r['load']:>5.1f} "
            f"{r['peak_rss_kb'] / 1024:>12.0f} {r['peak_anon_kb'] / 1024:>8.0f} "
            f"{r['peak_file_kb'] / 1024:>8.0f} {r['moved']:>7,} {r['colliding']:>9,} "
            f"{r['quantization_error_above_p95']:>9.3f} {r['recommendation']:>8}"
        )
    print(f"items after: {results[0]['n_items']:,}; uptime load now: {os.getloadavg()}")


if __name__ == "__main__":
    main()
