"""Benchmark: the UMAP maps of one diagnosis in fresh processes, numba cache cold and warm.

    .venv/bin/python bench/bench_umap_cold.py            # the maps of a 3 x 256-code run
    .venv/bin/python bench/bench_umap_cold.py --levels 3 --codes 64 --items 1682   # the demo

What ``rqvae diagnose`` computes for UMAP (``analysis.metrics.umap_maps.umap_maps``: one map
per level, the joint map, and the item sample with the level-0 codewords; default settings),
on random codewords and latents of the given shapes, each time in a new Python process so
nothing compiled survives in memory:

1. ``cold``: ``NUMBA_CACHE_DIR`` a new, empty folder (a machine where nothing was set up);
2. ``warm``: the same folder again, as left by 1 (what ``scripts/setup.sh`` prepares);
3. ``second call``: in the process of 2, the maps once more (nothing left to compile).

Prints the seconds of ``import umap`` (as :mod:`analysis.metrics.umap_maps` imports it) and
of the maps. Works on code from before the numba cache too (there ``import umap`` is timed
inside the first map).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
import numpy as np
import torch, pandas, sklearn, scipy.sparse  # loaded by any diagnosis before UMAP starts
from analysis.metrics import umap_maps as um
levels, codes, items, dim = (int(v) for v in sys.argv[1:5])
rng = np.random.default_rng(0)
codebooks = [rng.normal(size=(codes, dim)).astype(np.float32) for _ in range(levels)]
latents = rng.normal(size=(items, dim)).astype(np.float32)
start = time.perf_counter()
if hasattr(um, "import_umap"):
    um.import_umap()
else:
    um._import_umap()
imported = time.perf_counter() - start
start = time.perf_counter()
um.umap_maps(codebooks, latents)
first = time.perf_counter() - start
start = time.perf_counter()
um.umap_maps(codebooks, latents)
print(json.dumps([imported, first, time.perf_counter() - start]))
"""


def run_child(args, numba_dir: Path) -> list[float]:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(numba_dir), PYTHONPATH=str(REPO))
    command = [sys.executable, "-c", CHILD, *map(str, (args.levels, args.codes, args.items, 32))]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--codes", type=int, default=256)
    parser.add_argument("--items", type=int, default=2_000, help="item sample on the item map")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rqvae-bench-numba-") as folder:
        cold = run_child(args, Path(folder))
        warm = run_child(args, Path(folder))
    print(f"{args.levels} levels x {args.codes} codes, {args.items} sampled items, D = 32")
    print("| process | import umap s | UMAP maps s | total s |")
    print("|---|---:|---:|---:|")
    for name, (imported, maps) in (
        ("fresh, numba cache cold", cold[:2]),
        ("fresh, numba cache warm", warm[:2]),
        ("same process, second call", (0.0, warm[2])),
    ):
        print(f"| {name} | {imported:.1f} | {maps:.1f} | {imported + maps:.1f} |")


if __name__ == "__main__":
    main()
