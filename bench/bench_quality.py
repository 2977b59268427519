"""The quality table of issue 11: train with the default config, assign, and score the IDs.

    PYTHONPATH=$PWD python bench/bench_quality.py [--catalog amazon-scientific|debian-packages|all]
        [--seeds 0 1 2] [--threads 1] [--set key=value ...] [--data ../shared/data]

For each catalog and seed it prints: unique-ID ratio and codebook usage per level of the IDs that
``assign`` writes (the ``best`` checkpoint), the level-0-prefix NMI at category depth 2
(amazon-scientific, whose items carry category paths), the best epoch, the epochs run, why
training stopped, and the training wall time (``wall_time_s`` of the last epoch; it includes
the per-epoch evaluation). ``--set`` overrides a setting (``lr=3e-4``, ``latent_dim=64``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRACE = False  # --trace: print every epoch's unique ratio, usage and semantic check
CATALOGS = ("amazon-scientific", "debian-packages")


def parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    if "," in text:
        return [int(part) for part in text.split(",")]
    return text


def run_one(data: Path, catalog: str, seed: int, settings: dict, folder: Path) -> dict:
    from rqvae.ids.assign import assign_run
    from rqvae.model.config import ModelConfig, RunConfig, TrainConfig
    from rqvae.quantizers import assign_codes
    from rqvae.quantizers.from_run import load_run_quantizer
    from rqvae.runs.folder import Run
    from rqvae.training.train import train

    fields = {name: {f for f in section.__dataclass_fields__} for name, section in
              (("model", ModelConfig), ("train", TrainConfig))}  # fmt: skip
    model = {k: v for k, v in settings.items() if k in fields["model"]}
    train_settings = {k: v for k, v in settings.items() if k in fields["train"]}
    unknown = set(settings) - set(model) - set(train_settings)
    if unknown:
        raise SystemExit(f"unknown settings {sorted(unknown)}")
    config = RunConfig(model=ModelConfig(**model), train=TrainConfig(seed=seed, **train_settings))
    out = folder / f"{catalog}-{seed}"
    embeddings = data / catalog / "embeddings.minilm.npy"
    train(config, out, embeddings)
    table = assign_run(out)
    levels = config.model.num_levels
    codes = table[[f"code_{level}" for level in range(levels)]].to_numpy()
    nearest = assign_codes(load_run_quantizer(Run(out)), np.load(embeddings, mmap_mode="r"))
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    status = Run(out).status()
    if TRACE:
        for line in lines:
            usage = min(line[f"codebook_usage_l{level}"] for level in range(levels))
            print(f"  epoch {line['epoch']:3} unique {line['unique_id_ratio']:.4f} "
                  f"usage {usage:.3f} share0 {line['neighbor_share_l0']:.4f} "
                  f"val {line['val_loss_total']:.4f} t {line['wall_time_s']:.1f}")  # fmt: skip
    row = {
        "catalog": catalog,
        "seed": seed,
        "unique": len(np.unique(codes, axis=0)) / len(codes),
        "unique_nearest": len(np.unique(nearest, axis=0)) / len(nearest),
        "usage": [
            len(np.unique(codes[:, level])) / config.model.codebook_size for level in range(levels)
        ],  # fmt: skip
        "nmi_l0_d2": None,
        "best_epoch": status["best"]["epoch"],
        "epochs_run": lines[-1]["epoch"],
        "stopped": status.get("stopped"),
        "train_s": lines[-1]["wall_time_s"],
    }
    if catalog == "amazon-scientific":
        row["nmi_l0_d2"] = level0_nmi(data / catalog / "items.jsonl.gz", codes)
    return row


def level0_nmi(items_path: Path, codes: np.ndarray) -> float:
    from analysis.metrics.taxonomy import taxonomy_scores
    from rqvae.data.catalog import CatalogSpec, load_catalog

    spec = CatalogSpec(path=items_path, format="generic", id_field="item_id",
                       text_fields=("title",), category_field="categories")  # fmt: skip
    categories = load_catalog(spec)["categories"].tolist()
    scores = taxonomy_scores(codes, categories, max_depth=2)
    pick = scores[(scores.level == 0) & (scores.depth == 2) & (scores.grouping == "prefix")]
    return float(pick["nmi"].iloc[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default="all", choices=(*CATALOGS, "all"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: 1)")
    parser.add_argument("--set", dest="settings", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--trace", action="store_true", help="print every epoch")
    args = parser.parse_args()
    global TRACE
    TRACE = args.trace
    import torch

    from rqvae.training.threads import use_default_threads

    use_default_threads()  # as `rqvae train` does: OMP_NUM_THREADS, else the measured default
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = {}
    for item in args.settings:
        key, _, value = item.partition("=")
        settings[key] = parse_value(value)
    catalogs = CATALOGS if args.catalog == "all" else (args.catalog,)
    print(f"settings {settings or 'default'}; torch threads {torch.get_num_threads()}")
    header = "catalog            seed unique  nearest usage            NMI(l0,d2) best  epochs stop"
    header += "    train_s"
    print(header)
    with tempfile.TemporaryDirectory() as folder:
        for catalog in catalogs:
            for seed in args.seeds:
                row = run_one(args.data, catalog, seed, settings, Path(folder))
                nmi = "-" if row["nmi_l0_d2"] is None else f"{row['nmi_l0_d2']:.3f}"
                usage = "/".join(f"{value:.3f}" for value in row["usage"])
                print(
                    f"{catalog:18} {seed:4} {row['unique']:.4f} {row['unique_nearest']:.4f}  "
                    f"{usage:16} {nmi:>10} "
                    f"{row['best_epoch']:5} {row['epochs_run']:6} {row['stopped']:7} "
                    f"{row['train_s']:7.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
