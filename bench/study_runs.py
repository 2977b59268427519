"""Build the run folders of a "what predicts recall" study (issue 22), through the `rqvae` CLI.

    PYTHONPATH=$PWD python bench/study_runs.py amazon-scientific --out /tmp/study/scientific
        [--data ../shared/data] [--only NAME ...]

amazon-scientific (21 runs): the ten published tokenizers' IDs (``ref-<method>``, imported with
catalog and embeddings), five baselines (rq-kmeans, balanced rq-kmeans, faiss-rq, hkmeans,
category-prefix) and our RQ-VAE with the default config over seeds 0-2 at 256 and 64 codes a
level (``rqvae-k<K>-s<seed>``). A folder that already holds a run is kept, so the script can be
run again after an interruption. Then:

    rqvae study --runs /tmp/study/scientific/* \
        --sequences ../shared/data/amazon-scientific/sequences.jsonl.gz --out study.json
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINES = {
    "rq-kmeans": [],
    "rq-kmeans-balanced": ["--balanced"],
    "faiss-rq": [],
    "hkmeans": [],
    "category-prefix": [],
}
SEEDS = (0, 1, 2)
CODEBOOK_SIZES = (256, 64)


def scientific_commands(data: Path, out: Path) -> dict[str, list[list[str]]]:
    """Run name -> the `rqvae` commands that make it."""
    folder = data / "amazon-scientific"
    embeddings = str(folder / "embeddings.minilm.npy")
    catalog = [
        "--catalog", str(folder / "items.jsonl.gz"), "--id-field", "item_id",
        "--text-fields", "title", "--category-field", "categories",
    ]  # fmt: skip
    commands: dict[str, list[list[str]]] = {}
    for reference in sorted((folder / "reference_ids").iterdir()):
        name = f"ref-{reference.name}"
        ids = str(reference / "Scientific.index.json")
        commands[name] = [
            ["import-ids", "--ids", ids, "--out", str(out / name), "--embeddings", embeddings]
            + catalog
        ]
    for name, flags in BASELINES.items():
        method = name.removesuffix("-balanced")
        commands[name] = [
            ["train", "--method", method, *flags, "--embeddings", embeddings]
            + catalog
            + ["--out", str(out / name)]
        ]
    for size in CODEBOOK_SIZES:
        for seed in SEEDS:
            name = f"rqvae-k{size}-s{seed}"
            run = str(out / name)
            train = ["train", "--embeddings", embeddings, *catalog, "--out", run]
            commands[name] = [
                train + ["--codebook-size", str(size), "--seed", str(seed)],
                ["assign", "--run", run],
            ]
    return commands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalog", choices=["amazon-scientific"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--only", nargs="*", help="build only these run names")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    commands = scientific_commands(args.data.resolve(), args.out.resolve())
    for name, steps in commands.items():
        if args.only and name not in args.only:
            continue
        if (args.out / name / "semantic_ids.parquet").exists():
            print(f"{name}: already built")
            continue
        for step in steps:
            print(f"{name}: rqvae {' '.join(step[:1])} ...", flush=True)
            subprocess.run([sys.executable, "-m", "cli.main", *step], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
