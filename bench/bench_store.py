"""What the diagnosis store's checks cost: one save and one load of a stored diagnosis.

Issue 19 made the store check what it reads: SHA-256 of the document and of every data file
(read into memory, hashed, then decoded), run paths re-rooted, folders checked with lstat. This
times :func:`analysis.diagnosis.store.save_diagnosis` and ``load_diagnosis`` on the diagnosis
of a real run, so the numbers can be compared with the code before (run the same script with
``PYTHONPATH`` pointing at another checkout: both have the same two functions).

    python bench/bench_store.py [--items amazon-scientific|debian-packages] [--repeats 5]

The run is LETTER's published IDs for amazon-scientific imported with the catalog and the
embeddings (4,344 items), or a 3-level random-code table over debian-packages (63,681 items,
catalog and embeddings), made once under a temporary folder. Prints the median seconds of
``save`` and ``load`` and the entry's size; ``uptime``'s load is printed too: on a shared box
the numbers are inflated and must be re-measured on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def make_run(which: str, folder: Path) -> Path:
    from rqvae.data.catalog import CatalogSpec
    from rqvae.importers.import_ids import import_ids

    if which == "amazon-scientific":
        base = DATA / "amazon-scientific"
        ids = base / "reference_ids" / "letter_native" / "Scientific.index.json"
        catalog = CatalogSpec(base / "raw" / "Scientific.item.json", format="lcrec")
        embeddings = base / "embeddings.minilm.npy"
        return import_ids(ids, folder / "run", catalog=catalog, embeddings_path=embeddings)
    base = DATA / "debian-packages"
    items = [json.loads(line)["item_id"] for line in _lines(base / "items.jsonl.gz")]
    codes = np.random.default_rng(0).integers(0, 256, size=(len(items), 3))
    table = folder / "ids.csv"
    table.write_text(
        "item_id,code_0,code_1,code_2\n"
        + "".join(f"{item},{a},{b},{c}\n" for item, (a, b, c) in zip(items, codes, strict=True))
    )
    catalog = CatalogSpec(base / "items.jsonl.gz", format="generic", category_field="categories")
    return import_ids(
        table, folder / "run", catalog=catalog, embeddings_path=base / "embeddings.minilm.npy"
    )


def _lines(path: Path):
    import gzip

    with gzip.open(path, "rt") as handle:
        yield from handle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", default="amazon-scientific")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from analysis.diagnosis.diagnose import diagnose_run
    from analysis.diagnosis.store import load_diagnosis, save_diagnosis

    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        run = make_run(args.items, Path(folder))
        diagnosis = diagnose_run(run, umap=False, cache=False)
        saves, loads = [], []
        for repeat in range(args.repeats):
            key = f"{repeat:032x}"
            start = time.perf_counter()
            assert save_diagnosis(run, key, diagnosis, has_maps=False)
            saves.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert load_diagnosis(run, key, need_maps=False) is not None
            loads.append(time.perf_counter() - start)
        entry = next((run / "cache" / "diagnosis").glob("*/plain"))
        files = list(entry.iterdir())
        size = sum(path.stat().st_size for path in files)
    print(
        f"{args.items}: {diagnosis.n_items:,} items; save {statistics.median(saves):.3f} s, "
        f"load {statistics.median(loads):.3f} s (median of {args.repeats}); "
        f"entry {size / 1e6:.2f} MB in {len(files)} files; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
