"""Benchmark: the ID-only diagnosis the dashboard shows first (``diagnose_run(model=False)``).

    .venv/bin/python bench/bench_id_only.py RUN [--rounds 5]

``RUN`` is any run folder, e.g. the 1,000,000-item run that ``bench/bench_diagnose.py --keep``
leaves in ``WORKDIR/full/run``. Each round diagnoses it in a fresh child process as the
dashboard's first call does (``umap=False, model=False``), without the on-disk store (every
round computes), and reports wall time, CPU time (user + system; less sensitive than wall time
to other jobs on a shared machine), peak RSS and the seconds of each stage. Prints the median
of the rounds. To compare two versions of the code, run this file from each checkout with its
own ``PYTHONPATH`` (the ``sys.path`` line below puts the checkout holding this file first).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_diagnose import proc_status  # noqa: E402


def measure(run_dir: str, queue) -> None:
    """Child process: one ID-only diagnosis, its time and peak memory."""
    from analysis.diagnosis.diagnose import diagnose_run

    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    diagnosis = diagnose_run(run_dir, umap=False, model=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = proc_status()["VmHWM"]  # kB; ru_maxrss would carry the parent's peak over
    queue.put({"wall_s": wall, "cpu_s": cpu, "load": load, "peak_rss_mb": peak / 1024,
               "n_items": diagnosis.n_items, "timings": diagnosis.timings})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    results = []
    for _ in range(args.rounds):
        queue = context.Queue()
        child = context.Process(target=measure, args=(str(args.run), queue))
        child.start()
        results.append(queue.get())
        child.join()
        r = results[-1]
        print(
            f"wall {r['wall_s']:.2f} s, cpu {r['cpu_s']:.2f} s, load {r['load']:.1f}, "
            f"peak RSS {r['peak_rss_mb']:.0f} MB: {json.dumps(r['timings'])}",
            flush=True,
        )
    print(
        f"{results[0]['n_items']:,} items, median of {args.rounds}: "
        f"wall {statistics.median(r['wall_s'] for r in results):.2f} s, "
        f"cpu {statistics.median(r['cpu_s'] for r in results):.2f} s"
    )


if __name__ == "__main__":
    main()
